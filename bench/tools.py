"""Timing the clients: curl against the portal; psql, psycopg2, wrk and pgbench against PostgreSQL."""

from __future__ import annotations

import os
import re
import subprocess
import time

from bench import procs
from bench.cluster import MAIN_DB, READER, READER_PASSWORD, BenchCluster
from tests.pg import psql_argv

# The session settings every portal connection has (portal/settings.py), so that psql prints the
# same bytes the portal streams.
PORTAL_SESSION = "-c DateStyle=ISO,MDY -c IntervalStyle=postgres -c TimeZone=UTC -c extra_float_digits=1"


class Failed(RuntimeError):
    pass


def curl(url: str, timeout: float = 600, encoding: str | None = None) -> dict:
    """GET ``url`` into /dev/null; wall time, time to first byte, bytes, status. With ``encoding``
    (``gzip``, ``zstd``...) curl asks for it and counts the compressed bytes, undecoded."""
    cmd = [
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{time_starttransfer} %{time_total} %{size_download}",
        "--max-time",
        str(int(timeout)),
        url,
    ]
    if encoding:
        cmd[1:1] = ["-H", f"Accept-Encoding: {encoding}"]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 10)
    wall = time.perf_counter() - started
    try:
        code, ttfb, total, size = proc.stdout.split()
    except ValueError:
        raise Failed(f"curl {url}: unexpected output {proc.stdout!r} {proc.stderr!r}") from None
    if proc.returncode != 0 or code != "200":
        raise Failed(f"curl {url}: exit {proc.returncode}, HTTP {code}")
    return {"wall": wall, "ttfb": float(ttfb), "total": float(total), "bytes": int(size)}


def reader_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(PGPASSWORD=READER_PASSWORD, PGOPTIONS=PORTAL_SESSION, PGCLIENTENCODING="UTF8")
    return env


def psql_cmd(cluster: BenchCluster, *args: str, database: str = MAIN_DB) -> list[str]:
    return psql_argv(cluster.psql_bin(), cluster.port, READER, database, *args)


def psql_time(
    cluster: BenchCluster, *args: str, database: str = MAIN_DB, count_bytes: bool = False, timeout: float = 600
) -> dict:
    """Run psql as bench_reader with its output going to /dev/null (or counted); wall time."""
    cmd = psql_cmd(cluster, *args, database=database)
    started = time.perf_counter()
    if count_bytes:
        proc = subprocess.Popen(
            cmd, env=reader_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        size = 0
        while True:
            chunk = proc.stdout.read(1 << 20)
            if not chunk:
                break
            size += len(chunk)
        err = proc.stderr.read()
        rc = proc.wait(timeout=timeout)
    else:
        done = subprocess.run(
            cmd,
            env=reader_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
        )
        rc, err, size = done.returncode, done.stderr, None
    wall = time.perf_counter() - started
    if rc != 0:
        raise Failed(f"psql {' '.join(args)[:200]}: exit {rc}: {err.decode(errors='replace')[:500]}")
    return {"wall": wall, "bytes": size}


def wrk(url: str, seconds: int, cpus: str = "0", connections: int = 10, threads: int = 2) -> dict:
    cmd = ["taskset", "-c", cpus, "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    text, match = _run_for("wrk", cmd, seconds, r"Requests/sec:\s+([\d.]+)")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors:.*", text)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", text)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", text)
    count = re.search(r"(\d+) requests in", text)
    return {
        "rps": float(match.group(1)),
        "requests": int(count.group(1)) if count else 0,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(0) if errors else "",
        "p50_ms": _ms(p50),
        "p99_ms": _ms(p99),
        "text": text,
    }


def _run_for(name: str, cmd: list[str], seconds: int, headline: str, env: dict | None = None) -> tuple[str, re.Match]:
    """Run a load generator for about ``seconds`` (always reaped); its output and the match of
    ``headline`` in it. Failed when it exits non-zero or prints no headline figure."""
    proc = procs.spawn(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=seconds + 60)
    finally:
        procs.stop(proc)
    text = out.decode(errors="replace")
    match = re.search(headline, text)
    if proc.returncode != 0 or not match:
        raise Failed(f"{name} failed (exit {proc.returncode}):\n{text}")
    return text, match


def _ms(match) -> float | None:
    if not match:
        return None
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def pgbench(
    cluster: BenchCluster, script_path, seconds: int, cpus: str = "0", clients: int = 10, jobs: int = 2
) -> dict:
    cmd = [
        "taskset",
        "-c",
        cpus,
        cluster.pgbench_bin(),
        "-n",
        f"-c{clients}",
        f"-j{jobs}",
        f"-T{seconds}",
        "-f",
        str(script_path),
        "-h",
        "127.0.0.1",
        "-p",
        str(cluster.port),
        "-U",
        READER,
        MAIN_DB,
    ]
    text, match = _run_for(
        "pgbench", cmd, seconds, r"tps = ([\d.]+) \(without initial connection time\)", env=reader_env()
    )
    failed = re.search(r"number of failed transactions: (\d+)", text)
    lat = re.search(r"latency average = ([\d.]+) ms", text)
    done = re.search(r"number of transactions actually processed: (\d+)", text)
    return {
        "tps": float(match.group(1)),
        "failed": int(failed.group(1)) if failed else 0,
        "transactions": int(done.group(1)) if done else 0,
        "latency_ms": float(lat.group(1)) if lat else None,
        "text": text,
    }
