"""Unit tests of ``autoapi/query/pagination.py``: ``parse_window`` (page size, ``limit=all``, bad values),
``Window.apply``, the capped count (``count_plan``/``run_count``) on the fixture database, and the
``next``/``previous`` links of offset and keyset pages built from a ``RequestFactory`` request.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.http import QueryDict
from django.test import RequestFactory
from rest_framework.request import Request

from autoapi.errors import BadRequest
from autoapi.query import cursors
from autoapi.query.pagination import (
    Window,
    count_plan,
    count_rows,
    cursor_links,
    page_links,
    parse_window,
    run_count,
)
from tests.autoapi.unit_helpers import fetch, queryset_for, relation

BASE = "/api/public/big_2500/"


@pytest.fixture
def page_sizes(settings):
    """PAGE_SIZE 25, MAX_PAGE_SIZE 40 (the rest of PORTAL as configured)."""
    settings.PORTAL = {**settings.PORTAL, "PAGE_SIZE": 25, "MAX_PAGE_SIZE": 40}


def request_for(query: str = "") -> Request:
    return Request(RequestFactory().get(BASE + (f"?{query}" if query else "")))


def query_of(url: str) -> QueryDict:
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "testserver", BASE)
    return QueryDict(parts.query)


# -- parse_window ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "window"),
    [
        ({}, Window(25, 0)),
        ({"limit": "", "offset": ""}, Window(25, 0)),
        ({"limit": "10"}, Window(10, 0)),
        ({"limit": "40", "offset": "80"}, Window(40, 80)),
        ({"limit": "0"}, Window(0, 0)),
        ({"limit": "all"}, Window(None, 0)),
        ({"limit": "ALL", "offset": "7"}, Window(None, 7)),
        ({"offset": "1000000"}, Window(25, 1000000)),
    ],
)
def test_parse_window(page_sizes, params, window):
    assert parse_window(params) == window
    assert parse_window(QueryDict("&".join(f"{k}={v}" for k, v in params.items()))) == window


def test_limit_all_is_everything(page_sizes):
    assert parse_window({"limit": "all"}).is_everything
    assert not parse_window({"limit": "40"}).is_everything


def test_defaults_come_from_the_settings():
    from autoapi.conf import portal_setting

    assert parse_window({}) == Window(portal_setting("PAGE_SIZE"), 0)


@pytest.mark.parametrize(
    ("params", "parameter", "words"),
    [
        ({"limit": "41"}, "limit", "at most 40"),
        ({"limit": "-1"}, "limit", "must not be negative"),
        ({"offset": "-5"}, "offset", "must not be negative"),
        ({"limit": "ten"}, "limit", "whole number"),
        ({"limit": "1.5"}, "limit", "whole number"),
        ({"limit": "1e3"}, "limit", "whole number"),
        ({"offset": "0x10"}, "offset", "whole number"),
        ({"limit": "everything"}, "limit", "whole number"),
        ({"limit": "all", "offset": "x"}, "offset", "whole number"),
        # ASCII digits only, as the OpenAPI pattern says (int() takes all of these).
        ({"limit": " 5"}, "limit", "whole number"),
        ({"offset": "+5"}, "offset", "whole number"),
        ({"limit": "1_0"}, "limit", "whole number"),
        ({"offset": "\u0665"}, "offset", "whole number"),
    ],
)
def test_bad_windows_are_400_naming_the_parameter(page_sizes, params, parameter, words):
    with pytest.raises(BadRequest) as caught:
        parse_window(params)
    assert caught.value.status_code == 400
    assert caught.value.as_dict()["parameter"] == parameter
    assert words in caught.value.detail


@pytest.mark.db
def test_window_apply_slices_the_queryset():
    queryset = queryset_for(relation("big_2500")).order_by("id")
    assert list(Window(3, 10).apply(queryset).values_list("id", flat=True)) == [11, 12, 13]
    assert list(Window(None, 2497).apply(queryset).values_list("id", flat=True)) == [2498, 2499, 2500]
    assert Window(None, 0).apply(queryset) is queryset
    assert list(Window(0, 0).apply(queryset)) == []


# -- counts --------------------------------------------------------------------------------------


@pytest.mark.db
def test_large_unfiltered_relation_takes_the_estimate_without_a_query():
    plan = count_plan(queryset_for(relation("big_2500")), filtered=False, estimated_total=10_000_000)
    assert (plan.estimate, plan.explain, plan.capped) == (10_000_000, None, None)
    assert run_count(plan) == (10_000_000, True)


@pytest.mark.db
def test_small_counts_are_exact():
    queryset = queryset_for(relation("big_2500")).filter(grp=3)
    expected = fetch("SELECT count(*) FROM public.big_2500 WHERE grp = 3")[0][0]
    assert expected == 357
    assert count_rows(queryset) == (357, False)
    assert count_rows(queryset_for(relation("big_2500")), filtered=False, estimated_total=2500) == (2500, False)
    assert count_rows(queryset_for(relation("no_rows")), filtered=False, estimated_total=0) == (0, False)


@pytest.mark.db
def test_capped_count_stops_at_threshold_plus_one(settings):
    settings.PORTAL = {**settings.PORTAL, "EXACT_COUNT_THRESHOLD": 200}
    plan = count_plan(queryset_for(relation("big_2500")).filter(grp=3))
    capped = fetch(plan.capped.sql, plan.capped.params)[0][0]
    assert capped == 201
    count, estimated = run_count(plan)
    assert estimated is True
    assert count >= 201  # never below what was counted


@pytest.mark.db
def test_planner_estimate_above_twice_the_threshold_skips_the_count(settings):
    settings.PORTAL = {**settings.PORTAL, "EXACT_COUNT_THRESHOLD": 100}
    queryset = queryset_for(relation("big_2500")).filter(amount__isnull=False)
    count, estimated = count_rows(queryset)
    assert estimated is True
    # The planner's figure from ANALYZE (2,250 rows have an amount), not a count capped at 101.
    assert 2000 < count < 2500


# -- page_links ----------------------------------------------------------------------------------


def test_middle_page_has_next_and_previous_keeping_other_parameters():
    request = request_for("grp=3&label__startswith=row%20~%2C&limit=10&offset=20")
    links = page_links(request, Window(10, 20), count=357, returned=10)
    following, preceding = query_of(links["next"]), query_of(links["previous"])
    for query, offset in ((following, "30"), (preceding, "10")):
        assert query["offset"] == offset and query["limit"] == "10"
        assert query["grp"] == "3"
        assert query["label__startswith"] == "row ~,"
    assert "~" in links["next"] and "," in links["next"]  # left readable (safe=",~")


def test_first_and_last_pages():
    first = page_links(request_for(), Window(10, 0), count=25, returned=10)
    assert first["previous"] is None and query_of(first["next"])["offset"] == "10"
    last = page_links(request_for("offset=20"), Window(10, 20), count=25, returned=5)
    assert last["next"] is None and query_of(last["previous"])["offset"] == "10"
    exactly_full = page_links(request_for("offset=15"), Window(10, 15), count=25, returned=10)
    assert exactly_full["next"] is None


def test_previous_never_goes_below_zero():
    links = page_links(request_for("offset=3"), Window(10, 3), count=25, returned=10)
    assert query_of(links["previous"])["offset"] == "0"


def test_unknown_count_offers_next_on_a_full_page():
    assert page_links(request_for(), Window(10, 0), count=None, returned=10)["next"] is not None
    assert page_links(request_for(), Window(10, 0), count=None, returned=9)["next"] is None


def test_limit_all_has_no_links():
    assert page_links(request_for("limit=all"), Window(None, 0), count=None, returned=2500) == {
        "next": None,
        "previous": None,
    }


def test_previous_of_an_empty_window_is_not_the_same_page():
    links = page_links(request_for("limit=0&offset=10"), Window(0, 10), count=25, returned=0)
    assert links["previous"] is None or query_of(links["previous"])["offset"] != "10"


# -- cursor_links --------------------------------------------------------------------------------


def test_cursor_link_carries_the_last_values_and_replaces_an_old_cursor():
    request = request_for("ordering=-amount&grp=3&cursor=old&limit=10")
    links = cursor_links(request, Window(10, 0), returned=10, last_values="[12.50, 7]", signature="-amount,id")
    assert links["previous"] is None
    query = query_of(links["next"])
    assert query.getlist("cursor") != ["old"] and len(query.getlist("cursor")) == 1
    assert cursors.decode(query["cursor"], "-amount,id") == [pytest.approx(12.5), 7]
    assert (query["ordering"], query["grp"], query["limit"]) == ("-amount", "3", "10")
    assert "offset" not in query


def test_no_cursor_link_after_a_short_or_empty_page():
    assert cursor_links(request_for(), Window(10, 0), 9, "[1]", "id") == {"next": None, "previous": None}
    assert cursor_links(request_for(), Window(10, 0), 0, None, "id") == {"next": None, "previous": None}
    assert cursor_links(request_for(), Window(0, 0), 0, None, "id")["next"] is None
