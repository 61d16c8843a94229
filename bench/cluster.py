"""The benchmark's disposable PostgreSQL 15 + PostGIS cluster.

Reuses the test harness's ``Cluster`` (initdb in a temp dir, a free port, fsync off, the
postmaster a child of this process that dies with it, removal afterwards); only the server
settings differ: a bigger shared_buffers and enough lock slots to create 1,000 tables at once.
"""
from __future__ import annotations

import psycopg2

from tests import harness

SUPERUSER = harness.SUPERUSER
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


class BenchCluster(harness.Cluster):
    def __init__(self):
        super().__init__("debian")

    def _write_settings(self) -> None:
        super()._write_settings()
        # Appended after the harness's own lines: the last setting in the file wins.
        with open(self.data / "postgresql.auto.conf", "a", encoding="utf-8") as fh:
            fh.write("# bench/cluster.py\n" + "".join(f"{k} = '{v}'\n" for k, v in EXTRA_SETTINGS.items()))

    # -- addresses ------------------------------------------------------------------------

    def superuser_dsn(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def reader_url(self, database: str) -> str:
        return f"postgresql://{READER}:{READER_PASSWORD}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str, autocommit: bool = True):
        conn = psycopg2.connect(self.superuser_dsn(database))
        conn.autocommit = autocommit
        return conn

    def psql_bin(self) -> str:
        return str(self.bin / "psql")

    def pgbench_bin(self) -> str:
        return str(self.bin / "pgbench")


def start_cluster() -> BenchCluster:
    cluster = BenchCluster()
    try:
        cluster.create()
        cluster.start()
        cluster.version = cluster.psql("-A", "-t", "-c", "SHOW server_version", database="postgres").strip()
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def stop_cluster(cluster: BenchCluster | None) -> None:
    if cluster is None:
        return
    try:
        cluster.stop()
    finally:
        cluster.remove()
