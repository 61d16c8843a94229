"""Approximate facets in a real browser (catalog/facet_estimates.py), on a portal of its own whose
facets never count within their time limit (``PORTAL_FACET_TIME_LIMIT_MS=1``) over a table of
60,000 rows: the page's script fetches the facets fragment, its counts are marked "≈" with a title
saying how they were estimated, each chart draws the estimates it carries (``data-counts``) without
asking the API to count every row, nothing breaks the Content-Security-Policy, and axe-core finds
no serious or critical violation. Skipped like tests/catalog/test_browser.py."""

from __future__ import annotations

import pytest

from tests.catalog.browser import (  # noqa: F401 - browser and page are fixtures
    assert_accessible,
    browser,
    csp_violations,
    page,
    screenshot,
    skip_without_browser,
)
from tests.conftest import connect_superuser, running_server

pytestmark = skip_without_browser
TABLE = "browser_sampled_facets"


@pytest.fixture(scope="module")
def urls(pg_cluster, tmp_path_factory):
    conn = connect_superuser()
    conn.execute(f"DROP TABLE IF EXISTS public.{TABLE}")
    conn.execute(
        f"CREATE TABLE public.{TABLE} AS SELECT g AS id, g % 3 AS kind, g % 2 = 0 AS even, "
        "date '2020-01-01' + (g % 900) AS day FROM generate_series(1, 60000) AS g"
    )
    conn.execute(f"ANALYZE public.{TABLE}")
    conn.execute(f"GRANT SELECT ON public.{TABLE} TO portal_reader")
    env = {
        "PORTAL_FACET_TIME_LIMIT_MS": "1",  # no GROUP BY of 60,000 rows is that quick
        "PORTAL_FACET_SAMPLE_ROWS": "20000",  # a third of the table's pages
        "PORTAL_FACET_INLINE_ROWS": "1000",  # the facets come from the fragment, fetched by facets.js
    }
    try:
        with running_server(tmp_path_factory.mktemp("estimates_server"), env, workers=1) as base:
            yield {"table": f"{base}/catalog/public/{TABLE}/"}
    finally:
        conn.execute(f"DROP TABLE IF EXISTS public.{TABLE}")
        conn.close()


def test_approximate_facets_are_marked_and_charted_from_their_estimates(page, urls):
    asked = []
    page.on("request", lambda r: asked.append(r.url))
    page.goto(urls["table"] + "?kind=1")  # filtered: the statistics cannot stand in, a sample does
    page.wait_for_selector(".facets[data-facets=loaded]", timeout=20000)
    notes = page.locator(".facet-approximate").all_inner_texts()
    assert notes and all("Approximate counts (≈)" in note for note in notes), notes
    counts = page.locator(".facet-count")
    assert counts.count() > 0
    for i in range(counts.count()):
        assert counts.nth(i).inner_text().startswith("≈ ")
        assert counts.nth(i).get_attribute("title").startswith("Estimated from ")
    # Charts (when Chart.js is installed) draw the listed estimates, never an exact count of every row.
    figures = page.locator("figure.facet-chart")
    if page.evaluate("() => !!window.Chart"):
        page.wait_for_function(
            "() => [...document.querySelectorAll('figure.facet-chart')].every(f => f.dataset.drawn)", timeout=15000
        )
        for i in range(figures.count()):
            figure = figures.nth(i)
            assert figure.get_attribute("data-drawn") == "true"
            drawn = page.evaluate(
                "f => Chart.getChart(f.querySelector('canvas')).data.datasets[0].data", figure.element_handle()
            )
            listed = figure.locator("xpath=..").locator(".facet-count").all_inner_texts()
            assert drawn == [int(t.removeprefix("≈ ").replace(",", "")) for t in listed]
    assert not [url for url in asked if "group_by=" in url], asked
    assert csp_violations(page) == [] and not page.problems, (csp_violations(page), page.problems)
    assert_accessible(page)
    screenshot(page, "facets-approximate")
