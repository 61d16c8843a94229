"""Small helpers for tests that start processes (PostgreSQL, gunicorn, wrk): a free port, a child
that dies with its parent, the tail of a log. Used by the harness, conftest and the load test."""
from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
from pathlib import Path

PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pdeathsig(sig: int = signal.SIGTERM):
    """A preexec_fn: the child gets ``sig`` when the process that started it dies (Linux), so a
    server never outlives a killed test run."""

    def set_pdeathsig():
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return set_pdeathsig


def die_with_parent():
    """``pdeathsig(SIGTERM)`` as a ready-made preexec_fn."""
    pdeathsig(signal.SIGTERM)()


def tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
