"""A list request's plan: everything it decides before touching the data.

The SQL of its rows (asked of the renderer's row source), the count's plan, the window and the
keyset paging. It depends only on the query string (and the format and host, which links carry),
so ``PlanCache`` keeps plans per viewset, that is per relation per snapshot, and a repeated URL
skips the FilterSet, the ORM and the SQL compiler. Every viewset's plans share one process-wide
``boundedcache.BytesCache`` of PLAN_CACHE_MB, sized by their SQL and parameters.
"""
from __future__ import annotations

from dataclasses import dataclass

from autoapi.boundedcache import BytesCache, new_scope, sizeof
from autoapi.conf import portal_setting
from autoapi.errors import BadRequest
from autoapi.query import aggregates, cursors, grouping, queries
from autoapi.query.ordering import order_queryset, ordering_terms, signature
from autoapi.query.pagination import CountPlan, Window, count_plan, parse_window, statement_bytes
from autoapi.query.shaping import parse_shape
from autoapi.schema.lookups import RESERVED_PARAMETERS, SELECTING_PARAMETERS
from autoapi.schema.typemap import type_info

PLAN_SECONDS = 600.0  # a plan holds as long as its snapshot; this only lets unused ones go


@dataclass(frozen=True)
class PagePlan:
    window: Window
    statement: queries.Statement
    count: CountPlan | None  # None for streams (?limit=all)
    keyset: bool  # the statement also returns each row's cursor values
    signature: str  # the ordering, as cursors record it
    key: tuple  # the cache key: format, URL, host, scheme

    @property
    def nbytes(self) -> int:
        """What the plan holds (``PlanCache``'s measure): its SQL and parameters, once each (``key``
        is the cache's own key, which the cache counts)."""
        count = self.count.nbytes if self.count is not None else 0
        return statement_bytes(self.statement) + count + sizeof(self.signature)


def is_filtered(params) -> bool:
    return any(name not in RESERVED_PARAMETERS or name in SELECTING_PARAMETERS for name in params)


# Reserved parameters whose values are names the snapshot knows or words of a fixed list, checked
# before any query: PostgreSQL never sees their text as a value.
NAMING_PARAMETERS = frozenset({"format", "limit", "fields", "ordering", "expand", "group_by", "aggregate", "filter-lang"})


def value_parameters(params) -> tuple[str, ...]:
    """The query parameters whose values reach PostgreSQL as values (filters, ``filter``,
    ``cursor``, ``offset``, ``having``...): the ones a data error can only have come from."""
    return tuple(name for name in params if name not in NAMING_PARAMETERS)


def build_plan(view, renderer, key: tuple) -> PagePlan:
    """The plan of ``view.request`` in ``renderer``'s format (``view``: a RelationViewSet)."""
    request, relation = view.request, view.relation
    params = request.query_params
    if aggregates.requested(params):
        window, statement, count = grouping.plan_parts(view, renderer, portal_setting("EXACT_COUNT_THRESHOLD"))
        return PagePlan(window=window, statement=statement, count=count, keyset=False, signature="", key=key)
    window = parse_window(params)
    shape = parse_shape(params, relation, view.snapshot, request.build_absolute_uri("/api/"),
                        embeds_allowed=renderer.embeds_rows)
    queryset, terms = selected_rows(view)
    keyset_terms = _keyset_terms(relation, terms, window, params)
    page_queryset = queryset
    if "cursor" in params:
        if keyset_terms is None:
            raise BadRequest("cursor paging needs a relation with a key, sortable ordering columns and no offset",
                             parameter="cursor")
        values = cursors.decode(params["cursor"], signature(terms))
        page_queryset = cursors.apply(queryset, cursors.keyset_condition(keyset_terms, values))
    cursor_columns = tuple(c for c, _ in keyset_terms) if keyset_terms and renderer.keyset_paging else ()
    return PagePlan(
        window=window,
        statement=renderer.statement(window.apply(page_queryset), shape, cursor_columns),
        count=None if window.is_everything else count_plan(
            queryset, filtered=is_filtered(params), estimated_total=relation.estimated_rows,
            row_security=relation.row_security),
        keyset=bool(cursor_columns),
        signature=signature(terms),
        key=key,
    )


def selected_rows(view):
    """The relation's rows as the request's filters select and its ordering sorts them, and the
    ordering terms: the one pipeline of pages, streams and the catalog's preview."""
    queryset = view.filter_queryset(view.get_queryset())
    terms = ordering_terms(view.relation, view.request.query_params.get("ordering", ""))
    return order_queryset(queryset, terms), terms


def _keyset_terms(relation, terms, window: Window, params):
    """The ordering terms when keyset paging can serve this request, else None."""
    if window.is_everything or "offset" in params or not relation.key:
        return None
    if not all(type_info(column).kind in cursors.CURSOR_KINDS for column, _ in terms):
        return None
    return terms


_plans = BytesCache("plans", "PLAN_CACHE_MB")


class PlanCache:
    """One viewset's plans by key (its viewset: one relation in one snapshot), kept in the process's
    byte-bounded plan cache under a scope of their own. A plan (``PagePlan``, ``tiles.TileQuery``)
    tells its size with ``nbytes``."""

    def __init__(self):
        self.scope = new_scope()

    def get_or_build(self, key: tuple, build):
        return _plans.get_or_build((self.scope, *key), build, lambda plan: plan.nbytes, PLAN_SECONDS)
