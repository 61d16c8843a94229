"""A list request's plan: everything it decides before touching the data (built by
``RelationQuery.build_plan``).

The SQL of its rows (asked of the renderer's row source), the count's plan, the window and the
keyset paging. It depends only on the query string (and the format and host, which links carry),
so ``PlanCache`` keeps plans per viewset, that is per relation per snapshot, and a repeated URL
skips the FilterSet, the ORM and the SQL compiler. Every viewset's plans share one process-wide
``boundedcache.BytesCache`` of PLAN_CACHE_MB, sized by their SQL and parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from autoapi.boundedcache import BytesCache, new_scope, sizeof
from autoapi.query import cursors, queries
from autoapi.query.pagination import CountPlan, Window, statement_bytes
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
NAMING_PARAMETERS = frozenset(
    {"format", "limit", "fields", "ordering", "expand", "group_by", "aggregate", "filter-lang"}
)


def value_parameters(params) -> tuple[str, ...]:
    """The query parameters whose values reach PostgreSQL as values (filters, ``filter``,
    ``cursor``, ``offset``, ``having``...): the ones a data error can only have come from."""
    return tuple(name for name in params if name not in NAMING_PARAMETERS)


def keyset_terms(relation, terms, window: Window, params):
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
