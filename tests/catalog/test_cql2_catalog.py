"""The catalog and CQL2: a ``?filter=`` said in words with a link removing it, the preview, facets
and downloads following it, and the add-a-filter form's "or" writing an OR group."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

from tests.catalog.helpers import text

SALES_PAGE = "/catalog/public/agg_sales/"


def redirect_query(response) -> dict:
    assert response.status_code == 303, response.status_code
    return parse_qs(urlsplit(response["Location"]).query)


def test_a_cql2_filter_is_said_in_words_and_can_be_removed(client):
    body = text(client.get(SALES_PAGE, {"channel": "web", "filter": "region = 'north' OR region IS NULL"}))
    assert "Showing the rows where channel = web and (region = “north” or region is null)." in unescape(body)
    chips = re.findall(r'<li class="chip">(.*?)</li>', body, re.S)
    removal = next(unescape(re.search(r'href="([^"]*)"', c).group(1)) for c in chips if "region is null" in unescape(c))
    assert parse_qs(urlsplit(removal).query) == {"channel": ["web"]}
    assert "Rows 1–" in body


def test_the_json_encoding_is_said_in_words_too(client):
    document = '{"op": "isNull", "args": [{"property": "ratio"}]}'
    body = unescape(text(client.get(SALES_PAGE, {"filter": document, "filter-lang": "cql2-json"})))
    assert "Showing the rows where ratio is null." in body


def test_a_wrong_cql2_filter_is_a_400_page_saying_where(client):
    response = client.get(SALES_PAGE, {"filter": "region = 'north' AND"})
    assert response.status_code == 400 and "syntax error at character 21" in unescape(text(response))


def test_or_groups_the_columns_filters_with_the_new_one(client):
    form = SALES_PAGE + "-/filter"
    # No filter on the column yet: "or" adds a plain filter.
    assert redirect_query(
        client.get(form, {"column": "region", "lookup": "exact", "value": "north", "or": "1", "query": "channel=web"})
    ) == {"channel": ["web"], "region": ["north"]}
    grouped = redirect_query(
        client.get(
            form,
            {"column": "region", "lookup": "isnull", "value": "true", "or": "1", "query": "channel=web&region=north"},
        )
    )
    assert grouped == {"channel": ["web"], "filter": ['"region" = \'north\' OR "region" IS NULL']}
    page = text(client.get(SALES_PAGE, {k: v[0] for k, v in grouped.items()}))
    assert "region = “north” or region is null" in unescape(page)
    # Into an existing CQL2 filter, ANDed; a negated simple filter keeps its NULLs.
    again = redirect_query(
        client.get(
            form,
            {"column": "ratio", "lookup": "gt", "value": "5", "or": "1", "query": "filter=open = TRUE&ratio__lt!=2"},
        )
    )
    assert again == {"filter": ['("open" = TRUE) AND ((NOT ("ratio" < 2) OR "ratio" IS NULL) OR "ratio" > 5)']}
    assert client.get(SALES_PAGE, {"filter": again["filter"][0]}).status_code == 200


def test_what_cql2_cannot_say_is_refused_with_a_page(client):
    response = client.get(
        SALES_PAGE + "-/filter",
        {"column": "region", "lookup": "regex", "value": "^n", "or": "1", "query": "region=north"},
    )
    assert response.status_code == 400 and "cannot be part of an OR group" in unescape(text(response))


def test_facets_and_downloads_follow_the_cql2_filter(client):
    body = text(client.get(SALES_PAGE, {"filter": "channel IN ('web', 'shop')"}))
    downloads = re.search(r'<section id="downloads".*?</section>', body, re.S).group(0)
    assert "filter=channel+IN" in downloads or "filter=channel%20IN" in downloads
    counts = [
        int(n.replace(",", ""))
        for n in re.findall(
            r'<span class="facet-count">([0-9,]+)</span>',
            re.search(r'id="facet-10-values".*?</section>', body, re.S).group(0),
        )
    ]
    assert sum(counts) == 40  # open's facet: the 40 sales through the web or a shop
