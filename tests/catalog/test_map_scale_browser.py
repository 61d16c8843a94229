"""The catalog's map of the benchmark's 2,000,000-point relation (``bench.points``, made by
``bench/data.py``'s own SQL) in a real browser: vector tiles are drawn at zoom 3 (far more rows
than the 1,000 a GeoJSON map could show) and at zoom 12, and a click on a row opens a popup with
that row's values as PostgreSQL has them. Skipped without PostGIS.
"""

from __future__ import annotations

import threading

import pytest

from autoapi.web.registry import registry
from bench.data import POINTS_SQL
from tests.catalog.browser import assert_accessible, browser, page, screenshot, skip_without_browser  # noqa: F401
from tests.catalog.test_map_browser import click_at, open_when_published, painted_pixels, set_view, tiles_loaded
from tests.conftest import connect_superuser, has_postgis

pytestmark = [skip_without_browser, pytest.mark.spatial]


@pytest.fixture(scope="module")
def bench_points():
    """bench.points in the fixture database for this module (about 20 s to generate and index)."""
    if not has_postgis():
        pytest.skip("needs PostGIS")
    conn = connect_superuser()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT quote_ident(n.nspname) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                "WHERE e.extname = 'postgis'"
            )
            cur.execute(f"SET search_path = public, {cur.fetchone()[0]}")
            cur.execute("SET maintenance_work_mem = '512MB'")
            cur.execute("DROP SCHEMA IF EXISTS bench CASCADE")
            cur.execute(POINTS_SQL)
            cur.execute("ANALYZE bench.points")
            cur.execute("GRANT USAGE ON SCHEMA bench TO portal_reader; GRANT SELECT ON bench.points TO portal_reader")
        yield conn
    finally:
        with conn.cursor() as cur:
            cur.execute("DROP SCHEMA IF EXISTS bench CASCADE")
        conn.close()
        catch_up = threading.Thread(target=registry.refresh_now)  # not on Playwright's event-loop thread
        catch_up.start()
        catch_up.join()


@pytest.fixture(scope="module")
def urls(live_server_url, bench_points):
    """What the browser fixture waits for: the server, and the relation in the database."""
    return {"base": live_server_url}


def test_two_million_points_drawn_from_tiles_at_zoom_3_and_12(page, urls, bench_points):
    with bench_points.cursor() as cur:
        # PostGIS is on this connection's search_path (the fixture set it).
        cur.execute(
            "SELECT id, name, category, amount::text, ST_Y(geom), ST_X(geom) FROM bench.points "
            "WHERE ST_Y(geom) BETWEEN 20 AND 60 ORDER BY id LIMIT 1"
        )
        row_id, name, category, amount, lat, lon = cur.fetchone()
    open_when_published(page, urls["base"] + "/catalog/bench/points/")
    tiles_loaded(page)

    set_view(page, (lat, lon), 3)
    drawn = tiles_loaded(page, 3)
    # Each tile on screen holds up to TILE_FEATURE_LIMIT (10,000) of the ~31,000 rows under it.
    assert drawn > 20_000, drawn
    assert painted_pixels(page) > 10_000
    assert page.get_attribute("#map-canvas", "data-tiles-truncated") == "true"
    assert "a tile draws 10,000 of them: zoom in to see every row" in page.inner_text("#map-status")
    screenshot(page, "map-2m-zoom-3")

    set_view(page, (lat, lon), 12)
    drawn = tiles_loaded(page, 12)
    assert 1 <= drawn < 50, drawn  # ~0.12 of the 2,000,000 rows per zoom-12 tile
    assert page.get_attribute("#map-canvas", "data-tiles-truncated") == "false"
    assert "Every row with a location is drawn" in page.inner_text("#map-status")
    click_at(page, (lat, lon))
    page.wait_for_selector(".leaflet-popup .map-popup", timeout=5000)
    values = dict(
        zip(
            page.locator(".leaflet-popup .map-popup th").all_inner_texts(),
            page.locator(".leaflet-popup .map-popup td").all_inner_texts(),
        )
    )
    assert values["id"] == str(row_id) and values["name"] == name
    assert values["category"] == str(category) and values["amount"] == (amount or "")
    assert page.locator(".leaflet-popup a.map-row-link").get_attribute("href") == f"/catalog/bench/points/{row_id}/"
    assert_accessible(page)
    screenshot(page, "map-2m-zoom-12")
    assert not page.problems, page.problems
