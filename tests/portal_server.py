"""The portal under gunicorn on a free loopback port: the one launcher of the tests and the benchmark.

``Gunicorn`` starts ``gunicorn [-c portal/gunicorn.conf.py] portal.wsgi:application`` from the
checkout (the code under test, whatever the venv's editable install points at), waits until it
answers, and stops it with its workers. The tests use it through ``gunicorn_for_tests`` (a context
manager that fails the test with the server's log) and the fixtures of tests/conftest.py and
tests/production/support.py; the benchmark through bench/server.py's ``Portal`` (its own
environment, CPU pinning, every child tracked by bench/procs.py); ``make loadtest`` in
tests/loadtest.py.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from tests.processes import children_of, free_port, pdeathsig, stop_process, tail

ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = ROOT / "portal" / "gunicorn.conf.py"


class ServerError(RuntimeError):
    """gunicorn exited or did not answer in time; the message carries the end of its log."""


def gunicorn_command() -> list[str]:
    gunicorn = Path(sys.executable).parent / "gunicorn"
    return [str(gunicorn)] if gunicorn.exists() else [sys.executable, "-m", "gunicorn"]


def get(port: int, path: str, timeout: float = 30, scheme: str = "http") -> tuple[int, bytes]:
    """One GET on loopback: (status, body). With ``https`` the certificate is not verified."""
    if scheme == "https":
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ssl._create_unverified_context())
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _spawn(cmd: list[str], *, env: dict, cwd: Path, stdout, stderr) -> subprocess.Popen:
    return subprocess.Popen(
        cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, preexec_fn=pdeathsig()
    )


class Gunicorn:
    """One gunicorn serving the portal.

    ``config_file``: run with portal/gunicorn.conf.py (the deployed set-up: its worker class,
    timeouts, and GUNICORN_* variables from ``env``); otherwise gunicorn's own defaults.
    ``workers``/``threads``: command-line values (None leaves them to the configuration).
    ``cpus``: pin the server with taskset. ``spawn``: how to start the process (the benchmark tracks
    its children itself). ``port``: a port chosen beforehand (else a free one at each start).
    """

    def __init__(
        self,
        env: dict[str, str],
        log_dir: Path,
        *,
        name: str = "gunicorn",
        config_file: bool = True,
        workers: int | None = None,
        threads: int | None = None,
        cpus: str | None = None,
        extra_args: Iterable[str] = (),
        spawn: Callable[..., subprocess.Popen] = _spawn,
        port: int | None = None,
        scheme: str = "http",
    ):
        self.env = dict(env)
        self.log_dir, self.name = Path(log_dir), name
        self.config_file = config_file
        self.workers, self.threads, self.cpus = workers, threads, cpus
        self.extra_args = list(extra_args)
        self.spawn = spawn
        self.scheme = scheme  # "https" when the environment gives gunicorn a certificate
        self.port: int | None = port  # None: a free one at each start
        self._fixed_port = port is not None
        self.process: subprocess.Popen | None = None
        self.logfile: Path | None = None
        self._logfh = None

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = gunicorn_command()
        if self.config_file:
            cmd += ["-c", str(CONFIG_FILE)]
        cmd += ["portal.wsgi:application", "--bind", f"127.0.0.1:{self.port}"]
        if self.workers is not None:
            cmd += ["--workers", str(self.workers)]
        if self.threads is not None:
            cmd += ["--threads", str(self.threads)]
        cmd += self.extra_args
        if self.cpus is not None:
            cmd = ["taskset", "-c", self.cpus, *cmd]  # taskset execs gunicorn: same pid
        return cmd

    def start(
        self,
        ready_paths: Iterable[str] = ("/healthz",),
        ready_status: Callable[[int], bool] = (lambda s: s == 200),
        timeout: float = 60,
        wait_for_workers: bool = False,
    ) -> Gunicorn:
        """Start and wait until one of ``ready_paths`` answers a status ``ready_status`` accepts (and,
        with ``wait_for_workers``, every worker runs); ServerError otherwise."""
        if not self._fixed_port:
            self.port = free_port()
        env = dict(self.env, DJANGO_SETTINGS_MODULE="portal.settings", PYTHONUNBUFFERED="1")
        if self.config_file:
            env.setdefault("HOST", "127.0.0.1")
            env["PORT"] = str(self.port)
        self.logfile = self.log_dir / self.name.format(port=self.port)
        self._logfh = open(self.logfile, "ab")  # noqa: SIM115 - the server's output for its whole life; stop() closes it
        self.process = self.spawn(self.command(), env=env, cwd=ROOT, stdout=self._logfh, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"gunicorn exited with {self.process.returncode} before answering:\n{self.tail()}")
            for path in ready_paths:
                try:
                    status, _ = get(self.port, path, timeout=5, scheme=self.scheme)
                except (OSError, http.client.HTTPException):
                    continue
                if ready_status(status) and (not wait_for_workers or len(self.worker_pids()) == self.workers):
                    return self
            time.sleep(0.1)
        raise ServerError(f"gunicorn did not answer {' or '.join(ready_paths)} within {timeout:.0f} s:\n{self.tail()}")

    def worker_pids(self) -> list[int]:
        """The gunicorn workers: the master's children."""
        return sorted(children_of(self.process.pid)) if self.process else []

    def log(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile else ""

    def tail(self, lines: int = 80) -> str:
        return tail(self.logfile, lines) if self.logfile else "(no log)"

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM (a graceful stop), SIGKILL after ``grace`` s, and any worker left behind."""
        stop_process(self.process, grace=grace)
        if self._logfh is not None:
            self._logfh.close()
            self._logfh = None


@contextlib.contextmanager
def gunicorn_for_tests(
    log_dir: Path,
    env_overrides: dict | None = None,
    *,
    config_file: bool = True,
    workers: int | None = None,
    threads: int | None = None,
    ready_paths=("/healthz",),
    ready_status: Callable[[int], bool] = (lambda s: s == 200),
    name: str = "gunicorn-{port}.log",
    scheme: str = "http",
):
    """A test's gunicorn on the fixture database (os.environ plus ``env_overrides``); the test fails
    with the server's log if it does not come up. The test must be a database test."""
    import pytest

    from tests.plugin import require_database

    require_database("it started the portal under gunicorn")
    server = Gunicorn(
        dict(os.environ, **(env_overrides or {})),
        log_dir,
        name=name,
        config_file=config_file,
        workers=workers,
        threads=threads,
        scheme=scheme,
        extra_args=[]
        if config_file
        else [
            # The worker make serve runs (heads read in its poller: docs/operations.md,
            # "Slow request heads").
            "--worker-class",
            "portal.workers.ThreadWorker",
            "--graceful-timeout",
            "5",
            "--access-logfile",
            "-",
            "--error-logfile",
            "-",
        ],
    )
    try:
        try:
            server.start(ready_paths=ready_paths, ready_status=ready_status)
        except ServerError as exc:
            pytest.fail(str(exc), pytrace=False)
        yield server
    finally:
        server.stop()
