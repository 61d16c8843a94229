"""The facet charts, without a browser: Chart.js served from static/ (only its dist/ folder of
node_modules), the chart scripts only on a page with facets and only when Chart.js is installed,
and each chart's figure pointing at an aggregate API answer that has the counts its list shows."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest

from autoapi.web.responsecache import pages
from catalog import sections
from tests.catalog.helpers import page_url, relation_named, text

ROOT = Path(__file__).resolve().parents[2]
CHARTJS = ROOT / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js"
CHART_SCRIPTS = re.compile(
    r'<script src="(/static/(?:vendor/chartjs/chart\.umd\.min|catalog/charts)\.[0-9a-f]{12}\.js)" defer></script>'
)


def figures(body: str) -> list[dict]:
    """Each chart figure's data- attributes, with the count of values the list after it shows."""
    found = []
    for match in re.finditer(
        r'<figure class="facet-chart"(.*?)>.*?<ul class="facet-values[^"]*"[^>]*>(.*?)</ul>', body, re.S
    ):
        attributes = {name: unescape(value) for name, value in re.findall(r'(data-[a-z]+)="([^"]*)"', match.group(1))}
        attributes["listed"] = match.group(2).count("<li")
        found.append(attributes)
    return found


def content(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.skipif(not CHARTJS.exists(), reason="node_modules/chart.js is missing (make install-js)")
def test_chartjs_is_served_from_static_and_nothing_else_of_node_modules(client):
    body = text(client.get(page_url(relation_named("public", "agg_sales"))))
    scripts = CHART_SCRIPTS.findall(body)
    assert len(scripts) == 2, scripts
    assert scripts[0].startswith("/static/vendor/chartjs/")  # the library before the script that uses it
    for path in scripts:
        response = client.get(path)
        assert response.status_code == 200, path
        content(response)
    for path in (
        "/static/vendor/chartjs/package.json",
        "/static/vendor/chartjs/README.md",
        "/static/vendor/@kurkle/color/package.json",
        "/static/vendor/chart.js/package.json",
    ):
        assert client.get(path).status_code == 404, path


def test_chart_scripts_come_with_facets_counted_after_the_page(client):
    body = text(client.get(page_url(relation_named("sales", "customer_totals")), {"_facet": "n_orders"}))
    assert "data-facets-url=" in body and not figures(body)  # a view: the facets come from the fragment
    if CHARTJS.exists():
        assert len(CHART_SCRIPTS.findall(body)) == 2


def test_figures_point_at_the_counts_their_lists_show(client):
    body = text(client.get(page_url(relation_named("public", "agg_sales")), {"_facet": "region"}))
    charts = {f["data-key"]: f for f in figures(body)}
    assert set(charts) >= {"region", "channel", "open", "sold_at__month"}, charts
    assert charts["sold_at__month"]["data-kind"] == "line" and charts["channel"]["data-kind"] == "bar"
    for key, figure in charts.items():
        assert figure["data-shown"] == str(figure["listed"]), key
        response = client.get(figure["data-api"])
        assert response.status_code == 200, figure["data-api"]
        results = json.loads(content(response))["results"]
        assert len(results) >= figure["listed"] and all(key in row and "count" in row for row in results), key
    assert sum(row["count"] for row in json.loads(content(client.get(charts["region"]["data-api"])))["results"]) == 60


def test_no_chart_script_without_chartjs_or_without_facets(client, settings, monkeypatch):
    settings.PORTAL = {**settings.PORTAL, "CATALOG_CACHE_SECONDS": 0}  # pages rendered afresh
    pages.clear()
    sales = page_url(relation_named("public", "agg_sales"))
    monkeypatch.setattr(sections, "chartjs_installed", lambda: False)
    body = text(client.get(sales))
    assert figures(body) and not CHART_SCRIPTS.findall(body)  # the figures stay hidden, the lists show
    assert all(" hidden>" in f for f in re.findall(r'<figure class="facet-chart".*?>', body))
    monkeypatch.setattr(sections, "chartjs_installed", lambda: True)
    failing = text(client.get(sales, {"id__gt": "many"}))  # a 400 page: no preview, no facets
    assert not figures(failing) and not CHART_SCRIPTS.findall(failing)
