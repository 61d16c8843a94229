"""Every relation the reader may SELECT is published, in every format, and nothing else is."""

from __future__ import annotations

import pytest

from tests.autoapi.helpers import body, json_body, published_relations, readable, url
from tests.conftest import SECRET_SENTINELS

# What the reader role may read, computed independently of the portal, as the superuser: a
# partition only when the reader may read no table it is a partition of.
READABLE_BY_READER_SQL = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND (NOT c.relispartition OR NOT EXISTS (
      SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid
        AND has_table_privilege('portal_reader', i.inhparent, 'SELECT')))
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
  AND has_schema_privilege('portal_reader', n.oid, 'USAGE')
  AND (has_table_privilege('portal_reader', c.oid, 'SELECT')
       OR has_any_column_privilege('portal_reader', c.oid, 'SELECT'))
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
"""


def test_index_lists_exactly_what_the_reader_can_read(client, superuser_conn):
    expected = {tuple(row) for row in superuser_conn.execute(READABLE_BY_READER_SQL)}
    index = json_body(client.get("/api/"))
    listed = {(r["schema"], r["name"]) for r in index["relations"]}
    assert listed == expected
    assert index["count"] == len(expected)
    assert len(expected) > 60  # the hostile fixture really loaded


def test_index_urls_resolve(client):
    index = json_body(client.get("/api/"))
    for entry in index["relations"]:
        path = entry["url"].replace("http://testserver", "")
        response = client.get(path + "?limit=1")
        assert response.status_code in (200, 409), (entry["name"], response.status_code)


@pytest.mark.parametrize("fmt", ["json", "csv", "ndjson", "geojson"])
def test_every_relation_in_every_format_never_5xx(client, fmt):
    for relation in published_relations():
        for query in (f"format={fmt}", f"format={fmt}&limit=all"):
            response = client.get(url(relation, query))
            payload = body(response)
            assert response.status_code < 500, (relation.name, fmt, payload[:300])
            if fmt == "geojson" and response.status_code == 406:
                assert b"no geometry" in payload
            elif not readable(relation):
                assert response.status_code == 409, (relation.name, payload[:300])
            else:
                assert response.status_code == 200, (relation.name, fmt, payload[:300])


def test_unreadable_relations_fail_alone_with_a_clear_message(client):
    by_name = {r.name: r for r in published_relations()}
    response = client.get(url(by_name["v_errors"]))
    assert response.status_code == 409
    assert "division by zero" in json_body(response)["detail"]
    response = client.get(url(by_name["mv_unpopulated"]))
    assert response.status_code == 409
    assert "REFRESH MATERIALIZED VIEW" in json_body(response)["detail"]
    # Their neighbours are unaffected.
    assert client.get(url(by_name["single_pk"])).status_code == 200


def test_partitions_are_published_through_their_parent_only(client):
    names = {r.name for r in published_relations()}
    assert "measurements" in names
    assert "measurements_2023" not in names and "measurements_2024" not in names
    measurements = next(r for r in published_relations() if r.name == "measurements")
    assert measurements.kind == "partitioned table"


def test_sub_partitions_are_listed_with_their_bounds_under_the_parent_only(client):
    by_name = {r.name: r for r in published_relations()}
    assert not {"events_eu", "events_eu_2024", "events_us", "events_other"} & set(by_name)
    events = by_name["events"]
    listed = [(p.name, p.level, p.bound) for p in events.partitions]
    assert listed == [
        ("events_eu", 1, "FOR VALUES IN ('eu')"),
        ("events_eu_2024", 2, "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"),
        ("events_eu_2025", 2, "FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')"),
        ("events_other", 1, "DEFAULT"),
        ("events_us", 1, "FOR VALUES IN ('us', 'ca')"),
    ]
    assert [p.parent for p in events.partitions] == ["events", "events_eu", "events_eu", "events", "events"]
    rows = json_body(client.get(url(events, "ordering=id")))["results"]
    assert [r["payload"] for r in rows] == ["eu 2024", "eu 2025", "us", "ca", "default partition"]


def test_a_partition_granted_alone_is_published_alone(client):
    by_name = {r.name: r for r in published_relations()}
    assert "private_log" not in by_name and "private_log_2025" not in by_name
    alone = by_name["private_log_2024"]
    assert alone.kind == "table" and alone.partitions == ()
    rows = json_body(client.get(url(alone)))["results"]
    assert [r["message"] for r in rows] == ["granted partition row"]
    # Nothing of its parent or sibling shows through.
    assert b"private_log" not in body(client.get("/api/")).replace(b"private_log_2024", b"")
    assert b"never published" not in body(client.get(url(alone, "format=csv&limit=all")))


def test_secrets_never_appear_anywhere(client):
    pages = [client.get("/api/")]
    for relation in published_relations():
        for query in ("limit=all", "format=csv&limit=all", "bogus=1"):
            pages.append(client.get(url(relation, query)))
    pages.append(client.get("/api/public/secret_table/"))
    pages.append(client.get("/api/secret_schema/hidden_things/"))
    for response in pages:
        text = body(response).decode("utf-8", "replace")
        for sentinel in SECRET_SENTINELS:
            assert sentinel not in text, (response.status_code, text[:200])


def test_column_level_privileges_publish_only_the_granted_columns(client):
    relation = next(r for r in published_relations() if r.name == "partial_columns")
    assert [c.name for c in relation.columns] == ["id", "visible"]
    rows = json_body(client.get(url(relation)))["results"]
    assert rows and all(set(row) == {"id", "visible"} for row in rows)


def test_secret_relations_are_404(client):
    assert client.get("/api/public/secret_table/").status_code == 404
    assert client.get("/api/secret_schema/hidden_things/").status_code == 404


def test_the_index_as_csv_has_one_line_per_relation_and_a_column_per_format(client):
    import csv
    import io

    index = json_body(client.get("/api/"))
    response = client.get("/api/?format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))
    assert len(rows) == index["count"]
    first = next(r for r in rows if r["name"] == "big_2500")
    assert first["key"] == "id" and first["formats.csv"].endswith("/api/public/big_2500/?format=csv")
    assert first["formats.geojson"] == ""  # no geometry, no GeoJSON
    assert {"formats.json", "formats.csv", "formats.ndjson", "formats.geojson"} <= set(rows[0])
