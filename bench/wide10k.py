"""`make bench`, section ``wide10k``: the portal at 10,000 relations (issue 23).

Generates its own database (``bench_wide10k``: 10,000 small tables, 5,000 in each of two schemas,
three columns and one row each) and serves it with gunicorn (2 workers, the stored-documents
folder on), then measures against the issue's targets: start, the home page, ``/api/schema/``, a
relation's ``service-desc`` document, ``/data.json`` first and 10 at once, 80 cold document
requests right after a schema change while another client reads pages (its p95), worker RSS,
and a new table's delay to visibility during document builds.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import re
import shutil
import statistics
import threading
import time

from bench.cluster import READER
from bench.server import ROOT, Portal

DB = "bench_wide10k"
SCHEMAS = ("stats_a", "stats_b")
PER_SCHEMA = 5000
BATCH = 500  # tables per transaction (max_locks_per_transaction is 1024)
DOCUMENTS = ("/", "/data.json", "/api/schema/", "/sitemap.xml")


def generate(cluster, log) -> float:
    started = time.perf_counter()
    conn = cluster.connect("postgres")
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        cur.execute(f"CREATE DATABASE {DB}")
    conn.close()
    conn = cluster.connect(DB)
    with conn.cursor() as cur:
        for schema in SCHEMAS:
            cur.execute(f"CREATE SCHEMA {schema}")
            for first in range(1, PER_SCHEMA + 1, BATCH):
                cur.execute(f"""
                    DO $$ BEGIN
                    FOR i IN {first}..{first + BATCH - 1} LOOP
                        EXECUTE format('CREATE TABLE {schema}.t%s (id integer PRIMARY KEY, label text, amount numeric)',
                                       lpad(i::text, 5, '0'));
                        EXECUTE format('COMMENT ON TABLE {schema}.t%s IS %L', lpad(i::text, 5, '0'),
                                       'Generated table number ' || i);
                        EXECUTE format('INSERT INTO {schema}.t%s VALUES (1, %L, 1)', lpad(i::text, 5, '0'), 'one');
                    END LOOP; END $$""")
        cur.execute(f"GRANT CONNECT ON DATABASE {DB} TO {READER}")
        for schema in SCHEMAS:
            cur.execute(f"GRANT USAGE ON SCHEMA {schema} TO {READER}")
            cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {READER}")
            cur.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {READER}")
        cur.execute("ANALYZE")
    conn.close()
    elapsed = time.perf_counter() - started
    log(f"wide10k: {len(SCHEMAS) * PER_SCHEMA:,} tables in {elapsed:.0f} s")
    return elapsed


def _timed(port: int, path: str, timeout: float = 120, headers: dict | None = None) -> tuple[int, bytes, float, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = time.perf_counter()
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, body, time.perf_counter() - started, dict(resp.getheaders())
    except (OSError, http.client.HTTPException):
        return 0, b"", time.perf_counter() - started, {}
    finally:
        conn.close()


def _at_once(port: int, paths: list[str], timeout: float = 60) -> list[tuple[int, float]]:
    with concurrent.futures.ThreadPoolExecutor(len(paths)) as pool:
        return [(s, t) for s, _b, t, _h in pool.map(lambda p: _timed(port, p, timeout), paths)]


def _schema_change(cluster, name: str) -> None:
    conn = cluster.connect(DB)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {SCHEMAS[0]}.{name} (id integer PRIMARY KEY)")
    conn.close()


def _wait_visible(port: int, path: str, limit: float = 60) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        status, _b, _t, _h = _timed(port, path, timeout=10)
        if status == 200:
            return time.perf_counter() - started
        time.sleep(0.02)
    return float("inf")


class Reader(threading.Thread):
    """Another client: /healthz and a small catalog page, one after the other, latencies kept."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port, self.latencies, self.failures = port, [], 0
        self.stop = threading.Event()

    def run(self):
        paths = ("/healthz", f"/catalog/{SCHEMAS[1]}/t00002/", f"/api/{SCHEMAS[1]}/t00003/")
        i = 0
        while not self.stop.is_set():
            status, _b, elapsed, _h = _timed(self.port, paths[i % len(paths)], timeout=30)
            self.latencies.append(elapsed)
            self.failures += status != 200
            i += 1


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)] if values else float("inf")


def section_wide10k(ctx) -> None:
    from bench.run import MB, log, mb, ms, secs

    generated = generate(ctx.cluster, log)
    ctx.notes.append(f"wide10k: {len(SCHEMAS) * PER_SCHEMA:,} tables generated in {generated:.0f} s.")
    url = ctx.cluster.reader_url(DB)
    env = {
        "PORTAL_CATALOG_CACHE_SECONDS": "30",
        "PORTAL_EXPORT_CACHE_MB": "2048",
        "PORTAL_EXPORT_CACHE_DIR": str(ctx.tmp / "wide10k-stored"),
    }
    portal = Portal(url, workers=2, threads=16, log_dir=ctx.tmp, name="wide10k", env=env)
    started = time.perf_counter()
    portal.start(ready_path="/healthz")
    first = f"/api/{SCHEMAS[0]}/t00001/"
    status, _b, _t, headers = _timed(portal.port, first)
    start = time.perf_counter() - started
    try:
        ctx.add(
            "wide10k: start to the first API answer (10,000 relations)",
            secs(start),
            target="< 10 s",
            ok=status == 200 and start < 10,
        )
        s, body, t, _h = _timed(portal.port, "/")
        ctx.add(
            "wide10k: home page, first request: size / time",
            f"{len(body) / 1024:.0f} KB / {secs(t)}",
            target="< 300 KB, < 0.5 s",
            ok=s == 200 and len(body) < 300 * 1024 and t < 0.5,
        )
        s, body, t, _h = _timed(portal.port, f"/catalog/{SCHEMAS[0]}/?page=20")
        ctx.add("wide10k: a schema's list, page 20: size / time", f"{len(body) / 1024:.0f} KB / {secs(t)}", ok=None)
        s, body, t, _h = _timed(portal.port, "/api/schema/")
        ctx.add(
            "wide10k: /api/schema/, first request: size / time",
            f"{mb(len(body))} / {secs(t)}",
            target="< 2 MB, < 0.5 s",
            ok=s == 200 and len(body) < 2 * MB and t < 0.5,
        )
        link = headers.get("Link", "")
        desc = re.search(r'<([^>]+)>; rel="service-desc"', link)
        s, body, t, _h = _timed(portal.port, desc.group(1)) if desc else (0, b"", 0.0, {})
        holds = first.encode() in body
        ctx.add(
            "wide10k: a relation's service-desc document: size / time",
            f"{len(body):,} B / {secs(t)}",
            target="< 2 MB, holds its path",
            ok=s == 200 and len(body) < 2 * MB and holds,
        )
        s, body, t, _h = _timed(portal.port, "/data.json")
        ctx.add(
            "wide10k: /data.json, first request: size / time",
            f"{mb(len(body))} / {secs(t)}",
            target="< 3 s",
            ok=s == 200 and t < 3,
        )

        _schema_change(ctx.cluster, "change_1")
        _wait_visible(portal.port, f"/api/{SCHEMAS[0]}/change_1/")
        started = time.perf_counter()
        answers = _at_once(portal.port, ["/data.json"] * 10)
        together = time.perf_counter() - started
        ctx.add(
            "wide10k: /data.json, 10 at once after a schema change",
            secs(together),
            target="all 200 < 5 s",
            ok=all(s == 200 for s, _ in answers) and together < 5,
        )

        reader = Reader(portal.port)
        reader.start()
        time.sleep(1)
        _schema_change(ctx.cluster, "change_2")
        _wait_visible(portal.port, f"/api/{SCHEMAS[0]}/change_2/")
        started = time.perf_counter()
        answers = _at_once(portal.port, [path for path in DOCUMENTS for _ in range(20)], timeout=60)
        crowd = time.perf_counter() - started
        _schema_change(ctx.cluster, "change_3")
        visible = _wait_visible(portal.port, f"/api/{SCHEMAS[0]}/change_3/")
        answers += _at_once(portal.port, [path for path in DOCUMENTS for _ in range(5)], timeout=60)
        reader.stop.set()
        reader.join()
        ok = sum(s == 200 for s, _ in answers[:80])
        slowest = max(t for _, t in answers[:80])
        ctx.add(
            "wide10k: 80 cold document requests (20 each of /, /data.json, /api/schema/, /sitemap.xml): 200s / slowest",
            f"{ok}/80 / {secs(slowest)}",
            target="80/80 < 30 s",
            ok=ok == 80 and slowest < 30,
        )
        ctx.add(
            "wide10k: meanwhile another client's /healthz and pages: p95 (requests, failures)",
            f"{secs(p95(reader.latencies))} ({len(reader.latencies)}, {reader.failures})",
            target="< 1 s",
            ok=p95(reader.latencies) < 1 and reader.failures == 0,
        )
        ctx.add(
            "wide10k: a new table visible in the API, during document builds",
            secs(visible - 0),
            target="< 2 s",
            ok=visible < 2,
        )
        rss = portal.worker_rss()
        ctx.add(
            "wide10k: worker RSS after all of the above (largest)",
            mb(max(rss)) if rss else "?",
            target="< 400 MB",
            ok=bool(rss) and max(rss) < 400 * MB,
        )
        ctx.notes.append(
            f"wide10k: the 80 document requests took {secs(crowd)} in all; their median "
            f"{secs(statistics.median(t for _, t in answers[:80]))}; pages of the other client: "
            f"median {ms(statistics.median(reader.latencies)) if reader.latencies else '?'}; "
            f"worker RSS {', '.join(mb(r) for r in rss)}."
        )
    finally:
        portal.stop()
        with contextlib.suppress(OSError):  # kept for reading after the run (the temp folder goes)
            (ROOT / "var").mkdir(exist_ok=True)
            shutil.copy(portal.log_path, ROOT / "var" / "bench-wide10k-gunicorn.log")
