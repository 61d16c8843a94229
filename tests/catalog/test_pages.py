"""The HTML catalog: home page, relation pages, error pages.

Relations are found by walking the current snapshot, never by hard-coding fixture names, except
where a test needs one particular hazard: it looks that relation up by name and skips if absent.
Run with ``python -m tests.harness -- tests/catalog -q``.
"""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import quote, urlsplit

import pytest
from django.test import RequestFactory
from django.utils.html import escape

from autoapi.public import api_url, get_snapshot, relation_segments
from tests.catalog.helpers import (
    INTEGER_TYPES,
    assert_in_layout,
    assert_safe_html,
    download_links,
    first_readable,
    page_url,
    preview_header_links,
    relation_named,
    simple_name,
    text,
    wait_for_relation,
)

# -- home page ----------------------------------------------------------------------------------


def test_home_lists_every_relation(client, settings):
    settings.PORTAL = {**settings.PORTAL, "HOME_RELATIONS": 10000}  # every relation on the home page itself
    snapshot = get_snapshot()
    response = client.get("/")
    assert response.status_code == 200
    assert_in_layout(response)
    assert_safe_html(response)
    body = text(response)
    assert snapshot.relations, "the fixture database publishes nothing"
    for relation in snapshot.relations:
        assert f'href="{page_url(relation)}"' in body, f"no link to {relation.schema}.{relation.name}"
        assert escape(relation.name) in body
        assert escape(relation.schema) in body


def test_home_shows_freshness_and_server_version(client):
    snapshot = get_snapshot()
    body = text(client.get("/"))
    assert escape(snapshot.server_version) in body
    assert "Schema read" in body
    assert snapshot.version[:12] in body


def test_home_shows_unknown_row_estimates(client):
    body = text(client.get("/"))
    if any(r.estimated_rows is None for r in get_snapshot().relations):
        assert ">unknown<" in body
    assert ">None<" not in body


def _expected_matches(needle: str) -> set[str]:
    needle = needle.casefold()
    found = set()
    for relation in get_snapshot().relations:
        texts = [relation.name, relation.comment or ""] + [c.name for c in relation.columns]
        if any(needle in t.casefold() for t in texts):
            found.add(page_url(relation))
    return found


@pytest.mark.parametrize("transform", [str, str.upper], ids=["as-is", "upper-case"])
def test_home_search_matches_names_comments_and_columns(client, transform):
    snapshot = get_snapshot()
    # A column name that only some relations have, so the search visibly narrows the list.
    counts: dict[str, int] = {}
    for relation in snapshot.relations:
        for column in relation.columns:
            counts[column.name] = counts.get(column.name, 0) + 1
    candidates = [
        name for name, n in counts.items() if n < len(snapshot.relations) and simple_name(name) and len(name) > 3
    ]
    if not candidates:
        pytest.skip("no column name distinguishes some relations from others")
    needle = transform(sorted(candidates, key=lambda n: (counts[n], n))[0])
    expected = _expected_matches(needle)
    response = client.get("/", {"q": needle})
    assert response.status_code == 200
    body = text(response)
    for relation in snapshot.relations:
        linked = f'href="{page_url(relation)}"' in body
        assert linked == (page_url(relation) in expected), (
            f"{relation.schema}.{relation.name} wrongly {'shown' if linked else 'hidden'}"
        )
    assert f"{len(expected)} of {len(snapshot.relations)}" in body


def test_home_search_by_comment_and_without_match(client):
    commented = next((r for r in get_snapshot().relations if r.comment and len(r.comment.split()) > 2), None)
    if commented is None:
        pytest.skip("no relation has a comment")
    word = max(commented.comment.split(), key=len)
    body = text(client.get("/", {"q": word}))
    assert f'href="{page_url(commented)}"' in body
    response = client.get("/", {"q": "zz-no-relation-has-this-zz"})
    assert response.status_code == 200
    assert "No table or view matches" in text(response)
    assert_safe_html(client.get("/", {"q": "<script>alert(1)</script>"}))


# -- relation pages -----------------------------------------------------------------------------


def test_every_relation_page_renders(client):
    failures = []
    for relation in get_snapshot().relations:
        response = client.get(page_url(relation))
        label = f"{relation.schema}.{relation.name}"
        expected = {409} if not relation.is_populated else {200, 409}
        if response.status_code not in expected:
            failures.append(f"{label}: status {response.status_code}")
            continue
        assert_in_layout(response)
        assert_safe_html(response)
        body = text(response)
        if response.status_code == 409:
            assert "cannot be read" in body, label
        else:
            assert 'id="preview-title"' in body and "Data dictionary" in body, label
        assert escape(relation.name) in body, label
        for column in relation.columns:
            if escape(column.name) not in body:
                failures.append(f"{label}: column {column.name!r} missing")
            if escape(column.type) not in body:
                failures.append(f"{label}: type {column.type!r} of {column.name!r} missing")
    assert not failures, "\n".join(failures)


def test_unreadable_relations_give_409_pages(client):
    snapshot = get_snapshot()
    cases = [r for r in snapshot.relations if not r.is_populated]
    broken = snapshot.get("public", "v_errors")  # a view whose every read fails (1 / 0)
    if broken is not None:
        cases.append(broken)
    if not cases:
        pytest.skip("the fixture database publishes no unpopulated or broken relation")
    for relation in cases:
        response = client.get(page_url(relation))
        assert response.status_code == 409, f"{relation.schema}.{relation.name}"
        assert_in_layout(response)
        body = text(response)
        assert "cannot be read" in body
        for column in relation.columns:  # the dictionary is still there
            assert escape(column.name) in body


def test_dictionary_shows_keys_defaults_and_comments(client):
    relation = first_readable(
        client, lambda r: r.primary_key and any(c.comment for c in r.columns), "a primary key and column comments"
    )
    body = text(client.get(page_url(relation)))
    assert "primary key" in body
    for column in relation.columns:
        if column.comment:
            assert escape(column.comment).split("\n")[0] in body
        if column.default is not None:
            assert escape(column.default) in body
    assert "not nullable" not in body  # nullability is a yes/no column, not prose


def test_foreign_keys_link_both_ways(client):
    snapshot = get_snapshot()
    pairs = [
        (relation, fk, snapshot.get(fk.ref_schema, fk.ref_relation))
        for relation in snapshot.relations
        for fk in relation.foreign_keys
        if snapshot.get(fk.ref_schema, fk.ref_relation) is not None
    ]
    if not pairs:
        pytest.skip("no foreign key between two published relations")
    for relation, _fk, target in pairs:
        body = text(client.get(page_url(relation)))
        assert f'href="{page_url(target)}#column-' in body, f"{relation.name} does not link to {target.name}"
        target_body = text(client.get(page_url(target)))
        assert f'href="{page_url(relation)}"' in target_body, (
            f"{target.name} does not list {relation.name} as referencing it"
        )


def test_sort_links_exist_and_work(client):
    relation = first_readable(
        client, lambda r: any(simple_name(c.name) for c in r.columns) and r.columns, "a simple column name"
    )
    column = next(c for c in relation.columns if simple_name(c.name))
    body = text(client.get(page_url(relation)))
    links = preview_header_links(body)
    assert f"{page_url(relation)}?ordering={column.name}" in links
    response = client.get(page_url(relation), {"ordering": column.name})
    assert response.status_code == 200
    body = text(response)
    assert 'aria-sort="ascending"' in body
    assert f"{page_url(relation)}?ordering=-{column.name}" in preview_header_links(body)
    response = client.get(page_url(relation), {"ordering": f"-{column.name}"})
    assert 'aria-sort="descending"' in text(response)


def test_every_sort_link_of_hostile_column_names_works(client):
    relation = relation_named("public", "column_name_hazards")
    links = preview_header_links(text(client.get(page_url(relation))))
    assert len(links) == len(relation.columns)
    for link in links:
        response = client.get(link)
        assert response.status_code == 200, f"{link}: {response.status_code}"
        assert 'aria-sort="ascending"' in text(response), link


def test_every_sort_link_is_accepted(client):
    """The catalog offers a sort link exactly where the API accepts ``?ordering=`` (no 400s)."""
    failures, seen_types = [], set()
    for relation in get_snapshot().relations:
        response = client.get(page_url(relation))
        if response.status_code != 200 or '<table class="preview">' not in text(response):
            continue
        thead = re.search(r'<table class="preview">.*?<thead>(.*?)</thead>', text(response), re.S).group(1)
        for cell in re.findall(r'<th scope="col"[^>]*>(.*?)</th>', thead, re.S):
            link = re.search(r'class="sort-link[^"]*" href="([^"]*)"', cell)
            type_name = re.search(r'<span class="col-type">(.*?)</span>', cell)
            if not link or not type_name or type_name.group(1) in seen_types:
                continue  # one link per column type is enough (hostile names: see the test above)
            seen_types.add(type_name.group(1))
            got = client.get(unescape(link.group(1)))
            if got.status_code != 200:
                failures.append(f"{unescape(link.group(1))} ({unescape(type_name.group(1))}): {got.status_code}")
    assert seen_types, "no sort link anywhere"
    assert not failures, "\n".join(failures)


def test_sort_links_keep_filters(client):
    relation = first_readable(
        client,
        lambda r: any(c.base_type in INTEGER_TYPES and simple_name(c.name) for c in r.columns),
        "an integer column",
    )
    column = next(c for c in relation.columns if c.base_type in INTEGER_TYPES and simple_name(c.name))
    response = client.get(page_url(relation), {f"{column.name}__gte": "0"})
    assert response.status_code == 200
    for link in preview_header_links(text(response)):
        assert f"{column.name}__gte=0" in link


def test_preview_applies_the_query_string_and_pages(client):
    relation = relation_named("public", "big_2500")  # id 1..2500; amount NULL when id % 10 = 0
    response = client.get(page_url(relation), {"id__gt": "2490", "ordering": "-id"})
    assert response.status_code == 200
    body = text(response)
    assert "Rows 1–10 of 10 matching" in body
    assert f'href="{page_url(relation)}2500/"' in body  # the first row links to its own page
    assert '<span class="null">null</span>' in body
    response = client.get(page_url(relation), {"offset": "20"})
    body = text(response)
    assert "Rows 21–40 of 2,500" in body
    assert 'rel="prev"' in body and 'rel="next"' in body
    assert f'href="{page_url(relation)}21/"' in body
    response = client.get(page_url(relation), {"limit": "5"})
    assert "Rows 1–5 of 2,500" in text(response)


def test_download_links_carry_the_filter_and_work(client):
    relation = first_readable(
        client,
        lambda r: any(c.base_type in INTEGER_TYPES and simple_name(c.name) for c in r.columns),
        "an integer column",
    )
    column = next(c for c in relation.columns if c.base_type in INTEGER_TYPES and simple_name(c.name))
    response = client.get(page_url(relation), {f"{column.name}__gte": "0", "ordering": column.name})
    links = download_links(text(response))
    assert {"json", "csv", "ndjson"} <= set(links)
    for fmt, link in links.items():
        parts = urlsplit(link)
        assert parts.path == api_url(relation)
        assert f"{column.name}__gte=0" in parts.query and "limit=all" in parts.query and f"format={fmt}" in parts.query
        got = client.get(link)
        assert got.status_code == 200, f"{link}: {got.status_code}"
        if got.streaming:
            b"".join(got.streaming_content)
    assert "curl " in text(response)


def test_no_excel_download_for_more_rows_than_a_sheet_holds(client, superuser_conn):
    """The API would answer a 400; the page says why instead of offering the link."""
    from tests.autoapi.test_live_schema import wait_for

    superuser_conn.at_teardown("DROP VIEW IF EXISTS public.sheet_too_small")
    superuser_conn.execute("CREATE VIEW public.sheet_too_small AS SELECT g AS n FROM generate_series(1, 1048576) AS g")
    wait_for(lambda: client.get("/catalog/public/sheet_too_small/").status_code == 200, "the view in the catalog")
    page = text(client.get("/catalog/public/sheet_too_small/"))
    links = download_links(page)
    assert "csv" in links and "parquet" in links and "xlsx" not in links
    assert "more rows than an Excel sheet holds (1,048,575): download CSV or Parquet" in page
    small = text(client.get("/catalog/public/sheet_too_small/", {"n__lte": "10"}))
    assert "xlsx" in download_links(small)


def test_geojson_link_only_where_the_api_has_it(client):
    with_points = relation_named("public", "places_latlon")
    links = download_links(text(client.get(page_url(with_points))))
    assert "geojson" in links
    assert client.get(links["geojson"]).status_code == 200
    plain = first_readable(
        client,
        lambda r: not r.geometry_columns and not {c.name.lower() for c in r.columns} & {"lat", "latitude"},
        "no geometry",
    )
    assert "geojson" not in download_links(text(client.get(page_url(plain))))


def test_relation_with_compound_key_links_rows(client):
    relation = first_readable(client, lambda r: r.key is not None and len(r.key.columns) > 1, "a compound key")
    body = text(client.get(page_url(relation)))
    rows = re.findall(r'<th scope="row" class="row-link"><a href="([^"]*)"', body)
    prefix = page_url(relation)
    assert rows and all(unescape(href).startswith(prefix) and unescape(href) != prefix for href in rows)
    for href in rows:
        got = client.get(unescape(href))
        assert got.status_code == 200, unescape(href)


# -- errors -------------------------------------------------------------------------------------


def test_bad_filter_value_gives_400_page_with_dictionary(client):
    relation = first_readable(
        client, lambda r: any(c.base_type in INTEGER_TYPES for c in r.columns), "an integer column"
    )
    column = next(c for c in relation.columns if c.base_type in INTEGER_TYPES)
    response = client.get(page_url(relation), {f"{column.name}__gt": "not-a-number"})
    assert response.status_code == 400
    assert_in_layout(response)
    body = text(response)
    assert "This filter cannot be applied" in body
    assert f'href="{page_url(relation)}"' in body  # a way back to the unfiltered rows
    for c in relation.columns:
        assert escape(c.name) in body


@pytest.mark.parametrize(
    "params",
    [
        {"zz_no_such_column": "1"},
        {"ordering": "zz_no_such_column"},
        {"offset": "-1"},
        {"offset": "many"},
        {"limit": "all"},
        {"format": "csv"},
        {"q": "catalog-only parameter"},
    ],
    ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items()),
)
def test_bad_query_parameters_give_400_pages(client, params):
    relation = first_readable(client, lambda r: r.columns and not r.column("q"), "columns, none named q")
    response = client.get(page_url(relation), params)
    assert response.status_code == 400
    assert_in_layout(response)
    assert "notice-error" in text(response)


def test_unknown_relation_gives_404_page(client):
    relation = get_snapshot().relations[0]
    schema, _ = relation_segments(relation)
    for path in (
        f"/catalog/{schema}/zz_no_such_relation/",
        "/catalog/zz_no_such_schema/zz_no_such_relation/",
        "/catalog/~ZZ/bad-encoding/",  # not something the tilde encoding produces
        f"/catalog/{schema}/~F0~9F/",  # half an emoji: not UTF-8
        "/catalog/" + quote("a b") + "/x/",
        "/zz/no/such/page",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert_in_layout(response)
        assert "not found" in text(response).lower()


def test_error_page_helper():
    from catalog.views import error_page

    request = RequestFactory().get("/anything")
    response = error_page(request, 500, "Something <went> wrong", "Details & more")
    assert response.status_code == 500
    assert_in_layout(response)
    body = text(response)
    assert "Something &lt;went&gt; wrong" in body and "Details &amp; more" in body


def test_hostile_relation_names_round_trip(client):
    """Every relation's page URL, built from its tilde-encoded segments, finds that relation."""
    for relation in get_snapshot().relations:
        response = client.get(page_url(relation))
        assert response.status_code in (200, 409), f"{relation.schema}.{relation.name}"
        assert re.search(r"<h1[^>]*>" + re.escape(escape(relation.name)) + "</h1>", text(response))


def test_every_row_link_finds_its_row(client):
    """Each preview row of a relation with a key links to its row page, which shows that row and
    links to the row's API URL, which answers with it too."""
    failures = []
    checked = 0
    for relation in get_snapshot().relations:
        if relation.key is None:
            continue
        response = client.get(page_url(relation))
        if response.status_code != 200:
            continue
        body = text(response)
        tbody = re.search(r'<table class="preview">.*?<tbody>(.*?)</tbody>', body, re.S)
        if tbody is None:  # no rows
            continue
        prefix = page_url(relation)
        links = [unescape(h) for h in re.findall(r'href="([^"]*)"', tbody.group(1)) if unescape(h).startswith(prefix)]
        for link in links:
            checked += 1
            got = client.get(link)
            if got.status_code != 200:
                failures.append(f"{relation.schema}.{relation.name}: {link} -> {got.status_code}")
                continue
            api_links = [
                unescape(h)
                for h in re.findall(r'href="([^"]*)"', text(got))
                if unescape(h).startswith(api_url(relation))
            ]
            row_api = next((h for h in api_links if h != api_url(relation)), None)
            if row_api is None:
                failures.append(f"{relation.schema}.{relation.name}: {link} has no link to the row's JSON")
            elif (answer := client.get(row_api)).status_code != 200:
                failures.append(
                    f"{relation.schema}.{relation.name}: {row_api} -> {answer.status_code} {answer.content[:200]!r}"
                )
    if not checked:
        pytest.skip("no relation with a key has rows")
    assert not failures, "\n".join(failures)


def test_nothing_unreadable_reaches_any_page(client):
    """Names, comments and values the reader role may not see never appear in the catalog."""
    from tests.conftest import SECRET_SENTINELS

    pages = ["/", "/?q=secret", "/?q=hidden", "/zz/no/such/page"]  # (a query is echoed: no sentinel in one)
    pages += [page_url(relation) for relation in get_snapshot().relations]
    for path in pages:
        body = text(client.get(path))
        for sentinel in SECRET_SENTINELS:
            assert sentinel not in body, f"{sentinel!r} on {path}"


def test_catalog_follows_schema_changes(client, superuser_conn):
    """A table created while the portal runs shows up on the home page and gets its own page."""
    import uuid

    name = f"catalog live {uuid.uuid4().hex[:8]}"
    superuser_conn.at_teardown(f'DROP TABLE IF EXISTS public."{name}"')
    superuser_conn.execute(f'CREATE TABLE public."{name}" (id integer PRIMARY KEY, "Größe" numeric)')
    superuser_conn.execute(f'COMMENT ON TABLE public."{name}" IS %s', ["Made by the catalog test"])
    superuser_conn.execute(f'GRANT SELECT ON public."{name}" TO portal_reader')
    relation = wait_for_relation(client, "public", name)
    assert f'href="{page_url(relation)}"' in text(client.get("/", {"q": "größe"}))
    response = client.get(page_url(relation))
    assert response.status_code == 200
    assert "Made by the catalog test" in text(response) and "Größe" in text(response)


@pytest.mark.parametrize("params", [{"id__in": ","}, {"id": "99999999999999999999"}], ids=["empty-in", "beyond-int"])
def test_filters_that_can_match_nothing_show_no_rows(client, params):
    relation = relation_named("public", "big_2500")
    response = client.get(page_url(relation), params)
    assert response.status_code in (200, 400)  # no rows, or the API's word on the value; never a 500
    assert_in_layout(response)
    if response.status_code == 200:
        assert "No row matches this filter." in text(response)
