"""HTML built from data is safe (autoapi/web/weblinks.py, autoapi/ogc/html.py, the CSP in
portal/middleware.py): only http(s) URLs from data become links, a row's odd JSON shapes never
fail a page, the OGC pages are tables with a map and paging, and every HTML answer carries the
Content-Security-Policy while the pages hold no inline script, handler or style attribute."""

from __future__ import annotations

import json
import re

import pytest

from autoapi.web.registry import registry
from autoapi.web.weblinks import web_url

HOSTILE = "public.ogc_hostile"
ITEMS = "/ogc/collections/public.ogc_hostile/items"
SCRIPT_HREF = re.compile(r"""<a\b[^>]*\shref\s*=\s*["']?\s*(javascript|data|vbscript):""", re.I)


@pytest.mark.parametrize(
    "value, accepted",
    [
        ("https://example.org/a?b=c#d", True),
        ("http://example.org", True),
        ("HTTPS://EXAMPLE.ORG/", True),
        ("javascript:alert(1)", False),
        ("JavaScript:alert(1)", False),
        (" javascript:alert(1)", False),
        ("java\tscript:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("vbscript:msgbox", False),
        ("//evil.example/x", False),
        ("/relative/path", False),
        ("https:evil", False),
        ("https://", False),
        ("http://[", False),
        ("https://example.org/\nx", False),
        ("https://exa mple.org/", False),
        ("https://example.org/" + "a" * 9000, False),
        (None, False),
        (1, False),
        (["https://example.org"], False),
        ({"href": "https://example.org"}, False),
    ],
)
def test_only_web_urls_become_links(value, accepted):
    assert (web_url(value) is not None) is accepted


@pytest.fixture
def hostile(superuser_conn):
    """Rows whose jsonb ``links`` (and other properties) take every odd shape, with script URLs."""
    superuser_conn.at_teardown(f"DROP TABLE IF EXISTS {HOSTILE}")
    superuser_conn.execute(
        f"CREATE TABLE {HOSTILE} (id int PRIMARY KEY, note text, links jsonb, extra jsonb, "
        "latitude float8, longitude float8)"
    )
    deep = "[" * 60 + "1" + "]" * 60
    rows = [
        (
            1,
            "javascript:alert(2)",
            [{"href": "javascript:alert(1)", "rel": "x", "title": "click"}],
            {"a": None},
            40.7,
            -74.0,
        ),
        (2, "https://example.org/ok", ["plain", 1, None, True], [1, 2, 3], 40.8, -73.9),
        (3, "data:text/html,<script>alert(3)</script>", {"href": "javascript:alert(4)"}, json.loads(deep), None, None),
        (
            4,
            "x" * 100_000,
            None,
            {"links": [{"href": "JAVASCRIPT:alert(5)"}], "nested": {"links": "javascript:alert(6)"}},
            41.0,
            -73.0,
        ),
        (
            5,
            None,
            [[{"href": "vbscript:x"}], {"href": None}, {"href": 5, "rel": {"odd": True}}, {}],
            "a string",
            41.1,
            -73.1,
        ),
        (6, "<img src=x onerror=alert(7)>", [{"href": "https://example.org/fine", "rel": "about"}], 1e300, 41.2, -73.2),
        (7, "deep", {"links": [[[]]]}, "DEEP", 41.3, -73.3),  # extra: nested past Python's recursion limit
    ]
    for row in rows:
        extra = "[" * 5000 + "]" * 5000 if row[3] == "DEEP" else json.dumps(row[3])
        superuser_conn.execute(
            f"INSERT INTO {HOSTILE} VALUES (%s, %s, %s, %s, %s, %s)",
            (row[0], row[1], json.dumps(row[2]), extra, row[4], row[5]),
        )
    superuser_conn.execute(f"GRANT SELECT ON {HOSTILE} TO portal_reader")
    registry.refresh_now()
    yield rows


def _page(client, path, **params):
    response = client.get(path, {**params, "f": "html"})
    assert response.status_code == 200, (path, response.content[:500])
    assert response["Content-Type"].startswith("text/html")
    return response.content.decode()


def test_links_from_data_are_text_and_odd_shapes_never_fail(client, hostile):
    pages = [_page(client, ITEMS), _page(client, ITEMS, limit="2"), _page(client, ITEMS, limit="2", offset="2")]
    pages += [_page(client, f"{ITEMS}/{row[0]}") for row in hostile]
    for text in pages:
        assert not SCRIPT_HREF.search(text), SCRIPT_HREF.search(text)
        assert "<img src=x" not in text and "onerror=alert" not in text.replace("onerror=alert(7)&gt;", "")
    items = pages[0]
    assert '<a href="https://example.org/ok" rel="nofollow">https://example.org/ok</a>' in items
    assert "javascript:alert(2)" in items  # shown, as text
    assert "&lt;img src=x onerror=alert(7)&gt;" in items
    one = _page(client, f"{ITEMS}/1")
    assert "javascript:alert(1)" in one and 'href="javascript' not in one.lower()
    long = _page(client, f"{ITEMS}/4")
    assert len(long) < 60_000  # the 100,000-character value is cut on the page
    for path in ("/catalog/public/ogc_hostile/", "/catalog/public/ogc_hostile/7/", "/catalog/public/ogc_hostile/1/"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        assert not SCRIPT_HREF.search(response.content.decode())


def test_items_are_a_table_with_a_map_and_paging(client, hostile):
    text = _page(client, ITEMS, limit="2", offset="2")
    assert '<table class="preview">' in text and '<th scope="col"><span class="col-name name">note</span></th>' in text
    assert text.count("<tr>") == 3  # the header and two features
    assert 'id="map-canvas"' in text and "catalog/map." in text and "vendor/leaflet/leaflet." in text
    geojson = re.search(r'data-geojson="([^"]+)"', text).group(1).replace("&amp;", "&")
    assert "f=html" not in geojson and client.get(geojson)["Content-Type"].startswith("application/geo+json")
    nxt = re.search(r'<a href="([^"]+)" rel="next">', text).group(1).replace("&amp;", "&")
    prev = re.search(r'<a href="([^"]+)" rel="prev">', text).group(1).replace("&amp;", "&")
    assert "offset=4" in nxt and "f=html" in nxt and "offset=0" in prev and "f=html" in prev
    assert _page(
        client,
        nxt.split("testserver", 1)[1].split("?")[0],
        **dict(p.split("=") for p in nxt.split("?")[1].split("&") if not p.startswith("f=")),
    )
    assert f'href="http://testserver{ITEMS}/3?f=html"' in text  # each feature's own page
    assert 'rel="alternate" type="application/json"' in text  # and the JSON


def test_every_ogc_page_is_in_the_site_layout(client, hostile):
    for path in (
        "/ogc/",
        "/ogc/collections",
        "/ogc/collections/public.ogc_hostile",
        ITEMS,
        ITEMS + "/1",
        "/ogc/conformance",
        "/ogc/collections/public.ogc_hostile/queryables",
    ):
        text = _page(client, path)
        assert 'class="site-header"' in text and "portal." in text and ".css" in text
    collections = _page(client, "/ogc/collections")
    assert 'href="http://testserver/ogc/collections/public.ogc_hostile?f=html"' in collections
    assert 'href="http://testserver/ogc/collections/public.ogc_hostile/items?f=html"' in collections


HTML_PAGES = [
    "/",
    "/catalog/public/places_latlon/",
    "/catalog/public/agg_sales/",
    "/catalog/public/places_latlon/1/",
    "/catalog/public/nothing_here/",
    "/catalog/public/places_latlon/?nope=1",
    "/ogc/?f=html",
    "/ogc/collections/public.places_latlon/items?f=html",
    "/api/docs/",
]


@pytest.mark.parametrize("path", HTML_PAGES)
def test_every_html_page_has_the_policy_and_nothing_inline(client, path):
    response = client.get(path)
    assert response["Content-Type"].startswith("text/html"), path
    policy = dict(d.strip().split(" ", 1) for d in response["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["object-src"] == policy["base-uri"] == policy["frame-ancestors"] == "'none'"
    text = response.content.decode()
    for script in re.findall(r"<script\b([^>]*)>(.*?)</script>", text, re.S):
        attributes, body = script
        assert "src=" in attributes and not body.strip() or re.search(r'type="application/(ld\+)?json"', attributes), (
            script
        )
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", text), re.search(r"<[^>]+\son[a-z]+\s*=", text)
    assert not re.search(r"<[^>]+\sstyle\s*=", text) and "<style" not in text


def test_error_pages_from_the_outer_middleware_have_the_policy_and_json_has_none(client):
    refused = client.post("/catalog/public/places_latlon/")
    assert refused.status_code == 405 and "script-src 'self'" in refused["Content-Security-Policy"]
    assert "Content-Security-Policy" not in client.get("/api/public/places_latlon/")
    assert "Content-Security-Policy" not in client.get("/ogc/collections")


@pytest.mark.parametrize(
    "tile_url, img_src",
    [
        ("", "'self' data:"),
        ("https://{s}.tile.example.org/{z}/{x}/{y}.png", "'self' data: https://*.tile.example.org"),
        ("http://tiles.example.org:8080/{z}/{x}/{y}.png", "'self' data: http://tiles.example.org:8080"),
        ("/tiles/{z}/{x}/{y}.png", "'self' data:"),  # the portal's own: 'self'
        ("https://x.example.org;script-src *;/{z}/{x}/{y}", "'self' data:"),  # nothing but an origin gets in
    ],
)
def test_a_tile_server_may_send_images_only(client, settings, tile_url, img_src):
    settings.PORTAL = {**settings.PORTAL, "MAP_TILE_URL": tile_url}
    policy = dict(d.strip().split(" ", 1) for d in client.get("/")["Content-Security-Policy"].split(";"))
    assert policy["img-src"] == img_src and policy["script-src"] == "'self'" and policy["connect-src"] == "'self'"
