"""Helpers for the fair-share tests: a real ``redis-server``, API keys, raw-socket downloads held
open by a client that stops reading, and a bounded wait.

Client addresses come from ``X-Forwarded-For`` (the servers trust 127.0.0.1 as a proxy), so each
test is a fresh set of clients and no test spends another's budget.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from tests.processes import die_with_parent, free_port, tail

_addresses = itertools.count(1)


def new_address() -> str:
    """A client address no other test uses (TEST-NET-2, RFC 5737)."""
    n = next(_addresses)
    return f"198.51.{100 + n // 250}.{n % 250 + 1}"


def key_entry(key: str, name: str, **limits) -> dict:
    return {"name": name, "sha256": hashlib.sha256(key.encode()).hexdigest(), **limits}


def wait_until(predicate, what: str, timeout: float = 15.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}", pytrace=False)
        time.sleep(interval)


@contextlib.contextmanager
def redis_server(log_dir: Path):
    """Debian's ``redis-server`` on a free loopback port, no persistence; yields its URL."""
    program = shutil.which("redis-server")
    if program is None:
        pytest.fail("redis-server is not installed (Debian package redis-server; make install-system)", pytrace=False)
    import redis

    port = free_port()
    logfile = log_dir / f"redis-{port}.log"
    cmd = [
        program,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(log_dir),
        "--daemonize",
        "no",
    ]
    with open(logfile, "wb") as log:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
        )
    url = f"redis://127.0.0.1:{port}/0"
    try:

        def answers():
            if proc.poll() is not None:
                pytest.fail(f"redis-server exited with {proc.returncode}:\n{tail(logfile)}", pytrace=False)
            with contextlib.suppress(redis.RedisError):
                return redis.Redis.from_url(url, socket_timeout=1).ping()
            return False

        wait_until(answers, "redis-server to answer PING", timeout=20)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class HeldDownload:
    """A ``?limit=all`` GET on a raw socket that reads the response head and then stops reading,
    as a slow client does: the server's send blocks and the download stays running until
    ``close()``. A tiny receive buffer makes the server fill its own quickly."""

    def __init__(self, base_url: str, path: str, address: str, headers: dict | None = None):
        host, port = base_url.removeprefix("http://").split(":")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(30)
        self.sock.connect((host, int(port)))
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", f"X-Forwarded-For: {address}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = self.sock.recv(1024)
            if not chunk:
                break
            head += chunk
        status_line, *header_lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}

    def close(self) -> None:
        # SO_LINGER 0: a reset, as when a client vanishes; the server's next send fails at once.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
