"""Child processes of the benchmark: started in one place, all stopped by pid at the end.

Every child gets PR_SET_PDEATHSIG, so even a benchmark killed with SIGKILL leaves none behind,
and is also remembered here so that ``stop_all`` (called from run.py's ``finally``) ends it.
"""

from __future__ import annotations

import os
import signal
import subprocess

from tests.processes import children_of, pdeathsig, stop_process

__all__ = ["children_of", "forget", "spawn", "stop", "stop_all"]

_children: list[subprocess.Popen] = []


def spawn(
    cmd: list[str], *, env: dict | None = None, cwd=None, stdout=None, stderr=None, death_signal: int = signal.SIGTERM
) -> subprocess.Popen:
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
        preexec_fn=pdeathsig(death_signal),
    )
    _children.append(proc)
    return proc


def stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; also SIGKILL any child it left (by pid)."""
    stop_process(proc, grace=grace)
    forget(proc)


def forget(proc: subprocess.Popen | None) -> None:
    """No longer track ``proc`` (its owner stops it)."""
    if proc in _children:
        _children.remove(proc)


def stop_all() -> None:
    for proc in list(reversed(_children)):
        try:
            stop(proc, grace=5.0)
        except Exception:
            pass


def proc_status(pid: int, field: str) -> int | None:
    """A ``kB`` field of /proc/<pid>/status (VmRSS, VmHWM), in bytes."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (``echo 5 > /proc/<pid>/clear_refs``, Linux >= 4.0)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (all its threads), from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and all its descendants, living or already reaped by their parent.

    utime + stime + cutime + cstime of every living process in the tree: a backend or worker
    that exited (and was waited for) is counted in its parent's cutime/cstime.
    """
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    total = sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total + sum(tree_cpu_seconds(child) for child in children_of(pid))
