"""What the open-data documents and the change log cost at 10,000 relations (run by bench/run.py
as a subprocess, or alone: ``python -m bench.standards_probe``). No database: a synthetic snapshot
of 10,000 tables of 8 columns each (ten schemas, a key and a foreign key each) is swapped into the
registry, and the documents are built from it as a request would. Prints one JSON object:

- ``data_json_first`` / ``data_json_again``: /data.json (DCAT-US 3.0) built (``data_json_first_cpu``:
  the CPU time of that build), then held (shared_document);
- ``schema_package_first``: one schema's Data Package (1,000 relations), and its size;
- ``relation_documents``: Data Package + CSVW + Croissant of one relation, median of 50;
- ``recorder_idle``: the change log's check when nothing changed (every REFRESH_INTERVAL), median of 50;
- ``recorder_baseline``: the first check, which stores the 10,000 relations' state;
- ``recorder_one_column``: a check that finds one column added (one entry written);
- ``feed_first`` / ``feed_again``: the whole-portal Atom page over a log of 20,000 entries.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time

RELATIONS = 10_000
SCHEMAS = 10


def median_time(fn, runs: int = 50) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def synthetic_snapshot(version: str, extra_column: bool = False):
    from autoapi.schema.snapshot import Column, ForeignKey, Key, Relation, Snapshot

    relations = []
    for i in range(RELATIONS):
        columns = [
            Column("id", "id", 1, "integer", "int4", "b", "N", nullable=False),
            Column("parent_id", "parent_id", 2, "integer", "int4", "b", "N"),
            Column("name", "name", 3, "text", "text", "b", "S", comment="A name"),
            Column("amount", "amount", 4, "numeric(12,2)", "numeric", "b", "N"),
            Column("at", "at", 5, "timestamp with time zone", "timestamptz", "b", "D"),
            Column("day", "day", 6, "date", "date", "b", "D"),
            Column("flag", "flag", 7, "boolean", "bool", "b", "B"),
            Column("note", "note", 8, "text", "text", "b", "S"),
        ]
        if extra_column and i == 0:
            columns.append(Column("added", "added", 9, "text", "text", "b", "S"))
        schema = f"schema_{i % SCHEMAS}"
        relations.append(
            Relation(
                oid=100_000 + i,
                schema=schema,
                name=f"table_{i}",
                kind="table",
                comment=f"Table {i}",
                estimated_rows=1000,
                columns=tuple(columns),
                primary_key=Key(f"pk_{i}", ("id",), True),
                foreign_keys=(ForeignKey(f"fk_{i}", ("parent_id",), schema, f"table_{max(i - SCHEMAS, 0)}", ("id",)),),
            )
        )
    return Snapshot(version=version, built_at=time.time(), server_version="17", relations=tuple(relations))


def main() -> None:
    folder = tempfile.mkdtemp(prefix="standards-probe-")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        PORTAL_CHANGE_LOG_DIR=folder,
        PORTAL_LOG_LEVEL="WARNING",
        PORTAL_EXPORT_CACHE_MB="0",
    )
    import django

    django.setup()
    from django.test import RequestFactory

    from autoapi.web.api import PublishedAPI
    from autoapi.web.registry import registry
    from catalog.standards import changelog, croissant, csvw, datapackage, dcat_us3, feeds

    snapshot = synthetic_snapshot("v1")
    registry.install(PublishedAPI(snapshot))  # no watcher thread: there is no database
    request = RequestFactory().get("/data.json", HTTP_HOST="127.0.0.1")
    out = {"relations": RELATIONS}

    versions = lambda relation: (f"tag-{relation.oid}", 1_700_000_000)  # noqa: E731
    recorder = changelog.Recorder()
    out["recorder_baseline"], _ = timed(lambda: recorder(snapshot, versions, time.time(), 1))
    out["recorder_idle"] = median_time(lambda: recorder(snapshot, versions, time.time(), 1))
    changed = synthetic_snapshot("v2", extra_column=True)
    registry.install(PublishedAPI(changed))
    out["recorder_one_column"], _ = timed(lambda: recorder(changed, versions, time.time(), 2))
    snapshot = changed

    cpu = time.process_time()
    out["data_json_first"], response = timed(lambda: dcat_us3.data_json(request))
    out["data_json_first_cpu"] = time.process_time() - cpu  # the machine may be shared: the CPU it took
    out["data_json_bytes"] = len(response.content)
    out["data_json_again"] = median_time(lambda: dcat_us3.data_json(request), runs=20)
    out["schema_package_first"], response = timed(lambda: datapackage.schema_package(request, "schema_3"))
    out["schema_package_bytes"] = len(response.content)
    out["schema_package_again"] = median_time(lambda: datapackage.schema_package(request, "schema_3"), runs=20)
    one = snapshot.relations[42]

    def documents():
        datapackage.relation_package(request, one.schema, one.name)
        csvw.metadata_view(request, one.schema, one.name)
        croissant.croissant_view(request, one.schema, one.name)

    out["relation_documents"] = median_time(documents)

    conn = changelog.connection()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO entries (id, at, kind, oid, schema_name, relation_name, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                f"bench-{i}",
                time.time(),
                "data_changed",
                100_000 + i % RELATIONS,
                f"schema_{i % SCHEMAS}",
                f"table_{i % RELATIONS}",
                '{"rows_before": 1, "rows_after": 2}',
            )
            for i in range(20_000)
        ],
    )
    conn.execute("COMMIT")
    feed_request = RequestFactory().get("/changes.atom", HTTP_HOST="127.0.0.1")
    out["feed_first"], response = timed(lambda: feeds.portal_feed(feed_request, "atom"))
    out["feed_bytes"] = len(response.content)
    out["feed_again"] = median_time(lambda: feeds.portal_feed(feed_request, "atom"), runs=20)
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
