"""Small helpers for the tests and the benchmark that start processes (PostgreSQL, gunicorn, wrk): a
free port, a child that dies with its parent, stopping one with its children, the tail of a log."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
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


def children_of(pid: int) -> list[int]:
    """The pids of a process's children (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            text = fh.read()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def stop_process(proc: subprocess.Popen | None, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; also SIGKILL any child it left (by pid)."""
    if proc is None:
        return
    kids = children_of(proc.pid)
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        except ProcessLookupError:
            pass
    for kid in kids:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and alive(kid):
            time.sleep(0.05)
        if alive(kid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(kid, signal.SIGKILL)
