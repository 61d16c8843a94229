"""Paging that tells the truth: a capped page size, ``?limit=all`` for everything, a count that is
exact up to a threshold and the planner's estimate (marked so) above it, and links to the next
page by offset or by keyset cursor.

``RowPagination`` has the shape of DRF's pagination classes (``paginate_queryset`` reads the page,
``get_paginated_response`` frames it), for rows PostgreSQL has already written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import quote

from django.db import connections
from django.http import HttpResponse
from rest_framework.pagination import BasePagination

from autoapi.boundedcache import BytesCache, new_scope, sizeof
from autoapi.conf import DATABASE_ALIAS, portal_setting
from autoapi.db import replicas
from autoapi.db import sql as composed
from autoapi.db.context import full_path_of, host_of
from autoapi.db.sql import Statement
from autoapi.errors import BadRequest
from autoapi.query import cursors
from autoapi.query.queries import selection_sql

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


BIGINT_MAX = 2**63 - 1


def non_negative_int(params, name: str, default: int) -> int:
    """``params[name]`` as a whole number >= 0 (``default`` when absent or empty), else a 400."""
    raw = params.get(name)
    if raw in (None, ""):
        return default
    if str(raw).startswith("-") and str(raw)[1:].isdigit():
        raise BadRequest(f"{name} must not be negative", parameter=name)
    # ASCII digits only, as the OpenAPI document says: int() would also take " 5", "+5", "1_0"
    # and other scripts' digits.
    if not (str(raw).isascii() and str(raw).isdigit()):
        raise BadRequest(f"{name} must be a whole number", parameter=name)
    value = int(raw)
    if value > BIGINT_MAX:  # PostgreSQL's LIMIT and OFFSET are bigints
        raise BadRequest(f"{name} must be at most {BIGINT_MAX}", parameter=name)
    return value


def parse_window(params) -> Window:
    offset = non_negative_int(params, "offset", 0)
    if str(params.get("limit", "")).lower() == ALL:
        return Window(None, offset)
    maximum = portal_setting("MAX_PAGE_SIZE")
    limit = non_negative_int(params, "limit", portal_setting("PAGE_SIZE"))
    if limit > maximum:
        raise BadRequest(f"limit may be at most {maximum}; use limit=all to stream every row", parameter="limit")
    return Window(limit, offset)


@dataclass(frozen=True)
class CountPlan:
    """How a page's count is found: a known estimate, or the planner's estimate of ``rows`` and
    then a count of ``rows`` capped at the threshold, or (``exact``, under row security) a count of
    every row. The selection's SQL is kept once; the EXPLAIN and the count are written around it
    when run (a plan is cached, ``plans.py``)."""

    estimate: int | None = None
    rows: Statement | None = None  # the selected rows, unordered, without LIMIT
    from_page: bool = False  # a page shorter than its limit is the end: offset + rows is exact
    exact: bool = False  # count every row, never ask the planner

    @property
    def explain(self) -> Statement | None:
        if self.rows is None or self.exact:
            return None
        return composed.explain(self.rows)

    @property
    def capped(self) -> Statement | None:
        if self.rows is None:
            return None
        return composed.count(self.rows, None if self.exact else portal_setting("EXACT_COUNT_THRESHOLD") + 1)

    @property
    def nbytes(self) -> int:
        return 0 if self.rows is None else statement_bytes(self.rows)


def statement_bytes(statement: Statement) -> int:
    """The memory a statement holds: its SQL and its parameters (``boundedcache.sizeof``)."""
    return sizeof(statement.sql) + sizeof(statement.params)


def count_plan(
    queryset, *, filtered: bool = True, estimated_total: int | None = None, row_security: bool = False
) -> CountPlan:
    """Never counts millions of rows: an unfiltered relation known (from the snapshot) to be
    large takes its row estimate at once; a filtered one asks the planner first, and counts
    exactly (at most threshold + 1 rows) only when the plan says the answer may be small.

    Except under row security (``Relation.row_security``): the planner's estimates come from
    statistics of every row, seen or not, so the count is exact, whatever it costs."""
    if row_security:  # a short page is the end: no count at all then
        return CountPlan(rows=selection_sql(queryset), exact=True, from_page=True)
    threshold = portal_setting("EXACT_COUNT_THRESHOLD")
    if not filtered and estimated_total is not None and estimated_total > threshold:
        return CountPlan(estimate=estimated_total)
    return CountPlan(rows=selection_sql(queryset))


def run_count(plan: CountPlan, alias: str = DATABASE_ALIAS) -> tuple[int, bool]:
    """(count, is_estimate): exact up to EXACT_COUNT_THRESHOLD, else the planner's estimate; read
    from ``alias`` (the request's read replica, or the primary)."""
    if plan.estimate is not None:
        return plan.estimate, True
    threshold = portal_setting("EXACT_COUNT_THRESHOLD")
    with connections[alias].cursor() as cursor:
        if plan.exact:  # row security
            every = composed.count(plan.rows, None)
            cursor.execute(every.sql, every.params)
            return cursor.fetchone()[0], False
        cursor.execute(plan.explain.sql, plan.explain.params)
        explained = cursor.fetchone()[0]
        explained = json.loads(explained) if isinstance(explained, str) else explained
        planned = int(explained[0]["Plan"]["Plan Rows"])
        if planned > threshold * PLANNER_MARGIN:
            return planned, True
        capped = composed.count(plan.rows, threshold + 1)
        cursor.execute(capped.sql, capped.params)
        exact = cursor.fetchone()[0]
        if exact <= threshold:
            return exact, False
        return max(planned, exact), True


def count_rows(
    queryset,
    *,
    filtered: bool = True,
    estimated_total: int | None = None,
    row_security: bool = False,
    alias: str = DATABASE_ALIAS,
) -> tuple[int, bool]:
    return run_count(
        count_plan(queryset, filtered=filtered, estimated_total=estimated_total, row_security=row_security), alias
    )


def _url_with(request, **replace: str) -> str:
    """The request's absolute URL with these query parameters set: each keeps its place (a new one
    comes last), every other parameter stays as it was; encoded as ``QueryDict.urlencode(safe=",~")``
    encodes, without copying the query string first."""
    pending = dict(replace)
    parts = []
    for key, values in request.query_params.lists():
        name = _quoted(key)
        if key in pending:
            values = [pending.pop(key)]
        parts.extend(f"{name}={_quoted(str(value))}" for value in values)
    parts.extend(f"{_quoted(key)}={_quoted(value)}" for key, value in pending.items())
    return request.build_absolute_uri(request.path) + "?" + "&".join(parts)


_LINK_SAFE = ",~"
_UNQUOTED = re.compile(r"[A-Za-z0-9_.,~-]*")  # what quote(text, _LINK_SAFE) leaves as it is


def _quoted(text: str) -> str:
    return text if _UNQUOTED.fullmatch(text) else quote(text, _LINK_SAFE)


def page_links(request, window: Window, count: int | None, returned: int) -> dict:
    """``next`` and ``previous`` absolute URLs, keeping every other parameter as it was."""
    links = {"next": None, "previous": None}
    if window.limit is None:
        return links

    def url(offset: int) -> str:
        return _url_with(request, offset=str(offset), limit=str(window.limit))

    more = returned >= window.limit and (count is None or window.offset + window.limit < count)
    if more and window.limit:
        links["next"] = url(window.offset + window.limit)
    if window.offset > 0 and window.limit:  # an empty window has no page before it
        links["previous"] = url(max(window.offset - window.limit, 0))
    return links


def cursor_links(request, window: Window, returned: int, last_values: str | None, signature: str) -> dict:
    """``next`` as a keyset cursor after the page's last row (no ``previous``: keyset paging only
    walks forward; start again without a cursor for the first page)."""
    links = {"next": None, "previous": None}
    if last_values is not None and returned >= window.limit > 0:
        links["next"] = _url_with(request, cursor=cursors.encode(signature, last_values))
    return links


ESTIMATE_SECONDS = 10  # how long a planner estimate of a page's count is reused


_estimates = BytesCache("count estimates", "COUNT_CACHE_MB")


class CountEstimates:
    """Planner estimates of page counts, by plan key, reused for ESTIMATE_SECONDS: an estimate
    only changes with ANALYZE (exact counts are never reused). One per viewset, all kept in the
    process's byte-bounded cache of COUNT_CACHE_MB under a scope of their own."""

    def __init__(self):
        self.scope = new_scope()

    def count(self, key: tuple, plan: CountPlan, alias: str) -> tuple[int, bool]:
        full_key = (self.scope, *key)
        found = _estimates.get(full_key)
        if found is not None:
            return found, True
        count, estimated = run_count(plan, alias)
        if estimated and plan.estimate is None:
            _estimates.put(full_key, count, sizeof(count), ESTIMATE_SECONDS)
        return count, estimated


class RowPagination(BasePagination):
    """DRF's pagination hooks, for rows PostgreSQL writes. Set on the viewset as
    ``pagination_class``.

    ``paginate_queryset(queryset, request, view)`` takes the request's ``RelationQuery`` as its
    queryset and returns the page's rows (each already written by the request's renderer), or
    None for ``?limit=all``, which is streamed instead of paged (as DRF returns None when a view
    has no paginator). ``get_paginated_response(data)`` frames the rows with the envelope (count,
    next, previous) and the ``Link`` header.
    """

    def paginate_queryset(self, queryset, request, view=None):
        renderer = request.accepted_renderer
        plan = queryset.plan(renderer, plan_key(renderer.format, request))
        if plan.window.is_everything:
            return None
        self.query, self.request, self.renderer, self.plan = queryset, request, renderer, plan
        self.alias = replicas.read_alias(request)  # rows and count from the same server
        self.page = renderer.read_page(plan.statement, self.alias)
        return self.page.rows

    def get_envelope(self) -> dict:
        return envelope(self.request, self.query, self.plan, self.page, self.alias)

    def get_paginated_response(self, data) -> HttpResponse:
        envelope_ = self.get_envelope()
        response = HttpResponse(self.renderer.page_body(data, envelope_), content_type=content_type(self.renderer))
        links = [f'<{envelope_[rel]}>; rel="{rel}"' for rel in ("next", "previous") if envelope_.get(rel)]
        if links:
            response["Link"] = ", ".join(links)
        return response


def plan_key(format_: str, request) -> tuple:
    """A plan's cache key: what besides the query string its SQL and links depend on."""
    return (format_, full_path_of(request), host_of(request), request.is_secure())


def envelope(request, query, plan, page, alias: str) -> dict:
    """A page's count (``RelationQuery.count``) and its links, by offset or by keyset cursor."""
    count, estimated = query.count(plan, page.returned, alias)
    result: dict = {"count": count}
    if estimated:
        result["count_is_estimate"] = True
    if plan.keyset:
        result.update(cursor_links(request, plan.window, page.returned, page.last_cursor_values, plan.signature))
    else:
        result.update(page_links(request, plan.window, count, page.returned))
    return result


def content_type(renderer) -> str:
    """The renderer's media type, with a charset unless its files are binary (Parquet, XLSX)."""
    return renderer.media_type + ("" if getattr(renderer, "binary", False) else "; charset=utf-8")
