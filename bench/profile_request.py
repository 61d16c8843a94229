"""Where a request's time goes: cProfile of one portal URL, served in-process.

    .venv/bin/python -m bench.profile_request [URL ...] [--requests N] [--sort tottime]

Starts the benchmark's disposable cluster with the demo data only (plus bench.points when a URL
asks for it), serves each URL N times through Django's test client (warm: the snapshot and
endpoints are built first) and prints the top functions. A tool for reading the benchmark's
failures, not part of `make bench`.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time

from bench.cluster import MAIN_DB, start_cluster, stop_cluster
from bench.data import load_demo, load_points


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_request")
    parser.add_argument("urls", nargs="*", default=["/api/public/flights/?limit=100"])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--sql", action="store_true", help="also list the SQL of one request, with timings")
    parser.add_argument("--sql-full", action="store_true", help="with --sql: the whole statements")
    args = parser.parse_args(argv)
    cluster = start_cluster()
    try:
        from bench.cluster import READER, READER_PASSWORD

        conn = cluster.connect("postgres")
        with conn.cursor() as cur:
            cur.execute(f"CREATE ROLE {READER} LOGIN PASSWORD %s", [READER_PASSWORD])
            cur.execute(f"CREATE DATABASE {MAIN_DB}")
        conn.close()
        conn = cluster.connect(MAIN_DB)
        with conn.cursor() as cur:
            cur.execute("CREATE EXTENSION postgis")
        load_demo(cluster)
        if any("/bench/points/" in u for u in args.urls):
            load_points(cluster)
        with conn.cursor() as cur:
            cur.execute(
                f"GRANT USAGE ON SCHEMA public, bench TO {READER}"
                if any("/bench/" in u for u in args.urls)
                else f"GRANT USAGE ON SCHEMA public TO {READER}"
            )
            cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER}")
            if any("/bench/" in u for u in args.urls):
                cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA bench TO {READER}")
        conn.close()

        os.environ["DATABASE_URL"] = cluster.reader_url(MAIN_DB)
        os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
        os.environ.setdefault("PORTAL_LOG_LEVEL", "WARNING")
        import django

        django.setup()
        from django.test import Client

        client = Client(HTTP_HOST="127.0.0.1")
        for url in args.urls:
            for _ in range(3):
                response = client.get(url)
                assert response.status_code == 200, (url, response.status_code, response.content[:300])
            started = time.perf_counter()
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.requests):
                response = client.get(url)
                if response.streaming:
                    for _chunk in response.streaming_content:
                        pass
            profile.disable()
            took = (time.perf_counter() - started) / args.requests
            if args.sql:
                from django.db import connections

                conn = connections["published"]
                conn.force_debug_cursor = True
                conn.queries_log.clear()
                client.get(url)
                conn.force_debug_cursor = False
                for query in conn.queries:
                    print(
                        f"  SQL {float(query['time']) * 1000:8.2f} ms  {query['sql'] if args.sql_full else query['sql'][:400]}"
                    )
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats(args.sort).print_stats(args.top)
            print(f"=== {url}: {took * 1000:.2f} ms per request (under cProfile), {args.requests} requests")
            print(out.getvalue())
    finally:
        stop_cluster(cluster)
    return 0


if __name__ == "__main__":
    sys.exit(main())
