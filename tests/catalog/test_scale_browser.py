"""At size, in a real browser under the Content-Security-Policy: /api/docs/ with the per-relation
OpenAPI documents (a server whose OPENAPI_INLINE_RELATIONS is 1, so the fixture database is
"large") shows the schema and relation picker and loads a relation's operations from its own
document; a schema's paged list and the home page's "more" links work; no violation, no error.
Skipped like test_browser.py."""

from __future__ import annotations

import json

import pytest

from tests.catalog.browser import (  # noqa: F401 - browser and page are fixtures
    browser,
    csp_violations,
    page,
    screenshot,
    skip_without_browser,
)
from tests.conftest import running_server

pytestmark = skip_without_browser


@pytest.fixture(scope="module")
def urls(pg_cluster, tmp_path_factory):
    env = {"PORTAL_OPENAPI_INLINE_RELATIONS": "1", "PORTAL_HOME_RELATIONS": "3", "PORTAL_CATALOG_PAGE_SIZE": "5"}
    with running_server(tmp_path_factory.mktemp("scale_browser"), env_overrides=env) as base:
        yield {"base": base}


def clean(page):
    assert not csp_violations(page), csp_violations(page)
    assert not page.problems, page.problems


def test_docs_pick_a_relation_and_load_its_document(page, urls):
    page.goto(urls["base"] + "/api/docs/")
    page.wait_for_selector("#relation-picker:not([hidden])", timeout=30000)
    page.select_option("#pick-schema", "public")
    page.fill("#pick-relation", "agg_sales")
    page.click("#relation-picker button[type=submit]")
    # The index's own tags are on the page already: wait until the relation's document is loaded
    # and its operation's tag is drawn, then open that tag (not whichever tag comes first).
    tag = page.wait_for_function(
        """() => {
            const specs = window.ui && window.ui.specSelectors;
            if (!specs || specs.url() !== "/api/schema/public/agg_sales/openapi.json") return false;
            const operation = specs.paths() && specs.paths().getIn(["/api/public/agg_sales/", "get"]);
            if (!operation) return false;
            const tag = operation.get("tags").first();
            const drawn = [...document.querySelectorAll("#swagger-ui .opblock-tag")];
            return drawn.some((element) => element.dataset.tag === tag) && tag;
        }""",
        timeout=30000,
    ).json_value()
    page.locator(f"#swagger-ui .opblock-tag[data-tag={json.dumps(tag)}]").first.click()
    page.wait_for_selector("#swagger-ui .opblock-summary-path[data-path='/api/public/agg_sales/']", timeout=40000)
    assert page.text_content("#pick-url") == "/api/schema/public/agg_sales/openapi.json"
    screenshot(page, "api-docs-picker")
    clean(page)


def test_home_more_links_and_schema_pages(page, urls):
    page.goto(urls["base"] + "/")
    more = page.locator("p.more a").first
    assert "more" in more.inner_text()
    more.click()
    page.wait_for_selector("nav.pager a[rel=next]")
    assert page.locator("table.relations tbody tr").count() == 5
    page.click("nav.pager a[rel=next]")
    page.wait_for_selector("nav.pager a[rel=prev]")
    assert "page 2 of" in page.inner_text("main")
    page.fill("#q", "agg")
    page.click("form.search button[type=submit]")
    page.wait_for_selector("p.result-count")
    assert "matching “agg”" in page.inner_text("main")
    screenshot(page, "schema-list")
    clean(page)
