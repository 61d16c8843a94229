"""Any real database: extensions in a schema off the reader's search_path (as on Supabase), any
identifier, partitions, and one relation the portal cannot handle never taking the rest down.

The fixture (tests/fixtures/05_extensions.sql, 15_dollar_names.sql, 45_partitions.sql) installs
PostGIS, citext, hstore, ltree, isn and cube (and pgvector where available) in ``extensions``;
the reader's search_path is ``"$user", public`` (90_grants.sql).
"""

from __future__ import annotations

import io
import json
import logging

import psycopg2
import pytest
from django.core.management import call_command

from autoapi.web import api as api_module
from autoapi.web.registry import registry
from tests.autoapi.helpers import body, json_body, openapi_parameters, published_relations, url

pytestmark = pytest.mark.db  # every test here reads the fixture database


def relation(name: str, schema: str = "public"):
    return next(r for r in published_relations() if r.name == name and r.schema == schema)


def all_rows(client, start: str) -> list[dict]:
    """Every row, following ``next`` links (bounded)."""
    rows, next_url = [], start
    for _ in range(100):
        if not next_url:
            return rows
        page = json_body(client.get(next_url))
        rows += page["results"]
        next_url = page["next"]
    raise AssertionError("more than 100 pages")


# --- extensions live anywhere -------------------------------------------------------------------


def test_the_reader_really_cannot_see_the_extensions_unqualified(reader_conn, pg_info):
    """The hazard is real: unqualified, the reader finds neither hstore's nor PostGIS's names."""
    with reader_conn.cursor() as cursor:
        cursor.execute("SHOW search_path")
        assert "extensions" not in cursor.fetchone()[0]
        with pytest.raises(psycopg2.errors.UndefinedFunction):
            cursor.execute("SELECT hstore_to_json('a=>1')")
        if pg_info["has_postgis"]:
            with pytest.raises(psycopg2.errors.UndefinedFunction):
                cursor.execute("SELECT ST_MakeEnvelope(0, 0, 1, 1, 4326)")


def test_the_snapshot_records_each_extension_and_its_schema(pg_info):
    extensions = {e.name: e.schema for e in registry.current().snapshot.extensions}
    assert {name: extensions.get(name) for name in ("citext", "hstore", "ltree", "isn", "cube")} == dict.fromkeys(
        ("citext", "hstore", "ltree", "isn", "cube"), "extensions"
    )
    if pg_info["has_postgis"]:
        assert extensions["postgis"] == "extensions"
        assert registry.current().snapshot.extension_schema("postgis") == "extensions"


def test_extension_types_are_published_as_postgresql_writes_them(client, superuser_conn):
    rel = relation("extension_types")
    types = {c.name: (c.base_type, c.type_schema) for c in rel.columns}
    assert types["attributes"] == ("hstore", "extensions") and types["email"] == ("citext", "extensions")
    ours = json_body(client.get(url(rel, "limit=all")))
    theirs = json.loads(
        superuser_conn.execute("SELECT json_agg(t ORDER BY id)::text FROM public.extension_types t")[0][0]
    )
    assert json.loads(json.dumps(ours)) == theirs
    assert ours[0]["attributes"] == {"colour": "red", "size class": "L", "empty": None}  # hstore's cast to json


def test_a_view_over_extension_functions_is_readable(client):
    rows = json_body(client.get(url(relation("v_extension_functions"), "ordering=id")))["results"]
    assert [(r["depth"], r["dimensions"]) for r in rows] == [(3, 2), (1, 1), (2, 3), (None, None)]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("handle=BRAVO", ["Bravo"]),
        ("handle__in=ALPHA,delta,nobody", ["alpha", "DELTA"]),
        ("handle__gt=HOTEL", ["india", "Juliett"]),
        ("handle__lte=charlie", ["alpha", "Bravo", "charlie"]),
        ("handle!=ALPHA&handle__lt=d", ["Bravo", "charlie"]),
    ],
)
def test_citext_filters_compare_case_insensitively(client, query, expected):
    rows = json_body(client.get(url(relation("citext_keyed"), query)))["results"]
    assert [r["handle"] for r in rows] == expected


def test_citext_cursors_follow_citext_order(client, superuser_conn):
    rel = relation("citext_keyed")
    expected = [
        row[0]
        for row in superuser_conn.execute(
            "SELECT k.handle::text AS h FROM public.citext_keyed AS k ORDER BY k.handle DESC"
        )
    ]
    assert expected[:2] == ["Juliett", "india"]  # citext's order, not text's
    assert [r["handle"] for r in all_rows(client, url(rel, "limit=3&ordering=-handle"))] == expected
    detail = client.get(url(rel).rstrip("/") + "/juliett/")  # a key lookup is citext's equality too
    assert detail.status_code == 200 and json_body(detail)["handle"] == "Juliett"


def test_postgis_works_from_the_extensions_schema(client, requires_postgis):
    points = relation("geo_points")
    inside = json_body(client.get(url(points, "format=geojson&bbox=-74.1,40.6,-73.8,40.9")))
    assert [f["properties"]["name"] for f in inside["features"]] == ["Empire State Building"]
    polygons = json_body(client.get(url(relation("geo_polygons_2263"), "format=geojson&limit=all")))
    assert polygons["features"][0]["geometry"]["type"] == "Polygon"
    geog = json_body(client.get(url(relation("geog_points"), "bbox=179,-17,180,-16")))
    assert [r["name"] for r in geog["results"]] == ["Antimeridian"]
    assert "extensions.geometry" in {c.type.split("(")[0] for c in points.columns}


# --- any identifier -------------------------------------------------------------------------------


def test_dollar_names_in_every_format_filter_sort_and_link(client):
    rel = relation("price$list")
    assert rel.key.columns == ("id$",)
    page = json_body(client.get(url(rel, "ordering=-amount$usd&amount$usd__gt=1")))
    assert [r["id$"] for r in page["results"]] == [1]
    csv_text = body(client.get(url(rel, "format=csv&limit=all&fields=id$,$,a$$b"))).decode()
    assert csv_text.splitlines()[0] == "id$,$,a$$b" and "$tag$ x $tag$" in csv_text
    assert json_body(client.get(url(rel, "%24=%24%24")))["results"][0]["id$"] == 2
    detail = client.get(url(rel) + "2/")
    assert detail.status_code == 200 and json_body(detail)["$1"] == "$1"
    lines = json_body(client.get(url(relation("order$line"), "ordering=line$id&expand=price$id")))["results"]
    assert lines[0]["price$id"]["amount$usd"] == 10.5 and lines[2]["price$id"] is None
    linked = json_body(client.get(url(relation("order$line"), "ordering=line$id")))["results"]
    assert linked[0]["_links"]["price$id"].endswith("/api/public/price~24list/1/")


def test_names_that_collide_after_case_folding_or_mapping_stay_apart(client):
    rel = relation("case_and_mapping_collisions")
    row = json_body(client.get(url(rel, "value=bb")))["results"]
    assert row == [{"id": 2, "Value": "b", "VALUE": "B", "value": "bb", "value$": "b$", "value%": "b%", "value.": "b."}]
    assert len({c.attname for c in rel.columns}) == len(rel.columns)
    for name, value in (("Value", "b"), ("VALUE", "B"), ("value$", "b$"), ("value%", "b%"), ("value.", "b.")):
        assert [r["id"] for r in json_body(client.get(url(rel), {name: value}))["results"]] == [2], name
        assert client.get(url(rel), {"ordering": f"-{name}"}).status_code == 200


def test_openapi_names_every_column_exactly(client):
    document = json_body(client.get("/api/schema/"))
    schemas = {name: schema for name, schema in document["components"]["schemas"].items() if "price_list" in name}
    (price_list,) = schemas.values()
    assert set(price_list["properties"]) == {"id$", "amount$usd", "$", "$1", "a$$b", "SYS$CREATED"}
    parameters = {
        p["name"] for p in openapi_parameters(document, document["paths"]["/api/public/price~24list/"]["get"])
    }
    assert {"$", "amount$usd__gt", "SYS$CREATED__lte"} <= parameters


# --- partitions in the catalog -----------------------------------------------------------------------


def test_the_catalog_lists_partitions_with_their_bounds(client):
    page = client.get("/catalog/public/events/").content.decode()
    assert "Partitions" in page and "events_eu_2024" in page
    assert "FOR VALUES FROM (&#x27;2024-01-01&#x27;) TO (&#x27;2025-01-01&#x27;)" in page
    assert "Partitions" not in client.get("/catalog/public/single_pk/").content.decode()


# --- one object never takes the rest down ----------------------------------------------------------


@pytest.fixture
def one_relation_that_cannot_be_built(monkeypatch):
    """Endpoints of price$list fail to build (as an unforeseen object would); a fresh snapshot."""
    real = api_module.build_model

    def build_model(relation, index, apps):
        if relation.name == "price$list":
            raise TypeError("an object the portal cannot handle")
        return real(relation, index, apps)

    monkeypatch.setattr(api_module, "build_model", build_model)
    registry.rebuild()
    yield
    monkeypatch.undo()
    registry.rebuild()


def test_a_relation_that_cannot_be_built_is_left_out_alone(client, one_relation_that_cannot_be_built, caplog):
    with caplog.at_level(logging.WARNING, logger="autoapi.web.api"):
        response = client.get("/api/public/price~24list/")
        again = client.get("/api/public/price~24list/?format=csv")
    assert response.status_code == 404 and again.status_code == 404
    assert "cannot publish it" in response.json()["detail"] and "cannot handle" in response.json()["detail"]
    assert sum("price$list" in r.getMessage() for r in caplog.records) == 1  # logged once per snapshot
    assert client.get(url(relation("order$line"))).status_code == 200
    assert client.get("/catalog/public/price~24list/").status_code == 404
    assert client.get("/api/schema/").status_code == 200
    out, err = io.StringIO(), io.StringIO()
    call_command("dump_snapshot", stdout=out, stderr=err)
    assert any(
        s["what"] == "public.price$list" and "cannot handle" in s["why"] for s in json.loads(out.getvalue())["skipped"]
    )


def test_check_warns_about_what_was_left_out_and_errs_on_nothing(one_relation_that_cannot_be_built):
    from autoapi.checks import check_published_database

    messages = check_published_database()
    assert [m.id for m in messages] == ["autoapi.W005"], messages
    assert "public.price$list" in messages[0].msg and "cannot handle" in messages[0].msg


# --- the crawl: every relation, every output, no 5xx ------------------------------------------------


def test_crawl_every_relation_list_detail_formats_and_pages_without_5xx(client):
    from autoapi.public import api_url
    from catalog.present import catalog_url, row_url

    crawled = 0
    for rel in published_relations():
        urls = [catalog_url(rel)] + [url(rel, f"format={fmt}&limit=3") for fmt in ("json", "csv", "ndjson", "geojson")]
        listing = client.get(url(rel, "limit=1"))
        if rel.key and listing.status_code == 200 and json_body(listing)["results"]:
            first = json_body(listing)["results"][0]
            values = tuple(first[c] for c in rel.key.columns)
            urls += [api_url(rel, values), api_url(rel, values, format="csv"), row_url(rel, values)]
        for address in urls:
            response = client.get(address)
            assert response.status_code < 500, (address, body(response)[:300])
            if address.startswith("/api/") and "/" in address.split("?")[0][len(api_url(rel)) :] and rel.is_populated:
                assert response.status_code == 200, (address, body(response)[:300])  # every row link resolves
        crawled += 1
    assert crawled == len(published_relations()) > 70


def test_a_relation_introspection_cannot_describe_is_left_out_alone(client, monkeypatch, caplog):
    from autoapi.schema import introspect

    real = introspect._column

    def column(row, types, enums, taken):
        if row[2] == "amount$usd":
            raise ValueError("a type this portal cannot describe")
        return real(row, types, enums, taken)

    monkeypatch.setattr(introspect, "_column", column)
    try:
        with caplog.at_level(logging.WARNING, logger="autoapi.web.registry"):
            registry.rebuild()
        snapshot = registry.current().snapshot
        assert snapshot.get("public", "price$list") is None and snapshot.get("public", "order$line") is not None
        assert any("price$list" in r.getMessage() and "amount$usd" in r.getMessage() for r in caplog.records)
        response = client.get("/api/public/price~24list/")
        assert response.status_code == 404 and "amount$usd" in response.json()["detail"]
        assert client.get("/api/public/order~24line/").status_code == 200
    finally:
        monkeypatch.undo()
        registry.rebuild()
