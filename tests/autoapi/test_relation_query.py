"""``autoapi/query/relation_query.py``: the list pipeline as one object, used without a request.

A RelationQuery made from a published relation and a QueryDict selects, orders, counts and
groups exactly as the API does for the same query string; the viewset's pagination keeps DRF's
signatures.
"""

from __future__ import annotations

import inspect
import json

import pytest
from django.http import QueryDict
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination

from autoapi.conf import DATABASE_ALIAS
from autoapi.errors import BadRequest
from autoapi.formats.rowsources import JSONRows
from autoapi.query.pagination import RowPagination
from autoapi.web.registry import registry

pytestmark = pytest.mark.db  # every test reads the fixture database

QUERY = "grp=3&amount__gt=100&ordering=-amount,id&limit=7&offset=2"


def published(name: str = "big_2500"):
    endpoints = registry.current().endpoints("public", name)
    assert endpoints is not None
    return endpoints.published


def api_page(client, query: str) -> dict:
    response = client.get(f"/api/public/big_2500/?{query}")
    assert response.status_code == 200, response.content
    return json.loads(b"".join(response.streaming_content) if response.streaming else response.content)


def test_rows_and_count_are_the_apis(client):
    query = published().query(QueryDict(QUERY))
    plan = query.plan(JSONRows(), ("test", QUERY))
    page = JSONRows().read_page(plan.statement, DATABASE_ALIAS)
    rows = [json.loads(row) for row in page.rows]
    expected = api_page(client, QUERY)
    assert rows == expected["results"]
    assert query.count(plan, page.returned, DATABASE_ALIAS) == (expected["count"], False)
    # the same rows through the catalog's entry: the selected queryset, in order
    queryset, _terms = query.selected()
    assert [r["id"] for r in rows] == list(queryset.values_list("id", flat=True)[2:9])


def test_groups_are_the_apis(client):
    params = "group_by=grp&aggregate=count,sum:amount&ordering=-count&amount__lt=500"
    _window, statement, _count = published().query(QueryDict(params)).grouped(JSONRows(), 0)
    groups = [json.loads(row) for row in JSONRows().read_page(statement, DATABASE_ALIAS).rows]
    assert groups == api_page(client, params)["results"]


def test_extra_conditions_are_anded():
    from django.db.models import Q

    query = published().query(QueryDict("grp=3"), conditions=(Q(id__lt=50),))
    assert set(query.filtered().values_list("id", flat=True)) == {i for i in range(1, 50) if i % 7 == 3}


@pytest.mark.parametrize("params", ["colour=red", "grp__near=3"])
def test_unknown_parameters_are_refused(params):
    with pytest.raises(BadRequest):
        published().query(QueryDict(params)).filtered()


def test_refused_values_raise_drfs_validation_error():
    with pytest.raises(ValidationError):
        published().query(QueryDict("grp=three")).filtered()


def test_cql2_filter_applies_without_a_request():
    query = published().query(QueryDict("filter=id < 4"))
    assert sorted(query.filtered().values_list("id", flat=True)) == [1, 2, 3]


def test_pagination_has_drfs_signatures():
    assert issubclass(RowPagination, BasePagination)
    assert list(inspect.signature(RowPagination.paginate_queryset).parameters) == [
        "self",
        "queryset",
        "request",
        "view",
    ]
    assert list(inspect.signature(RowPagination.get_paginated_response).parameters) == ["self", "data"]
