"""Unit tests of ``autoapi/query/queries.py``: the SQL wrapped around the ORM's queryset for each format.

Every statement is executed directly on the published (reader) connection and compared with a
hand-written query on the same connection: the same rows, and PostgreSQL-equal values (JSON
parsed with exact decimals, CSV byte for byte). Also: the SQL tilde encoding of ``_links`` against
``naming.encode_segment``, ``count_sql``'s cap, and ``geometry_source``'s choice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connections
from hypothesis import given, settings
from hypothesis import strategies as st

from autoapi.conf import DATABASE_ALIAS
from autoapi.public import get_snapshot
from autoapi.query import queries
from autoapi.query.queries import (
    Expansion,
    RowShape,
    compiled,
    count_sql,
    csv_copy,
    explain_sql,
    feature_rows,
    geometry_source,
    json_rows,
    selected_sql,
)
from autoapi.schema.naming import encode_segment
from autoapi.schema.snapshot import Column, Relation
from tests.autoapi.unit_helpers import copy_out, fetch, q, queryset_for, relation, table

ROOT = Path(__file__).resolve().parents[2]


def pairs(text: str):
    """A JSON text parsed with exact numbers and with the keys' order kept."""
    return json.loads(text, parse_float=Decimal, object_pairs_hook=list)


def run(statement) -> list[tuple]:
    return fetch(statement.sql, statement.params)


def hand_json_rows(rel, where: str = "") -> list:
    """row_to_json of the relation's columns, money as numeric, in key order: the reference."""
    select = ", ".join(
        (f"{q(c.name)}::numeric" if c.base_type == "money" else q(c.name)) + f" AS {q(c.name)}" for c in rel.columns
    )
    order = ", ".join(q(name) for name in rel.key.columns)
    rows = fetch(
        f"SELECT row_to_json(hand_row)::text "
        f"FROM (SELECT {select} FROM {table(rel)} {where} ORDER BY {order}) AS hand_row"
    )
    return [pairs(r[0]) for r in rows]


# -- compiled / selected_sql ------------------------------------------------------------------


@pytest.mark.db
def test_selected_sql_returns_the_rows_of_hand_written_sql():
    rel = relation("big_2500")
    queryset = queryset_for(rel).filter(grp=3, amount__gt=100).order_by("-id")[5:12]
    statement = selected_sql(queryset, rel.columns)
    assert run(statement) == fetch(
        "SELECT id, label, grp, amount, created FROM public.big_2500 WHERE grp = 3 AND amount > 100 "
        "ORDER BY id DESC LIMIT 7 OFFSET 5"
    )
    assert len(run(statement)) == 7


@pytest.mark.db
@pytest.mark.parametrize(
    "name",
    [
        "column_name_hazards",
        "reserved_word_columns",
        "price$list",
        "order$line",
        "case_and_mapping_collisions",
        "Café_données",
        "per%cent",
        "pct%2Fescaped",
    ],
)
def test_selected_sql_on_hostile_names(name):
    rel = relation(name)
    key = q(rel.key.columns[0])
    statement = selected_sql(queryset_for(rel).order_by(rel.column(rel.key.columns[0]).attname), rel.columns)
    expected = fetch(f"SELECT {', '.join(q(c.name) for c in rel.columns)} FROM {table(rel)} ORDER BY {key}")
    assert run(statement) == expected
    assert expected


@pytest.mark.db
def test_selected_sql_of_a_chosen_column_order():
    rel = relation("single_pk")
    columns = (rel.column("score"), rel.column("id"))
    assert run(selected_sql(queryset_for(rel).order_by("id"), columns)) == fetch(
        "SELECT score, id FROM public.single_pk ORDER BY id"
    )


@pytest.mark.db
def test_compiled_writes_sql_for_a_queryset_django_knows_is_empty():
    rel = relation("big_2500")
    queryset = queryset_for(rel).filter(id__in=[])
    sql, params = compiled(queryset.values_list("id", "label"))
    assert sql.endswith("AS nothing WHERE false")
    with connections[DATABASE_ALIAS].cursor() as cursor:
        cursor.execute(sql, params)
        assert cursor.fetchall() == []
        assert [d.name for d in cursor.description] == ["id", "label"]
    statement = json_rows(queryset, RowShape(rel, rel.columns))
    assert run(statement) == []


@pytest.mark.db
def test_selected_sql_without_columns_selects_the_pk():
    rel = relation("empty_cols")  # no columns at all: the model's pk is ctid
    assert len(run(selected_sql(queryset_for(rel), ()))) == 3


@pytest.mark.db
def test_compiled_uses_postgresql_lookups():
    # icontains compiles differently on the SQLite ``default`` alias; this must be PostgreSQL's.
    rel = relation("single_pk")
    sql, params = compiled(queryset_for(rel).filter(name__icontains="ALP").values_list("id"))
    assert "UPPER(" in sql and "LIKE" in sql
    assert fetch(sql, params) == [(1,)]


# -- json_rows ---------------------------------------------------------------------------------


@pytest.mark.db
@pytest.mark.parametrize(
    "name",
    [
        "types_numeric",
        "types_text",
        "types_json",
        "types_datetime",
        "types_misc",
        "types_arrays",
        "types_ranges",
        "types_network_bits",
        "types_custom",
        "extension_types",
        "column_name_hazards",
        "reserved_word_columns",
    ],
)
def test_json_rows_equal_postgresql_row_to_json(name):
    rel = relation(name)
    key = rel.column(rel.key.columns[0])
    statement = json_rows(queryset_for(rel).order_by(key.attname), RowShape(rel, rel.columns))
    ours = [pairs(r[0]) for r in run(statement)]
    assert ours == hand_json_rows(rel)
    assert len(ours) >= 3
    assert [k for k, _ in ours[0]] == [c.name for c in rel.columns]  # keys in column order, exact names


@pytest.mark.db
def test_json_rows_keep_exact_values():
    rel = relation("types_numeric")
    rows = {
        dict(r)["id"]: dict(r)
        for r in (pairs(t[0]) for t in run(json_rows(queryset_for(rel).order_by("id"), RowShape(rel, rel.columns))))
    }
    assert rows[1]["i8"] == 9007199254740993
    assert rows[1]["n_big"] == Decimal("0.1000000000000000000000000000000000000001")
    assert rows[2]["i8"] == 9223372036854775807
    assert rows[2]["r4"] == "NaN" and rows[2]["f8"] == "Infinity"
    assert rows[4]["n_free"] == "Infinity"
    assert all(v is None for k, v in rows[6].items() if k != "id")
    misc = {
        dict(r)["id"]: dict(r)
        for r in (
            pairs(t[0])
            for t in run(
                json_rows(
                    queryset_for(relation("types_misc")).order_by("id"),
                    RowShape(relation("types_misc"), relation("types_misc").columns),
                )
            )
        )
    }
    assert misc[3]["m"] == Decimal("92233720368547758.07")  # money as an exact number
    assert misc[1]["bin"] == "\\x00ff00"


@pytest.mark.db
def test_json_rows_with_cursor_columns():
    rel = relation("big_2500")
    columns = (rel.column("label"),)
    cursor_columns = (rel.column("amount"), rel.column("id"))
    rows = run(json_rows(queryset_for(rel).filter(id__lte=10).order_by("id"), RowShape(rel, columns), cursor_columns))
    assert rows[0] == ('{"label":"row 0001"}', "[1.25, 1]")
    assert rows[9] == ('{"label":"row 0010"}', "[null, 10]")


@pytest.mark.db
def test_json_rows_expand_embeds_the_referenced_row():
    snapshot = get_snapshot()
    rel = snapshot.get("public", "fk_simple")
    fk = rel.foreign_keys[0]
    shape = RowShape(rel, rel.columns, expansions=(Expansion(fk, snapshot.get("public", "single_pk")),))
    rows = [pairs(r[0]) for r in run(json_rows(queryset_for(rel).order_by("id"), shape))]
    embedded = hand_json_rows(snapshot.get("public", "single_pk"), "WHERE id IN (1, 3)")
    assert dict(rows[0])["single_pk_id"] == embedded[0]
    assert dict(rows[2])["single_pk_id"] == embedded[1]
    assert dict(rows[3])["single_pk_id"] is None


@pytest.mark.db
def test_json_rows_links_with_composite_and_hostile_keys():
    snapshot = get_snapshot()
    base = "http://testserver/api/"
    composite = snapshot.get("public", "fk_composite")
    shape = RowShape(
        composite,
        composite.columns,
        links=(Expansion(composite.foreign_keys[0], snapshot.get("public", "composite_pk")),),
        link_base=base,
    )
    rows = [dict(pairs(r[0])) for r in run(json_rows(queryset_for(composite).order_by("id"), shape))]
    assert dict(rows[0]["_links"]) == {"region_id,code": base + "public/composite_pk/1,b~2Fc/"}
    assert dict(rows[1]["_links"]) == {"region_id,code": base + "public/composite_pk/2,x~2Cy/"}
    assert dict(rows[2]["_links"]) == {"region_id,code": None}

    dollar = snapshot.get("public", "order$line")
    shape = RowShape(
        dollar,
        dollar.columns,
        links=(Expansion(dollar.foreign_keys[0], snapshot.get("public", "price$list")),),
        link_base=base,
    )
    rows = [dict(pairs(r[0])) for r in run(json_rows(queryset_for(dollar).order_by("line_id"), shape))]
    assert dict(rows[0]["_links"]) == {"price$id": base + "public/price~24list/1/"}


def encode_in_sql(values: list[str]) -> list[str]:
    expression = queries._ENCODE_SQL.format(v="v")
    return [
        r[0]
        for r in fetch(f"SELECT {expression} FROM unnest(%s::text[]) WITH ORDINALITY AS u(v, i) ORDER BY i", (values,))
    ]


@pytest.mark.db
def test_sql_tilde_encoding_matches_python_on_every_text_key():
    codes = [r[0] for r in fetch("SELECT code FROM public.text_pk ORDER BY code")]
    assert "" in codes and "~" in codes and "%2F" in codes
    assert encode_in_sql(codes) == [encode_segment(c) for c in codes]


@pytest.mark.db
@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12),
        min_size=1,
        max_size=20,
    )
)
def test_sql_tilde_encoding_matches_python_property(values):
    assert encode_in_sql(values) == [encode_segment(v) for v in values]


# -- csv_copy ----------------------------------------------------------------------------------


@pytest.mark.db
@pytest.mark.parametrize(
    "name",
    [
        "types_text",
        "types_numeric",
        "types_datetime",
        "types_arrays",
        "types_misc",
        "types_custom",
        "column_name_hazards",
    ],
)
def test_csv_copy_is_postgresql_copy_byte_for_byte(name):
    rel = relation(name)
    key = rel.column(rel.key.columns[0])
    statement = csv_copy(queryset_for(rel).order_by(key.attname), rel.columns)
    ours = copy_out(statement.sql, statement.params)
    columns = ", ".join(q(c.name) for c in rel.columns)
    expected = copy_out(
        f"COPY (SELECT {columns} FROM {table(rel)} ORDER BY {q(key.name)}) TO STDOUT WITH (FORMAT csv, HEADER true)"
    )
    assert ours == expected
    assert expected.count(b"\n") > 2


@pytest.mark.db
def test_csv_copy_neutralises_formulas_when_asked(settings):
    settings.PORTAL = {**settings.PORTAL, "CSV_NEUTRALISE_FORMULAS": True}
    rel = relation("types_text")
    columns = (rel.column("id"), rel.column("t"), rel.column("c"))
    statement = csv_copy(queryset_for(rel).filter(id__in=[8, 11]).order_by("id"), columns)
    out = copy_out(statement.sql, statement.params)
    assert out == b"id,t,c\n8,'=1+2,'+1   \n11,,\n"


@pytest.mark.db
def test_csv_copy_of_a_filtered_queryset_with_percent_in_names():
    rel = relation("per%cent")
    statement = csv_copy(queryset_for(rel).filter(label__contains="two"), rel.columns)
    assert copy_out(statement.sql, statement.params) == b"id,label\n2,percent two\n"


# -- feature_rows and geometry_source ------------------------------------------------------------


def features(rel, queryset=None, cursor_columns=()):
    source = geometry_source(rel)
    statement = feature_rows(
        (queryset or queryset_for(rel)).order_by("id"), RowShape(rel, rel.columns), source, cursor_columns
    )
    return [json.loads(r[0], parse_float=Decimal) for r in run(statement)]


@pytest.mark.db
def test_features_from_latitude_and_longitude():
    rows = features(relation("places_latlon"))
    assert rows[0] == {
        "type": "Feature",
        "id": 1,
        "geometry": {"type": "Point", "coordinates": [Decimal("-73.985664"), Decimal("40.74844")]},
        "properties": {
            "id": 1,
            "name": "Empire State Building",
            "latitude": Decimal("40.74844"),
            "longitude": Decimal("-73.985664"),
        },
    }
    assert rows[1]["geometry"] == {"type": "Point", "coordinates": [0, 0]}
    assert rows[3]["geometry"] is None and rows[4]["geometry"] is None  # one or both missing
    assert len(rows) == 5


@pytest.mark.spatial
def test_features_from_a_geometry_column_leave_it_out_of_the_properties():
    rel = relation("geo_points")
    rows = features(rel)
    expected = fetch("SELECT id, extensions.ST_AsGeoJSON(geom, 9) FROM public.geo_points ORDER BY id")
    assert [(f["id"], f["geometry"]) for f in rows] == [
        (i, json.loads(g, parse_float=Decimal) if g else None) for i, g in expected
    ]
    assert rows[0]["properties"] == {"id": 1, "name": "Empire State Building"}
    assert rows[4]["geometry"] is None


@pytest.mark.spatial
def test_features_transformed_to_wgs84():
    rows = features(relation("geo_polygons_2263"))
    ring = rows[0]["geometry"]["coordinates"][0]
    assert all(-74.1 < lon < -73.8 and 40.6 < lat < 40.9 for lon, lat in ring)
    expected = fetch(
        "SELECT extensions.ST_AsGeoJSON(extensions.ST_Transform(geom, 4326), 9) "
        "FROM public.geo_polygons_2263 WHERE id = 1"
    )[0][0]
    assert rows[0]["geometry"] == json.loads(expected, parse_float=Decimal)


@pytest.mark.db
def test_feature_rows_without_a_single_column_key_have_no_id():
    rel = relation("places_latlon")
    keyless = Relation(
        oid=rel.oid,
        schema=rel.schema,
        name=rel.name,
        kind=rel.kind,
        comment=None,
        estimated_rows=None,
        columns=rel.columns,
    )
    model_rows = features(keyless, queryset_for(rel))
    assert "id" not in model_rows[0] and model_rows[0]["properties"]["id"] == 1


@pytest.mark.db
def test_feature_rows_with_cursor_columns():
    rel = relation("places_latlon")
    statement = feature_rows(
        queryset_for(rel).order_by("id"),
        RowShape(rel, (rel.column("name"),)),
        geometry_source(rel),
        (rel.column("id"),),
    )
    rows = run(statement)
    assert [r[1] for r in rows] == ["[1]", "[2]", "[3]", "[4]", "[5]"]
    assert json.loads(rows[0][0])["properties"] == {"name": "Empire State Building"}


def col(name: str, category: str = "N", base_type: str = "float8", **extra) -> Column:
    return Column(
        name=name,
        attname=name.lower(),
        position=1,
        type=base_type,
        base_type=base_type,
        type_kind="b",
        type_category=category,
        **extra,
    )


def rel_of(*columns) -> Relation:
    return Relation(oid=1, schema="s", name="r", kind="table", comment=None, estimated_rows=None, columns=columns)


@pytest.mark.db
def test_geometry_source_choices():
    geom = col("geom", "U", "geometry", srid=4326, type_schema="extensions")
    assert geometry_source(rel_of(col("lat"), col("lon"), geom)).geometry == geom  # geometry wins
    pair = geometry_source(rel_of(col("Latitude"), col("LNG", base_type="numeric")))
    assert (pair.latitude.name, pair.longitude.name) == ("Latitude", "LNG")
    assert pair.column_names == ("Latitude", "LNG")
    assert geometry_source(rel_of(col("lat", "S", "text"), col("lon", "S", "text"))) is None  # not numeric
    assert geometry_source(rel_of(col("lat"))) is None
    assert geometry_source(rel_of(col("x"), col("y"))) is None
    assert geometry_source(relation("places_latlon")).column_names == ("latitude", "longitude")
    assert geometry_source(relation("single_pk")) is None


CHOICE_SCRIPT = """
from autoapi.query.queries import geometry_source
from autoapi.schema.snapshot import Column, Relation
cols = tuple(Column(name=n, attname=n, position=i, type="float8", base_type="float8", type_kind="b",
                    type_category="N") for i, n in enumerate(["lat", "latitude", "lon", "longitude"], 1))
source = geometry_source(Relation(oid=1, schema="s", name="r", kind="table", comment=None, estimated_rows=None,
                                  columns=cols))
print(source.latitude.name, source.longitude.name)
"""


def test_geometry_source_choice_does_not_depend_on_the_process():
    choices = set()
    for seed in range(4):
        env = dict(os.environ, PYTHONHASHSEED=str(seed), DJANGO_SETTINGS_MODULE="portal.settings")
        done = subprocess.run(
            [sys.executable, "-c", CHOICE_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        choices.add(done.stdout.strip())
    assert len(choices) == 1, choices


# -- count_sql / explain_sql ---------------------------------------------------------------------


@pytest.mark.db
def test_count_sql_caps_the_count():
    queryset = queryset_for(relation("big_2500")).order_by("-label")
    assert run(count_sql(queryset, 10)) == [(10,)]
    assert run(count_sql(queryset, 100_000)) == [(2500,)]
    assert run(count_sql(queryset.filter(grp=3), 1000)) == [(357,)]
    assert run(count_sql(queryset.filter(grp=3), 357)) == [(357,)]
    assert run(count_sql(queryset.filter(id__in=[]), 10)) == [(0,)]
    assert "ORDER BY" not in count_sql(queryset, 10).sql


@pytest.mark.db
def test_explain_sql_is_a_json_plan_of_the_filtered_query():
    statement = explain_sql(queryset_for(relation("big_2500")).filter(grp=3).order_by("label"))
    assert statement.sql.startswith("EXPLAIN (FORMAT JSON) ")
    plan = run(statement)[0][0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    assert 200 < plan[0]["Plan"]["Plan Rows"] < 600  # about 357
