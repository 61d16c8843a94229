"""The catalog in a real browser: headless Chromium (Debian's ``chromium``, driven by Playwright's
Python package with that executable; ``playwright install`` is never needed) loads the home page,
a relation page with a map and a filtered preview, checks what a reader sees, clicks a sort
header, uses the add-a-filter form, and runs axe-core (npm, ``make install-js``) on each page:
no serious or critical violation is allowed. Screenshots go to ``var/screenshots/``.

Skipped, with the reason, when Chromium, Playwright or ``node_modules/axe-core`` is missing;
``make test`` installs all three. The set-up is shared with the other browser tests
(``tests/catalog/browser.py``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from autoapi.public import get_snapshot
from tests.catalog.browser import (  # noqa: F401 - browser and page are fixtures
    DESKTOP,
    PHONE,
    assert_accessible,
    browser,
    page,
    screenshot,
    skip_without_browser,
)
from tests.catalog.helpers import page_url

pytestmark = skip_without_browser


@pytest.fixture(scope="module")
def urls(live_server_url):
    """Page URLs, resolved before the browser starts: Playwright's sync API keeps an event loop
    running in this thread, where Django refuses to query the database."""

    def relation(schema, name):
        found = get_snapshot().get(schema, name)
        return live_server_url + page_url(found) if found else None

    return {
        "home": live_server_url + "/",
        "places": relation("public", "places_latlon"),
        "polygons": relation("public", "geo_polygons_2263"),
        "big": relation("public", "big_2500"),
        "fk_simple": relation("public", "fk_simple"),
        "single_pk": relation("public", "single_pk"),
    }


def url(urls, name: str) -> str:
    if not urls.get(name):
        pytest.skip(f"the fixture database has no relation for {name!r}")
    return urls[name]


def test_home_page(page, urls):
    page.goto(urls["home"])
    assert page.locator("h1").inner_text() == "Data catalog"
    assert page.locator("table.relations tbody tr").count() > 10
    headers = page.locator("table.relations thead th").all_inner_texts()
    assert "Map" in headers
    # The home page lists the first relations of each schema (then "and N more"): a search finds any.
    page.goto(urls["home"] + "?q=places_latlon")
    places = page.locator("tr", has=page.locator(f'a[href="{urlsplit(url(urls, "places")).path}"]'))
    assert places.locator("td").nth(4).inner_text() == "yes"
    page.goto(urls["home"])
    page.fill("#q", "latitude")
    page.click("button:has-text('Search')")
    page.wait_for_load_state()
    assert "q=latitude" in page.url and page.locator("table.relations tbody tr").count() >= 1
    assert_accessible(page)
    screenshot(page, "home-search")
    page.goto(urls["home"])
    assert_accessible(page)
    screenshot(page, "home")
    page.set_viewport_size(PHONE)
    screenshot(page, "home-phone")
    assert not page.problems, page.problems


def _wait_for_map(page) -> str:
    page.wait_for_selector("#map-canvas[data-drawn]", timeout=15000)
    return page.get_attribute("#map-canvas", "data-drawn")


def _wait_for_tiles(page) -> int:
    page.wait_for_selector("#map-canvas[data-tiles-loaded]", state="attached", timeout=15000)
    return int(page.get_attribute("#map-canvas", "data-tile-features"))


def test_relation_page_with_a_map(page, urls):
    page.goto(url(urls, "places"))  # 5 rows, 3 with both latitude and longitude
    assert page.locator("h1").inner_text() == "places_latlon"
    if page.get_attribute("#map-canvas", "data-vector-tiles"):  # PostGIS: tiles (test_map_browser.py)
        assert _wait_for_tiles(page) == 3
        assert "Every row with a location is drawn" in page.inner_text("#map-status")
    else:  # the GeoJSON, drawn as SVG
        assert _wait_for_map(page) == "3"
        assert page.locator("#map-canvas .leaflet-interactive").count() == 3
        assert "3 of 5 rows drawn" in page.inner_text("#map-status")
        page.locator("#map-canvas").scroll_into_view_if_needed()
        point = page.locator("#map-canvas .leaflet-interactive").first.bounding_box()
        page.mouse.click(point["x"] + point["width"] / 2, point["y"] + point["height"] / 2)
        page.wait_for_selector(".leaflet-popup .map-popup", timeout=5000)
        assert page.locator(".leaflet-popup .map-popup th", has_text="name").count() == 1
        assert (
            page.locator(".leaflet-popup a.map-row-link")
            .get_attribute("href")
            .startswith("/catalog/public/places_latlon/")
        )
    assert page.locator("#map-canvas .map-fallback").count() == 0  # the script replaced the fallback
    assert page.locator("table.dictionary svg[role=img]").count() >= 1  # histograms of latitude, longitude
    assert_accessible(page)
    screenshot(page, "relation-map")
    page.set_viewport_size(PHONE)
    screenshot(page, "relation-map-phone")
    assert not page.problems, page.problems


@pytest.mark.spatial
def test_relation_page_with_a_postgis_map(page, urls):
    page.goto(url(urls, "polygons"))  # New York State Plane: tiles in Web Mercator
    assert _wait_for_tiles(page) == 2  # two polygons, the third has no geometry
    zoom = page.evaluate("() => document.getElementById('map-canvas').leafletMap.getZoom()")
    assert zoom >= 12  # fitted to the shapes, not a dot on a world map
    assert_accessible(page)
    screenshot(page, "relation-postgis-map")
    assert not page.problems, page.problems


def test_filtered_preview_sort_header_and_filter_form(page, urls):
    page.goto(url(urls, "big") + "?id__gt=2490&ordering=-id")
    assert "Showing the rows where id > 2490." in page.inner_text(".active-filters")
    assert "Rows 1–10 of 10 matching" in page.inner_text(".row-count")
    first = page.locator("table.preview tbody tr").first.locator("td").first.inner_text()
    assert first == "2500"
    assert_accessible(page)
    screenshot(page, "filtered-preview")

    page.click("table.preview thead a.sort-link:has-text('label')")
    page.wait_for_load_state()
    assert "ordering=label" in page.url and "id__gt=2490" in page.url
    assert page.get_attribute("table.preview thead th[aria-sort]", "aria-sort") == "ascending"
    assert page.locator("table.preview tbody tr").first.locator("td").nth(1).inner_text() == "row 2491"

    # The add-a-filter form: the script offers only the conditions the chosen column takes.
    page.locator("details.add-filter summary").click()
    page.select_option("#filter-column", "created")
    assert page.locator("#filter-lookup option[value=icontains]").is_disabled()
    page.select_option("#filter-column", "label")
    page.select_option("#filter-lookup", "endswith")
    page.fill("#filter-value", "5")
    page.click("button:has-text('Add filter')")
    page.wait_for_load_state()
    assert "label__endswith=5" in page.url
    assert "label ends with “5”" in page.inner_text(".active-filters")
    assert "Rows 1–1 of 1 matching" in page.inner_text(".row-count")
    assert_accessible(page)
    page.set_viewport_size(PHONE)
    screenshot(page, "filtered-preview-phone")
    assert not page.problems, page.problems


def test_row_page(page, urls):
    page.goto(url(urls, "fk_simple") + "1/")
    assert page.locator("h1").inner_text() == "Row 1"
    link = page.locator("dl.row-values dd a").first
    assert link.inner_text().startswith("1")
    link.click()
    page.wait_for_load_state()
    assert page.url == url(urls, "single_pk") + "1/"
    assert_accessible(page)
    screenshot(page, "row")
    assert not page.problems, page.problems


def test_pages_work_without_javascript(browser, urls):
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(url(urls, "places"))
        assert "The map is drawn by JavaScript" in page.inner_text("#map-canvas")
        assert page.locator("table.preview tbody tr").count() == 5
        page.select_option("#filter-column", "name")
        page.select_option("#filter-lookup", "icontains")
        page.fill("#filter-value", "island")
        page.click("button:has-text('Add filter')")
        page.wait_for_load_state()
        assert "name__icontains=island" in page.url
        assert page.locator("table.preview tbody tr").count() == 1
        screenshot(page, "no-javascript")
    finally:
        context.close()
