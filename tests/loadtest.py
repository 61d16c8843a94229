"""``make loadtest``: the portal under gunicorn (portal/gunicorn.conf.py) on loopback, driven by wrk.

    python -m tests.loadtest [--duration 60] [--connections 50] [--threads 4] [--workers N]

Serves DATABASE_URL (or, unset, the embedded demo database), builds a mix of list, detail, CSV and
catalog URLs from ``/api/`` (up to 8 relations, those with a key first), warms up (every URL, then
a quarter of the duration, at most 10 s, under the same load), then runs ``wrk`` for a bounded time
and prints requests per second, p50/p90/p99 latency, errors, and
every worker's RSS at the start and at the end. Exit status 1 when any request failed (a transport
error or a status of 400 and above) or a worker's RSS grew by more than ``--max-growth`` percent.

Workers are never recycled during the run (``GUNICORN_MAX_REQUESTS=0``): recycling would hide a
leak that flat memory is meant to rule out.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.processes import die_with_parent, free_port

ROOT = Path(__file__).resolve().parent.parent
RELATIONS = 8
LUA = """
local paths = {%(paths)s}
local counter = 0
setup = function(thread)
  thread:set("offset", math.random(#paths))
end
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[((counter + (offset or 0)) %% #paths) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format(
    'WRK-RESULT {"requests": %%d, "duration_us": %%d, "bytes": %%d, "connect": %%d, "read": %%d, "write": %%d, '
    .. '"status": %%d, "timeout": %%d, "p50_ms": %%.2f, "p90_ms": %%.2f, "p99_ms": %%.2f, "max_ms": %%.2f}\\n',
    summary.requests, summary.duration, summary.bytes, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
"""




def _get(url: str, timeout: float = 30) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def worker_rss(master_pid: int) -> dict[int, int]:
    """Each worker's resident memory in KiB."""
    try:
        pids = [int(p) for p in Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()]
    except OSError:
        return {}
    rss = {}
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss[pid] = int(line.split()[1])
        except OSError:
            pass
    return rss


def _encode_segment(value: str) -> str:
    # The same tilde encoding as autoapi.naming (kept here so this tool needs no Django).
    if value == "":
        return "~"
    out = []
    for ch in value:
        if ch.isascii() and (ch.isalnum() or ch in "_-"):
            out.append(ch)
        else:
            out.extend(f"~{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


def url_mix(base: str) -> list[str]:
    """List, detail, CSV and catalog URLs of up to RELATIONS published relations."""
    status, body = _get(base + "/api/")
    if status != 200:
        raise SystemExit(f"/api/ answered {status}: {body[:300]!r}")
    relations = json.loads(body)["relations"]
    relations.sort(key=lambda r: (r.get("key") is None, r["schema"], r["name"]))
    paths = []
    for relation in relations[:RELATIONS]:
        api = "/api/" + relation["url"].split("/api/", 1)[1]
        catalog = "/catalog/" + relation["catalog_url"].split("/catalog/", 1)[1]
        candidates = [api + "?limit=20", api + "?format=csv&limit=100", catalog]
        if relation.get("key"):
            status, body = _get(base + api + "?limit=1")
            rows = json.loads(body).get("results", []) if status == 200 else []
            if rows and all(k in rows[0] for k in relation["key"]):
                candidates.append(api + ",".join(_encode_segment(str(rows[0][k])) for k in relation["key"]) + "/")
        for path in candidates:
            if _get(base + path)[0] == 200:  # only URLs that work: an error in the mix is the data's, not the load's
                paths.append(path)
    paths.append("/api/")
    return paths


def run(duration: int, connections: int, threads: int, workers: int | None, max_growth: float) -> int:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (Debian package wrk; `make install-system` installs it)")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="portal-loadtest-"))
    env = dict(os.environ, HOST="127.0.0.1", PORT=str(port), GUNICORN_MAX_REQUESTS="0", PYTHONUNBUFFERED="1",
               DJANGO_SETTINGS_MODULE="portal.settings",
               # wrk is one client hammering on purpose: measure the portal, not its rate limits.
               PORTAL_RATE_LIMIT="0", PORTAL_CLIENT_DOWNLOADS="0", PORTAL_PROCESS_DOWNLOADS="0")
    if workers:
        env["GUNICORN_WORKERS"] = str(workers)
    log_path = workdir / "gunicorn.log"
    gunicorn = [str(Path(sys.executable).parent / "gunicorn")]
    if not Path(gunicorn[0]).exists():
        gunicorn = [sys.executable, "-m", "gunicorn"]
    with open(log_path, "wb") as log:
        server = subprocess.Popen([*gunicorn, "-c", str(ROOT / "portal" / "gunicorn.conf.py"), "portal.wsgi:application"],
                                  cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  preexec_fn=die_with_parent)
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                raise SystemExit(f"gunicorn exited ({server.returncode}); see {log_path}")
            with contextlib.suppress(OSError):
                if _get(base + "/readyz", timeout=5)[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"the portal was not ready within 120 s; see {log_path}")
            time.sleep(0.2)
        paths = url_mix(base)
        for _ in range(3):  # every worker builds its snapshot and endpoints before measuring
            for path in paths:
                _get(base + path)
        script = workdir / "mix.lua"
        script.write_text(LUA % {"paths": ", ".join(json.dumps(p) for p in paths)})
        # A short warm-up under the same load first: allocator arenas, caches and every thread's
        # connection settle there, so that the RSS measured below shows growth, not start-up.
        warmup = max(2, min(10, duration // 4))
        subprocess.run([wrk, f"-t{threads}", f"-c{connections}", f"-d{warmup}s", "--timeout", "30s", "-s", str(script),
                        base], capture_output=True, text=True, timeout=warmup + 120)
        rss_start = worker_rss(server.pid)
        started = time.monotonic()
        proc = subprocess.run([wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "30s",
                               "-s", str(script), base], capture_output=True, text=True, timeout=duration + 120)
        elapsed = time.monotonic() - started
        rss_end = worker_rss(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    line = next((l for l in proc.stdout.splitlines() if l.startswith("WRK-RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    result = json.loads(line.split(" ", 1)[1])
    errors = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    print(f"pg-portal load test: {len(paths)} URLs (list, detail, CSV, catalog), {connections} connections, "
          f"{threads} wrk threads, {duration} s (ran {elapsed:.1f} s)")
    for path in paths:
        print(f"  {path}")
    print(f"requests      {result['requests']}  ({result['requests'] / (result['duration_us'] / 1e6):.1f} req/s, "
          f"{result['bytes'] / (result['duration_us'] / 1e6) / 1e6:.1f} MB/s)")
    print(f"latency       p50 {result['p50_ms']:.1f} ms, p90 {result['p90_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
          f"max {result['max_ms']:.1f} ms")
    print(f"errors        {errors} (connect {result['connect']}, read {result['read']}, write {result['write']}, "
          f"status>=400 {result['status']}, timeout {result['timeout']})")
    growth_ok = True
    for pid in sorted(set(rss_start) | set(rss_end)):
        before, after = rss_start.get(pid), rss_end.get(pid)
        if before is None or after is None:
            print(f"worker {pid}   {'gone' if after is None else 'new'} (a worker was replaced during the run)")
            growth_ok = False
            continue
        growth = (after - before) / before * 100
        growth_ok &= growth <= max_growth
        print(f"worker {pid}  RSS {before / 1024:.1f} MiB -> {after / 1024:.1f} MiB ({growth:+.1f} %)")
    ok = errors == 0 and growth_ok
    if ok:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"log           {log_path}")
    print("result        " + ("OK: zero errors, flat memory" if ok else
                              f"FAILED: {errors} errors" + ("" if growth_ok else f", RSS grew more than {max_growth} %")))
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.loadtest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=int(os.environ.get("LOADTEST_DURATION", "60")), help="seconds (60)")
    parser.add_argument("--connections", type=int, default=50, help="concurrent connections (50)")
    parser.add_argument("--threads", type=int, default=4, help="wrk threads (4)")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (portal/gunicorn.conf.py's default)")
    parser.add_argument("--max-growth", type=float, default=20.0, help="allowed RSS growth per worker, percent (20)")
    args = parser.parse_args(argv)
    return run(args.duration, args.connections, args.threads, args.workers, args.max_growth)


if __name__ == "__main__":
    sys.exit(main())
