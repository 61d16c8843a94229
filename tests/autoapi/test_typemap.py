"""Unit tests of ``autoapi/schema/typemap.py``: the one table from a PostgreSQL type to the model field,
filter lookups, sortability and JSON expression of a column.

Checked against the filter table of docs/api.md (parsed from it), against PostgreSQL itself
(every sortable type really has an ordering; every type name in the table exists), and, with
PostGIS, by running the generated WGS 84 / GeoJSON expressions as the reader, whose search_path
does not include the ``extensions`` schema PostGIS lives in.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from django.db import models

from autoapi.db.sql import identifier
from autoapi.schema import fields, filters
from autoapi.schema.snapshot import Column
from autoapi.schema.typemap import (
    BY_TYPNAME,
    BY_TYPTYPE,
    CITEXT,
    OPAQUE,
    UNSORTABLE_ELEMENTS,
    json_expression,
    model_field_kwargs,
    postgis_schema,
    type_info,
    wgs84_expression,
)

API_PAGE = Path(__file__).resolve().parents[2] / "docs" / "api.md"
EARTH_RADIUS = 6378137.0  # EPSG:3857's sphere


def col(base_type: str, type_kind: str = "b", category: str = "S", **extra) -> Column:
    """A hand-made column record of the given base type (``name`` and ``attname`` are "c")."""
    return Column(
        name="c",
        attname="c",
        position=1,
        type=base_type,
        base_type=base_type,
        type_kind=type_kind,
        type_category=category,
        **extra,
    )


def array_of(element: str) -> Column:
    return col("_" + element, category="A", element_type=element)


def geo(srid, *, geography=False, schema="extensions") -> Column:
    name = "geography" if geography else "geometry"
    return col(name, category="U", srid=srid, is_geography=geography, geometry_type="Geometry", type_schema=schema)


# -- the filter table of docs/api.md ------------------------------------------------------------

# The filter table's words for types, as columns (type rows name several types).
README_TYPES = {
    "text": [col("text")],
    "varchar": [col("varchar")],
    "char": [col("bpchar")],
    "integers": [col("int2"), col("int4"), col("int8")],
    "numeric": [col("numeric")],
    "real": [col("float4")],
    "money": [col("money")],
    "date": [col("date")],
    "timestamp": [col("timestamp"), col("timestamptz")],
    "time": [col("time"), col("timetz")],
    "enum": [col("mood", "e", "E")],
    "interval": [col("interval")],
    "inet": [col("inet")],
    "cidr": [col("cidr")],
    "macaddr": [col("macaddr"), col("macaddr8")],
    "bit": [col("bit"), col("varbit")],
    "boolean": [col("bool")],
    "uuid": [col("uuid")],
    "ranges": [col("int4range", "r", "R"), col("tstzrange", "r", "R")],
    "json": [col("json")],
    "jsonb": [col("jsonb")],
    "arrays": [array_of("int4"), array_of("text"), array_of("json")],
    "tsvector": [col("tsvector")],
    "geometry": [geo(4326)],
    "geography": [geo(4326, geography=True)],
    "composite": [col("address", "c", "C")],
    "xml": [col("xml")],
    "bytea": [col("bytea")],
}


def readme_filter_table() -> dict[str, set[str]]:
    """docs/api.md "Filters" table: type word -> lookups (backticked words outside parentheses)."""
    text = API_PAGE.read_text()
    table = text[text.index("| type | lookups |") :]
    table = table[: table.index("\n\n")]
    rows = {}
    for line in table.splitlines()[2:]:
        types_cell, lookups_cell = (cell.strip() for cell in line.strip("|").split("|", 1))
        lookups = set(re.findall(r"`(\w+)`", re.sub(r"\([^)]*\)", "", lookups_cell)))
        for word in types_cell.split(","):
            rows[word.strip()] = lookups
    return rows


def test_readme_table_names_every_type_word_we_map():
    assert set(readme_filter_table()) == set(README_TYPES)


@pytest.mark.parametrize("word", sorted(README_TYPES))
def test_lookups_match_the_readme_table(word):
    expected = readme_filter_table()[word]
    for column in README_TYPES[word]:
        assert set(type_info(column).lookups) == expected, (word, column.base_type)


def all_type_infos():
    for typname, info in BY_TYPNAME.items():
        yield f"typname:{typname}", info
    for typtype, info in BY_TYPTYPE.items():
        yield f"typtype:{typtype}", info
    yield "array", type_info(array_of("int4"))
    yield "opaque", OPAQUE


@pytest.mark.parametrize(("label", "info"), list(all_type_infos()), ids=[label for label, _ in all_type_infos()])
def test_every_entry_has_a_field_and_a_filter_for_each_lookup(label, info):
    assert issubclass(info.model_field, models.Field)
    assert info.lookups and "isnull" in info.lookups
    for lookup in info.lookups:
        assert info.filter_for(lookup) is not None, (label, lookup)
    assert info.filter_for("isnull") is filters.StrictBooleanFilter
    if "in" in info.lookups:
        assert issubclass(info.filter_for("in"), info.filter_class)
        assert info.filter_for("in").__name__.endswith("In")
    if "range" in info.lookups:
        assert info.filter_for("range").__name__.endswith("Range")


def test_lookups_are_registered_on_the_model_field():
    """Every advertised lookup exists on the entry's model field (else the ORM raises FieldError)."""
    for label, info in all_type_infos():
        field = info.model_field(db_column='"c"', null=True)
        for lookup in info.lookups:
            assert field.get_lookup(lookup) is not None, (label, lookup)


def test_special_lookups_use_their_own_filters():
    json_info = BY_TYPNAME["jsonb"]
    assert json_info.filter_for("contains") is filters.JSONValueFilter
    assert json_info.filter_for("exact") is None  # not offered: no plain filter class
    array = type_info(array_of("text"))
    assert array.filter_for("contains") is filters.ArrayValuesFilter
    assert array.filter_for("overlap") is filters.ArrayValuesFilter


# -- the table's choices -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "kind", "field", "sortable"),
    [
        (col("int8"), "integer", models.BigIntegerField, True),
        (col("numeric"), "number", fields.PassThroughField, True),
        (col("float8"), "float", models.FloatField, True),
        (col("citext", type_schema="extensions"), "text", fields.CaseInsensitiveTextField, True),
        (col("timestamptz"), "timestamp", models.DateTimeField, True),
        (col("json"), "json", fields.JSONDocumentField, False),
        (col("jsonb"), "jsonb", fields.JSONDocumentField, True),
        (col("xml"), "opaque", fields.PassThroughField, False),
        (col("tsvector"), "tsvector", fields.TextSearchField, True),
        (geo(2263), "geometry", fields.GeometryField, False),
        (col("mood", "e", "E"), "enum", fields.PassThroughField, True),
        (col("int4range", "r", "R"), "range", fields.PassThroughField, True),
        (col("int4multirange", "m", "R"), "multirange", fields.PassThroughField, True),
        (col("address", "c", "C"), "composite", fields.PassThroughField, False),
    ],
    ids=lambda v: v.base_type if isinstance(v, Column) else None,
)
def test_kind_field_and_sortability(column, kind, field, sortable):
    info = type_info(column)
    assert (info.kind, info.model_field, info.sortable) == (kind, field, sortable)


@pytest.mark.parametrize(
    "column",
    [
        col("tsquery"),
        col("point", category="G"),
        col("hstore", type_schema="extensions"),
        col("void", "p", "P"),
        col("unknown", category="X"),
        col("posint", "d", "N"),
    ],
    ids=lambda c: c.base_type,
)
def test_unknown_types_fall_back_to_opaque(column):
    info = type_info(column)
    assert info is OPAQUE
    assert (info.lookups, info.sortable, info.filter_class) == (("isnull",), False, None)


@pytest.mark.parametrize("element", sorted(BY_TYPNAME))
def test_array_sortability_follows_the_element(element):
    assert type_info(array_of(element)).sortable == BY_TYPNAME[element].sortable


@pytest.mark.parametrize("element", sorted(UNSORTABLE_ELEMENTS | {"hstore", "tsquery", "address"}))
def test_arrays_of_unsortable_or_unknown_elements_do_not_sort(element):
    assert type_info(array_of(element)).sortable is False


def test_arrays_sort_when_their_elements_do():
    enum = col("mood", "e", "E")
    array = Column(
        name="c",
        attname="c",
        position=1,
        type="mood[]",
        base_type="_mood",
        type_kind="b",
        type_category="A",
        element_type="mood",
        element_kind="e",
    )
    assert type_info(enum).sortable
    assert type_info(array).sortable  # PostgreSQL compares them element by element, in enum order
    ranges = Column(
        name="r",
        attname="r",
        position=1,
        type="int4range[]",
        base_type="_int4range",
        type_kind="b",
        type_category="A",
        element_type="int4range",
        element_kind="r",
    )
    assert type_info(ranges).sortable
    composite = Column(
        name="p",
        attname="p",
        position=1,
        type="pair[]",
        base_type="_pair",
        type_kind="b",
        type_category="A",
        element_type="pair",
        element_kind="c",
    )
    assert not type_info(composite).sortable


# -- against PostgreSQL ------------------------------------------------------------------------


def formatted_types(conn, typnames):
    rows = conn.execute(
        "SELECT t.typname, format_type(t.oid, NULL), t.typcategory FROM pg_type t "
        "WHERE t.typname = ANY(%s) AND t.typtype = 'b'",
        (list(typnames),),
    )
    return {name: (formatted, category) for name, formatted, category in rows}


def test_every_typname_in_the_table_is_a_real_base_type(superuser_conn, pg_info):
    wanted = set(BY_TYPNAME) - ({"geometry", "geography"} if not pg_info["has_postgis"] else set())
    found = formatted_types(superuser_conn, wanted)
    assert set(found) == wanted
    assert all(category != "A" for _, category in found.values())


def orders(conn, type_sql: str) -> bool:
    try:
        conn.execute(f"SELECT x FROM (VALUES (NULL::{type_sql})) AS v(x) ORDER BY x")
        return True
    except Exception as exc:  # psycopg2.errors.UndefinedFunction: no ordering operator
        assert "could not identify an ordering operator" in str(exc), exc
        return False


def test_every_sortable_type_and_array_has_an_ordering_in_postgresql(superuser_conn, pg_info):
    found = formatted_types(superuser_conn, BY_TYPNAME)
    for typname, (formatted, _category) in found.items():
        info = BY_TYPNAME[typname]
        if info.sortable:
            assert orders(superuser_conn, formatted), typname
        if type_info(array_of(typname)).sortable:
            assert orders(superuser_conn, formatted + "[]"), typname + "[]"
    for name in ("public.mood", "int4range", "int4multirange", "tstzrange", "public.mood[]", "int4range[]"):
        assert orders(superuser_conn, name), name


@pytest.mark.parametrize("ordering", ["moods", "-moods", "spans", "-spans"])
def test_arrays_of_enums_and_ranges_order_as_postgresql_does(client, superuser_conn, ordering):
    column = ordering.lstrip("-")
    direction = "DESC NULLS LAST" if ordering.startswith("-") else "ASC NULLS LAST"
    expected = [
        row[0]
        for row in superuser_conn.execute(f"SELECT id FROM public.types_arrays ORDER BY {column} {direction}, id")
    ]
    response = client.get("/api/public/types_arrays/", {"ordering": ordering, "limit": "2"})
    ids = []
    while True:
        assert response.status_code == 200, response.content[:300]
        page = json.loads(b"".join(response) if response.streaming else response.content)
        ids += [row["id"] for row in page["results"]]
        if not page["next"]:
            break
        response = client.get(page["next"])
    assert ids == expected


@pytest.mark.parametrize("type_sql", ["json", "xml", "point", "json[]", "point[]", "box"])
def test_types_marked_unsortable_for_want_of_an_ordering_really_have_none(superuser_conn, type_sql):
    assert not orders(superuser_conn, type_sql)


# -- model field arguments ---------------------------------------------------------------------


def test_model_field_kwargs_carry_the_extension_schema():
    assert model_field_kwargs(geo(2263)) == {"srid": 2263, "geography": False, "postgis": '"extensions"'}
    assert model_field_kwargs(geo(4326, geography=True, schema="Odd Schema")) == {
        "srid": 4326,
        "geography": True,
        "postgis": '"Odd Schema"',
    }
    citext = col("citext", type_schema="extensions")
    assert type_info(citext) is CITEXT
    assert model_field_kwargs(citext) == {"type_schema": "extensions"}
    assert model_field_kwargs(col("text")) == {}
    assert model_field_kwargs(array_of("citext")) == {}


def test_postgis_schema_is_quoted():
    assert postgis_schema(geo(4326, schema='we"ird')) == '"we""ird"'


# -- json_expression / wgs84_expression: the SQL text -------------------------------------------


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        (geo(4326), 'x."g"'),
        (geo(2263), '"extensions".ST_Transform(x."g", 4326)'),
        (geo(3857, schema="public"), '"public".ST_Transform(x."g", 4326)'),
        (geo(4326, geography=True), 'x."g"::"extensions".geometry'),
        (
            geo(0),
            '(CASE WHEN "extensions".ST_SRID(x."g") IN (0, 4326) THEN x."g" '
            'ELSE "extensions".ST_Transform(x."g", 4326) END)',
        ),
        (
            geo(None),
            '(CASE WHEN "extensions".ST_SRID(x."g") IN (0, 4326) THEN x."g" '
            'ELSE "extensions".ST_Transform(x."g", 4326) END)',
        ),
    ],
    ids=["4326", "2263", "3857-public", "geography", "srid-0", "srid-none"],
)
def test_wgs84_expression_text(column, expected):
    assert wgs84_expression(column, 'x."g"') == expected
    assert json_expression(column, 'x."g"') == f"{postgis_schema(column)}.ST_AsGeoJSON({expected})::json"


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        (col("money"), 'x."c"::numeric'),
        (col("numeric"), 'x."c"'),
        (col("json"), 'x."c"'),
        (array_of("int4"), 'x."c"'),
        (col("timestamptz"), 'x."c"'),
    ],
    ids=["money", "numeric", "json", "int4[]", "timestamptz"],
)
def test_json_expression_of_other_types(column, expected):
    assert json_expression(column, 'x."c"') == expected


def test_money_json_expression_is_exact_whatever_lc_monetary(reader_conn):
    with reader_conn.cursor() as cursor:
        cursor.execute("SET lc_monetary = 'C'")
        sql = json_expression(col("money"), "m")
        cursor.execute(
            f"SELECT row_to_json(p)::text FROM (SELECT {sql} AS m FROM (VALUES "
            f"('92233720368547758.07'::money), ('-0.01'::money)) AS v(m)) AS p"
        )
        assert [r[0] for r in cursor.fetchall()] == ['{"m":92233720368547758.07}', '{"m":-0.01}']


# -- the expressions on PostGIS, as the reader (extensions not on its search_path) -----------


def mercator_to_wgs84(x: float, y: float) -> tuple[float, float]:
    lon = math.degrees(x / EARTH_RADIUS)
    lat = math.degrees(2 * math.atan(math.exp(y / EARTH_RADIUS)) - math.pi / 2)
    return lon, lat


def geojson_of(reader_conn, column: Column, ewkt: str):
    postgis = postgis_schema(column)
    type_name = "geography" if column.is_geography else "geometry"
    with reader_conn.cursor() as cursor:
        cursor.execute("SHOW search_path")
        assert "extensions" not in cursor.fetchone()[0]
        cursor.execute(
            f"SELECT ({json_expression(column, 'g')})::text FROM (SELECT %s::{postgis}.{type_name} AS g) AS s", (ewkt,)
        )
        return json.loads(cursor.fetchone()[0])


def test_wgs84_4326_is_passed_through(reader_conn, requires_postgis):
    assert geojson_of(reader_conn, geo(4326), "SRID=4326;POINT(-73.985664 40.74844)") == {
        "type": "Point",
        "coordinates": [-73.985664, 40.74844],
    }


def test_wgs84_from_web_mercator(reader_conn, requires_postgis):
    point = geojson_of(reader_conn, geo(3857), "SRID=3857;POINT(-8235000 4970000)")
    lon, lat = mercator_to_wgs84(-8235000, 4970000)
    assert point["type"] == "Point"
    assert point["coordinates"] == [pytest.approx(lon, abs=1e-8), pytest.approx(lat, abs=1e-8)]


def test_wgs84_from_state_plane_feet(reader_conn, requires_postgis):
    # EPSG:2263 (NY Long Island, US feet): x=988000, y=211000 is in Midtown Manhattan.
    lon, lat = geojson_of(reader_conn, geo(2263), "SRID=2263;POINT(988000 211000)")["coordinates"]
    assert -74.0 < lon < -73.97 and 40.74 < lat < 40.77


def test_wgs84_of_a_geography(reader_conn, requires_postgis):
    assert geojson_of(reader_conn, geo(4326, geography=True), "SRID=4326;POINT(180 -16.5)") == {
        "type": "Point",
        "coordinates": [180, -16.5],
    }


@pytest.mark.parametrize(
    ("ewkt", "expected"),
    [
        ("POINT(1 2)", [1, 2]),  # SRID 0: taken as WGS 84
        ("SRID=4326;POINT(1 2)", [1, 2]),
        ("SRID=3857;POINT(-8235000 4970000)", list(mercator_to_wgs84(-8235000, 4970000))),
    ],
    ids=["srid-0", "srid-4326", "srid-3857"],
)
def test_wgs84_per_row_when_the_column_has_no_srid(reader_conn, requires_postgis, ewkt, expected):
    coordinates = geojson_of(reader_conn, geo(0), ewkt)["coordinates"]
    assert coordinates == [pytest.approx(v, abs=1e-8) for v in expected]


def test_json_expression_on_the_fixture_columns(reader_conn, requires_postgis):
    """The snapshot's own columns (type_schema from introspection) give the same GeoJSON as a
    hand-written transform run by the superuser."""
    from autoapi.public import get_snapshot

    snapshot = get_snapshot()
    for table, column_name in [
        ("geo_points", "geom"),
        ("geo_polygons_2263", "geom"),
        ("geo_multipolygons_3857", "geom"),
        ("geog_points", "geog"),
        ("geom_mixed", "geom"),
    ]:
        column = snapshot.get("public", table).column(column_name)
        assert column.type_schema == "extensions"
        quoted = identifier(column.name)
        with reader_conn.cursor() as cursor:
            cursor.execute(f"SELECT id, ({json_expression(column, quoted)})::text FROM public.{table} ORDER BY id")
            ours = {i: json.loads(g) if g else None for i, g in cursor.fetchall()}
        hand = f"{quoted}::extensions.geometry" if column.is_geography else quoted
        with reader_conn.cursor() as cursor:
            cursor.execute(
                f"SELECT id, extensions.ST_AsGeoJSON(CASE WHEN extensions.ST_SRID({hand}) IN (0, 4326) THEN {hand} "
                f"ELSE extensions.ST_Transform({hand}, 4326) END)::text FROM public.{table} ORDER BY id"
            )
            expected = {i: json.loads(g) if g else None for i, g in cursor.fetchall()}
        assert ours == expected, table
        assert any(v is not None for v in ours.values())
