"""The catalog's map in a real browser (headless Chromium, ``tests/catalog/browser.py``): the
Natural Earth base map is drawn (land paths in its SVG pane), the rows come from the API's vector
tiles where PostGIS makes them (features drawn into the tiles' canvases, at a low and a high zoom),
a click on a feature opens a popup with the row's values and a link to its row page, and axe-core
finds nothing serious. Without PostGIS the map draws the GeoJSON over the same base map.
Screenshots go to ``var/screenshots/map-*.png``.
"""

from __future__ import annotations

import threading
import uuid

import pytest

from autoapi.public import encode_segment, get_snapshot
from autoapi.web.registry import registry
from tests.catalog.browser import (  # noqa: F401 - browser and page are fixtures
    PHONE,
    assert_accessible,
    browser,
    page,
    screenshot,
    skip_without_browser,
)
from tests.catalog.helpers import page_url
from tests.conftest import connect_superuser

pytestmark = skip_without_browser
EMPIRE_STATE = (40.748440, -73.985664)


@pytest.fixture(scope="module")
def urls(live_server_url):
    def relation(schema, name):
        found = get_snapshot().get(schema, name)
        return live_server_url + page_url(found) if found else None

    return {
        "points": relation("public", "geo_points"),
        "places": relation("public", "places_latlon"),
        "postgis": get_snapshot().extension_schema("postgis") is not None,
        "base": live_server_url,
    }


@pytest.fixture
def schema_changes():
    """``superuser_conn`` for a browser test: its teardown also lets this process's snapshot catch
    up, which Django refuses in the thread where Playwright's event loop runs; here on another."""
    conn = connect_superuser()
    try:
        yield conn
    finally:
        errors = conn.run_teardown()
        conn.close()
        catch_up = threading.Thread(target=registry.refresh_now)
        catch_up.start()
        catch_up.join()
        assert not errors, errors


def url(urls, name: str) -> str:
    if not urls.get(name):
        pytest.skip(f"the fixture database has no relation for {name!r}")
    return urls[name]


def tiles_loaded(page, zoom: int | None = None) -> int:
    """Waits for the tiles on screen (at ``zoom``) and gives the features they drew."""
    selector = "#map-canvas[data-tiles-loaded]" if zoom is None else f'#map-canvas[data-tiles-loaded="{zoom}"]'
    page.wait_for_selector(selector, state="attached", timeout=15000)
    return int(page.get_attribute("#map-canvas", "data-tile-features"))


def painted_pixels(page) -> int:
    """Pixels the vector tiles painted, over every tile canvas on screen."""
    return page.evaluate("""() => [...document.querySelectorAll('#map-canvas .leaflet-tile-pane canvas')]
        .map(c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data)
        .reduce((n, d) => { for (let i = 3; i < d.length; i += 4) { if (d[i]) n++; } return n; }, 0)""")


def base_map_paths(page) -> int:
    page.wait_for_selector("#map-canvas[data-basemap-drawn]", state="attached", timeout=15000)
    return page.locator("#map-canvas .leaflet-basemap-pane svg path").count()


def open_when_published(page, url: str) -> None:
    """Opens a relation the test just made, once the live server publishes it (within its
    refresh interval), at its map."""
    for _ in range(100):
        if page.goto(url).status == 200:
            break
        page.wait_for_timeout(200)
    page.problems.clear()  # the 404s before it was published
    page.locator("#map-canvas").scroll_into_view_if_needed()


def set_view(page, latlng, zoom: int):
    page.evaluate(
        "([lat, lon, zoom]) => document.getElementById('map-canvas').leafletMap"
        ".setView([lat, lon], zoom, {animate: false})",
        [*latlng, zoom],
    )


def click_at(page, latlng):
    """A click where ``latlng`` is on screen."""
    box = page.locator("#map-canvas").bounding_box()
    x, y = page.evaluate(
        "([lat, lon]) => { const p = document.getElementById('map-canvas').leafletMap"
        ".latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }",
        list(latlng),
    )
    page.mouse.click(box["x"] + x, box["y"] + y)


@pytest.mark.spatial
def test_points_from_vector_tiles_over_natural_earth(page, urls):
    page.goto(url(urls, "points"))
    page.locator("#map-canvas").scroll_into_view_if_needed()
    assert tiles_loaded(page) == 3  # Empire State Building, Null Island, Sydney (not the empty point)
    assert painted_pixels(page) > 0
    assert page.get_attribute("#map-canvas", "data-basemap-drawn") == "110m"  # fitted to the world
    assert base_map_paths(page) >= 2  # land with its coastline, the borders
    assert "Every row with a location is drawn, from vector tiles" in page.inner_text("#map-status")
    assert "Made with Natural Earth" in page.inner_text("#map-canvas .leaflet-control-attribution")

    click_at(page, EMPIRE_STATE)
    page.wait_for_selector(".leaflet-popup .map-popup", timeout=5000)
    values = dict(
        zip(
            page.locator(".leaflet-popup .map-popup th").all_inner_texts(),
            page.locator(".leaflet-popup .map-popup td").all_inner_texts(),
        )
    )
    assert values == {"id": "1", "name": "Empire State Building"}
    link = page.locator(".leaflet-popup a.map-row-link")
    assert link.get_attribute("href") == "/catalog/public/geo_points/1/"
    assert_accessible(page)
    screenshot(page, "map-tiles-popup")
    link.click()
    page.wait_for_load_state()
    assert page.url.endswith("/catalog/public/geo_points/1/")
    assert page.locator("h1").inner_text() == "Row 1"
    assert not page.problems, page.problems


@pytest.mark.spatial
def test_tiles_at_a_low_and_a_high_zoom(page, urls):
    page.goto(url(urls, "points"))
    page.locator("#map-canvas").scroll_into_view_if_needed()
    tiles_loaded(page)
    set_view(page, EMPIRE_STATE, 3)
    assert tiles_loaded(page, 3) >= 1 and painted_pixels(page) > 0
    screenshot(page, "map-tiles-zoom-3")

    set_view(page, EMPIRE_STATE, 12)
    assert tiles_loaded(page, 12) == 1  # only the Empire State Building is near
    assert painted_pixels(page) > 0
    page.wait_for_selector('#map-canvas[data-basemap-drawn="10m"]', state="attached", timeout=15000)
    assert base_map_paths(page) >= 1  # Manhattan's coast, at 1:10m
    click_at(page, EMPIRE_STATE)
    page.wait_for_selector(".leaflet-popup a.map-row-link", timeout=5000)
    assert "Empire State Building" in page.inner_text(".leaflet-popup .map-popup")
    assert_accessible(page)
    screenshot(page, "map-tiles-zoom-12")
    assert not page.problems, page.problems


@pytest.mark.spatial
def test_a_bigint_key_past_2_53_links_to_its_own_row(page, urls):
    """The tile holds the key's digits (a JavaScript number would round 9007199254740993 to the
    other row's 9007199254740992)."""
    page.goto(urls["base"] + "/catalog/public/geo_snowflakes/?id=9007199254740993")
    page.locator("#map-canvas").scroll_into_view_if_needed()
    assert tiles_loaded(page) == 1
    click_at(page, (48.8585, 2.2946))
    link = page.locator(".leaflet-popup a.map-row-link")
    link.wait_for(timeout=5000)
    assert link.get_attribute("href") == "/catalog/public/geo_snowflakes/9007199254740993/"
    assert not page.problems, page.problems


@pytest.mark.spatial
def test_latitude_longitude_rows_from_tiles(page, urls):
    page.goto(url(urls, "places") + "?name__icontains=o")  # Sydney Opera House, Unknown, Half known
    page.locator("#map-canvas").scroll_into_view_if_needed()
    assert tiles_loaded(page) == 1 and painted_pixels(page) > 0
    click_at(page, (-33.856784, 151.215297))
    page.wait_for_selector(".leaflet-popup .map-popup", timeout=5000)
    assert "Sydney Opera House" in page.inner_text(".leaflet-popup .map-popup")
    assert page.locator(".leaflet-popup a.map-row-link").get_attribute("href") == "/catalog/public/places_latlon/3/"
    assert_accessible(page)
    page.set_viewport_size(PHONE)
    screenshot(page, "map-tiles-latlon-phone")
    assert not page.problems, page.problems


def test_the_base_map_under_either_kind_of_map(page, urls):
    """Tiles with PostGIS, the GeoJSON without: the base map is the same under both."""
    page.goto(url(urls, "places"))
    page.locator("#map-canvas").scroll_into_view_if_needed()
    if urls["postgis"]:
        assert tiles_loaded(page) == 3
        assert page.locator("#map-canvas .leaflet-overlay-pane .leaflet-interactive").count() == 0
    else:
        page.wait_for_selector("#map-canvas[data-drawn]", state="attached", timeout=15000)
        assert page.get_attribute("#map-canvas", "data-drawn") == "3"
        assert page.locator("#map-canvas[data-tiles-loaded]").count() == 0
    assert base_map_paths(page) >= 2
    assert_accessible(page)
    screenshot(page, "map-base")
    assert not page.problems, page.problems


def test_a_popup_links_to_a_composite_key_tilde_encoded(page, urls, schema_changes):
    """The script encodes the key as the catalog does (autoapi.schema.naming.encode_segment): a value
    with a space, a slash, a comma, a tilde and an accent, and an empty one, joined by a comma."""
    name = f"map_odd_keys_{uuid.uuid4().hex[:6]}"
    schema_changes.at_teardown(f"DROP TABLE IF EXISTS public.{name}")
    schema_changes.execute(
        f"CREATE TABLE public.{name} (code text, part text, latitude float8, longitude float8, "
        "PRIMARY KEY (code, part))"
    )
    schema_changes.execute(f"INSERT INTO public.{name} VALUES ('a b/é,~', '', %s, %s)", EMPIRE_STATE)
    schema_changes.execute(f"GRANT SELECT ON public.{name} TO portal_reader")
    open_when_published(page, urls["base"] + f"/catalog/public/{name}/")
    if urls["postgis"]:
        assert tiles_loaded(page) == 1
    else:
        page.wait_for_selector("#map-canvas[data-drawn]", state="attached", timeout=15000)
    click_at(page, EMPIRE_STATE)
    link = page.locator(".leaflet-popup a.map-row-link")
    link.wait_for(timeout=5000)
    expected = f"/catalog/public/{name}/" + ",".join(encode_segment(v) for v in ("a b/é,~", ""))
    assert link.get_attribute("href") == expected + "/" == f"/catalog/public/{name}/a~20b~2F~C3~A9~2C~7E,~/"
    link.click()
    page.wait_for_load_state()
    assert page.url == urls["base"] + expected + "/"
    assert "a b/é,~" in page.inner_text("main")
    assert not page.problems, page.problems
