"""Items of /ogc/ select exactly the rows the same condition selects in SQL: ``bbox``,
``datetime`` (instants and intervals, open or not, on timestamps and dates), property filters and
CQL2 ``filter`` in both encodings, alone and combined."""

from __future__ import annotations

import json

import pytest

from autoapi.web.registry import registry

LATLON = "/ogc/collections/public.places_latlon/items"
EVENTS = "/ogc/collections/public.ogc_events/items"
DAYS = "/ogc/collections/public.ogc_days/items"


def ogc_ids(client, path: str, **params) -> list:
    response = client.get(path, {"limit": "1000", **params})
    assert response.status_code == 200, (params, response.content[:400])
    page = response.json()
    assert page["numberMatched"] == page["numberReturned"]
    return sorted(f["id"] for f in page["features"])


def sql_ids(conn, sql: str) -> list:
    with conn.cursor() as cursor:
        cursor.execute("SET TimeZone = 'UTC'")
        cursor.execute(sql)
        return sorted(row[0] for row in cursor.fetchall())


BOXES = ["-80,30,-70,45", "-1,-1,1,1", "-180,-90,180,90", "150,-34,152,-33", "10,10,20,20"]


@pytest.mark.parametrize("box", BOXES)
def test_bbox_on_latitude_longitude(client, reader_conn, box):
    w, s, e, n = box.split(",")
    expected = sql_ids(
        reader_conn,
        f"SELECT id FROM public.places_latlon WHERE latitude BETWEEN {s} AND {n} AND longitude BETWEEN {w} AND {e}",
    )
    assert ogc_ids(client, LATLON, bbox=box) == expected


# Not the whole world: the API's bbox transforms the box to the column's SRID (for its index), which
# fails for a world box in State Plane (2263) and for a geography box 360 degrees wide (both a 409
# in the API as here: a known limitation of ?bbox=, not of /ogc/).
@pytest.mark.parametrize("box", [b for b in BOXES if b != "-180,-90,180,90"])
@pytest.mark.parametrize(
    ("table", "column"),
    [("geo_points", "geom"), ("geo_polygons_2263", "geom"), ("geog_points", "geog"), ("geom_mixed", "geom")],
)
def test_bbox_on_postgis(requires_postgis, client, reader_conn, box, table, column):
    w, s, e, n = box.split(",")
    envelope = f"extensions.ST_MakeEnvelope({w}, {s}, {e}, {n}, 4326)"
    geometry = f"{column}::extensions.geometry"
    transformed = (
        f"CASE WHEN extensions.ST_SRID({geometry}) IN (0, 4326) THEN extensions.ST_SetSRID({geometry}, 4326) "
        f"ELSE extensions.ST_Transform({geometry}, 4326) END"
    )
    expected = sql_ids(
        reader_conn, f"SELECT id FROM public.{table} WHERE extensions.ST_Intersects({transformed}, {envelope})"
    )
    assert ogc_ids(client, f"/ogc/collections/public.{table}/items", bbox=box) == expected


PROPERTY_CASES = [
    ({"name": "Null Island"}, "name = 'Null Island'"),
    ({"id": "3"}, "id = 3"),
    ({"name": "nobody"}, "false"),
    ({"name": "Null Island", "id": "1"}, "false"),
    ({"latitude__gt": "0"}, "latitude > 0"),
]


@pytest.mark.parametrize(("params", "where"), PROPERTY_CASES)
def test_property_filters(client, reader_conn, params, where):
    assert ogc_ids(client, LATLON, **params) == sql_ids(
        reader_conn, f"SELECT id FROM public.places_latlon WHERE {where}"
    )


CQL2_CASES = [
    ("latitude > 0 AND name LIKE 'E%'", None, "latitude > 0 AND name LIKE 'E%'"),
    (
        "name IN ('Null Island', 'Unknown') OR longitude IS NULL",
        None,
        "name IN ('Null Island', 'Unknown') OR longitude IS NULL",
    ),
    (
        "S_INTERSECTS(geometry, BBOX(-80, 30, -70, 45))",
        None,
        "latitude BETWEEN 30 AND 45 AND longitude BETWEEN -80 AND -70",
    ),
    (
        json.dumps(
            {
                "op": "and",
                "args": [
                    {"op": ">=", "args": [{"property": "id"}, 2]},
                    {"op": "isNull", "args": [{"property": "latitude"}]},
                ],
            }
        ),
        "cql2-json",
        "id >= 2 AND latitude IS NULL",
    ),
]


@pytest.mark.parametrize(("cql", "lang", "where"), CQL2_CASES)
def test_cql2_filters(client, reader_conn, cql, lang, where):
    params = {"filter": cql, **({"filter-lang": lang} if lang else {})}
    expected = sql_ids(reader_conn, f"SELECT id FROM public.places_latlon WHERE {where}")
    assert ogc_ids(client, LATLON, **params) == expected
    both = sql_ids(
        reader_conn,
        f"SELECT id FROM public.places_latlon WHERE ({where}) AND latitude BETWEEN -50 AND 50 "
        f"AND longitude BETWEEN -100 AND 100 AND name <> 'Unknown'",
    )
    assert ogc_ids(client, LATLON, bbox="-100,-50,100,50", **{"name!": "Unknown"}, **params) == both


def test_cql2_spatial_on_postgis(requires_postgis, client, reader_conn):
    polygon = "POLYGON((-80 30, -70 30, -70 45, -80 45, -80 30))"
    expected = sql_ids(
        reader_conn,
        "SELECT id FROM public.geo_points WHERE extensions.ST_Intersects(geom, "
        f"extensions.ST_GeomFromText('{polygon}', 4326))",
    )
    assert expected == [1]
    assert (
        ogc_ids(client, "/ogc/collections/public.geo_points/items", filter=f"S_INTERSECTS(geom, {polygon})") == expected
    )


@pytest.fixture
def events(superuser_conn):
    """A timestamp-first and a date-first relation with a location (dropped after the test)."""
    superuser_conn.at_teardown("DROP TABLE IF EXISTS public.ogc_events, public.ogc_days")
    superuser_conn.execute(
        "CREATE TABLE public.ogc_events (id int PRIMARY KEY, name text, at timestamptz, "
        "seen date, latitude float8, longitude float8)"
    )
    superuser_conn.execute("""INSERT INTO public.ogc_events VALUES
        (1, 'a', '2024-03-01T23:59:59Z', '2024-01-01', 1, 1), (2, 'b', '2024-03-02T00:00:00Z', NULL, 2, 2),
        (3, 'c', '2024-03-02T10:00:00Z', NULL, 3, 3), (4, 'd', '2024-03-02T23:59:59.5Z', NULL, 4, 4),
        (5, 'e', '2024-03-03T00:00:00Z', NULL, 5, 5), (6, 'f', NULL, NULL, 6, 6)""")
    superuser_conn.execute(
        "CREATE TABLE public.ogc_days (id int PRIMARY KEY, day date, latitude float8, longitude float8)"
    )
    superuser_conn.execute("""INSERT INTO public.ogc_days VALUES (1, '2024-03-01', 1, 1), (2, '2024-03-02', 2, 2),
        (3, '2024-03-03', 3, 3), (4, NULL, 4, 4)""")
    superuser_conn.execute("GRANT SELECT ON public.ogc_events, public.ogc_days TO portal_reader")
    registry.refresh_now()
    return superuser_conn


TIMESTAMP_CASES = [
    ("2024-03-02T10:00:00Z", "at = '2024-03-02T10:00:00Z'"),
    ("2024-03-02T12:00:00+02:00", "at = '2024-03-02T10:00:00Z'"),
    ("2024-03-02", "at >= '2024-03-02' AND at < '2024-03-03'"),
    ("2024-03-02T00:00:00Z/2024-03-02T23:00:00Z", "at BETWEEN '2024-03-02T00:00:00Z' AND '2024-03-02T23:00:00Z'"),
    ("2024-03-01/2024-03-02", "at >= '2024-03-01' AND at < '2024-03-03'"),
    ("../2024-03-02T00:00:00Z", "at <= '2024-03-02T00:00:00Z'"),
    ("/2024-03-02T00:00:00Z", "at <= '2024-03-02T00:00:00Z'"),
    ("2024-03-02T10:00:00Z/..", "at >= '2024-03-02T10:00:00Z'"),
    ("2024-03-02T10:00:00Z/", "at >= '2024-03-02T10:00:00Z'"),
]


@pytest.mark.parametrize(("value", "where"), TIMESTAMP_CASES)
def test_datetime_on_the_first_timestamp_column(client, events, value, where):
    assert ogc_ids(client, EVENTS, datetime=value) == sql_ids(events, f"SELECT id FROM public.ogc_events WHERE {where}")
    combined = sql_ids(events, f"SELECT id FROM public.ogc_events WHERE ({where}) AND name <> 'c'")
    assert ogc_ids(client, EVENTS, datetime=value, filter="name <> 'c'") == combined


DATE_CASES = [
    ("2024-03-02", "day = '2024-03-02'"),
    ("2024-03-02T23:30:00Z", "day = '2024-03-02'"),
    ("2024-03-02/..", "day >= '2024-03-02'"),
    ("../2024-03-01", "day <= '2024-03-01'"),
    ("2024-03-01/2024-03-02", "day BETWEEN '2024-03-01' AND '2024-03-02'"),
]


@pytest.mark.parametrize(("value", "where"), DATE_CASES)
def test_datetime_on_a_date_column(client, events, value, where):
    assert ogc_ids(client, DAYS, datetime=value) == sql_ids(events, f"SELECT id FROM public.ogc_days WHERE {where}")


@pytest.mark.parametrize(
    "value",
    [
        "2024",
        "2024-13-01",
        "yesterday",
        "../..",
        "/",
        "a/b/c",
        "2024-03-02T10:00:00",
        "2024-03-01/2024-03-02/2024-03-03",
    ],
)
def test_malformed_datetime_is_a_400(client, events, value):
    response = client.get(EVENTS, {"datetime": value})
    assert response.status_code == 400, (value, response.content)
    assert response.json()["code"] == "InvalidParameterValue"
