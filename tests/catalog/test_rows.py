"""Row pages: ``/catalog/<schema>/<relation>/<key>/``, their foreign keys as links to the rows
they name, and the filtered pages of the relations that refer to them."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.utils.html import escape

from tests.catalog.helpers import assert_in_layout, assert_safe_html, page_url, relation_named, text


def links(body: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'href="([^"]*)"', body)]


def test_row_page_shows_every_value_and_its_json(client):
    relation = relation_named("public", "big_2500")
    response = client.get(page_url(relation) + "10/")
    assert response.status_code == 200
    assert_in_layout(response)
    assert_safe_html(response)
    body = text(response)
    assert re.search(r"<h1><span class=\"muted\">Row</span> <span class=\"name\">10</span></h1>", body)
    for column in relation.columns:
        assert escape(column.name) in body
    assert "row 0010" in body and "2020-01-11" in body
    assert '<span class="null">null</span>' in body  # amount is NULL when id % 10 = 0
    assert "/api/public/big_2500/10/" in links(body)


def test_foreign_keys_link_to_the_rows_they_name_and_back(client):
    source = relation_named("public", "fk_simple")  # row 1 -> single_pk 1
    target = relation_named("public", "single_pk")
    body = text(client.get(page_url(source) + "1/"))
    assert page_url(target) + "1/" in links(body)
    back = text(client.get(page_url(target) + "1/"))
    filtered = next(link for link in links(back) if link.startswith(page_url(source) + "?"))
    assert filtered == page_url(source) + "?single_pk_id=1"
    page = text(client.get(filtered))
    assert "Rows 1–2 of 2 matching" in page
    assert escape("where single_pk_id = 1") in page


@pytest.mark.parametrize(
    "schema, name, key, target_schema, target, target_key",
    [
        ("public", "fk_composite", "1", "public", "composite_pk", "1,b~2Fc"),  # compound, with a slash
        ("public", "fk_composite", "2", "public", "composite_pk", "2,x~2Cy"),  # compound, with a comma
        ("public", "fk_text", "4", "public", "text_pk", "~"),  # the empty string
        ("public", "fk_text", "2", "public", "text_pk", "~C3~BCn~C3~AF~20~E6~97~A5~E6~9C~AC~20~F0~9F~9A~80"),
        ("public", "fk_unique", "1", "public", "unique_only", "a~40example~2Eorg"),  # to a UNIQUE column
        ("public", "fk_cross_schema", "2", "sales", "customers", "3"),  # to another schema
        ("public", "tree_nodes", "3", "public", "tree_nodes", "2"),  # to itself
    ],
)
def test_foreign_key_links_to_hostile_keys_work(client, schema, name, key, target_schema, target, target_key):
    source = relation_named(schema, name)
    destination = relation_named(target_schema, target)
    body = text(client.get(page_url(source) + key + "/"))
    expected = page_url(destination) + target_key + "/"
    assert expected in links(body)
    response = client.get(expected)
    assert response.status_code == 200, expected


def test_referenced_by_filters_by_compound_keys(client):
    target = relation_named("public", "composite_pk")
    source = relation_named("public", "fk_composite")
    body = text(client.get(page_url(target) + "1,b~2Fc/"))
    filtered = next(link for link in links(body) if link.startswith(page_url(source) + "?"))
    assert "region_id=1" in filtered and "code=b%2Fc" in filtered
    assert "Rows 1–1 of 1 matching" in text(client.get(filtered))


@pytest.mark.parametrize(
    "suffix, why",
    [
        ("999999/", "no such row"),
        ("abc/", "not an integer"),
        ("1,2/", "two values for a one-column key"),
        ("~ZZ/", "not tilde encoding"),
        ("~F0~9F/", "not UTF-8"),
    ],
)
def test_rows_that_do_not_exist_are_404_pages(client, suffix, why):
    response = client.get(page_url(relation_named("public", "big_2500")) + suffix)
    assert response.status_code == 404, why
    assert_in_layout(response)
    assert "Row not found" in text(response)


def test_relations_without_a_key_have_no_row_pages(client):
    relation = relation_named("public", "no_key_dupes")
    response = client.get(page_url(relation) + "1/")
    assert response.status_code == 404
    assert "no primary or unique key" in text(response)
    assert client.get("/catalog/public/zz_no_such_relation/1/").status_code == 404


def test_row_pages_show_only_readable_columns(client, secret_sentinels):
    relation = relation_named("public", "partial_columns")
    response = client.get(page_url(relation) + "1/")
    assert response.status_code == 200
    body = text(response)
    assert "visible one" in body
    for sentinel in secret_sentinels:
        assert sentinel not in body
    hidden = relation_named("public", "refs_hidden")  # a foreign key to an unreadable table
    body = text(client.get(page_url(hidden) + "1/"))
    for sentinel in secret_sentinels:
        assert sentinel not in body


@pytest.mark.parametrize("key", ["99999999999999999999999", "-9223372036854775809"])
def test_keys_beyond_the_column_type_are_404_pages(client, key):
    """Django finds no SQL for an integer beyond the column's range (EmptyResultSet): no row."""
    response = client.get(page_url(relation_named("public", "big_2500")) + key + "/")
    assert response.status_code == 404
    assert "Row not found" in text(response)
