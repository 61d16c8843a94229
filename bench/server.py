"""A gunicorn serving the portal, as the benchmark needs it: chosen workers, threads, CPU.

The launcher is the tests' own (tests/portal_server.py); this module adds the benchmark's
environment (no fair-share limits, no answer cache) and its children's bookkeeping (bench/procs.py).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
from collections import Counter
from pathlib import Path

from bench import procs
from tests.portal_server import Gunicorn, ServerError, get

ROOT = Path(__file__).resolve().parent.parent
__all__ = ["KeepAlive", "Portal", "get"]


class Portal:
    def __init__(
        self,
        database_url: str,
        *,
        workers: int = 1,
        threads: int = 4,
        cpus: str | None = None,
        log_dir: Path,
        name: str = "portal",
        env: dict | None = None,
        args: list[str] | None = None,
    ):
        self.database_url = database_url
        self.workers, self.threads, self.cpus = workers, threads, cpus
        self.log_dir, self.name = log_dir, name
        self.log_path = log_dir / f"gunicorn-{name}.log"
        self.extra_env = env or {}
        self.extra_args = args or []  # more gunicorn options (e.g. another --worker-class)
        self.server: Gunicorn | None = None

    @property
    def port(self) -> int | None:
        return self.server.port if self.server else None

    @property
    def proc(self):
        return self.server.process if self.server else None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def describe(self) -> str:
        pin = f", pinned to CPU {self.cpus}" if self.cpus else ""
        return f"{self.workers} worker(s) x {self.threads} threads{pin}"

    def start(self, ready_path: str = "/readyz", timeout: float = 120) -> Portal:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "PORTAL_", "DATABASE_URL"))}
        # The portal's own defaults (INFO: one JSON log line per request, into the log file).
        env.update(DATABASE_URL=self.database_url, PYTHONUNBUFFERED="1")
        # The load generators are one client on purpose: no fair-share limits (docs/operations.md, Fair share).
        env.update(
            PORTAL_RATE_LIMIT="0",
            PORTAL_CLIENT_DOWNLOADS="0",
            PORTAL_PROCESS_DOWNLOADS="0",
            PORTAL_CLIENT_REQUESTS="0",
            PORTAL_CLIENT_POOL_SHARE="0",
        )
        # The figures are the work itself, not a repeated URL served from the answer cache.
        env.update(PORTAL_API_CACHE_SECONDS="0", PORTAL_CATALOG_CACHE_SECONDS="0")
        # Nor a download served from the export cache (the "cached" section turns it on itself).
        env.update(PORTAL_EXPORT_CACHE_MB="0")
        env.update(self.extra_env)
        # The server `make serve` runs (portal/gunicorn.conf.py: its worker class, GIL switch
        # interval, frozen garbage collector...), with the benchmark's workers, threads and timeouts.
        self.server = Gunicorn(
            env,
            self.log_dir,
            name=f"gunicorn-{self.name}.log",
            config_file=True,
            workers=self.workers,
            threads=self.threads,
            cpus=self.cpus,
            extra_args=["--timeout", "600", "--graceful-timeout", "5", *self.extra_args],
            spawn=procs.spawn,
        )
        try:
            self.server.start(ready_paths=(ready_path,), timeout=timeout, wait_for_workers=True)
        except ServerError as exc:
            raise RuntimeError(str(exc)) from None
        return self

    def warm(self, paths: list[str], rounds: int = 1) -> None:
        """Make every worker build its snapshot and endpoints (a few rounds, workers take turns)."""
        for _ in range(rounds * max(1, self.workers) * 2):
            for path in paths:
                status, body = get(self.port, path, timeout=60)
                if status != 200:
                    raise RuntimeError(f"warm-up GET {path} answered {status}: {body[:300]!r}")

    def worker_pids(self) -> list[int]:
        return procs.children_of(self.proc.pid) if self.proc else []

    def worker_rss(self, field: str = "VmRSS") -> list[int]:
        return [v for v in (procs.proc_status(p, field) for p in self.worker_pids()) if v is not None]

    def statuses(self) -> Counter:
        """How many requests the portal answered with each status, from its request log."""
        found = Counter()
        for line in self.log_path.read_text(errors="replace").splitlines():
            if '"portal.request"' in line:
                with contextlib.suppress(ValueError, KeyError):
                    found[json.loads(line)["status"]] += 1
        return found

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.server is not None:
            procs.forget(self.server.process)
            self.server.stop(grace=10.0)
            self.server = None


class KeepAlive:
    """One persistent HTTP/1.1 connection for sequential requests (reconnects if dropped)."""

    def __init__(self, port: int, timeout: float = 60):
        self.port, self.timeout = port, timeout
        self.conn = None

    def get(self, path: str) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request("GET", path)
                resp = self.conn.getresponse()
                body = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.close()
                return resp.status, body
            except (http.client.HTTPException, ConnectionError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None
