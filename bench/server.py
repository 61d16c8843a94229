"""A gunicorn serving the portal, as the benchmark needs it: chosen workers, threads, CPU."""
from __future__ import annotations

import contextlib
import http.client
import json
import os
from collections import Counter
import time
from pathlib import Path

from bench import procs
from tests.harness import free_port

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"


class Portal:
    def __init__(self, database_url: str, *, workers: int = 1, threads: int = 4, cpus: str | None = None,
                 log_dir: Path, name: str = "portal", env: dict | None = None, args: list[str] | None = None):
        self.database_url = database_url
        self.workers, self.threads, self.cpus = workers, threads, cpus
        self.log_path = log_dir / f"gunicorn-{name}.log"
        self.extra_env = env or {}
        self.extra_args = args or []  # more gunicorn options (e.g. another --worker-class)
        self.port: int | None = None
        self.proc = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def describe(self) -> str:
        pin = f", pinned to CPU {self.cpus}" if self.cpus else ""
        return f"{self.workers} worker(s) x {self.threads} threads{pin}"

    def start(self, ready_path: str = "/readyz", timeout: float = 120) -> "Portal":
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "PORTAL_", "DATABASE_URL"))}
        # The portal's own defaults (INFO: one JSON log line per request, into the log file).
        env.update(DATABASE_URL=self.database_url, PYTHONUNBUFFERED="1")
        # The load generators are one client on purpose: no fair-share limits (README, Fair share).
        env.update(PORTAL_RATE_LIMIT="0", PORTAL_CLIENT_DOWNLOADS="0", PORTAL_PROCESS_DOWNLOADS="0",
                   PORTAL_CLIENT_REQUESTS="0", PORTAL_CLIENT_POOL_SHARE="0")
        # The figures are the work itself, not a repeated URL served from the answer cache.
        env.update(PORTAL_API_CACHE_SECONDS="0", PORTAL_CATALOG_CACHE_SECONDS="0")
        # Nor a download served from the export cache (the "cached" section turns it on itself).
        env.update(PORTAL_EXPORT_CACHE_MB="0")
        env.update(self.extra_env)
        # The server `make serve` runs (portal/gunicorn.conf.py: its worker class, GIL switch
        # interval, frozen garbage collector...), with the benchmark's workers, threads and timeouts.
        cmd = [str(GUNICORN), "-c", str(ROOT / "portal" / "gunicorn.conf.py"), "portal.wsgi:application",
               "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers), "--threads", str(self.threads),
               "--timeout", "600", "--graceful-timeout", "5", *self.extra_args]
        if self.cpus is not None:
            cmd = ["taskset", "-c", self.cpus, *cmd]  # taskset execs gunicorn: same pid
        self.logfh = open(self.log_path, "ab")
        self.proc = procs.spawn(cmd, env=env, cwd=ROOT, stdout=self.logfh, stderr=self.logfh)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                status, _ = get(self.port, ready_path, timeout=30)
                if status == 200 and len(self.worker_pids()) == self.workers:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn was not ready in {timeout} s:\n{self.log_tail()}")

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
        procs.stop(self.proc)
        self.proc = None
        try:
            self.logfh.close()
        except Exception:
            pass


def get(port: int, path: str, timeout: float = 30) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


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
