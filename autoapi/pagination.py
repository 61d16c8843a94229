"""Limit/offset paging that tells the truth: a capped page size, ``?limit=all`` for everything,
and a count that is exact up to a threshold and the planner's estimate (marked so) above it."""
from __future__ import annotations

import json
from dataclasses import dataclass

from django.db import connections

from autoapi.conf import DATABASE_ALIAS, portal_setting
from autoapi.errors import BadRequest
from autoapi.queries import Statement, count_sql, explain_sql

ALL = "all"
# A filtered count trusts the planner when it expects this many times the exact-count threshold:
# the exact count would then almost surely pass the threshold and be reported as an estimate anyway.
PLANNER_MARGIN = 2


@dataclass(frozen=True)
class Window:
    limit: int | None  # None means every row (?limit=all)
    offset: int

    @property
    def is_everything(self) -> bool:
        return self.limit is None

    def apply(self, queryset):
        if self.limit is None:
            return queryset[self.offset :] if self.offset else queryset
        return queryset[self.offset : self.offset + self.limit]


def _non_negative_int(params, name: str, default: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number", parameter=name) from None
    if value < 0:
        raise BadRequest(f"{name} must not be negative", parameter=name)
    return value


def parse_window(params) -> Window:
    offset = _non_negative_int(params, "offset", 0)
    if str(params.get("limit", "")).lower() == ALL:
        return Window(None, offset)
    maximum = portal_setting("MAX_PAGE_SIZE")
    limit = _non_negative_int(params, "limit", portal_setting("PAGE_SIZE"))
    if limit > maximum:
        raise BadRequest(f"limit may be at most {maximum}; use limit=all to stream every row", parameter="limit")
    return Window(limit, offset)


@dataclass(frozen=True)
class CountPlan:
    """How a page's count is found: a known estimate, or the planner's estimate and then a
    capped exact count (``statements``)."""

    estimate: int | None = None
    explain: Statement | None = None
    capped: Statement | None = None


def count_plan(queryset, *, filtered: bool = True, estimated_total: int | None = None) -> CountPlan:
    """Never counts millions of rows: an unfiltered relation known (from the snapshot) to be
    large takes its row estimate at once; a filtered one asks the planner first, and counts
    exactly (at most threshold + 1 rows) only when the plan says the answer may be small."""
    threshold = portal_setting("EXACT_COUNT_THRESHOLD")
    if not filtered and estimated_total is not None and estimated_total > threshold:
        return CountPlan(estimate=estimated_total)
    return CountPlan(explain=explain_sql(queryset), capped=count_sql(queryset, threshold + 1))


def run_count(plan: CountPlan, alias: str = DATABASE_ALIAS) -> tuple[int, bool]:
    """(count, is_estimate): exact up to EXACT_COUNT_THRESHOLD, else the planner's estimate; read
    from ``alias`` (the request's read replica, or the primary)."""
    if plan.estimate is not None:
        return plan.estimate, True
    threshold = portal_setting("EXACT_COUNT_THRESHOLD")
    with connections[alias].cursor() as cursor:
        cursor.execute(plan.explain.sql, plan.explain.params)
        explained = cursor.fetchone()[0]
        explained = json.loads(explained) if isinstance(explained, str) else explained
        planned = int(explained[0]["Plan"]["Plan Rows"])
        if planned > threshold * PLANNER_MARGIN:
            return planned, True
        cursor.execute(plan.capped.sql, plan.capped.params)
        exact = cursor.fetchone()[0]
        if exact <= threshold:
            return exact, False
        return max(planned, exact), True


def count_rows(queryset, *, filtered: bool = True, estimated_total: int | None = None,
               alias: str = DATABASE_ALIAS) -> tuple[int, bool]:
    return run_count(count_plan(queryset, filtered=filtered, estimated_total=estimated_total), alias)


def page_links(request, window: Window, count: int | None, returned: int) -> dict:
    """``next`` and ``previous`` absolute URLs, keeping every other parameter as it was."""
    links = {"next": None, "previous": None}
    if window.limit is None:
        return links

    def url(offset: int) -> str:
        params = request.query_params.copy()
        params["offset"] = str(offset)
        params["limit"] = str(window.limit)
        return request.build_absolute_uri(request.path) + "?" + params.urlencode(safe=",~")

    more = returned >= window.limit and (count is None or window.offset + window.limit < count)
    if more and window.limit:
        links["next"] = url(window.offset + window.limit)
    if window.offset > 0 and window.limit:  # an empty window has no page before it
        links["previous"] = url(max(window.offset - window.limit, 0))
    return links


def cursor_links(request, window: Window, returned: int, last_values: str | None, signature: str) -> dict:
    """``next`` as a keyset cursor after the page's last row (no ``previous``: keyset paging only
    walks forward; start again without a cursor for the first page)."""
    from autoapi import cursors

    links = {"next": None, "previous": None}
    if last_values is not None and returned >= window.limit > 0:
        params = request.query_params.copy()
        params["cursor"] = cursors.encode(signature, last_values)
        links["next"] = request.build_absolute_uri(request.path) + "?" + params.urlencode(safe=",~")
    return links
