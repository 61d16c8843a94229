"""The benchmark's disposable PostgreSQL + PostGIS cluster (Debian's PG_MAJOR, as the tests').

The tests' own cluster (tests/pg.py: initdb in a temp dir, a free port, fsync off, the postmaster a
child of this process that dies with it, removal afterwards); only the server settings differ: a
bigger shared_buffers and enough lock slots to create 1,000 tables at once. It loads the
benchmark's data (bench/data.py), not the test fixtures.
"""

from __future__ import annotations

import psycopg2

from tests import pg

SUPERUSER = pg.SUPERUSER
READER, READER_PASSWORD = "bench_reader", "bench-reader-pw"
MAIN_DB = "bench_main"
WIDE_DB = "bench_wide"

EXTRA_SETTINGS = {
    "shared_buffers": "512MB",
    "work_mem": "16MB",
    "maintenance_work_mem": "512MB",
    "max_locks_per_transaction": "1024",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "30min",
    "autovacuum": "off",  # no background work racing the measurements; tables are ANALYZEd
    "jit": "off",
}


class BenchCluster(pg.Cluster):
    """``tests.pg.Cluster`` with the benchmark's addresses."""

    def superuser_dsn(self, database: str) -> str:
        return self.superuser_url(database)

    def reader_url(self, database: str) -> str:
        return self.role_url(READER, READER_PASSWORD, database)

    def connect(self, database: str, autocommit: bool = True):
        conn = psycopg2.connect(self.superuser_dsn(database))
        conn.autocommit = autocommit
        return conn

    def psql_bin(self) -> str:
        return self.program("psql")

    def pgbench_bin(self) -> str:
        return self.program("pgbench")


def start_cluster() -> BenchCluster:
    return pg.start_cluster("debian", load=False, extra_settings=EXTRA_SETTINGS, factory=BenchCluster)


stop_cluster = pg.stop_cluster
