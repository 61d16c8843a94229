"""The map preview: present exactly where the API gives GeoJSON, fed by the page's own filters;
the API's vector tiles where it has them (PostGIS), its GeoJSON otherwise; Leaflet, VectorGrid,
topojson-client and two Natural Earth files served from static/ (and nothing else of node_modules);
the raster tile URL optional, replacing the Natural Earth base map."""

from __future__ import annotations

import json
import re
import uuid
from html import unescape
from pathlib import Path

import pytest

from autoapi.public import formats, get_snapshot
from tests.catalog.helpers import first_readable, page_url, relation_named, text, wait_for_relation

ROOT = Path(__file__).resolve().parents[2]
LEAFLET = ROOT / "node_modules" / "leaflet" / "dist" / "leaflet.js"
VECTORGRID = ROOT / "node_modules" / "leaflet.vectorgrid" / "dist" / "Leaflet.VectorGrid.bundled.min.js"
WORLD_ATLAS = ROOT / "node_modules" / "world-atlas" / "countries-50m.json"
needs_map_packages = pytest.mark.skipif(
    not (LEAFLET.exists() and VECTORGRID.exists() and WORLD_ATLAS.exists()),
    reason="node_modules lacks the map's packages (make install-js)",
)


def map_attributes(body: str) -> dict | None:
    match = re.search(r'<div id="map-canvas"(.*?)>', body, re.S)
    if match is None:
        return None
    return {name: unescape(value) for name, value in re.findall(r'(data-[a-z-]+)="([^"]*)"', match.group(1))}


def test_map_only_where_the_api_has_geojson(client, settings):
    settings.PORTAL = {**settings.PORTAL, "HOME_RELATIONS": 10000}  # every relation on the home page itself
    assert map_attributes(text(client.get(page_url(relation_named("public", "places_latlon"))))) is not None
    plain = first_readable(client, lambda r: "geojson" not in formats(r), "no locations")
    assert map_attributes(text(client.get(page_url(plain)))) is None
    home = text(client.get("/"))
    for relation in get_snapshot().relations:
        row = re.search(re.escape(f'href="{page_url(relation)}"') + r".*?</tr>", home, re.S).group(0)
        assert ("<td>yes</td>" in row) == ("geojson" in formats(relation)), f"{relation.schema}.{relation.name}"


def test_map_draws_the_filtered_rows_from_the_api(client):
    relation = relation_named("public", "places_latlon")
    body = text(client.get(page_url(relation), {"name__icontains": "o", "ordering": "-id"}))
    attributes = map_attributes(body)
    url = attributes["data-geojson"]
    assert "name__icontains=o" in url and "format=geojson" in url and "limit=1000" in url
    assert "ordering" not in url
    assert attributes["data-tiles"] == ""  # no tile server unless configured
    response = client.get(url)
    assert response.status_code == 200
    collection = json.loads(b"".join(response.streaming_content) if response.streaming else response.content)
    assert collection["type"] == "FeatureCollection"
    assert {f["properties"]["name"] for f in collection["features"]} == {"Sydney Opera House", "Unknown", "Half known"}
    assert "The map is drawn by JavaScript" in body or "not installed" in body  # the no-script fallback


def test_no_map_on_a_400_page(client):
    relation = relation_named("public", "places_latlon")
    response = client.get(page_url(relation), {"id__gt": "many"})
    assert response.status_code == 400
    assert map_attributes(text(response)) is None


def test_tile_url_setting_reaches_the_map(client, settings):
    settings.PORTAL = {
        **settings.PORTAL,
        "MAP_TILE_URL": "https://tiles.example.org/{z}/{x}/{y}.png",
        "MAP_TILE_ATTRIBUTION": "© Example <b>tiles</b>",
    }
    attributes = map_attributes(text(client.get(page_url(relation_named("public", "places_latlon")))))
    assert attributes["data-tiles"] == "https://tiles.example.org/{z}/{x}/{y}.png"
    assert attributes["data-attribution"] == "© Example <b>tiles</b>"
    assert "data-basemap" not in attributes  # the configured tiles replace Natural Earth


@pytest.mark.skipif(not LEAFLET.exists(), reason="node_modules/leaflet is missing (make install-js)")
def test_leaflet_is_served_from_static_and_nothing_else_of_node_modules(client):
    body = text(client.get(page_url(relation_named("public", "places_latlon"))))
    # Content-hashed names (collectstatic's manifest, portal/staticfiles.py).
    scripts = re.findall(
        r'<script src="(/static/(?:vendor/leaflet/leaflet|catalog/map)\.[0-9a-f]{12}\.js)" defer></script>', body
    )
    styles = re.findall(r'href="(/static/vendor/leaflet/leaflet\.[0-9a-f]{12}\.css)"', body)
    assert len(scripts) == 2 and len(styles) == 1, (scripts, styles)
    for path in (*scripts, *styles):
        response = client.get(path)
        assert response.status_code == 200, path
        if response.streaming:
            b"".join(response.streaming_content)
    for path in (
        "/static/vendor/axe-core/axe.min.js",
        "/static/vendor/leaflet/package.json",
        "/static/vendor/package.json",
    ):
        assert client.get(path).status_code == 404, path


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@needs_map_packages
def test_map_draws_the_tiles_with_postgis_and_the_geojson_without(client):
    """places_latlon has tiles exactly when the database has PostGIS (they are made by it)."""
    relation = relation_named("public", "places_latlon")
    attributes = map_attributes(text(client.get(page_url(relation), {"name__icontains": "o", "ordering": "-id"})))
    assert "name__icontains=o" in attributes["data-geojson"]  # fits the view, or is drawn
    if get_snapshot().extension_schema("postgis") is None:
        assert attributes["data-vector-tiles"] == ""
        return
    assert attributes["data-vector-tiles"] == "/api/public/places_latlon/tiles/{z}/{x}/{y}.mvt?name__icontains=o"
    tile = client.get(attributes["data-vector-tiles"].format(z=0, x=0, y=0))
    assert tile.status_code == 200 and tile["Content-Type"] == "application/vnd.mapbox-vector-tile"


@needs_map_packages
@pytest.mark.spatial
def test_map_points_at_the_tiles_with_the_page_filters(client):
    relation = relation_named("public", "geo_points")
    response = client.get(page_url(relation), {"name__icontains": "o", "ordering": "-id", "limit": "2"})
    body = text(response)
    attributes = map_attributes(body)
    tiles = attributes["data-vector-tiles"]
    assert tiles == "/api/public/geo_points/tiles/{z}/{x}/{y}.mvt?name__icontains=o"  # no ordering, no limit
    assert attributes["data-key"] == '["id"]' and attributes["data-row-base"] == "/catalog/public/geo_points/"
    assert 'href="/api/public/geo_points/tiles.json?name__icontains=o"' in body  # the TileJSON, linked
    assert re.search(
        r'<script src="/static/vendor/leaflet\.vectorgrid/Leaflet\.VectorGrid\.bundled\.min\.[0-9a-f]{12}\.js"', body
    )
    tile = client.get(tiles.format(z=0, x=0, y=0))
    assert tile.status_code == 200 and not tile.has_header("X-Tile-Truncated")
    tilejson = json.loads(body_of(client.get("/api/public/geo_points/tiles.json?name__icontains=o")))
    assert tilejson["tiles"][0].endswith("/api/public/geo_points/tiles/{z}/{x}/{y}.mvt?name__icontains=o")
    # A filter that selects nothing here: the tile is empty (204), never an error the map would show.
    nothing = client.get(page_url(relation), {"name": "nowhere"})
    empty = map_attributes(text(nothing))["data-vector-tiles"].format(z=0, x=0, y=0)
    assert client.get(empty).status_code == 204


@needs_map_packages
def test_map_without_a_key_links_no_row(client, superuser_conn):
    name = f"places_view_{uuid.uuid4().hex[:6]}"  # a view has no key: its features link to no row page
    superuser_conn.at_teardown(f"DROP VIEW IF EXISTS public.{name}")
    superuser_conn.execute(f"CREATE VIEW public.{name} AS SELECT name, latitude, longitude FROM public.places_latlon")
    superuser_conn.execute(f"GRANT SELECT ON public.{name} TO portal_reader")
    relation = wait_for_relation(client, "public", name)
    attributes = map_attributes(text(client.get(page_url(relation))))
    assert attributes["data-key"] == ""
    assert map_attributes(text(client.get(page_url(relation_named("public", "places_latlon")))))["data-key"] == '["id"]'


@needs_map_packages
def test_the_base_map_is_natural_earth_from_static(client):
    body = text(client.get(page_url(relation_named("public", "places_latlon"))))
    attributes = map_attributes(body)
    for name, scale in (("data-basemap", "110m"), ("data-basemap-detail", "50m"), ("data-basemap-fine", "10m")):
        assert re.fullmatch(rf"/static/vendor/world-atlas/countries-{scale}\.[0-9a-f]{{12}}\.json", attributes[name])
        topology = json.loads(body_of(client.get(attributes[name])))
        assert topology["type"] == "Topology" and {"land", "countries"} <= set(topology["objects"])
    assert re.search(r'<script src="/static/vendor/topojson-client/topojson-client\.min\.[0-9a-f]{12}\.js"', body)
    assert "over land and country borders from Natural Earth" in body


@needs_map_packages
def test_only_the_needed_files_of_the_new_packages_are_served(client):
    for path in (
        "/static/vendor/world-atlas/land-10m.json",
        "/static/vendor/world-atlas/land-110m.json",
        "/static/vendor/world-atlas/package.json",
        "/static/vendor/world-atlas/README.md",
        "/static/vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.js.map",
        "/static/vendor/leaflet.vectorgrid/Leaflet.VectorGrid.js",
        "/static/vendor/leaflet.vectorgrid/vectorgrid-api-docs.html",
        "/static/vendor/topojson-client/topojson-client.js",
        "/static/vendor/pbf/dist/pbf.js",
    ):
        assert client.get(path).status_code == 404, path
