"""One list request over one relation, as an object: ``RelationQuery``.

Made from a published relation (``PublishedRelation``: the relation, its snapshot, the model and
FilterSet built for them) and the request's parameters (a QueryDict, never the request), it gives
the selected rows (filters, ``?filter=``, ordering), the statement a row source writes them with
(``plan``), the groups of ``?group_by=`` (``grouped``) and the count by the API's rules
(``count``). The viewset, OGC API items, tiles and the catalog facade all ask it: none of them
copies a request or changes a view to reuse the pipeline.

A row source (``formats/rowsources.py``) is passed in and used by its methods only
(``statement``, ``grouped_statement``, ``keyset_paging``, ``embeds_rows``), so this package never
imports the formats.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.http import QueryDict
from django_filters import utils as filter_utils

from autoapi.conf import portal_setting
from autoapi.errors import BadRequest, RelationUnreadable
from autoapi.query import aggregates, cursors, grouping, sampling
from autoapi.query.limits import limit
from autoapi.query.ordering import order_queryset, ordering_terms, signature
from autoapi.query.pagination import CountEstimates, CountPlan, Window, count_plan, parse_window
from autoapi.query.plans import PagePlan, PlanCache, is_filtered, keyset_terms
from autoapi.query.shaping import parse_shape
from autoapi.schema.lookups import NEGATION_SUFFIX, RESERVED_PARAMETERS
from autoapi.schema.snapshot import Relation
from autoapi.schema.typemap import type_info


@dataclass(frozen=True, eq=False)
class PublishedRelation:
    """What a snapshot builds once for a relation it publishes (``web/api.py``), and the caches of
    its plans and count estimates (per relation per snapshot)."""

    relation: Relation
    snapshot: object
    model: type
    filterset_class: type
    lookups_by_column: dict = field(default_factory=dict)
    # Readers of further conditions, each ``(params, relation, snapshot) -> Q | None``, applied after
    # the FilterSet: the API's ``?filter=`` (``cql2.backend.condition``), set where the API is built,
    # since the CQL2 package sits above this one.
    filters: tuple = ()
    plans: PlanCache = field(default_factory=PlanCache)
    count_estimates: CountEstimates = field(default_factory=CountEstimates)

    @classmethod
    def build(cls, relation: Relation, snapshot, model, filterset_class, filters: tuple = ()) -> PublishedRelation:
        return cls(
            relation,
            snapshot,
            model,
            filterset_class,
            {c.name: type_info(c).lookups for c in relation.columns},
            tuple(filters),
        )

    def query(self, params: QueryDict, api_root: str = "/api/", conditions: tuple = ()) -> RelationQuery:
        return RelationQuery(self, params, api_root=api_root, conditions=conditions)


class RelationQuery:
    """The rows of one relation that ``params`` select, and how to read them.

    ``api_root``: the absolute URL of ``/api/`` (rows' ``?expand=`` links carry it);
    ``conditions``: Q objects ANDed after the request's own filters (OGC API's ``datetime``).
    ``table_sample``: a ``sampling.TableSample`` to read the relation through, or None (every row):
    the catalog's facet estimates set it.
    """

    table_sample = None

    def __init__(
        self, published: PublishedRelation, params: QueryDict, *, api_root: str = "/api/", conditions: tuple = ()
    ):
        self.published = published
        self.relation = published.relation
        self.snapshot = published.snapshot
        self.params = params
        self.api_root = api_root
        self.conditions = tuple(conditions)

    # -- selection ---------------------------------------------------------------------------

    def check_readable(self) -> None:
        """A 4xx for a relation PostgreSQL cannot read rows from (an unpopulated materialized view)."""
        if not self.relation.is_populated:
            raise RelationUnreadable(
                "this materialized view has not been populated yet (it needs REFRESH MATERIALIZED VIEW)"
            )

    @property
    def is_filtered(self) -> bool:
        return is_filtered(self.params)

    @property
    def is_grouped(self) -> bool:
        return aggregates.requested(self.params)

    def all_rows(self):
        rows = self.published.model._default_manager.all()
        return rows if self.table_sample is None else sampling.sampled(rows, self.table_sample)

    def check_parameters(self) -> None:
        """A 400 for any parameter that is neither reserved nor a filter of this relation
        (django-filter ignores unknown parameters, so a typo would silently return every row)."""
        filterset_class = self.published.filterset_class
        lookups_by_column = self.published.lookups_by_column
        for name, values in self.params.lists():
            if name in RESERVED_PARAMETERS or filterset_class.knows(name):
                bound_fan_out(name, values)
                continue
            column = name.split("__", 1)[0]
            allowed = lookups_by_column.get(column)
            if allowed is not None:
                raise BadRequest(
                    f"unknown lookup in query parameter {name!r}", parameter=name, allowed_lookups=list(allowed)
                )
            raise BadRequest(
                f"unknown query parameter {name!r}",
                parameter=name,
                allowed_parameters=sorted(RESERVED_PARAMETERS),
                columns=list(lookups_by_column),
            )

    def filter(self, queryset):
        """``queryset`` narrowed by the parameters: the simple filters (the relation's FilterSet),
        then ``published.filters`` (``?filter=``), then ``conditions``. Raises DRF's ValidationError for a value
        the FilterSet refuses, BadRequest for the rest."""
        self.check_parameters()
        filterset = self.published.filterset_class(data=self.params, queryset=queryset)
        if not filterset.is_valid():
            raise filter_utils.translate_validation(filterset.errors)
        queryset = filterset.qs
        for read in self.published.filters:
            condition = read(self.params, self.relation, self.snapshot)
            if condition is not None:
                queryset = queryset.filter(condition)
        for condition in self.conditions:
            queryset = queryset.filter(condition)
        return queryset

    def filtered(self):
        """The relation's rows the parameters select, unordered."""
        return self.filter(self.all_rows())

    def selected(self):
        """(the selected rows in the request's order, the ordering terms): the one pipeline of
        pages, streams and the catalog's preview."""
        terms = ordering_terms(self.relation, self.params.get("ordering", ""))
        return order_queryset(self.filtered(), terms), terms

    # -- statements --------------------------------------------------------------------------

    def plan(self, source, key: tuple) -> PagePlan:
        """The page plan for ``source`` (a row source), cached per relation and snapshot by
        ``key`` (which must tell apart everything the plan depends on: format, URL, host)."""
        return self.published.plans.get_or_build(key, lambda: self.build_plan(source, key))

    def build_plan(self, source, key: tuple) -> PagePlan:
        params, relation = self.params, self.relation
        if self.is_grouped:
            window, statement, count = self.grouped(source, portal_setting("EXACT_COUNT_THRESHOLD"))
            return PagePlan(window=window, statement=statement, count=count, keyset=False, signature="", key=key)
        window = parse_window(params)
        shape = parse_shape(params, relation, self.snapshot, self.api_root, embeds_allowed=source.embeds_rows)
        queryset, terms = self.selected()
        keyset = keyset_terms(relation, terms, window, params)
        page_queryset = queryset
        if "cursor" in params:
            if keyset is None:
                raise BadRequest(
                    "cursor paging needs a relation with a key, sortable ordering columns and no offset",
                    parameter="cursor",
                )
            values = cursors.decode(params["cursor"], signature(terms))
            page_queryset = cursors.apply(queryset, cursors.keyset_condition(keyset, values))
        cursor_columns = tuple(c for c, _ in keyset) if keyset and source.keyset_paging else ()
        return PagePlan(
            window=window,
            statement=source.statement(window.apply(page_queryset), shape, cursor_columns),
            count=None
            if window.is_everything
            else count_plan(
                queryset,
                filtered=self.is_filtered,
                estimated_total=relation.estimated_rows,
                row_security=relation.row_security,
            ),
            keyset=bool(cursor_columns),
            signature=signature(terms),
            key=key,
        )

    def grouped(self, source, threshold: int) -> tuple[Window, object, CountPlan | None]:
        """(window, statement, count plan) of a grouped request (``?group_by=``/``?aggregate=``)."""
        return grouping.plan_parts(self, source, threshold)

    def rows_count_plan(self, queryset) -> CountPlan:
        return count_plan(
            queryset,
            filtered=self.is_filtered,
            estimated_total=self.relation.estimated_rows,
            row_security=self.relation.row_security,
        )

    # -- counting ----------------------------------------------------------------------------

    def count(self, plan: PagePlan, returned: int, alias: str) -> tuple[int, bool]:
        """(count, is_estimate) of a page read by ``plan`` that returned ``returned`` rows: a
        short page is the end (no query); else by the count plan, estimates reused a while."""
        window = plan.window
        if plan.count.from_page and returned < window.limit and (returned or not window.offset):
            return window.offset + returned, False
        return self.published.count_estimates.count(plan.key, plan.count, alias)


def bound_fan_out(name: str, values: list[str]) -> None:
    """A 400 for a simple filter that would fan out beyond the limits (docs/operations.md, "Bad input"):
    ``?search=`` words (each an OR of ILIKEs over every text column) and ``__in`` lists."""
    base = name.removesuffix(NEGATION_SUFFIX)
    for value in values:
        if base == "search" and len(value.split()) > limit("SEARCH_MAX_WORDS"):
            raise BadRequest(
                f"search takes at most {limit('SEARCH_MAX_WORDS')} words, not {len(value.split())}", parameter=name
            )
        if base.endswith("__in") and value.count(",") + 1 > limit("FILTER_MAX_LIST"):
            raise BadRequest(
                f"{name} takes at most {limit('FILTER_MAX_LIST')} values, not {value.count(',') + 1}", parameter=name
            )
