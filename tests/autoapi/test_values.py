"""Values are exact in every format: CSV is PostgreSQL's own COPY output, JSON numbers are never
rounded, and GeoJSON coordinates are PostGIS's own WGS 84 transform."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import psycopg2.extras
import pytest
from psycopg2 import sql

from tests.autoapi.helpers import body, json_body, published_relations, readable, url

# The portal's own session settings (portal/settings.py), so both sides print values alike.
SESSION = "SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; SET extra_float_digits = 1"


def copy_csv(conn, relation) -> bytes:
    """What PostgreSQL's COPY prints for the columns the reader may see, in the API's order."""
    columns = sql.SQL(", ").join(sql.Identifier(c.name) for c in relation.columns)
    query = sql.SQL("SELECT {} FROM {}.{}").format(
        columns, sql.Identifier(relation.schema), sql.Identifier(relation.name)
    )
    if relation.key:
        query += sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join(sql.Identifier(c) for c in relation.key.columns))
    out = io.BytesIO()
    with conn.cursor() as cursor:
        cursor.execute(SESSION)
        cursor.copy_expert(
            sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER true)").format(query).as_string(conn), out
        )
    return out.getvalue()


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_csv_equals_postgresql_copy_for_every_relation(client, superuser_conn, settings):
    # Byte for byte with formula neutralisation off; tests/production/test_csv_safety.py checks
    # that with it on, only text cells starting with = + - @ tab or CR differ.
    settings.PORTAL = {**settings.PORTAL, "CSV_NEUTRALISE_FORMULAS": False}
    checked = 0
    for relation in published_relations():
        if not readable(relation) or not relation.columns:
            continue
        ours = body(client.get(url(relation, "format=csv&limit=all")))
        theirs = copy_csv(superuser_conn, relation)
        if relation.key:
            assert ours == theirs, relation.name
        else:  # no key, no defined order: the same rows, in any order
            our_rows, their_rows = csv_rows(ours), csv_rows(theirs)
            assert our_rows[0] == their_rows[0] and sorted(our_rows[1:]) == sorted(their_rows[1:]), relation.name
        checked += 1
    assert checked > 50


def test_csv_page_equals_copy_of_the_same_rows(client, superuser_conn, settings):
    settings.PORTAL = {**settings.PORTAL, "CSV_NEUTRALISE_FORMULAS": False}
    relation = next(r for r in published_relations() if r.name == "big_2500")
    ours = csv_rows(body(client.get(url(relation, "format=csv&limit=7&offset=100"))))
    theirs = csv_rows(copy_csv(superuser_conn, relation))
    assert ours == [theirs[0]] + theirs[101:108]


def _typed_rows(conn, relation):
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
        cursor.execute(
            sql.SQL("SELECT * FROM {}.{} ORDER BY 1").format(
                sql.Identifier(relation.schema), sql.Identifier(relation.name)
            )
        )
        return cursor.fetchall()


def test_json_numbers_are_exact(client, superuser_conn):
    relation = next(r for r in published_relations() if r.name == "types_numeric")
    raw = body(client.get(url(relation, "limit=all"))).decode()
    for literal in (
        "9007199254740993",
        "-9223372036854775808",
        "0.1000000000000000000000000000000000000001",
        "12345678901234567890.123456789",
        "-123456789012345678901234567890.000000000000000000001",
    ):
        assert literal in raw
    ours = json.loads(raw, parse_float=Decimal)
    theirs = _typed_rows(superuser_conn, relation)
    assert len(ours) == len(theirs)
    for our_row, their_row in zip(ours, theirs):
        for name in ("n_big", "n_free", "n_money", "i8", "i4", "i2"):
            expected, got = their_row[name], our_row[name]
            if isinstance(expected, Decimal) and not expected.is_finite():
                assert str(got) in ("NaN", "Infinity", "-Infinity") and Decimal(got).compare_total(expected) == 0
            else:
                assert got == expected, (name, got, expected)


def test_json_keeps_every_type_readable(client):
    """Each type hazard comes back as JSON a client can parse, with the real column names."""
    for relation in published_relations():
        if not readable(relation) or not relation.name.startswith("types_"):
            continue
        rows = json_body(client.get(url(relation, "limit=all")))
        assert rows, relation.name
        assert list(rows[0]) == [c.name for c in relation.columns]


def test_arrays_json_and_money_have_their_natural_json_form(client):
    by_name = {r.name: r for r in published_relations()}
    arrays = json_body(client.get(url(by_name["types_arrays"], "limit=all")))
    assert any(isinstance(v, list) for row in arrays for v in row.values())
    multi = [v for row in arrays for v in row.values() if isinstance(v, list) and v and isinstance(v[0], list)]
    assert multi, "a two-dimensional array comes back as nested JSON arrays"


@pytest.mark.spatial
def test_geojson_is_wgs84_whatever_the_srid(client, superuser_conn):
    checked = 0
    for relation in published_relations():
        if not relation.geometry_columns or not readable(relation):
            continue
        geometry = relation.geometry_columns[0]
        collection = json_body(client.get(url(relation, "format=geojson&limit=all")))
        assert collection["type"] == "FeatureCollection"
        key = relation.key.columns[0]
        expected = dict(
            superuser_conn.execute(
                sql.SQL(
                    "SELECT {k}, ST_AsGeoJSON(CASE WHEN ST_SRID({g}::geometry) IN (0, 4326) THEN {g}::geometry "
                    "ELSE ST_Transform({g}::geometry, 4326) END, 9)::json FROM {s}.{t}"
                ).format(
                    k=sql.Identifier(key),
                    g=sql.Identifier(geometry.name),
                    s=sql.Identifier(relation.schema),
                    t=sql.Identifier(relation.name),
                )
            )
        )
        for feature in collection["features"]:
            assert feature["type"] == "Feature"
            assert geometry.name not in feature["properties"]
            theirs = expected[feature["id"]]
            assert json.loads(json.dumps(feature["geometry"], default=float)) == theirs
            if feature["geometry"] and feature["geometry"].get("coordinates"):
                lon, lat = _first_position(feature["geometry"]["coordinates"])
                assert -180 <= lon <= 180 and -90 <= lat <= 90
        checked += 1
    assert checked >= 4


def _first_position(coordinates):
    while isinstance(coordinates[0], list):
        coordinates = coordinates[0]
    return float(coordinates[0]), float(coordinates[1])


def test_latitude_longitude_columns_make_points(client):
    relation = next(r for r in published_relations() if r.name == "places_latlon")
    collection = json_body(client.get(url(relation, "format=geojson&limit=all")))
    located = [f for f in collection["features"] if f["geometry"]]
    assert located
    for feature in located:
        lon, lat = feature["geometry"]["coordinates"]
        props = feature["properties"]
        lat_name = next(n for n in props if n.lower() in ("lat", "latitude"))
        lon_name = next(n for n in props if n.lower() in ("lon", "lng", "long", "longitude"))
        assert (lon, lat) == (props[lon_name], props[lat_name])
