"""Snapshot build costs, measured in a fresh process (run by bench/run.py as a subprocess).

Needs DATABASE_URL (the ``bench_wide`` database as bench_reader). Prints one JSON object:
read_snapshot times (5 runs), PublishedAPI + endpoints for 50 relations, fingerprint times
(20 runs), data version reads (20 runs), and this process's RSS after building the endpoints of
every relation.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import time

READ_RUNS = 5
FINGERPRINT_RUNS = 20
FIRST_RELATIONS = 50


def rss(field: str = "VmRSS") -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def data_versions(cursor, snapshot, out: dict) -> None:
    """The data version of every relation (autoapi/freshness/dataversion.py): the first read (dependency
    graph and counters), then what every worker runs each REFRESH_INTERVAL (counters only)."""
    from autoapi.freshness.dataversion import DataVersions

    versions = DataVersions()
    started = time.perf_counter()
    versions.refresh(cursor, snapshot)
    out["data_versions_first"] = time.perf_counter() - started
    times = []
    for _ in range(FINGERPRINT_RUNS):
        started = time.perf_counter()
        versions.refresh(cursor, snapshot)
        times.append(time.perf_counter() - started)
    out["data_versions_median"] = statistics.median(times)
    out["data_versions_known"] = sum(versions.get(r).known for r in snapshot.relations)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.db import connections

    from autoapi.conf import DATABASE_ALIAS, portal_setting
    from autoapi.schema.introspect import change_probe, fingerprint, read_snapshot
    from autoapi.web.api import PublishedAPI

    schemas = portal_setting("SCHEMAS")
    out: dict = {"rss_after_setup": rss()}
    with connections[DATABASE_ALIAS].cursor() as cursor:
        fingerprint(cursor, schemas)  # connect, warm the catalog caches of this backend
        read_times = []
        snapshot = None
        for _ in range(READ_RUNS):
            snapshot = None
            gc.collect()
            started = time.perf_counter()
            snapshot = read_snapshot(cursor, schemas)
            read_times.append(time.perf_counter() - started)
        fp_times, probe_times = [], []
        for _ in range(FINGERPRINT_RUNS):
            started = time.perf_counter()
            fingerprint(cursor, schemas)
            fp_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            change_probe(cursor)  # what every worker runs each REFRESH_INTERVAL
            probe_times.append(time.perf_counter() - started)
        data_versions(cursor, snapshot, out)
    relations = snapshot.relations
    out["relations"] = len(relations)
    out["columns"] = sum(len(r.columns) for r in relations)
    out["kinds"] = sorted({r.kind for r in relations})
    out["read_snapshot"] = read_times
    out["read_snapshot_median"] = statistics.median(read_times)
    out["fingerprint"] = fp_times
    out["fingerprint_median"] = statistics.median(fp_times)
    out["probe"] = probe_times
    out["probe_median"] = statistics.median(probe_times)
    out["rss_after_snapshot"] = rss()

    started = time.perf_counter()
    api = PublishedAPI(snapshot)
    for relation in relations[:FIRST_RELATIONS]:
        if api.endpoints(relation.schema, relation.name) is None:
            raise RuntimeError(f"no endpoints for {relation.schema}.{relation.name}")
    out["api_first_50"] = time.perf_counter() - started

    started = time.perf_counter()
    for relation in relations[FIRST_RELATIONS:]:
        api.endpoints(relation.schema, relation.name)
    out["api_rest"] = time.perf_counter() - started
    out["api_all"] = out["api_first_50"] + out["api_rest"]
    gc.collect()
    out["rss_after_all_endpoints"] = rss()
    out["hwm_after_all_endpoints"] = rss("VmHWM")
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
