"""Vector tiles: decoded with mapbox-vector-tile and compared with the same selection in SQL, at
several zooms, for SRIDs 4326, 2263 and 3857, a geography column and a latitude/longitude
relation; filters (simple, bbox, CQL2) and fields honoured; empty tiles; TileJSON; 4xx misuse."""

from __future__ import annotations

import math

import pytest

from tests.autoapi.helpers import json_body

mapbox_vector_tile = pytest.importorskip("mapbox_vector_tile")


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def features(client, relation: str, tile, **query) -> list[dict]:
    response = client.get(f"/api/public/{relation}/tiles/{tile[0]}/{tile[1]}/{tile[2]}.mvt", query)
    if response.status_code == 204:
        return []
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/vnd.mapbox-vector-tile"
    return mapbox_vector_tile.decode(response.content).get("default", {}).get("features", [])


def sql_ids(conn, table: str, geometry_sql: str, tile, where: str = "TRUE") -> list[int]:
    """The rows whose geometry (in Web Mercator) meets the tile with its 64/4096 buffer and keeps a
    shape in it (a polygon smaller than a tile pixel vanishes, as in every MVT server)."""
    z, x, y = tile
    envelope = f"extensions.ST_TileEnvelope({z}, {x}, {y})"
    with conn.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM public.{table} WHERE {where} AND extensions.ST_Intersects({geometry_sql}, "
            f"extensions.ST_Expand({envelope}, (extensions.ST_XMax({envelope}) - extensions.ST_XMin({envelope})) / 64)) "
            f"AND extensions.ST_AsMVTGeom({geometry_sql}, {envelope}, 4096, 64, true) IS NOT NULL ORDER BY id"
        )
        return [row[0] for row in cursor.fetchall()]


def first_place(conn, table: str, geometry_sql: str) -> tuple[float, float]:
    with conn.cursor() as cursor:
        cursor.execute(
            f"SELECT extensions.ST_X(c), extensions.ST_Y(c) FROM (SELECT extensions.ST_Transform("
            f"extensions.ST_PointOnSurface({geometry_sql}), 4326) AS c FROM public.{table} "
            f"WHERE {geometry_sql} IS NOT NULL ORDER BY id LIMIT 1) AS first"
        )
        return cursor.fetchone()


@pytest.mark.parametrize(
    "name, geometry_sql",
    [
        ("geo_points", "extensions.ST_Transform(geom, 3857)"),
        ("geo_polygons_2263", "extensions.ST_Transform(geom, 3857)"),
        ("geo_multipolygons_3857", "geom"),
        ("geog_points", "extensions.ST_Transform(geog::extensions.geometry, 3857)"),
    ],
)
@pytest.mark.parametrize("z", [7, 11, 16])
def test_tiles_hold_the_rows_postgis_puts_in_them(client, superuser_conn, requires_postgis, name, geometry_sql, z):
    tile = tile_of(*first_place(superuser_conn, name, geometry_sql), z)
    got = sorted(f["properties"]["id"] for f in features(client, name, tile))
    assert got == sql_ids(superuser_conn, name, geometry_sql, tile) and got


@pytest.mark.parametrize(
    "place, z",
    [
        ((151.215297, -33.856784), 1),
        ((151.215297, -33.856784), 3),
        ((-73.985664, 40.748440), 1),
        ((-73.985664, 40.748440), 0),
    ],
)
def test_tiles_at_the_edges_of_the_world(client, superuser_conn, requires_postgis, place, z):
    """The tiles at x = 0 and x = 2^z - 1, whose buffer reaches past 180°, hold their rows too."""
    tile = tile_of(*place, z)
    assert tile[1] in (0, 2**z - 1)
    for name, geometry_sql in (
        ("geo_points", "extensions.ST_Transform(geom, 3857)"),
        ("geog_points", "extensions.ST_Transform(geog::extensions.geometry, 3857)"),
    ):
        got = sorted(f["properties"]["id"] for f in features(client, name, tile))
        assert got == sql_ids(superuser_conn, name, geometry_sql, tile) and got, name


def test_latitude_longitude_relations_are_points(client, superuser_conn, requires_postgis):
    for z in (0, 5, 12):
        tile = tile_of(-73.9857, 40.7484, z)
        found = features(client, "places_latlon", tile)
        expected = sql_ids(
            superuser_conn,
            "places_latlon",
            "extensions.ST_Transform(extensions.ST_SetSRID(extensions.ST_MakePoint(longitude, latitude), 4326), 3857)",
            tile,
        )
        assert sorted(f["properties"]["id"] for f in found) == expected and expected
        assert all(f["geometry"]["type"] == "Point" for f in found)


def test_filters_and_fields_apply_to_tiles(client, requires_postgis):
    world = (0, 0, 0)
    assert sorted(f["properties"]["id"] for f in features(client, "geo_points", world)) == [1, 2, 3]
    assert [f["properties"]["id"] for f in features(client, "geo_points", world, name="Null Island")] == [2]
    assert [f["properties"]["id"] for f in features(client, "geo_points", world, bbox="100,-50,160,0")] == [3]
    assert [f["properties"]["id"] for f in features(client, "geo_points", world, filter="id > 2")] == [3]
    kept = features(client, "geo_points", world, fields="id")
    assert all(set(f["properties"]) == {"id"} for f in kept)
    keyed = features(client, "geo_points", world, fields="name")
    assert all(set(f["properties"]) == {"name", "id"} for f in keyed)  # the key stays, for row links


def test_bigint_properties_keep_every_digit(client, requires_postgis):
    """As text: a map client reads a tile's numbers as doubles, and 9007199254740993 would become
    the other row's 9007199254740992."""
    got = features(client, "geo_snowflakes", tile_of(2.2945, 48.8584, 14))
    assert sorted((f["properties"]["id"], f["properties"]["name"]) for f in got) == [
        ("9007199254740992", "Even"),
        ("9007199254740993", "Odd"),
    ]
    document = client.get("/api/public/geo_snowflakes/tiles.json").json()
    assert document["vector_layers"][0]["fields"] == {"id": "String", "name": "String"}


def test_an_empty_tile_is_a_204(client, requires_postgis):
    response = client.get("/api/public/geo_points/tiles/10/0/0.mvt")
    assert response.status_code == 204 and response.content == b""


def test_tilejson_describes_the_tiles_with_the_filters(client, requires_postgis):
    document = json_body(client.get("/api/public/geo_points/tiles.json", {"name": "Null Island", "fields": "name"}))
    assert document["tilejson"] == "3.0.0"
    assert document["tiles"] == [
        "http://testserver/api/public/geo_points/tiles/{z}/{x}/{y}.mvt?name=Null%20Island&fields=name"
    ]
    assert document["vector_layers"][0] == {"id": "default", "fields": {"name": "String", "id": "Number"}}
    assert document["vector_layers"][1]["id"] == "truncated"
    assert document["vector_layers"][1]["fields"] == {"feature_limit": "Number"}


@pytest.mark.parametrize(
    "path, status",
    [
        ("/api/public/geo_points/tiles/25/0/0.mvt", 404),
        ("/api/public/geo_points/tiles/2/4/0.mvt", 404),
        ("/api/public/agg_sales/tiles/0/0/0.mvt", 404),
        ("/api/public/geo_points/tiles/0/0/0.mvt?limit=5", 400),
        ("/api/public/geo_points/tiles/0/0/0.mvt?nope=1", 400),
        ("/api/public/geo_points/tiles/0/0/0.mvt?filter=id%20%3E", 400),
    ],
)
def test_misuse_is_a_4xx(client, requires_postgis, path, status):
    assert client.get(path).status_code == status


def test_a_tile_says_when_it_held_more_than_the_limit(client, settings, requires_postgis):
    settings.PORTAL = {**settings.PORTAL, "TILE_FEATURE_LIMIT": 2}
    response = client.get("/api/public/geo_points/tiles/0/0/0.mvt")
    assert response["X-Tile-Truncated"] == "true"
    layers = mapbox_vector_tile.decode(response.content)
    assert len(layers["default"]["features"]) == 2
    # The same said inside the tile, for map clients that do not see headers.
    [marker] = layers["truncated"]["features"]
    assert marker["properties"] == {"feature_limit": 2}
    assert marker["geometry"] == {"type": "Point", "coordinates": [2048, 2048]}

    settings.PORTAL = {**settings.PORTAL, "TILE_FEATURE_LIMIT": 3}  # exactly the tile's 3 points
    response = client.get("/api/public/geo_points/tiles/0/0/0.mvt")
    assert not response.has_header("X-Tile-Truncated")
    assert list(mapbox_vector_tile.decode(response.content)) == ["default"]


def test_without_postgis_tiles_are_a_clear_4xx(client):
    from autoapi.public import get_snapshot

    if get_snapshot().extension_schema("postgis") is not None:
        pytest.skip("this server has PostGIS")
    response = client.get("/api/public/places_latlon/tiles/0/0/0.mvt")
    assert response.status_code == 400 and "need PostGIS" in json_body(response)["detail"]


def test_tiles_are_cached_like_pages(client, requires_postgis):
    first = client.get("/api/public/geo_points/tiles/0/0/0.mvt")
    assert first["ETag"] and "max-age" in first["Cache-Control"]
    again = client.get("/api/public/geo_points/tiles/0/0/0.mvt", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again.content == b""
    # MapLibre and others ask for the tile's own media type.
    asked = client.get("/api/public/geo_points/tiles/0/0/0.mvt", HTTP_ACCEPT="application/vnd.mapbox-vector-tile")
    assert asked.status_code == 200 and asked.content == first.content


def test_low_zoom_tiles_and_world_boxes_reach_projected_and_geography_columns(client, superuser_conn, requires_postgis):
    # The whole world cannot be brought into a US state plane: such tiles compare in Web Mercator.
    for z in (0, 2, 4):
        tile = tile_of(*first_place(superuser_conn, "geo_polygons_2263", "extensions.ST_Transform(geom, 3857)"), z)
        got = sorted(f["properties"]["id"] for f in features(client, "geo_polygons_2263", tile))
        assert got == sql_ids(superuser_conn, "geo_polygons_2263", "extensions.ST_Transform(geom, 3857)", tile), z
    world = client.get("/api/public/geog_points/", {"bbox": "-180,-90,180,90", "fields": "id"})
    assert world.status_code == 200 and [r["id"] for r in json_body(world)["results"]] == [1, 2]
    too_wide = client.get("/api/public/geo_polygons_2263/", {"bbox": "-180,-90,180,90"})
    assert too_wide.status_code == 400 and "coordinate system" in json_body(too_wide)["detail"]


def test_tilejson_checks_filter_values_as_the_tiles_do(client, requires_postgis):
    # A boolean lookup takes only its documented words (found by schemathesis: tests/production/test_contract.py).
    for path in ("/api/public/places_latlon/tiles.json", "/api/public/places_latlon/tiles/2/1/1.mvt"):
        response = client.get(path, {"name__isnull": "null"})
        assert response.status_code == 400, path
        assert "detail" in json_body(response)
    assert client.get("/api/public/places_latlon/tiles.json", {"name__isnull": "false"}).status_code == 200
