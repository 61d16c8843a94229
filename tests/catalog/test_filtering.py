"""The active filter in words, the add-a-filter form (no JavaScript needed), the clear and remove
links, and the API snippets of a relation page, which must work exactly as printed."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from html import unescape
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from django.http import QueryDict
from django.utils.html import escape

from catalog import filtering
from tests.catalog.helpers import page_url, relation_named, text

pytestmark = pytest.mark.db  # every test here reads the fixture database


def words(relation, query: str) -> str:
    return filtering.sentence(filtering.describe(relation, QueryDict(query)))


# -- words ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, expected",
    [
        ("id__gt=60", "where id > 60"),
        ("id__gt=60&label__in=row 0001,row 0002", "where id > 60 and label is one of row 0001, row 0002"),
        ("grp=3", "where grp = 3"),
        ("grp__exact=3", "where grp = 3"),
        ("grp!=3", "where grp ≠ 3"),
        ("id__gte=5&id__lt=9", "where id ≥ 5 and id < 9"),
        ("id__lte!=5", "where id is not ≤ 5"),
        ("id__range=10,20", "where id is between 10 and 20"),
        ("id__in!=1,2", "where id is none of 1, 2"),
        ("amount__isnull=true", "where amount is null"),
        ("amount__isnull=false", "where amount is not null"),
        ("amount__isnull!=true", "where amount is not null"),
        ("label__icontains=ROW", "where label contains “ROW” (ignoring case)"),
        ("label__startswith=row 1", "where label starts with “row 1”"),
        ("label__endswith!=9", "where label does not end with “9”"),
        ("label__regex=^row 00", "where label matches the regular expression “^row 00”"),
        ("label= padded ", "where label = “ padded ”"),
        ("label=", "where label = “”"),
        ("search=row 0001", "where the text holds every word of “row 0001”"),
        ("ordering=-id&format=csv", ""),
        ("nope=1", "where nope = “1”"),
    ],
)
def test_filters_in_words(query, expected):
    assert words(relation_named("public", "big_2500"), query) == expected


def test_bbox_in_words():
    relation = relation_named("public", "places_latlon")
    assert words(relation, "bbox=-80,40,-70,45") == "where the location lies within the box from (-80, 40) to (-70, 45)"
    assert words(relation, "bbox!=-80,40,-70,45").startswith("where the location lies outside the box")


def test_reserved_and_hazardous_column_names_in_words():
    relation = relation_named("public", "reserved_word_columns")
    # A real column named "search" is filtered as a column, not as the relation-wide search.
    assert words(relation, "search=x") == "where search = x"
    assert words(relation, "limit__exact=5") == "where limit = 5"
    assert filtering.parameter_for(relation, "limit", "exact", False) == "limit__exact"
    assert filtering.parameter_for(relation, "format", "exact", True) == "format__exact!"
    hazards = relation_named("public", "column_name_hazards")
    assert words(hazards, "a__b=dunder-mid") == "where a__b = dunder-mid"
    assert words(hazards, "com,ma__startswith=c") == "where com,ma starts with “c”"


# -- the relation page -------------------------------------------------------------------------------


def test_page_describes_the_filter_and_links_to_remove_each(client):
    relation = relation_named("public", "big_2500")
    response = client.get(page_url(relation), {"id__gt": "2490", "grp__in": "1,2", "ordering": "-id"})
    assert response.status_code == 200
    body = text(response)
    assert escape("Showing the rows where id > 2490 and grp is one of 1, 2.") in body
    removes = [unescape(h) for h in re.findall(r'<a href="([^"]*)">remove<', body)]
    assert len(removes) == 2
    assert all("ordering=-id" in link for link in removes)
    assert "grp__in" in removes[0] and "id__gt" not in removes[0]
    clear = unescape(re.search(r'<a href="([^"]*)">Clear filters</a>', body).group(1))
    assert dict(parse_qsl(urlsplit(clear).query)) == {"ordering": "-id"}
    assert client.get(clear).status_code == 200


def test_add_filter_form_works_without_javascript(client):
    relation = relation_named("public", "big_2500")
    body = text(client.get(page_url(relation), {"ordering": "-id", "offset": "20"}))
    form = re.search(r'<form method="get" action="([^"]*)">(.*?)</form>', body, re.S)
    assert form, "no add-a-filter form"
    action = unescape(form.group(1))
    assert action == page_url(relation) + "-/filter"
    hidden = unescape(re.search(r'name="query" value="([^"]*)"', form.group(2)).group(1))
    assert hidden == "ordering=-id"  # the page's parameters, less the offset (a new filter starts at row 1)
    for name in ("column", "lookup", "value", "negate"):
        assert f'name="{name}"' in form.group(2)
    response = client.get(action, {"query": hidden, "column": "id", "lookup": "gt", "value": "2490"})
    assert response.status_code == 303
    target = response["Location"]
    assert target == page_url(relation) + "?ordering=-id&id__gt=2490"
    followed = client.get(target)
    assert followed.status_code == 200
    assert "Rows 1–10 of 10 matching" in text(followed)
    assert escape("where id > 2490") in text(followed)


def test_add_filter_negation_isnull_and_reserved_names(client):
    relation = relation_named("public", "reserved_word_columns")
    action = page_url(relation) + "-/filter"
    response = client.get(action, {"column": "limit", "lookup": "exact", "value": "5", "negate": "1"})
    assert response["Location"] == page_url(relation) + "?limit__exact%21=5"
    assert client.get(response["Location"]).status_code == 200
    response = client.get(action, {"column": "pk", "lookup": "isnull", "value": ""})
    assert response["Location"] == page_url(relation) + "?pk__isnull=true"
    followed = text(client.get(response["Location"]))
    assert "where pk is null" in followed and "Rows 1–1 of 1 matching" in followed


def test_add_filter_rejects_a_lookup_the_column_lacks(client):
    relation = relation_named("public", "big_2500")
    action = page_url(relation) + "-/filter"
    response = client.get(action, {"column": "created", "lookup": "icontains", "value": "x", "query": "ordering=id"})
    assert response.status_code == 400
    body = text(response)
    assert "cannot be filtered with" in body and "is greater than" in body
    assert f'href="{page_url(relation)}?ordering=id"' in body  # back to where the reader was
    response = client.get(action, {"column": "zz_no_such_column", "lookup": "exact", "value": "1"})
    assert response.status_code == 400
    assert client.get(page_url(relation).replace("big_2500", "zz_none") + "-/filter").status_code == 404


def test_form_offers_each_column_its_own_lookups(client):
    relation = relation_named("public", "big_2500")
    body = text(client.get(page_url(relation)))
    options = dict(re.findall(r'<option value="([^"]*)" data-lookups="([^"]*)">', body))
    assert "icontains" in options["label"].split()
    assert "icontains" not in options["created"].split() and "gt" in options["created"].split()


# -- the API snippets --------------------------------------------------------------------------------


def _snippets(body: str) -> list[str]:
    return [unescape(code) for code in re.findall(r'<pre class="code"><code>(.*?)</code></pre>', body, re.S)]


def test_api_snippets_fetch_the_rows_on_screen(live_server_url):
    relation = relation_named("public", "big_2500")
    query = {"id__gt": "2400", "grp__in": "1,2", "ordering": "-id", "limit": "7", "offset": "7"}
    page = requests.get(live_server_url + page_url(relation), params=query, timeout=30)
    assert page.status_code == 200
    snippets = _snippets(page.text)
    python = next(s for s in snippets if s.startswith("import requests"))
    scope: dict = {}
    exec(compile(python, "<snippet>", "exec"), scope)  # noqa: S102 - our own page's example
    shown = re.findall(r'<a href="[^"]*/(\d+)/">\1</a>', page.text)
    assert [row["id"] for row in scope["rows"]] == [int(n) for n in shown]
    assert len(shown) == 7

    curl = next(s for s in snippets if s.startswith("curl '"))
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    result = subprocess.run(shlex.split(curl) + ["--silent", "--fail"], capture_output=True, timeout=30)
    assert result.returncode == 0
    assert [row["id"] for row in json.loads(result.stdout)["results"]] == [int(n) for n in shown]
