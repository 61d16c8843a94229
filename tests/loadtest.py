"""``make loadtest``: the portal under gunicorn (portal/gunicorn.conf.py) on loopback, driven by wrk
while slow clients download whole relations.

    python -m tests.loadtest [--duration 60] [--connections 50] [--threads 4] [--workers N]
                             [--readers 200] [--reader-rate 20000]

Serves DATABASE_URL (or, unset, the embedded demo database), builds a mix of list, detail, CSV and
catalog URLs from ``/api/`` (up to 8 relations, those with a key first), warms up (every URL, then
a quarter of the duration, at most 10 s, under the same load). Then ``--readers`` slow clients,
each from its own loopback address, start downloading the largest relation of the mix
(``?limit=all``, CSV and NDJSON in turn) at ``--reader-rate`` bytes/s each, and retry after a
designed 503 as its Retry-After asks (tests/loadtest_clients.py); a few seconds later ``wrk`` runs
the page mix for a bounded time while a prober times ``/healthz`` on a new connection every 0.1 s
and a sampler counts the portal's PostgreSQL sessions. Prints requests per second, p50/p90/p99
latency, errors, every worker's RSS at the start and at the end, and a table of the targets.
Exit status 1 when a page or a download failed other than with a designed 429/503 (or a transport
error), a worker's RSS grew by more than ``--max-growth`` percent, a p99 missed its target, or
PostgreSQL saw more portal sessions than workers x (DB_CONNECTIONS + EXPORT_CONNECTIONS + 1).

Workers are never recycled during the run (``GUNICORN_MAX_REQUESTS=0``): recycling would hide a
leak that flat memory is meant to rule out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tests.loadtest_clients import Prober, SessionSampler, SlowReaders
from tests.loadtest_report import report
from tests.portal_server import Gunicorn, ServerError
from tests.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
RELATIONS = 8
LUA = """
local paths = {%(paths)s}
local counter = 0
local threads = {}
designed = 0
setup = function(thread)
  thread:set("offset", math.random(#paths))
  table.insert(threads, thread)
end
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[((counter + (offset or 0)) %% #paths) + 1])
end
-- 429 and 503 (with Retry-After) are the portal's designed answers under load: counted apart.
response = function(status, headers, body)
  if status == 429 or status == 503 then designed = designed + 1 end
end
done = function(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + (thread:get("designed") or 0) end
  io.write(string.format(
    'WRK-RESULT {"requests": %%d, "duration_us": %%d, "bytes": %%d, "connect": %%d, "read": %%d, "write": %%d, '
    .. '"status": %%d, "timeout": %%d, "p50_ms": %%.2f, "p90_ms": %%.2f, "p99_ms": %%.2f, "max_ms": %%.2f, '
    .. '"designed": %%d}\\n',
    summary.requests, summary.duration, summary.bytes, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, total))
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
    # The same tilde encoding as autoapi.schema.naming (kept here so this tool needs no Django).
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


def start_server(workers: int | None, port: int, workdir: Path, url: str) -> Gunicorn:
    """The portal as `make serve` runs it (portal/gunicorn.conf.py), ready (``/readyz``) on ``port``."""
    env = dict(
        os.environ,
        GUNICORN_MAX_REQUESTS="0",
        DATABASE_URL=url,
        # wrk is one client hammering on purpose, and the slow readers are many: measure the
        # portal, not its fair-share limits (EXPORT_CONNECTIONS still bounds the downloads).
        PORTAL_RATE_LIMIT="0",
        PORTAL_CLIENT_DOWNLOADS="0",
        PORTAL_PROCESS_DOWNLOADS="0",
        PORTAL_CLIENT_REQUESTS="0",
        PORTAL_CLIENT_POOL_SHARE="0",
    )
    if workers:
        env["GUNICORN_WORKERS"] = str(workers)
    server = Gunicorn(env, workdir, name="gunicorn.log", config_file=True, port=port)
    try:
        return server.start(ready_paths=("/readyz",), timeout=120)
    except ServerError as exc:
        server.stop()
        raise SystemExit(f"{exc}\n(log: {server.logfile})") from None


def download_paths(base: str, paths: list[str]) -> list[str]:
    """Whole-relation downloads (CSV, then NDJSON) of the relation of the mix with the most rows."""
    sizes = {}
    for path in paths:
        if path.endswith("?limit=20"):
            status, body = _get(base + path.replace("?limit=20", "?limit=1"))
            sizes[path[: -len("?limit=20")]] = json.loads(body).get("count", 0) if status == 200 else -1
    largest = max(sizes, key=sizes.get)
    return [largest + "?format=csv&limit=all", largest + "?format=ndjson&limit=all"]


def run_wrk(wrk: str, args, seconds: int, script: Path, base: str) -> dict:
    proc = subprocess.run(
        [
            wrk,
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{seconds}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    line = next((out for out in proc.stdout.splitlines() if out.startswith("WRK-RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return json.loads(line.split(" ", 1)[1])


def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    from portal.embedded import demo_database_url

    return demo_database_url()


def with_application_name(url: str, name: str) -> str:
    """``url`` whose sessions show as ``name`` in pg_stat_activity (libpq takes it from the query
    string, and so does portal/dburl.py): the sampler counts this server's sessions only, not
    those of other portals on the same database (the test suite's own, for one)."""
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "application_name"]
    return parts._replace(query=urllib.parse.urlencode([*query, ("application_name", name)])).geturl()


def measure(args, wrk: str, script: Path, base: str, port: int, server, downloads: list[str], url: str) -> dict:
    """Slow readers first (a few seconds to take every download slot), then wrk, the prober and
    the session sampler together; RSS when wrk starts and when it ends."""
    ramp = max(1, min(5, args.duration // 4)) if args.readers else 0
    end = time.monotonic() + ramp + args.duration
    readers = SlowReaders("127.0.0.1", port, downloads, args.readers, args.reader_rate, end)
    sampler = SessionSampler(url, end)
    readers.start()
    sampler.start()
    time.sleep(ramp)
    prober = Prober("127.0.0.1", port, "/healthz", end)
    prober.start()
    rss_start, downloading = worker_rss(server.pid), readers.active()
    started = time.monotonic()
    result = run_wrk(wrk, args, args.duration, script, base)
    elapsed = time.monotonic() - started
    rss_end = worker_rss(server.pid)
    for thread in (readers, prober, sampler):
        thread.join(timeout=30)
    return dict(
        wrk=result,
        elapsed=elapsed,
        rss_start=rss_start,
        rss_end=rss_end,
        readers=readers,
        prober=prober,
        sampler=sampler,
        downloading=downloading,
    )


def run(args) -> int:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (Debian package wrk; `make install-system` installs it)")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="portal-loadtest-"))
    url = with_application_name(database_url(), f"pg-portal-loadtest-{port}")
    server = start_server(args.workers, port, workdir, url)
    try:
        paths = url_mix(base)
        downloads = download_paths(base, paths)
        for _ in range(3):  # every worker builds its snapshot and endpoints before measuring
            for path in paths:
                _get(base + path)
        script = workdir / "mix.lua"
        script.write_text(LUA % {"paths": ", ".join(json.dumps(p) for p in paths)})
        # A short warm-up under the same load first: allocator arenas, caches and every thread's
        # connection settle there, so that the RSS measured below shows growth, not start-up.
        run_wrk(wrk, args, max(2, min(10, args.duration // 4)), script, base)
        figures = measure(args, wrk, script, base, port, server.process, downloads, url)
    finally:
        server.stop(grace=30)
    ok = report(args, paths, downloads, figures)
    if ok:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"log           {workdir / 'gunicorn.log'}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.loadtest", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=int, default=int(os.environ.get("LOADTEST_DURATION", "60")), help="seconds (60)"
    )
    parser.add_argument("--connections", type=int, default=50, help="concurrent wrk connections (50)")
    parser.add_argument("--threads", type=int, default=4, help="wrk threads (4)")
    parser.add_argument(
        "--workers", type=int, default=None, help="gunicorn workers (portal/gunicorn.conf.py's default)"
    )
    parser.add_argument("--max-growth", type=float, default=20.0, help="allowed RSS growth per worker, percent (20)")
    parser.add_argument("--readers", type=int, default=200, help="slow readers of whole-relation downloads (200)")
    parser.add_argument("--reader-rate", type=float, default=20_000, help="bytes/s each slow reader reads (20000)")
    parser.add_argument("--page-p99-ms", type=float, default=250.0, help="target p99 of the pages under wrk (250)")
    parser.add_argument("--healthz-p99-ms", type=float, default=50.0, help="target p99 of /healthz (50)")
    args = parser.parse_args(argv)
    if not 0 <= args.readers <= 60_000:
        parser.error("--readers: 0 to 60000 (one loopback address each)")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
