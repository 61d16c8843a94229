"""The ReadOnlyModelViewSet every relation is served by, and the factory that specialises it.

A snapshot builds one subclass per relation (``build_viewset``), once; requests only run it.
The viewset keeps DRF's shape (filter backends, content negotiation, list and retrieve), but asks
PostgreSQL to write the rows (see ``queries.py``) instead of serialising model instances.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import psycopg2
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connections
from django.db.models import F
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import viewsets

from autoapi import cursors, queries, replicas
from autoapi.errors import BadRequest, NotAcceptable, NotFound, RelationUnreadable, translate_database_error
from autoapi.exports import first_then_rest, stream_copy, stream_rows
from autoapi.filenames import content_disposition
from autoapi.filtersets import RESERVED_PARAMETERS
from autoapi.naming import decode_segment
from autoapi.pagination import count_plan, cursor_links, page_links, parse_window, run_count
from autoapi.shaping import parse_shape
from autoapi.renderers import ROW_RENDERERS, ROWS_AS_CSV, ROWS_AS_FEATURES
from autoapi.snapshot import Relation
from autoapi.typemap import type_info


class StrictParameterBackend:
    """Rejects any query parameter that is neither reserved nor a filter of this relation.

    django-filter ignores unknown parameters, so a typo would silently return every row.
    """

    def filter_queryset(self, request, queryset, view):
        filterset_class = view.filterset_class
        for name in request.query_params:
            if name in RESERVED_PARAMETERS or filterset_class.knows(name):
                continue
            column = name.split("__", 1)[0]
            allowed = view.lookups_by_column.get(column)
            if allowed is not None:
                raise BadRequest(
                    f"unknown lookup in query parameter {name!r}",
                    parameter=name,
                    allowed_lookups=list(allowed),
                )
            raise BadRequest(
                f"unknown query parameter {name!r}",
                parameter=name,
                allowed_parameters=sorted(RESERVED_PARAMETERS),
                columns=list(view.lookups_by_column),
            )
        return queryset


def ordering_terms(relation: Relation, raw: str) -> list[tuple]:
    """``a,-b`` -> [(column a, False), (column b, True)], then the tie-break columns ascending:
    the key, or (no key, but an ordering asked for) every other sortable column."""
    by_name = {c.name: c for c in relation.columns}
    terms, used = [], set()
    for term in filter(None, (t.strip() for t in raw.split(","))):
        descending = term.startswith("-")
        name = term[1:] if descending else term
        column = by_name.get(name)
        if column is None:
            try:
                column = by_name.get(decode_segment(name))
            except ValueError:
                column = None
        if column is None or not type_info(column).sortable:
            raise BadRequest(
                f"cannot order by {name!r}",
                parameter="ordering",
                allowed=[c.name for c in relation.columns if type_info(c).sortable],
            )
        if column.name not in used:
            terms.append((column, descending))
            used.add(column.name)
    if relation.key:
        tie_break = relation.key.columns
    elif terms:
        tie_break = [c.name for c in relation.columns if type_info(c).sortable]
    else:
        tie_break = []
    terms += [(by_name[name], False) for name in tie_break if name not in used]
    return terms


class ColumnOrderingBackend:
    """``?ordering=a,-b`` on sortable columns, always ending with the key as a stable tie-break."""

    def filter_queryset(self, request, queryset, view):
        terms = ordering_terms(view.relation, request.query_params.get("ordering", ""))
        view.ordering = terms
        # NULLs last in both directions (PostgreSQL puts them first when descending): a "largest
        # first" listing should open on values, not on rows that have none. Only where the column
        # can hold NULLs: a plain DESC on a NOT NULL column can still walk its index backwards.
        order = [
            (F(c.attname).desc(nulls_last=True) if c.nullable else F(c.attname).desc()) if descending else F(c.attname).asc()
            for c, descending in terms
        ]
        return queryset.order_by(*order) if order else queryset


PLAN_CACHE_SIZE = 256


ESTIMATE_SECONDS = 10  # how long a planner estimate of a page's count is reused


@dataclass(frozen=True)
class PagePlan:
    window: object
    statement: queries.Statement
    count: object  # a CountPlan; None for streams
    keyset: bool  # the statement also returns each row's cursor values
    signature: str  # the ordering, as cursors record it
    # The last planner estimate of the count and until when it may be reused (an estimate only
    # changes with ANALYZE; exact counts are never reused).
    estimate: dict = field(default_factory=dict)

    def count_rows(self, alias: str) -> tuple[int, bool]:
        now = time.monotonic()
        if self.estimate.get("until", 0) > now:
            return self.estimate["count"], True
        count, estimated = run_count(self.count, alias)
        if estimated and self.count.estimate is None:
            self.estimate.update(count=count, until=now + ESTIMATE_SECONDS)
        return count, estimated


class RelationViewSet(viewsets.ReadOnlyModelViewSet):
    """List and retrieve one relation in JSON, NDJSON, CSV and GeoJSON. Set by ``build_viewset``."""

    relation: Relation = None
    model = None
    filterset_class = None
    lookups_by_column: dict = {}
    snapshot = None
    ordering: list = []  # set per request by ColumnOrderingBackend
    filter_backends = [StrictParameterBackend, DjangoFilterBackend, ColumnOrderingBackend]
    renderer_classes = list(ROW_RENDERERS)
    pagination_class = None

    def get_queryset(self):
        return self.model._default_manager.all()

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:
            formats = ", ".join(r.format for r in self.renderer_classes)
            raise NotAcceptable(f"unknown format; choose one of {formats}", parameter="format") from None

    # -- helpers ---------------------------------------------------------------------------

    def _is_filtered(self) -> bool:
        return any(name not in RESERVED_PARAMETERS for name in self.request.query_params)

    def _database_error(self, exc: Exception):
        return translate_database_error(exc, filtered=self._is_filtered())

    def _geometry_source(self):
        source = queries.geometry_source(self.relation)
        if source is None:
            raise NotAcceptable(
                "this relation has no geometry (nor latitude/longitude columns), so it has no GeoJSON form",
                parameter="format",
            )
        return source

    def _shape(self, renderer):
        return parse_shape(
            self.request.query_params,
            self.relation,
            self.snapshot,
            self.request.build_absolute_uri("/api/"),
            embeds_allowed=renderer.rows_as != ROWS_AS_CSV,
        )

    def _statement(self, queryset, renderer, shape, cursor_columns=()):
        if renderer.rows_as == ROWS_AS_CSV:
            return queries.csv_copy(queryset, shape.columns)
        if renderer.rows_as == ROWS_AS_FEATURES:
            return queries.feature_rows(queryset, shape, self._geometry_source(), cursor_columns)
        return queries.json_rows(queryset, shape, cursor_columns)

    def _fetch(self, statement, renderer) -> list:
        """The rows of a page: JSON texts (or (JSON, cursor values) pairs), or CSV chunks."""
        alias = replicas.read_alias(self.request)  # a replica, or the primary (replicas.py)
        if renderer.rows_as == ROWS_AS_CSV:
            return list(stream_copy(statement, alias))
        with connections[alias].cursor() as cursor:
            cursor.execute(statement.sql, statement.params)
            return cursor.fetchall()

    def check_readable(self):
        if not self.relation.is_populated:
            raise RelationUnreadable(
                "this materialized view has not been populated yet (it needs REFRESH MATERIALIZED VIEW)"
            )

    def _cursor_terms(self, window):
        """The ordering terms when keyset paging can serve this request, else None."""
        params = self.request.query_params
        if window.is_everything or "offset" in params or not self.relation.key:
            return None
        if not all(type_info(column).kind in cursors.CURSOR_KINDS for column, _ in self.ordering):
            return None
        return self.ordering

    # -- actions ---------------------------------------------------------------------------

    def _plan(self, request, renderer) -> "PagePlan":
        """Everything a list request decides before touching the data: the SQL of its rows and
        of its count, and how to page on. It depends only on the query string (and the format
        and host), so it is cached per viewset, that is per relation per snapshot."""
        key = (renderer.format, request.get_full_path(), request.get_host(), request.is_secure())
        plan = self.plans.get(key)
        if plan is not None:
            return plan
        window = parse_window(request.query_params)
        shape = self._shape(renderer)
        queryset = self.filter_queryset(self.get_queryset())
        terms = self._cursor_terms(window)
        signature = ",".join(("-" if d else "") + c.name for c, d in self.ordering)
        page_queryset = queryset
        if "cursor" in request.query_params:
            if terms is None:
                raise BadRequest("cursor paging needs a relation with a key, sortable ordering columns and no offset",
                                 parameter="cursor")
            values = cursors.decode(request.query_params["cursor"], signature)
            page_queryset = cursors.apply(queryset, cursors.keyset_condition(terms, values))
        cursor_columns = tuple(c for c, _ in terms) if terms and renderer.rows_as != ROWS_AS_CSV else ()
        plan = PagePlan(
            window=window,
            statement=self._statement(window.apply(page_queryset), renderer, shape, cursor_columns),
            count=None if window.is_everything else count_plan(
                queryset, filtered=self._is_filtered(), estimated_total=self.relation.estimated_rows
            ),
            keyset=bool(cursor_columns),
            signature=signature,
        )
        if len(self.plans) >= PLAN_CACHE_SIZE:
            self.plans.clear()  # crude but bounded; a working set far larger is unusual
        self.plans[key] = plan
        return plan

    def list(self, request, *args, **kwargs):
        self.check_readable()
        renderer = request.accepted_renderer
        plan = self._plan(request, renderer)
        window, statement = plan.window, plan.statement
        content_type = f"{renderer.media_type}; charset=utf-8"
        alias = replicas.read_alias(request)  # rows and count from the same server
        try:
            if window.is_everything:
                source = (stream_copy if renderer.rows_as == ROWS_AS_CSV else stream_rows)(statement, alias)
                response = StreamingHttpResponse(
                    renderer.stream_body(first_then_rest(source)), content_type=content_type
                )
                response["X-Accel-Buffering"] = "no"  # let proxies pass the stream through
            else:
                fetched = self._fetch(statement, renderer)
                rows = fetched if renderer.rows_as == ROWS_AS_CSV else [row[0] for row in fetched]
                count, estimated = plan.count_rows(alias)
                envelope = {"count": count}
                if estimated:
                    envelope["count_is_estimate"] = True
                if plan.keyset:
                    last = fetched[-1][1] if fetched else None
                    envelope.update(cursor_links(request, window, len(rows), last, plan.signature))
                else:
                    envelope.update(page_links(request, window, count, len(rows)))
                response = HttpResponse(renderer.page_body(rows, envelope), content_type=content_type)
                links = [f'<{envelope[rel]}>; rel="{rel}"' for rel in ("next", "previous") if envelope.get(rel)]
                if links:
                    response["Link"] = ", ".join(links)
        except (DatabaseError, psycopg2.Error) as exc:
            raise self._database_error(exc) from exc
        # Every format names its file; a whole-relation download is saved, a page shown (README,
        # "Downloads").
        response["Content-Disposition"] = content_disposition(self.relation, renderer.format, window.is_everything)
        return response

    def retrieve(self, request, *args, **kwargs):
        self.check_readable()
        key = self.relation.key
        if key is None:
            raise NotFound("this relation has no primary or unique key, so its rows have no URL; use the list")
        values = _parse_key(kwargs.get("key", ""), len(key.columns))
        by_name = {c.name: c for c in self.relation.columns}
        try:
            queryset = self.get_queryset().filter(**{by_name[n].attname: v for n, v in zip(key.columns, values)})
        except (ValueError, TypeError, ValidationError):
            raise NotFound("no row has this key") from None
        renderer = request.accepted_renderer
        statement = self._statement(queryset[:1], renderer, self._shape(renderer))
        try:
            rows = self._fetch(statement, renderer)
        except (DatabaseError, psycopg2.Error) as exc:
            error = self._database_error(exc)
            raise (NotFound("no row has this key") if error.status_code == 400 else error) from exc
        if renderer.rows_as == ROWS_AS_CSV:
            body = b"".join(rows)
            found = body.count(b"\n") >= 2  # a header line, then the row
        else:
            found = bool(rows)
            body = rows[0][0].encode("utf-8") if found else b""
        if not found:
            raise NotFound("no row has this key")
        return HttpResponse(body, content_type=f"{renderer.media_type}; charset=utf-8")


def _parse_key(segment: str, size: int) -> list[str]:
    """A key in a URL: its values tilde-encoded, joined by commas (as Datasette does)."""
    parts = segment.split(",")
    if len(parts) != size:
        raise NotFound(f"this relation's key has {size} column(s); give {size} comma-separated value(s)")
    try:
        return [decode_segment(part) for part in parts]
    except ValueError:
        raise BadRequest("the key in the URL is not validly encoded (see the README on tilde encoding)") from None


def build_viewset(relation: Relation, model, filterset_class, snapshot) -> type[RelationViewSet]:
    lookups = {c.name: type_info(c).lookups for c in relation.columns}
    return type(
        f"{model.__name__}ViewSet",
        (RelationViewSet,),
        {
            "relation": relation,
            "snapshot": snapshot,
            "model": model,
            "queryset": model._default_manager.all(),
            "filterset_class": filterset_class,
            "lookups_by_column": lookups,
            "plans": {},
        },
    )
