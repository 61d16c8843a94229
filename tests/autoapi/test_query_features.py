"""fields, expand, _links, keyset cursors, bbox and search, as a client uses them."""

from __future__ import annotations

import json

import pytest

from autoapi.public import api_url
from tests.autoapi.helpers import body, json_body, published_relations, url


def relation(name, schema="public"):
    return next(r for r in published_relations() if r.name == name and r.schema == schema)


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv", "geojson"])
def test_fields_pick_columns_in_every_format(client, fmt):
    rel = relation("places_latlon")
    response = client.get(url(rel, f"fields=name,id&format={fmt}&limit=all"))
    assert response.status_code == 200
    text = body(response).decode()
    parsed = None if fmt in ("csv", "ndjson") else json.loads(text)
    if fmt == "csv":
        assert text.splitlines()[0] == "name,id"
    elif fmt == "geojson":
        feature = parsed["features"][0]
        assert list(feature["properties"]) == ["name", "id"] and feature["geometry"]["type"] == "Point"
    elif fmt == "json":
        assert list(parsed[0]) == ["name", "id"]
    else:
        assert list(json.loads(text.splitlines()[0])) == ["name", "id"]


def test_fields_errors(client):
    rel = relation("single_pk")
    assert client.get(url(rel, "fields=nope")).json()["parameter"] == "fields"
    assert client.get(url(rel, "fields=")).status_code == 400


def test_foreign_keys_link_and_expand(client, superuser_conn):
    rel = relation("fk_simple")
    fk = rel.foreign_keys[0]
    target = relation(fk.ref_relation, fk.ref_schema)
    rows = json_body(client.get(url(rel, "limit=all")))
    linked = [r for r in rows if r[fk.columns[0]] is not None]
    assert linked
    for row in linked:
        link = row["_links"][fk.columns[0]]
        path = link.replace("http://testserver", "")
        assert path == api_url(target, (row[fk.columns[0]],))
        referenced = json_body(client.get(path))
        assert referenced[fk.ref_columns[0]] == row[fk.columns[0]]
        expanded = json_body(client.get(url(rel, f"expand={fk.columns[0]}&limit=all")))
        match = next(r for r in expanded if r["_links"] == row["_links"])
        assert match[fk.columns[0]] == referenced


def test_composite_and_text_foreign_keys_link_to_real_rows(client):
    for name in ("fk_composite", "fk_text"):
        rel = relation(name)
        for row in json_body(client.get(url(rel, "limit=all"))):
            for link in row.get("_links", {}).values():
                if link is not None:
                    assert client.get(link.replace("http://testserver", "")).status_code == 200, link


def test_links_never_point_at_unreadable_relations(client):
    rel = relation("refs_hidden")
    assert rel.foreign_keys == ()
    rows = json_body(client.get(url(rel, "limit=all")))
    assert all("_links" not in row for row in rows)
    assert client.get(url(rel, "expand=hidden_id")).status_code == 400


def test_cursor_pages_cover_every_row_once_in_any_order(client, superuser_conn):
    rel = relation("big_2500")
    for ordering, sql_order in (
        ("", "id"),
        ("-amount", "amount DESC NULLS LAST, id"),
        ("grp,-amount", "grp, amount DESC NULLS LAST, id"),
    ):
        next_url, ids = url(rel, f"limit=333&ordering={ordering}" if ordering else "limit=333"), []
        while next_url:
            page = json_body(client.get(next_url))
            ids += [row["id"] for row in page["results"]]
            next_url = page["next"]
        expected = [row[0] for row in superuser_conn.execute(f"SELECT id FROM public.big_2500 ORDER BY {sql_order}")]
        assert ids == expected, ordering


@pytest.mark.parametrize("cursor", ["garbage", "eyJvIjoiaWQiLCJ2IjpbImEiXX0", "eyJvIjoibm9wZSIsInYiOlsxXX0"])
def test_bad_cursors_are_400(client, cursor):
    response = client.get(url(relation("big_2500"), f"cursor={cursor}"))
    assert response.status_code == 400 and response.json()["parameter"] == "cursor"


def test_bbox_on_latitude_longitude(client):
    rel = relation("places_latlon")
    rows = json_body(client.get(url(rel, "bbox=-75,40,-73,41&limit=all")))
    assert [r["name"] for r in rows] == ["Empire State Building"]
    for bad in ("1,2,3", "a,b,c,d", "10,0,-10,1", "0,-91,1,1", "nan,0,1,1"):
        response = client.get(url(rel, f"bbox={bad}"))
        assert response.status_code == 400 and "bbox" in str(response.json()), bad


@pytest.mark.spatial
def test_bbox_on_geometry_in_any_srid(client, superuser_conn):
    box = (-74.1, 40.6, -73.8, 40.9)
    for rel in published_relations():
        if not rel.geometry_columns or not rel.key:
            continue
        geometry = rel.geometry_columns[0]
        rows = json_body(client.get(url(rel, "bbox=" + ",".join(map(str, box)) + "&limit=all")))
        g = f'"{geometry.name}"::geometry'
        wgs84 = f"CASE WHEN ST_SRID({g}) IN (0, 4326) THEN ST_SetSRID({g}, 4326) ELSE ST_Transform({g}, 4326) END"
        expected = superuser_conn.execute(
            f'SELECT "{rel.key.columns[0]}" FROM "{rel.schema}"."{rel.name}" '
            f"WHERE ST_Intersects({wgs84}, ST_MakeEnvelope(%s, %s, %s, %s, 4326)) ORDER BY 1",
            box,
        )
        assert sorted(r[rel.key.columns[0]] for r in rows) == [e[0] for e in expected], rel.name


def test_search_without_text_columns_is_an_unknown_parameter(client):
    response = client.get(url(relation("types_numeric"), "search=1"))
    assert response.status_code == 400 and response.json()["parameter"] == "search"
