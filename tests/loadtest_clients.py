"""The load test's own clients, beside wrk (tests/loadtest.py runs them): slow readers of
whole-relation downloads, a ``/healthz`` prober, and a sampler of the portal's PostgreSQL sessions.

Loopback only, and bounded: every loop stops at its deadline. Each slow reader binds its socket to
its own source address in 127.0.0.0/8 (Linux routes the whole block to ``lo``), so the server
sees as many clients as readers, and reads at ``rate`` bytes per second through a small receive
buffer, so the server's writes back up as they would for a slow client on the internet.
"""

from __future__ import annotations

import collections
import http.client
import random
import socket
import threading
import time

TICK = 0.05  # seconds between two rounds of reads
RCVBUF = 64 * 1024
DESIGNED = {429, 503}  # statuses the portal sends on purpose under load (with Retry-After)


def source_address(index: int) -> str:
    """127.1.x.y: never the server's 127.0.0.1, one per reader."""
    return f"127.1.{index // 250}.{index % 250 + 1}"


class Reader:
    """One slow client: downloads ``path`` again and again until the deadline."""

    def __init__(self, index: int, path: str):
        self.index, self.path = index, path
        self.sock: socket.socket | None = None
        self.head = b""
        self.status: int | None = None
        self.budget = 0.0
        self.next_start = 0.0

    def start(self, host: str, port: int, stats: collections.Counter) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        try:
            sock.bind((source_address(self.index), 0))
            sock.settimeout(5)
            sock.connect((host, port))
            sock.sendall(f"GET {self.path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            stats[f"error {type(exc).__name__}"] += 1
            self.next_start = time.monotonic() + 1
            return
        self.sock, self.head, self.status, self.budget = sock, b"", None, 0.0
        stats["requests"] += 1

    def finish(self, delay: float) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.next_start = time.monotonic() + delay

    def step(self, rate: float, stats: collections.Counter) -> None:
        """One round: read what the budget allows (the whole head at once)."""
        self.budget = min(self.budget + rate * TICK, rate / 2)
        want = 16 * 1024 if self.status is None else int(self.budget)
        if want <= 0:
            return
        try:
            data = self.sock.recv(want)
        except BlockingIOError:
            return
        except OSError as exc:
            stats[f"error {type(exc).__name__}"] += 1
            return self.finish(1.0)
        if not data:  # the server closed: the whole download was read, or no answer came at all
            stats["complete" if self.status == 200 else "closed early"] += 1
            return self.finish(0.0)
        if self.status is None:
            return self._head(data, stats)
        self.budget -= len(data)
        stats["bytes"] += len(data)

    def _head(self, data: bytes, stats: collections.Counter) -> None:
        self.head += data
        if b"\r\n\r\n" not in self.head:
            return
        self.status = int(self.head.split(b" ", 2)[1])
        stats[f"status {self.status}"] += 1
        if self.status != 200:
            retry = 1.0
            for line in self.head.split(b"\r\n"):
                if line.lower().startswith(b"retry-after:"):
                    retry = min(float(line.split(b":", 1)[1]), 10.0)
            self.finish(retry * random.uniform(0.5, 1.0))  # as a polite client would


class SlowReaders(threading.Thread):
    """``count`` readers of ``paths`` (taken in turn) at ``rate`` bytes/s each, until ``deadline``."""

    def __init__(self, host: str, port: int, paths: list[str], count: int, rate: float, deadline: float):
        super().__init__(name="slow-readers", daemon=True)
        self.host, self.port, self.rate, self.deadline = host, port, rate, deadline
        self.readers = [Reader(i, paths[i % len(paths)]) for i in range(count)]
        self.stats: collections.Counter = collections.Counter()

    def run(self) -> None:
        try:
            while time.monotonic() < self.deadline:
                started = time.monotonic()
                for reader in self.readers:
                    if reader.sock is None:
                        if started >= reader.next_start:
                            reader.start(self.host, self.port, self.stats)
                    else:
                        reader.step(self.rate, self.stats)
                time.sleep(max(0.0, TICK - (time.monotonic() - started)))
        finally:
            for reader in self.readers:
                reader.finish(0.0)

    def active(self) -> int:
        return sum(1 for r in self.readers if r.sock is not None and r.status == 200)

    def errors(self) -> int:
        """Answers the portal should not give, and transport errors (designed 429/503s excluded)."""
        bad = sum(n for key, n in self.stats.items() if key.startswith("error ") or key == "closed early")
        return bad + sum(
            n
            for key, n in self.stats.items()
            if key.startswith("status ") and int(key.split()[1]) not in DESIGNED | {200}
        )


class Prober(threading.Thread):
    """GET ``path`` on a new connection every ``interval`` seconds until ``deadline``."""

    def __init__(self, host: str, port: int, path: str, deadline: float, interval: float = 0.1):
        super().__init__(name="prober", daemon=True)
        self.host, self.port, self.path, self.deadline, self.interval = host, port, path, deadline, interval
        self.latencies: list[float] = []
        self.failures: collections.Counter = collections.Counter()

    def run(self) -> None:
        while time.monotonic() < self.deadline:
            started = time.monotonic()
            try:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                conn.request("GET", self.path)
                response = conn.getresponse()
                response.read()
                conn.close()
                if response.status != 200:
                    self.failures[f"status {response.status}"] += 1
            except OSError as exc:
                self.failures[type(exc).__name__] += 1
            self.latencies.append(time.monotonic() - started)
            time.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    def percentile(self, p: float) -> float:
        """In milliseconds."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000 if ordered else float("nan")


class SessionSampler(threading.Thread):
    """The most sessions of the server seen, sampled every ``interval`` s: those named like the
    ``application_name`` of ``database_url`` (tests/loadtest.py gives its server one of its own)."""

    def __init__(self, database_url: str, deadline: float, interval: float = 0.25):
        super().__init__(name="pg-sessions", daemon=True)
        self.database_url, self.deadline, self.interval = database_url, deadline, interval
        self.maximum = 0
        self.error: str | None = None

    def run(self) -> None:
        import psycopg2

        try:
            conn = psycopg2.connect(self.database_url)
            conn.autocommit = True
            name = conn.get_dsn_parameters().get("application_name", "pg-portal")
        except psycopg2.Error as exc:
            self.error = str(exc).strip().splitlines()[0]
            return
        try:
            with conn.cursor() as cursor:
                while time.monotonic() < self.deadline:
                    cursor.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND pid <> pg_backend_pid()",
                        [name],
                    )
                    self.maximum = max(self.maximum, cursor.fetchone()[0])
                    time.sleep(self.interval)
        finally:
            conn.close()
