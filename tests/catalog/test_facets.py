"""Facets on a relation page: which columns are suggested, counts equal to the API's aggregate for
the page's filters, links that add, OR together and remove values, date facets as ranges, and a
facet that runs out of time saying so while the page still answers."""

from __future__ import annotations

import json
import re
import time
import uuid
from html import unescape
from urllib.parse import parse_qs, urlsplit

from autoapi.public import get_snapshot
from tests.catalog.helpers import assert_in_layout, page_url, relation_named, text, wait_for_relation

SALES_PAGE = "/catalog/public/agg_sales/"


def facets(body: str) -> dict[str, dict]:
    """Each facet of a page: its heading and values (label -> (count, url, selected)), or its problem."""
    found = {}
    for section in re.findall(r'<section class="facet" id="[^"]*"(.*?)</section>', body, re.S):
        name = re.search(
            r'<h4[^>]*><span class="name">([^<]*)</span>(?: <span class="muted">by (\w+)</span>)?', section
        )
        key = unescape(name.group(1)) + (f"__{name.group(2)}" if name.group(2) else "")
        values = {}
        for li_class, href, label, count in re.findall(
            r'<li( class="selected")?><a href="([^"]*)"[^>]*>(?:<span aria-hidden="true">✓ </span>)?'
            r'<span class="(?:name|null)">([^<]*)</span>.*?</a> <span class="facet-count">([0-9,]+)</span>',
            section,
            re.S,
        ):
            values[unescape(label)] = (int(count.replace(",", "")), unescape(href), bool(li_class))
        problem = re.search(r'<p class="facet-problem"[^>]*>([^<]*)</p>', section)
        found[key] = {"values": values, "problem": problem and unescape(problem.group(1))}
    return found


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def api_counts(client, params: dict, column: str) -> dict:
    response = client.get("/api/public/agg_sales/", {**params, "group_by": column, "limit": "all"})
    rows = json.loads(b"".join(response.streaming_content))
    return {("null" if r[column] is None else str(r[column]).lower()): r["count"] for r in rows}


def preview_total(body: str) -> int:
    return int(re.search(r"Rows [0-9]+–[0-9]+ of (?:about )?([0-9,]+)", body).group(1).replace(",", ""))


def test_booleans_enums_and_the_first_timestamp_are_suggested_with_the_apis_counts(client):
    response = client.get(SALES_PAGE)
    assert_in_layout(response)
    shown = facets(text(response))
    assert list(shown) == ["open", "channel", "sold_at__month"]
    assert {k: v[0] for k, v in shown["channel"]["values"].items()} == api_counts(client, {}, "channel")
    assert {k: v[0] for k, v in shown["open"]["values"].items()} == api_counts(client, {}, "open")
    months = shown["sold_at__month"]["values"]
    assert list(months)[:2] == ["2023-12", "2024-01"] and sum(v[0] for v in months.values()) == 60
    # Columns pg_stats says have few values are offered as further facets.
    more = re.search(r'<p class="more-facets">(.*?)</p>', text(response), re.S).group(1)
    assert ">region<" in more and "_facet=region" in more


def test_a_value_adds_a_filter_a_second_one_ors_and_a_chosen_one_comes_out(client):
    web = facets(text(client.get(SALES_PAGE)))["channel"]["values"]["web"]
    assert query(web[1]) == {"channel": ["web"]}
    page = text(client.get(web[1]))
    assert preview_total(page) == web[0]
    values = facets(page)["channel"]["values"]
    assert values["web"][2] is True and values["shop"][2] is False  # chosen, and not
    assert query(values["shop"][1]) == {"channel__in": ["web,shop"]}
    assert query(values["web"][1]) == {}  # chosen: the link takes it out
    both = text(client.get(values["shop"][1]))
    assert preview_total(both) == web[0] + values["shop"][0]
    chosen = facets(both)["channel"]["values"]
    assert query(chosen["web"][1]) == {"channel": ["shop"]}


def test_facets_count_the_filtered_rows(client):
    body = text(client.get(SALES_PAGE, {"channel": "web", "id__gt": "10"}))
    assert {k: v[0] for k, v in facets(body)["open"]["values"].items()} == api_counts(
        client, {"channel": "web", "id__gt": "10"}, "open"
    )
    # Links keep the other filters.
    assert query(facets(body)["open"]["values"]["true"][1]) == {"channel": ["web"], "id__gt": ["10"], "open": ["true"]}


def test_null_is_a_value_whose_link_is_isnull(client):
    values = facets(text(client.get(SALES_PAGE, {"_facet": "region"})))["region"]["values"]
    assert values["null"][0] == 15 and query(values["null"][1]) == {"_facet": ["region"], "region__isnull": ["true"]}
    assert preview_total(text(client.get(values["null"][1]))) == 15


def test_a_month_is_a_range_filter_with_the_same_count(client):
    months = facets(text(client.get(SALES_PAGE)))["sold_at__month"]["values"]
    count, url, _ = months["2024-03"]
    assert query(url) == {"sold_at__gte": ["2024-03-01T00:00:00+00:00"], "sold_at__lt": ["2024-04-01T00:00:00+00:00"]}
    page = text(client.get(url))
    assert preview_total(page) == count
    assert query(facets(page)["sold_at__month"]["values"]["2024-03"][1]) == {}  # chosen: taken out


def test_asked_facets_come_first_and_unknown_ones_are_ignored(client):
    shown = facets(text(client.get(SALES_PAGE, {"_facet": ["region", "count", "nope"]})))
    assert list(shown)[:2] == ["region", "count"] and "nope" not in shown
    assert {k: v[0] for k, v in shown["count"]["values"].items()} == {"0": 20, "1": 20, "2": 20}
    assert query(shown["region"]["values"]["north"][1]) == {"_facet": ["region", "count", "nope"], "region": ["north"]}


def test_no_facets_on_a_page_whose_filter_is_wrong(client):
    response = client.get(SALES_PAGE, {"channel": "radio"})
    assert response.status_code == 400 and 'class="facet"' not in text(response)


def test_grouping_parameters_on_a_page_are_a_400_pointing_to_the_api(client):
    for name, value in (("group_by", "region"), ("aggregate", "count"), ("having", "count__gt:1")):
        response = client.get(SALES_PAGE, {name: value})
        assert response.status_code == 400 and f"The parameter {name} belongs to the API" in text(response)


def test_suggestions_can_be_turned_off(client, settings):
    settings.PORTAL = {**settings.PORTAL, "FACETS_SUGGESTED": 0}
    assert facets(text(client.get(SALES_PAGE))) == {}
    assert list(facets(text(client.get(SALES_PAGE, {"_facet": "region"})))) == ["region"]


def test_a_facet_that_runs_out_of_time_says_so_and_the_page_answers(client, superuser_conn, settings):
    name = f"slow_facets_{uuid.uuid4().hex[:6]}"
    superuser_conn.at_teardown(f"DROP VIEW IF EXISTS public.{name}")
    # Every row takes 2 ms to read: grouping all 400 takes 0.8 s, the page's 20 rows 40 ms.
    superuser_conn.execute(
        f"CREATE VIEW public.{name} AS SELECT g AS id, g % 2 = 0 AS even, g % 3 AS kind "
        "FROM generate_series(1, 400) AS g CROSS JOIN LATERAL (SELECT pg_sleep(0.002 + g * 0)) AS s"
    )
    superuser_conn.execute(f"GRANT SELECT ON public.{name} TO portal_reader")
    relation = wait_for_relation(client, "public", name)
    settings.PORTAL = {**settings.PORTAL, "FACET_TIME_LIMIT_MS": 100}
    page = client.get(page_url(relation), {"_facet": "kind"})
    # A view's size is unknown to the planner: its page comes at once, the facets from its script.
    assert page.status_code == 200 and "Rows 1–20" in text(page) and 'class="facet"' not in text(page)
    fragment_url = unescape(re.search(r'data-facets-url="([^"]*)"', text(page)).group(1))
    assert fragment_url == f"{page_url(relation)}-/facets?_facet=kind"
    response = client.get(fragment_url)
    assert response.status_code == 200
    shown = facets(text(response))
    # A view cannot be sampled (TABLESAMPLE reads tables): no estimate, and the facet says why.
    assert shown["kind"]["problem"] == (
        "Counting took longer than 100 ms, and a view cannot be sampled to estimate them, so this facet is left out."
    )
    assert shown["even"]["problem"] and not shown["even"]["values"]
    assert "≈" not in text(response)


def test_a_large_relation_gets_its_page_first_and_the_same_facets_from_the_fragment(client, settings):
    inline = text(client.get(SALES_PAGE, {"channel": "web", "_facet": "region"}))
    settings.PORTAL = {**settings.PORTAL, "FACET_INLINE_ROWS": 10}
    page = text(client.get(SALES_PAGE, {"channel": "web", "_facet": "region"}))
    assert 'class="facet"' not in page and 'aria-busy="true"' in page and "catalog/facets." in page
    # Without JavaScript, each facet's counts are one link away, in the API.
    noscript = re.search(r"<noscript>(.*?)</noscript>", page, re.S).group(1)
    assert "/api/public/agg_sales/?channel=web&amp;group_by=region&amp;aggregate=count" in noscript
    fragment_url = unescape(re.search(r'data-facets-url="([^"]*)"', page).group(1))
    fragment = client.get(fragment_url)
    assert fragment.status_code == 200 and fragment["X-Robots-Tag"] == "noindex"
    assert facets(text(fragment)) == facets(inline) and len(facets(inline)) == 4
    bad = client.get(fragment_url.replace("channel=web", "channel=radio"))
    assert bad.status_code == 400 and "radio" in text(bad)


def test_facets_on_every_kind_of_relation_never_fail(client):
    for name in ("types_datetime", "types_text", "types_custom", "types_misc", "events"):
        relation = relation_named("public", name)
        response = client.get(page_url(relation), {"_facet": [c.name for c in relation.columns]})
        assert response.status_code == 200, name
        for facet, shown in facets(text(response)).items():
            assert shown["values"] or shown["problem"] is None, (name, facet, shown["problem"])


def test_downloads_give_each_facets_aggregate_url_and_no_catalog_parameter(client):
    body = text(client.get(SALES_PAGE, {"region": "north", "_facet": "count"}))
    section = re.search(r'<section id="downloads".*?</section>', body, re.S).group(0)
    urls = [
        unescape(u) for u in re.findall(r'<ul class="aggregate-urls">.*?</ul>', section, re.S)[0].split('href="')[1:]
    ]
    urls = [u.split('"')[0] for u in urls]
    assert len(urls) == 4 and all(u.startswith("http://testserver/api/public/agg_sales/?region=north&") for u in urls)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        counted = "count_" if "group_by=count&" in url else "count"  # the rule for a clash in docs/api.md
        assert sum(row[counted] for row in response.json()["results"]) == 15
    assert "_facet" not in section  # the API knows no such parameter: the snippets must work as printed


def test_null_and_values_of_one_facet_replace_each_other(client):
    values = facets(text(client.get(SALES_PAGE, {"_facet": "region", "region": "north"})))["region"]["values"]
    assert query(values["null"][1]) == {"_facet": ["region"], "region__isnull": ["true"]}
    values = facets(text(client.get(values["null"][1])))["region"]["values"]
    assert query(values["south"][1]) == {"_facet": ["region"], "region": ["south"]}


def test_columns_whose_values_all_differ_are_not_suggested(client, requires_postgis):
    body = text(client.get("/catalog/public/geo_points/"))
    assert "id" not in facets(body) and "name" not in facets(body)  # five rows, five ids, five names


# -- facets at size: PostgreSQL's statistics when counting runs out of time (catalog/facet_estimates.py) --

APPROXIMATE = re.compile(
    r'<li[^>]*><a href="[^"]*"[^>]*>(?:<span aria-hidden="true">✓ </span>)?<span class="(?:name|null)">'
    r'([^<]*)</span>.*?</a> <span class="facet-count" title="[^"]+">≈ ([0-9,]+)</span>',
    re.S,
)


def _approximate_facets(body: str) -> dict[str, dict[str, int]]:
    found = {}
    for section in re.findall(r'<section class="facet" id="[^"]*"(.*?)</section>', body, re.S):
        name = re.search(r'<h4[^>]*><span class="name">([^<]*)</span>', section).group(1)
        found[unescape(name)] = {
            unescape(label): int(count.replace(",", "")) for label, count in APPROXIMATE.findall(section)
        }
    return found


def _large_table(superuser_conn, name: str, row_security: bool = False) -> None:
    """60,000 rows, analysed, made in one transaction: the snapshot that first publishes the table
    already has its row estimate (the sample's size is chosen from it)."""
    superuser_conn.at_teardown(f"DROP TABLE IF EXISTS public.{name}")
    policy = (
        f"ALTER TABLE public.{name} ENABLE ROW LEVEL SECURITY; "
        f"CREATE POLICY only_even ON public.{name} TO portal_reader USING (even); "
        if row_security
        else ""
    )
    superuser_conn.execute(
        "BEGIN; "
        f"CREATE TABLE public.{name} AS SELECT g AS id, g % 3 AS kind, g % 2 = 0 AS even, "
        "date '2020-01-01' + (g % 900) AS day FROM generate_series(1, 60000) AS g; "
        f"{policy}ANALYZE public.{name}; GRANT SELECT ON public.{name} TO portal_reader; COMMIT"
    )


def test_unfiltered_facets_past_the_time_limit_come_from_statistics(client, superuser_conn, settings):
    name = f"large_facets_{uuid.uuid4().hex[:6]}"
    _large_table(superuser_conn, name)
    relation = wait_for_relation(client, "public", name)
    settings.PORTAL = {**settings.PORTAL, "FACET_TIME_LIMIT_MS": 1}  # no GROUP BY of 60,000 rows is that quick
    fragment = client.get(f"{page_url(relation)}-/facets")
    assert fragment.status_code == 200
    body = text(fragment)
    shown = _approximate_facets(body)
    assert "Approximate counts (≈) from PostgreSQL's statistics" in body
    assert set(shown["kind"]) == {"0", "1", "2"} and set(shown["even"]) == {"true", "false"}
    for counts in (shown["kind"], shown["even"]):
        exact = 60000 / len(counts)
        assert all(abs(count - exact) < exact * 0.1 for count in counts.values()), counts
    months = shown["day"]  # 900 days from 2020-01: by month, each bucket of the histogram spread over its months
    assert "2020-01" in months and abs(sum(months.values()) - 60000) < 6000, months
    # A link of an approximate value filters as an exact one does.
    even = re.search(r'<a href="([^"]*)"[^>]*><span class="name">true</span>', body).group(1)
    assert query(unescape(even))["even"] == ["true"]

    # Filtered, the statistics say nothing of the subset; and a sample of half the table or more
    # (FACET_SAMPLE_ROWS of 60,000 rows) would cost about what counting does: out of time it says.
    filtered = facets(text(client.get(f"{page_url(relation)}-/facets", {"kind": "1"})))
    assert filtered["even"]["problem"] == "Counting took longer than 1 ms, so this facet is left out."


def _chart_counts(body: str) -> dict[str, dict]:
    """Each approximate facet's chart data (its figure's data-counts JSON), by the facet's key."""
    return {
        unescape(key): json.loads(unescape(counts))
        for counts, key in re.findall(
            r'<figure class="facet-chart"[^>]* data-counts="([^"]*)" data-key="([^"]*)"', body
        )
    }


def test_filtered_facets_past_the_time_limit_come_from_a_sample(client, superuser_conn, settings):
    name = f"sampled_facets_{uuid.uuid4().hex[:6]}"
    _large_table(superuser_conn, name)
    relation = wait_for_relation(client, "public", name)
    # No GROUP BY of 60,000 rows fits in 1 ms; a sample of about 20,000 rows: a third of its pages.
    settings.PORTAL = {**settings.PORTAL, "FACET_TIME_LIMIT_MS": 1, "FACET_SAMPLE_ROWS": 20000}
    fragment = client.get(f"{page_url(relation)}-/facets", {"kind": "1"})
    assert fragment.status_code == 200
    body = text(fragment)
    shown = _approximate_facets(body)
    assert "Approximate counts (≈) from a sample of the matching rows" in body
    # kind=1 selects 20,000 rows: half of them even; 30 days of each month (by month: 900 days, 2020-01 on).
    assert set(shown["even"]) == {"true", "false"}, shown
    assert all(abs(count - 10000) < 3000 for count in shown["even"].values()), shown["even"]
    assert abs(sum(shown["day"].values()) - 20000) < 6000 and "2020-01" in shown["day"], shown["day"]
    # The facet's own filter is left out: kind's facet is unfiltered, so from the statistics.
    assert set(shown["kind"]) == {"0", "1", "2"}
    assert "Approximate counts (≈) from PostgreSQL's statistics" in body
    # Each approximate count says how it was estimated (its title), and so does the facet.
    title = re.search(r'<span class="facet-count" title="(Estimated from a sample[^"]*)">', body).group(1)
    assert "33.3% of the table's pages" in unescape(title) and "multiplied by 3" in unescape(title)
    # The chart draws the same estimates (no exact count over every row), marked approximate.
    charts = _chart_counts(body)
    assert charts["even"]["approximate"] == "sample"
    assert {label: count for label, count in charts["even"]["rows"]} == shown["even"]
    assert charts["kind"]["approximate"] == "statistics"
    # The same page gives the same estimates (REPEATABLE: the same pages are sampled).
    assert _approximate_facets(text(client.get(f"{page_url(relation)}-/facets", {"kind": "1"}))) == shown
    # A value's link filters as an exact one does, with the page's filter kept.
    even = re.search(r'<a href="([^"]*)"[^>]*><span class="name">true</span>', body).group(1)
    assert query(unescape(even)) == {"kind": ["1"], "even": ["true"]}
    # A column whose sampled values each appear once (a key) gets no estimate: seen once, a value's
    # count could be 1 or thousands, and scaling up would make every one common.
    keyed = facets(text(client.get(f"{page_url(relation)}-/facets", {"kind": "1", "_facet": "id"})))["id"]
    assert not keyed["values"] and "appears once" in keyed["problem"], keyed
    # Without a sample (FACET_SAMPLE_ROWS 0) the facet says it ran out of time, as before.
    settings.PORTAL = {**settings.PORTAL, "FACET_SAMPLE_ROWS": 0}
    plain = facets(text(client.get(f"{page_url(relation)}-/facets", {"kind": "2"})))
    assert plain["even"]["problem"] == "Counting took longer than 1 ms, so this facet is left out."


def test_a_table_filled_after_its_snapshot_is_sampled_for_its_rows_now(client, superuser_conn, settings):
    """The sample's size follows the rows PostgreSQL counts now (pg_stat's live rows), not the
    estimate of the snapshot's read: a table published with 600 rows, then filled to 60,000 (no
    schema change, so the same snapshot), is sampled at a third of its pages, not left out."""
    name = f"filled_facets_{uuid.uuid4().hex[:6]}"
    superuser_conn.at_teardown(f"DROP TABLE IF EXISTS public.{name}")
    columns = "g AS id, g % 3 AS kind, g % 2 = 0 AS even, date '2020-01-01' + (g % 900) AS day"
    superuser_conn.execute(
        f"BEGIN; CREATE TABLE public.{name} AS SELECT {columns} FROM generate_series(1, 600) AS g; "
        f"ANALYZE public.{name}; GRANT SELECT ON public.{name} TO portal_reader; COMMIT"
    )
    relation = wait_for_relation(client, "public", name)
    assert relation.estimated_rows == 600
    superuser_conn.execute(f"INSERT INTO public.{name} SELECT {columns} FROM generate_series(601, 60000) AS g")
    deadline = time.monotonic() + 10  # a backend reports its counters within a second or so
    while time.monotonic() < deadline:
        live = superuser_conn.execute("SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = %s", [relation.oid])
        if live and live[0][0] >= 60000:
            break
        time.sleep(0.2)
    assert get_snapshot().get("public", name).estimated_rows == 600  # still the snapshot of 600 rows
    settings.PORTAL = {**settings.PORTAL, "FACET_TIME_LIMIT_MS": 1, "FACET_SAMPLE_ROWS": 20000}
    body = text(client.get(f"{page_url(relation)}-/facets", {"kind": "1"}))
    assert "Approximate counts (≈) from a sample of the matching rows" in body, body[:2000]
    title = re.search(r'<span class="facet-count" title="(Estimated from a sample[^"]*)">', body).group(1)
    assert "33.3% of the table's pages" in unescape(title), title


def test_under_row_security_samples_count_visible_rows_only(client, superuser_conn, settings):
    name = f"secured_facets_{uuid.uuid4().hex[:6]}"
    _large_table(superuser_conn, name, row_security=True)  # the reader sees the 30,000 even rows
    relation = wait_for_relation(client, "public", name)
    assert relation.row_security
    settings.PORTAL = {**settings.PORTAL, "FACET_TIME_LIMIT_MS": 1}
    for params in ({"_facet": "kind"}, {"_facet": "kind", "day__gte": "2020-01-01"}):
        body = text(client.get(f"{page_url(relation)}-/facets", params))
        # Never PostgreSQL's statistics (ANALYZE read every row): a sample, drawn through the policy.
        assert "PostgreSQL's statistics" not in body and "from a sample" in body, params
        shown = _approximate_facets(body)
        assert set(shown["even"]) == {"true"}, shown["even"]  # no hidden (odd) row is ever counted
        # About the 30,000 visible rows, never the 60,000 of the table. (A sample of 10% of this
        # table's 300 pages is 30 pages give or take 5, PostgreSQL drawing each page apart: coarse.)
        assert abs(sum(shown["kind"].values()) - 30000) < 12000, shown["kind"]
        # The sample's size comes from visible rows only (0.1%, 1%, then 10% of the pages until it
        # holds 1,000 matching rows), never from the table's row estimate, which counts hidden rows.
        title = unescape(re.search(r'<span class="facet-count" title="([^"]*)">', body).group(1))
        assert re.search(r"a sample of (0\.1|1|10)% of the table's pages", title), title


def test_partitioned_tables_and_materialized_views_are_sampled_too(client, superuser_conn, settings):
    name = f"sampled_kinds_{uuid.uuid4().hex[:6]}"
    _large_table(superuser_conn, name)
    superuser_conn.at_teardown(f"DROP TABLE IF EXISTS public.{name}_parted")
    superuser_conn.at_teardown(f"DROP MATERIALIZED VIEW IF EXISTS public.{name}_mat")
    superuser_conn.execute(f"CREATE TABLE public.{name}_parted (LIKE public.{name}) PARTITION BY LIST (kind)")
    for kind in range(3):
        superuser_conn.execute(
            f"CREATE TABLE public.{name}_p{kind} PARTITION OF public.{name}_parted FOR VALUES IN ({kind})"
        )
        superuser_conn.at_teardown(f"DROP TABLE IF EXISTS public.{name}_p{kind}")
    superuser_conn.execute(f"INSERT INTO public.{name}_parted SELECT * FROM public.{name}")
    superuser_conn.execute(f"CREATE MATERIALIZED VIEW public.{name}_mat AS SELECT * FROM public.{name}")
    for relation in (f"{name}_parted", f"{name}_mat"):
        superuser_conn.execute(f"ANALYZE public.{relation}")
        superuser_conn.execute(f"GRANT SELECT ON public.{relation} TO portal_reader")
    settings.PORTAL = {**settings.PORTAL, "FACET_TIME_LIMIT_MS": 1, "FACET_SAMPLE_ROWS": 20000}
    for relation in (f"{name}_parted", f"{name}_mat"):
        found = wait_for_relation(client, "public", relation)
        body = text(client.get(f"{page_url(found)}-/facets", {"day__lt": "2021-01-01", "_facet": "even"}))
        shown = _approximate_facets(body)
        assert "from a sample" in body and set(shown["even"]) == {"true", "false"}, (relation, shown)
