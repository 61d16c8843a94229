"""The pages under their Content-Security-Policy (portal/middleware.py) in a real browser: the
catalog's home, a relation page with its map, facets and charts, a row page, the OGC items and
item pages with their map, and the API docs (Swagger UI) all work, and Chromium reports no
violation (``csp_violations`` and console errors, tests/catalog/browser.py). A row whose ``links``
hold a ``javascript:`` URL shows it as text, never as a link. Skipped like test_browser.py."""

from __future__ import annotations

import json
import threading

import pytest

from autoapi.public import get_snapshot
from autoapi.web.registry import registry
from tests.catalog.browser import (  # noqa: F401 - browser and page are fixtures
    assert_accessible,
    browser,
    csp_violations,
    page,
    screenshot,
    skip_without_browser,
)
from tests.catalog.helpers import page_url
from tests.conftest import connect_superuser

pytestmark = skip_without_browser
HOSTILE = "csp_hostile"


@pytest.fixture(scope="module")
def urls(live_server_url):
    """Page URLs (resolved before the browser starts), and a table holding script links."""
    conn = connect_superuser()
    conn.at_teardown(f"DROP TABLE IF EXISTS public.{HOSTILE}")
    conn.execute(
        f"CREATE TABLE public.{HOSTILE} (id int PRIMARY KEY, note text, links jsonb, latitude float8, longitude float8)"
    )
    conn.execute(
        f"INSERT INTO public.{HOSTILE} VALUES (1, 'javascript:alert(2)', %s, 40.7, -74.0), "
        "(2, 'https://example.org/ok', '[\"odd\", 1, null]', 40.8, -73.9)",
        (json.dumps([{"href": "javascript:alert(1)", "rel": "x", "title": "click me"}]),),
    )
    conn.execute(f"GRANT SELECT ON public.{HOSTILE} TO portal_reader")
    places, sales = get_snapshot().get("public", "places_latlon"), get_snapshot().get("public", "agg_sales")
    if places is None or sales is None:
        pytest.skip("the fixture database publishes no public.places_latlon or public.agg_sales")
    try:
        yield {
            "base": live_server_url,
            "places": live_server_url + page_url(places),
            "sales": live_server_url + page_url(sales),
        }
    finally:
        errors = conn.run_teardown()
        conn.close()
        catch_up = threading.Thread(target=registry.refresh_now)
        catch_up.start()
        catch_up.join()
        assert not errors, errors


def clean(page):
    assert not csp_violations(page), csp_violations(page)
    assert not page.problems, page.problems


def drawn(page) -> str:
    page.wait_for_selector("#map-canvas[data-drawn]", state="attached", timeout=15000)
    return page.get_attribute("#map-canvas", "data-drawn")


def test_home_and_search(page, urls):
    page.goto(urls["base"] + "/")
    page.fill("#q", "latitude")
    page.click("button:has-text('Search')")
    page.wait_for_load_state()
    assert "q=latitude" in page.url and page.locator("table.relations tbody tr").count() >= 1
    clean(page)


def test_relation_page_with_its_map_and_a_row_page(page, urls):
    page.goto(urls["places"])
    page.locator("#map-canvas").scroll_into_view_if_needed()
    if page.get_attribute("#map-canvas", "data-vector-tiles"):
        page.wait_for_selector("#map-canvas[data-tiles-loaded]", state="attached", timeout=15000)
        assert int(page.get_attribute("#map-canvas", "data-tile-features")) > 0
    else:
        assert int(drawn(page)) > 0
    assert page.locator("#map-canvas .leaflet-pane").count() > 0  # Leaflet's styles apply (CSSOM, allowed)
    page.goto(urls["places"] + "1/")
    assert page.locator("dl.row-values").count() == 1
    clean(page)


def test_facets_and_charts(page, urls):
    page.goto(urls["sales"])
    page.wait_for_function(
        "() => [...document.querySelectorAll('figure.facet-chart')].every(f => f.dataset.drawn)", timeout=15000
    )
    drawn_charts = page.evaluate("() => [...document.querySelectorAll('figure.facet-chart')].map(f => f.dataset.drawn)")
    assert drawn_charts and set(drawn_charts) == {"true"}
    bars = page.locator(".common-bar rect")
    if bars.count():  # the profiles' common-value bars: SVG, no style attribute
        assert float(bars.first.get_attribute("width")) > 0
    clean(page)


def test_ogc_items_and_item_pages(page, urls):
    page.goto(urls["base"] + "/ogc/collections/public.places_latlon/items?f=html&limit=2")
    assert page.locator("table.preview tbody tr").count() == 2
    assert int(drawn(page)) >= 1
    assert_accessible(page)
    page.click("a[rel=next]")
    page.wait_for_load_state()
    assert ("offset=2" in page.url or "cursor=" in page.url) and page.locator("table.preview tbody tr").count() >= 1
    page.locator("table.preview th.row-link a").first.click()
    page.wait_for_load_state()
    assert drawn(page) == "1" and page.locator("dl.row-values").count() == 1
    assert page.evaluate("() => document.getElementById('map-canvas').leafletMap.getZoom()") <= 9
    assert_accessible(page)
    screenshot(page, "ogc-item")
    clean(page)


def test_a_script_link_from_data_is_text(page, urls):
    items = urls["base"] + f"/ogc/collections/public.{HOSTILE}/items?f=html"
    for _ in range(100):  # published within the live server's refresh interval
        if page.goto(items).status == 200:
            break
        page.wait_for_timeout(200)
    page.problems.clear()
    assert int(drawn(page)) == 2
    assert page.locator("a[href^='javascript' i], a[href^='data' i]").count() == 0
    assert "javascript:alert(1)" in page.inner_text("main") and "javascript:alert(2)" in page.inner_text("main")
    assert page.locator("a[href='https://example.org/ok']").count() == 1
    screenshot(page, "ogc-items-hostile")
    page.goto(urls["base"] + f"/ogc/collections/public.{HOSTILE}/items/1?f=html")
    assert page.locator("a[href^='javascript' i]").count() == 0 and "javascript:alert(1)" in page.inner_text("main")
    clean(page)


def test_swagger_ui(page, urls):
    page.goto(urls["base"] + "/api/docs/")
    page.wait_for_selector("#swagger-ui .opblock-tag", timeout=30000)  # tags drawn, collapsed (docExpansion none)
    assert page.locator("#swagger-ui .opblock-tag").count() >= 2
    page.locator("#swagger-ui .opblock-tag").first.click()
    page.wait_for_selector("#swagger-ui .opblock", timeout=10000)
    clean(page)


def test_recent_changes_page_and_its_older_pages(page, urls):
    page.goto(urls["base"] + "/changes/")
    assert page.locator("h1").inner_text() == "Recent changes"
    assert_accessible(page)
    clean(page)
    page.goto(urls["base"] + "/changes/?before=1")
    assert "No older changes" in page.locator("main").inner_text()
    clean(page)
