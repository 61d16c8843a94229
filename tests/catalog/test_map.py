"""The map preview: present exactly where the API gives GeoJSON, fed by the page's own filters,
Leaflet served from static/ (and nothing else of node_modules), the tile URL optional."""
from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest

from autoapi.public import formats, get_snapshot
from tests.catalog.helpers import first_readable, page_url, relation_named, text

ROOT = Path(__file__).resolve().parents[2]
LEAFLET = ROOT / "node_modules" / "leaflet" / "dist" / "leaflet.js"


def map_attributes(body: str) -> dict | None:
    match = re.search(r'<div id="map-canvas"(.*?)>', body, re.S)
    if match is None:
        return None
    return {name: unescape(value) for name, value in re.findall(r'(data-[a-z]+)="([^"]*)"', match.group(1))}


def test_map_only_where_the_api_has_geojson(client):
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
    settings.PORTAL = {**settings.PORTAL, "MAP_TILE_URL": "https://tiles.example.org/{z}/{x}/{y}.png",
                       "MAP_TILE_ATTRIBUTION": "© Example <b>tiles</b>"}
    attributes = map_attributes(text(client.get(page_url(relation_named("public", "places_latlon")))))
    assert attributes["data-tiles"] == "https://tiles.example.org/{z}/{x}/{y}.png"
    assert attributes["data-attribution"] == "© Example <b>tiles</b>"


@pytest.mark.skipif(not LEAFLET.exists(), reason="node_modules/leaflet is missing (make install-js)")
def test_leaflet_is_served_from_static_and_nothing_else_of_node_modules(client):
    body = text(client.get(page_url(relation_named("public", "places_latlon"))))
    # Content-hashed names (collectstatic's manifest, portal/staticfiles.py).
    scripts = re.findall(r'<script src="(/static/(?:vendor/leaflet/leaflet|catalog/map)\.[0-9a-f]{12}\.js)" defer></script>', body)
    styles = re.findall(r'href="(/static/vendor/leaflet/leaflet\.[0-9a-f]{12}\.css)"', body)
    assert len(scripts) == 2 and len(styles) == 1, (scripts, styles)
    for path in (*scripts, *styles):
        response = client.get(path)
        assert response.status_code == 200, path
        if response.streaming:
            b"".join(response.streaming_content)
    for path in ("/static/vendor/axe-core/axe.min.js", "/static/vendor/leaflet/package.json", "/static/vendor/package.json"):
        assert client.get(path).status_code == 404, path
