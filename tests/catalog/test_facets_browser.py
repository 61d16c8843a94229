"""Facets in a real browser, on ``public.agg_sales`` (60 sales; region text with NULLs, channel
an enum web/shop/phone, open a boolean with NULLs, sold_at timestamps over eleven months): each
chart is drawn by static/catalog/charts.js from the aggregate API, the value links narrow the
preview (OR within a facet, a chosen value taken out again), a chart whose API call fails stays
hidden, charts of facets that arrive after the page (a view's, fetched by facets.js) are drawn
too, and axe-core finds no serious or critical violation at desktop and phone width.
Screenshots go to ``var/screenshots/``. Skipped like tests/catalog/test_browser.py."""

from __future__ import annotations

import pytest

from autoapi.public import get_snapshot
from tests.catalog.browser import (  # noqa: F401 - browser and page are fixtures
    PHONE,
    SCREENSHOTS,
    assert_accessible,
    browser,
    page,
    screenshot,
    skip_without_browser,
)
from tests.catalog.helpers import page_url

pytestmark = skip_without_browser
MONTHS = ["2023-12", *(f"2024-{m:02d}" for m in range(1, 11))]


@pytest.fixture(scope="module")
def urls(live_server_url):
    """Resolved before the browser starts (see tests/catalog/browser.py)."""
    sales, totals = get_snapshot().get("public", "agg_sales"), get_snapshot().get("sales", "customer_totals")
    if sales is None or totals is None:
        pytest.skip("the fixture database publishes no public.agg_sales or sales.customer_totals")
    return {"sales": live_server_url + page_url(sales), "view": live_server_url + page_url(totals)}


def wait_for_charts(page) -> dict:
    """Each chart's data-drawn once every one has settled, by its data-key."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('figure.facet-chart')].every(f => f.dataset.drawn)", timeout=15000
    )
    return page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('figure.facet-chart')].map(f => [f.dataset.key, f.dataset.drawn]))"
    )


def chart(page, key: str) -> dict:
    """What Chart.js drew for one facet, and the size of its canvas."""
    return page.evaluate(
        """key => {
        const canvas = document.querySelector(`figure.facet-chart[data-key="${key}"] canvas`);
        const drawn = Chart.getChart(canvas);
        return {type: drawn.config.type, labels: drawn.data.labels, counts: drawn.data.datasets[0].data,
                width: canvas.clientWidth, height: canvas.clientHeight};
    }""",
        key,
    )


def facet(page, key: str):
    return page.locator("section.facet", has=page.locator(f'figure[data-key="{key}"]'))


def choose(page, key: str, value: str):
    facet(page, key).locator("ul.facet-values a", has_text=value).click()
    page.wait_for_load_state()


def row_count(page) -> str:
    return page.inner_text(".row-count")


def test_facet_charts_are_drawn(page, urls):
    page.goto(urls["sales"] + "?_facet=region")
    assert page.locator("section.facet h4").all_inner_texts()[:1] == ["region"]
    drawn = wait_for_charts(page)
    assert drawn == {"region": "true", "open": "true", "channel": "true", "sold_at__month": "true"}, drawn
    for key in drawn:
        figure = page.locator(f'figure[data-key="{key}"]')
        assert figure.is_visible()
        shown = chart(page, key)
        assert shown["width"] > 0 and shown["height"] > 0, (key, shown)
        assert 0 < shown["height"] <= 180, (key, shown)  # small beside its list
        assert sum(shown["counts"]) == 60, (key, shown)
    region = chart(page, "region")
    assert region["type"] == "bar" and set(region["labels"]) == {"=east", "north", "south", "null"}
    assert sorted(region["counts"], reverse=True) == region["counts"]  # by count, as the list
    months = chart(page, "sold_at__month")
    assert months["type"] == "line" and months["labels"] == MONTHS  # in order, trimmed to the month
    # The chart and the list beside it carry the same numbers.
    listed = facet(page, "channel").locator(".facet-count").all_inner_texts()
    assert [int(n.replace(",", "")) for n in listed] == chart(page, "channel")["counts"]
    screenshot(page, "facets")
    assert not page.problems, page.problems


def test_facet_links_narrow_the_preview(page, urls):
    page.goto(urls["sales"])
    assert "of 60." in row_count(page)
    choose(page, "channel", "web")
    assert "channel=web" in page.url and "of 20 matching" in row_count(page)
    selected = facet(page, "channel").locator("li.selected a")
    assert selected.count() == 1 and selected.get_attribute("aria-current") == "true"
    choose(page, "channel", "shop")  # a second value of the same facet: either one
    assert "channel__in=web,shop" in page.url and "of 40 matching" in row_count(page)
    assert facet(page, "channel").locator("li.selected").count() == 2
    choose(page, "channel", "web")  # chosen already: taken out
    assert "channel=shop" in page.url and "channel__in" not in page.url and "web" not in page.url
    assert "of 20 matching" in row_count(page)
    # Each facet counts the rows of the other filters: channel still offers every channel, the
    # other charts count the 20 shop sales.
    assert set(wait_for_charts(page).values()) == {"true"}
    assert sorted(chart(page, "channel")["labels"]) == ["phone", "shop", "web"]
    assert sum(chart(page, "open")["counts"]) == 20 and sum(chart(page, "sold_at__month")["counts"]) == 20
    assert not page.problems, page.problems


def test_a_chart_that_cannot_load_stays_hidden(page, urls):
    page.route("**/api/**group_by=channel**", lambda route: route.fulfill(status=503, body="{}"))
    page.goto(urls["sales"])
    drawn = wait_for_charts(page)
    assert drawn["channel"] == "failed" and drawn["open"] == "true", drawn
    assert not page.locator('figure[data-key="channel"]').is_visible()
    assert "could not be drawn" in facet(page, "channel").inner_text()
    assert facet(page, "channel").locator(".facet-count").count() == 3  # the numbers are still there
    assert [p for p in page.problems if "group_by=channel" not in p] == [], page.problems


def test_charts_of_facets_that_arrive_after_the_page(page, urls):
    page.goto(urls["view"] + "?_facet=n_orders")  # a view's size is unknown: its facets come from facets.js
    page.wait_for_selector(".facets[data-facets=loaded]", timeout=15000)
    assert wait_for_charts(page) == {"n_orders": "true"}
    shown = chart(page, "n_orders")
    assert shown["type"] == "bar" and shown["height"] > 0 and sum(shown["counts"]) > 0
    assert not page.problems, page.problems


def test_facets_are_accessible_at_desktop_and_phone_width(page, urls):
    page.goto(urls["sales"] + "?_facet=region&channel=web")
    assert set(wait_for_charts(page).values()) == {"true"}
    assert_accessible(page)
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(200)  # Chart.js redraws on resize
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]  # nothing wider than a phone
    assert_accessible(page)
    page.locator("div.facets").screenshot(path=str(SCREENSHOTS / "facets-phone.png"))
    assert not page.problems, page.problems
