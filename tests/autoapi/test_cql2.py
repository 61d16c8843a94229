"""``?filter=`` in OGC CQL2: each construct selects exactly the rows the same condition written in
SQL selects (NULLs included), in text and JSON, combined with the simple filters, everywhere rows
are selected; and every misuse is a 400 that says where and what."""

from __future__ import annotations

import json

import pytest

from tests.autoapi.helpers import body, json_body

SALES = "/api/public/agg_sales/"


def api_ids(client, url: str, cql: str, lang: str = "cql2-text", **extra) -> list[int]:
    response = client.get(
        url, {"filter": cql, "filter-lang": lang, "fields": "id", "limit": "all", "ordering": "id", **extra}
    )
    assert response.status_code == 200, (cql, body(response)[:400])
    return [row["id"] for row in json.loads(body(response))]


def sql_ids(conn, table: str, where: str) -> list[int]:
    with conn.cursor() as cursor:
        cursor.execute("SET TimeZone = 'UTC'")
        cursor.execute(f"SELECT id FROM {table} WHERE {where} ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


# (CQL2 text, the same condition in SQL) on public.agg_sales: every construct and column type.
SALES_CASES = [
    ("region = 'north'", "region = 'north'"),
    ("region <> 'north'", "region <> 'north'"),
    ("NOT region = 'north'", "NOT (region = 'north')"),
    ("NOT (region = 'north' OR channel = 'web')", "NOT (region = 'north' OR channel = 'web')"),
    ("region = 'north' OR region IS NULL", "region = 'north' OR region IS NULL"),
    ("region IS NULL", "region IS NULL"),
    ("region IS NOT NULL AND NOT open", None),  # replaced below: a boolean is compared, not bare
    ("region > 'north'", "region > 'north'"),
    ("'north' < region", "region > 'north'"),
    ("region LIKE 'n%'", "region LIKE 'n%'"),
    ("region LIKE '_orth'", "region LIKE '_orth'"),
    ("region NOT LIKE '%h'", "region NOT LIKE '%h'"),
    ("CASEI(region) LIKE CASEI('NO%')", "region ILIKE 'NO%'"),
    ("CASEI(region) = CASEI('NORTH')", "lower(region) = 'north'"),
    ("CASEI(region) <> CASEI('NORTH')", "NOT (upper(region) = 'NORTH')"),
    ("region IN ('north', '=east')", "region IN ('north', '=east')"),
    ("region NOT IN ('north', '=east')", "region NOT IN ('north', '=east')"),
    (
        "channel IN ('web','shop') AND (ratio > 5 OR ratio < 1) AND NOT region = 'south'",
        "channel IN ('web','shop') AND (ratio > 5 OR ratio < 1) AND NOT (region = 'south')",
    ),
    ("channel > 'web'", "channel > 'web'"),  # enum order, not text order
    ('"count" = 2', '"count" = 2'),
    ("count BETWEEN 1 AND 2", '"count" BETWEEN 1 AND 2'),
    ("ratio NOT BETWEEN 1 AND 5", "ratio NOT BETWEEN 1 AND 5"),
    ("amount > 12345678901234567927.51", "amount > 12345678901234567927.51"),
    ("amount = 12345678901234567902.51", "amount = 12345678901234567902.51"),
    ("big = 9007199254740994", "big = 9007199254740994"),
    ("big >= 9007199254741050", "big >= 9007199254741050"),
    ("ratio < 1.5e0", "ratio < 1.5"),
    ("price >= 45.5", "price >= 45.5::money"),
    ("open = TRUE", "open = TRUE"),
    ("open <> FALSE", "open <> FALSE"),
    ("NOT open = TRUE", "NOT (open = TRUE)"),
    ("sold_on = DATE('2024-01-25')", "sold_on = DATE '2024-01-25'"),
    (
        "sold_on >= DATE('2024-06-01') AND sold_on < DATE('2024-07-01')",
        "sold_on >= '2024-06-01' AND sold_on < '2024-07-01'",
    ),
    ("sold_at < TIMESTAMP('2024-03-01T00:00:00Z')", "sold_at < '2024-03-01T00:00:00Z'"),
    ("sold_at >= TIMESTAMP('2024-03-01T12:00:00+02:00')", "sold_at >= '2024-03-01T12:00:00+02:00'"),
    ("T_BEFORE(sold_at, TIMESTAMP('2024-03-01T00:00:00Z'))", "sold_at < '2024-03-01T00:00:00Z'"),
    ("T_AFTER(sold_on, DATE('2024-06-01'))", "sold_on > '2024-06-01'"),
    (
        "T_INTERSECTS(sold_at, INTERVAL('2024-02-01T00:00:00Z', '2024-03-01T00:00:00Z'))",
        "sold_at BETWEEN '2024-02-01T00:00:00Z' AND '2024-03-01T00:00:00Z'",
    ),
    ("T_INTERSECTS(sold_on, INTERVAL('2024-09-01', '..'))", "sold_on >= '2024-09-01'"),
    (
        "T_DISJOINT(sold_on, INTERVAL('2024-02-01', '2024-09-01'))",
        "NOT (sold_on BETWEEN '2024-02-01' AND '2024-09-01')",
    ),
    ("T_DURING(sold_on, INTERVAL('2024-02-01', '2024-03-01'))", "sold_on > '2024-02-01' AND sold_on < '2024-03-01'"),
    ("T_EQUALS(sold_on, DATE('2024-01-25'))", "sold_on = '2024-01-25'"),
    ("wait > '01:00:00'", "wait > '01:00:00'"),
    ("wait IS NULL OR wait < '00:10:00'", "wait IS NULL OR wait < '00:10:00'"),
    ("tags IS NOT NULL", "tags IS NOT NULL"),
    ("ratio > count", 'ratio > "count"'),
    ("TRUE", "TRUE"),
    ("FALSE OR id = 3", "id = 3"),
    ("id = 1 OR (id = 2 OR (id = 3 OR NOT NOT id = 4))", "id IN (1, 2, 3, 4)"),
]
SALES_CASES = [case for case in SALES_CASES if case[1] is not None]


@pytest.mark.parametrize("cql, sql", SALES_CASES, ids=[c[0][:60] for c in SALES_CASES])
def test_each_construct_selects_what_the_same_sql_selects(client, superuser_conn, cql, sql):
    expected = sql_ids(superuser_conn, "public.agg_sales", sql)
    assert api_ids(client, SALES, cql) == expected
    assert 0 < len(expected) < 60 or cql in ("TRUE", "tags IS NOT NULL", "NOT open = TRUE") or "ratio > count" in cql


JSON_CASES = [
    (
        {
            "op": "and",
            "args": [
                {"op": "=", "args": [{"property": "channel"}, "web"]},
                {"op": ">", "args": [{"property": "ratio"}, 3.5]},
            ],
        },
        "channel = 'web' AND ratio > 3.5",
    ),
    ({"op": "not", "args": [{"op": "like", "args": [{"property": "region"}, "n%"]}]}, "NOT (region LIKE 'n%')"),
    ({"op": "in", "args": [{"property": "count"}, [0, 2]]}, '"count" IN (0, 2)'),
    # Written as text: a Python float would round these before they are sent.
    (
        '{"op": "between", "args": [{"property": "amount"}, 12345678901234567900.01, 12345678901234567910.01]}',
        "amount BETWEEN 12345678901234567900.01 AND 12345678901234567910.01",
    ),
    ({"op": "isNull", "args": [{"property": "ratio"}]}, "ratio IS NULL"),
    ({"op": "t_before", "args": [{"property": "sold_on"}, {"date": "2024-02-01"}]}, "sold_on < '2024-02-01'"),
    (
        {"op": "t_intersects", "args": [{"property": "sold_at"}, {"interval": ["..", "2024-01-01T00:00:00Z"]}]},
        "sold_at <= '2024-01-01T00:00:00Z'",
    ),
    (
        {"op": "=", "args": [{"op": "casei", "args": [{"property": "region"}]}, {"op": "casei", "args": ["SOUTH"]}]},
        "lower(region) = 'south'",
    ),
    (
        {
            "op": "or",
            "args": [
                {"op": "=", "args": [{"property": "open"}, True]},
                {"op": ">=", "args": [{"property": "sold_at"}, {"timestamp": "2024-10-01T00:00:00Z"}]},
            ],
        },
        "open OR sold_at >= '2024-10-01T00:00:00Z'",
    ),
]


@pytest.mark.parametrize("document, sql", JSON_CASES, ids=[c[1][:60] for c in JSON_CASES])
def test_the_json_encoding_selects_the_same(client, superuser_conn, document, sql):
    text = document if isinstance(document, str) else json.dumps(document)
    assert api_ids(client, SALES, text, "cql2-json") == sql_ids(superuser_conn, "public.agg_sales", sql)


def test_a_filter_is_anded_with_the_simple_filters_and_applies_to_counts_pages_and_groups(client, superuser_conn):
    expected = sql_ids(superuser_conn, "public.agg_sales", "channel = 'web' AND (open OR region IS NULL)")
    assert api_ids(client, SALES, "open = TRUE OR region IS NULL", channel="web") == expected
    page = json_body(client.get(SALES, {"filter": "open = TRUE OR region IS NULL", "channel": "web", "limit": "2"}))
    assert page["count"] == len(expected) and [r["id"] for r in page["results"]] == expected[:2]
    following = json_body(client.get(page["next"]))  # keyset cursors carry the filter on
    assert [r["id"] for r in following["results"]] == expected[2:4]
    groups = json_body(
        client.get(SALES, {"filter": "open = TRUE OR region IS NULL", "channel": "web", "group_by": "open"})
    )["results"]
    assert sum(g["count"] for g in groups) == len(expected)
    csv_lines = (
        body(
            client.get(
                SALES,
                {
                    "filter": "open = TRUE OR region IS NULL",
                    "channel": "web",
                    "format": "csv",
                    "limit": "all",
                    "fields": "id",
                },
            )
        )
        .decode()
        .split()
    )
    assert csv_lines[1:] == [str(i) for i in expected]


def test_two_hundred_ored_terms(client, superuser_conn):
    cql = " OR ".join(f"id = {i}" for i in range(200, 0, -1))
    assert len(cql) > 2000
    assert api_ids(client, SALES, cql) == list(range(1, 61))


def _alternating(depth: int) -> str:
    """``(id = 2 OR (id = 2 AND (...)))``: AND inside OR inside AND, so nothing flattens."""
    text = "id = 1"
    for level in range(depth - 1):
        text = f"(id = 2 {'AND' if level % 2 else 'OR'} {text})"
    return text


@pytest.mark.parametrize(
    "cql, fragment",
    [
        ("region = ", "syntax error at character 9: unexpected the end of the filter"),
        ("region = 'north' AND", "syntax error at character 21"),
        ("((region = 'north')", "expected )"),
        ("region = @", "unexpected the character '@'"),
        ("regoin = 'north'", "unknown column 'regoin'"),
        ("secret = 'x'", "unknown column 'secret'"),
        ("ratio = 'abc'", "number column"),
        ("region = 5", "cannot be compared with the number 5"),
        ("open = 'yes'", "boolean column"),
        ("open > TRUE", "cannot be compared with >"),
        ("tags = 'a'", "cannot be compared with ="),
        ("sold_on = DATE('2024-02-30')", "is not a value of 'sold_on'"),
        ("sold_on = TIMESTAMP('yesterday')", "is not a value of 'sold_on'"),
        ("ratio LIKE '1%'", "LIKE compares text"),
        ("region > ratio", "cannot be compared"),
        ("ACCENTI(region) = 'x'", "ACCENTI is not supported"),
        ("T_BEFORE(region, DATE('2024-01-01'))", "compares dates and timestamps"),
        ("S_INTERSECTS(region, POINT(1 2))", "has no geometry"),
        ("CASEI(region) > 'a'", "CASEI compares with"),
        ("NOT " * 25 + "id = 1", "nested 25 levels deep"),
        (_alternating(30), "nested 29 levels deep"),
        (" OR ".join(["id = 1"] * 1001), "1001 conditions"),
    ],
)
def test_every_misuse_is_a_400_that_says_where_and_what(client, cql, fragment):
    response = client.get(SALES, {"filter": cql})
    assert response.status_code == 400, (cql[:80], body(response)[:300])
    detail = json_body(response)
    assert detail["parameter"] == "filter" and fragment in detail["detail"], detail


def test_syntax_errors_carry_the_position_and_what_was_expected(client):
    detail = json_body(client.get(SALES, {"filter": "region = 'north' AND (id = 1"}))
    assert detail["position"] == 29 and ")" in detail["expected"]


def _deep_json(depth: int) -> dict:
    node = {"op": "=", "args": [{"property": "id"}, 1]}
    for _ in range(depth):
        node = {"op": "not", "args": [node]}
    return node


@pytest.mark.parametrize(
    "query, parameter",
    [
        ({"filter": "id = 1", "filter-lang": "sql"}, "filter-lang"),
        ({"filter": "{not json", "filter-lang": "cql2-json"}, "filter"),
        ({"filter": json.dumps({"op": "xor", "args": []}), "filter-lang": "cql2-json"}, "filter"),
        ({"filter": json.dumps({"op": "=", "args": [{"property": "id"}]}), "filter-lang": "cql2-json"}, "filter"),
        ({"filter": "[" * 5000 + "]" * 5000, "filter-lang": "cql2-json"}, "filter"),
        ({"filter": json.dumps(_deep_json(30)), "filter-lang": "cql2-json"}, "filter"),
        ({"filter": "x" * 20001}, "filter"),
    ],
)
def test_every_misuse_of_the_parameters_is_a_400(client, query, parameter):
    response = client.get(SALES, query)
    assert response.status_code == 400 and json_body(response)["parameter"] == parameter, body(response)[:300]


def test_a_column_named_filter_is_filtered_as_filter__exact(client):
    response = client.get(SALES, {"filter__exact": "x"})
    assert response.status_code == 400  # agg_sales has no such column: the usual unknown-parameter answer
    assert "filter__exact" in json_body(response)["detail"]


# (relation, CQL2 text, the same condition in SQL): the literal in WGS 84, the column in its own SRID.
SPATIAL_CASES = [
    (
        "geo_points",
        "S_INTERSECTS(geom, BBOX(-80, 30, -70, 50))",
        "extensions.ST_Intersects(geom, extensions.ST_MakeEnvelope(-80, 30, -70, 50, 4326))",
    ),
    (
        "geo_points",
        "S_WITHIN(geom, POLYGON((-180 -90, 0 -90, 0 90, -180 90, -180 -90)))",
        "extensions.ST_Within(geom, 'SRID=4326;POLYGON((-180 -90, 0 -90, 0 90, -180 90, -180 -90))'::extensions.geometry)",
    ),
    (
        "geo_points",
        "S_DISJOINT(geom, BBOX(-80, 30, -70, 50))",
        "extensions.ST_Disjoint(geom, extensions.ST_MakeEnvelope(-80, 30, -70, 50, 4326))",
    ),
    (
        "geo_points",
        "NOT S_INTERSECTS(geom, POINT(0 0)) OR geom IS NULL",
        "NOT extensions.ST_Intersects(geom, 'SRID=4326;POINT(0 0)'::extensions.geometry) OR geom IS NULL",
    ),
    (
        "geo_polygons_2263",
        "S_INTERSECTS(geom, POINT(-73.9847 40.7472))",  # in the Midtown block
        "extensions.ST_Intersects(geom, extensions.ST_Transform('SRID=4326;POINT(-73.9847 40.7472)'::extensions.geometry, 2263))",
    ),
    (
        "geo_polygons_2263",
        "S_CONTAINS(geom, BBOX(-74.012, 40.690, -74.005, 40.695))",  # inside the one with a hole
        "extensions.ST_Contains(geom, extensions.ST_Transform(extensions.ST_MakeEnvelope(-74.012, 40.690, -74.005, 40.695, 4326), 2263))",
    ),
    (
        "geog_points",
        "S_INTERSECTS(geog, BBOX(170, -20, 180, -10))",
        "extensions.ST_Intersects(geog::extensions.geometry, extensions.ST_MakeEnvelope(170, -20, 180, -10, 4326))",
    ),
    (
        "places_latlon",
        "S_INTERSECTS(geometry, BBOX(-80, 30, -70, 50))",
        "latitude BETWEEN 30 AND 50 AND longitude BETWEEN -80 AND -70",
    ),
    (
        "places_latlon",
        "S_WITHIN(geometry, POLYGON((-1 -1, 200 -1, 200 60, -1 60, -1 -1)))",
        "extensions.ST_Within(extensions.ST_SetSRID(extensions.ST_MakePoint(longitude, latitude), 4326), "
        "'SRID=4326;POLYGON((-1 -1, 200 -1, 200 60, -1 60, -1 -1))'::extensions.geometry)",
    ),
]


@pytest.mark.parametrize("name, cql, sql", SPATIAL_CASES, ids=[f"{c[0]}: {c[1][:40]}" for c in SPATIAL_CASES])
def test_spatial_predicates_select_what_postgis_selects(client, superuser_conn, requires_postgis, name, cql, sql):
    expected = sql_ids(superuser_conn, f"public.{name}", sql)
    assert api_ids(client, f"/api/public/{name}/", cql) == expected and expected


def test_spatial_json_and_geojson_literals(client, superuser_conn, requires_postgis):
    polygon = {"type": "Polygon", "coordinates": [[[-80, 30], [-70, 30], [-70, 50], [-80, 50], [-80, 30]]]}
    for url in ("/api/public/geo_points/", "/api/public/places_latlon/"):
        prop = "geom" if "geo_points" in url else "geometry"
        for literal in (polygon, {"bbox": [-80, 30, -70, 50]}):
            document = {"op": "s_intersects", "args": [{"property": prop}, literal]}
            assert api_ids(client, url, json.dumps(document), "cql2-json") == [1]


@pytest.mark.parametrize(
    "url, cql, fragment",
    [
        ("/api/public/geo_points/", "S_INTERSECTS(geom, POLYGON((0 0, 1 0, 1 1)))", "PostGIS cannot read the geometry"),
        ("/api/public/geo_points/", "S_INTERSECTS(name, POINT(0 0))", "'name' is not a geometry column"),
        ("/api/public/geo_points/", "S_INTERSECTS(geom, BBOX(10, 0, 0, 10))", "west <= east"),
        ("/api/public/geo_points/", "S_INTERSECTS(POINT(0 0), POINT(1 1))", "takes the location"),
        ("/api/public/places_latlon/", "S_INTERSECTS(latitude, POINT(0 0))", "the location is 'geometry'"),
    ],
)
def test_spatial_misuse_is_a_400(client, requires_postgis, url, cql, fragment):
    response = client.get(url, {"filter": cql})
    assert response.status_code == 400 and fragment in json_body(response)["detail"], body(response)[:300]


def _literal(kind: str, text: str) -> str:
    if kind in ("integer", "number", "float", "money"):
        return text
    if kind == "boolean":
        return "TRUE" if text in ("true", "t") else "FALSE"
    return "'" + text.replace("'", "''") + "'"


def test_every_type_the_simple_filters_compare_is_compared_as_sql_compares_it(client, superuser_conn):
    """For each column of the type fixtures: = and <> with one of its values (and > where the type
    is ordered), and IS NULL, against the same SQL; keys compared, so every row counts."""
    from autoapi.public import get_snapshot
    from autoapi.schema.typemap import type_info

    checked = 0
    for relation in get_snapshot().relations:
        if relation.schema != "public" or not relation.name.startswith("types_") or not relation.key:
            continue
        key = relation.key.columns[0]
        table = f'public."{relation.name}"'
        for column in relation.columns:
            info, name = type_info(column), '"' + column.name.replace('"', '""') + '"'
            if "exact" not in info.lookups or column.is_array:
                continue
            shown = f"{name}::numeric::text" if column.base_type == "money" else f"{name}::text"
            with superuser_conn.cursor() as cursor:
                cursor.execute("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres'")
                cursor.execute(
                    f"SELECT {shown} FROM {table} WHERE {name} IS NOT NULL AND {shown} !~* '(nan|inf)' AND {shown} <> '' "
                    f"ORDER BY length({shown}), 1 LIMIT 1"
                )
                found = cursor.fetchone()
            if found is None:
                continue
            literal = _literal(info.kind, found[0])
            simple = client.get(
                f"/api/public/{relation.name}/", {column.name.replace(",", "~2C") + "__exact": found[0]}
            )
            if simple.status_code == 400:  # a value the simple filters cannot read either (year 10000)
                refused = client.get(f"/api/public/{relation.name}/", {"filter": f"{name} = {literal}"})
                assert refused.status_code == 400, (relation.name, column.name)
                continue
            value_sql = "%s::numeric::money" if column.base_type == "money" else "%s"
            operators = ["=", "<>"] + ([">"] if "gt" in info.lookups else [])
            for op in operators:
                with superuser_conn.cursor() as cursor:
                    cursor.execute(f'SELECT "{key}" FROM {table} WHERE {name} {op} {value_sql} ORDER BY 1', [found[0]])
                    expected = [row[0] for row in cursor.fetchall()]
                response = client.get(
                    f"/api/public/{relation.name}/", {"filter": f"{name} {op} {literal}", "fields": key, "limit": "all"}
                )
                assert response.status_code == 200, (relation.name, column.name, op, body(response)[:300])
                assert sorted(r[key] for r in json.loads(body(response))) == sorted(expected), (
                    relation.name,
                    column.name,
                    op,
                )
                checked += 1
    assert checked > 40, checked
