"""The ReadOnlyModelViewSet every relation is served by, and the factory that specialises it.

A snapshot builds one subclass per relation (``build_viewset``), once; requests only run it.
The viewset keeps DRF's shape (filter backends, content negotiation, a pagination class, list and
retrieve), but its renderers ask PostgreSQL to write the rows (``rowsources.py``) instead of
serialising model instances.
"""
from __future__ import annotations

import psycopg2
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import viewsets

from autoapi.cql2.backend import CQL2FilterBackend
from autoapi.db import replicas
from autoapi.errors import BadRequest, NotAcceptable, NotFound, RelationUnreadable, translate_database_error
from autoapi.formats import renderers, tiles
from autoapi.formats.exports import first_then_rest
from autoapi.formats.filenames import content_disposition
from autoapi.formats.renderers import ROW_RENDERERS
from autoapi.query import aggregates
from autoapi.query.limits import limit
from autoapi.query.pagination import CountEstimates, RowPagination
from autoapi.query.plans import PagePlan, PlanCache, build_plan, is_filtered, value_parameters
from autoapi.query.shaping import parse_shape
from autoapi.schema.lookups import NEGATION_SUFFIX, RESERVED_PARAMETERS
from autoapi.schema.naming import decode_key
from autoapi.schema.snapshot import Relation
from autoapi.schema.typemap import type_info


class StrictParameterBackend:
    """Rejects any query parameter that is neither reserved nor a filter of this relation.

    django-filter ignores unknown parameters, so a typo would silently return every row.
    """

    def filter_queryset(self, request, queryset, view):
        filterset_class = view.filterset_class
        for name, values in request.query_params.lists():
            if name in RESERVED_PARAMETERS or filterset_class.knows(name):
                bound_fan_out(name, values)
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


def bound_fan_out(name: str, values: list[str]) -> None:
    """A 400 for a simple filter that would fan out beyond the limits (docs/operations.md, "Bad input"):
    ``?search=`` words (each an OR of ILIKEs over every text column) and ``__in`` lists."""
    base = name.removesuffix(NEGATION_SUFFIX)
    for value in values:
        if base == "search" and len(value.split()) > limit("SEARCH_MAX_WORDS"):
            raise BadRequest(f"search takes at most {limit('SEARCH_MAX_WORDS')} words, not {len(value.split())}",
                             parameter=name)
        if base.endswith("__in") and value.count(",") + 1 > limit("FILTER_MAX_LIST"):
            raise BadRequest(f"{name} takes at most {limit('FILTER_MAX_LIST')} values, not {value.count(',') + 1}",
                             parameter=name)


class RelationViewSet(viewsets.ReadOnlyModelViewSet):
    """List and retrieve one relation in every format of ``renderers.ROW_RENDERERS``. Set by
    ``build_viewset``. A list is filter -> paginate (or stream) -> render; the renderer is the row
    source that asks PostgreSQL for its rows (``rowsources.py``), so nothing here asks which
    format it serves."""

    relation: Relation = None
    model = None
    filterset_class = None
    lookups_by_column: dict = {}
    snapshot = None
    plans: PlanCache = None  # per relation per snapshot (build_viewset)
    count_estimates: CountEstimates = None
    filter_backends = [StrictParameterBackend, DjangoFilterBackend, CQL2FilterBackend]
    renderer_classes = list(ROW_RENDERERS)
    pagination_class = RowPagination

    def get_queryset(self):
        return self.model._default_manager.all()

    def perform_content_negotiation(self, request, force=False):
        # A tile is a tile whatever the client accepts (MapLibre asks for its own media type).
        force = force or self.action in ("tile", "tilejson")
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:
            formats = ", ".join(r.format for r in self.renderer_classes)
            raise NotAcceptable(f"unknown format; choose one of {formats}", parameter="format") from None

    def check_readable(self):
        if not self.relation.is_populated:
            raise RelationUnreadable(
                "this materialized view has not been populated yet (it needs REFRESH MATERIALIZED VIEW)"
            )

    def get_plan(self, renderer) -> PagePlan:
        request = self.request
        key = (renderer.format, request.get_full_path(), request.get_host(), request.is_secure())
        return self.plans.get_or_build(key, lambda: build_plan(self, renderer, key))

    def _database_error(self, exc: Exception):
        params = self.request.query_params
        return translate_database_error(exc, filtered=is_filtered(params), grouped=aggregates.requested(params),
                                        inputs=value_parameters(params))

    def list(self, request, *args, **kwargs):
        self.check_readable()
        renderer = request.accepted_renderer
        plan = self.get_plan(renderer)
        alias = replicas.read_alias(request)  # rows and count from the same server
        content_type = _content_type(renderer)
        try:
            if plan.window.is_everything:
                response = self.stream_response(renderer, plan, alias, content_type)
            else:
                self.paginator.paginate_queryset(plan, renderer, alias, self)
                response = self.paginator.get_paginated_response(content_type)
        except (DatabaseError, psycopg2.Error) as exc:
            raise self._database_error(exc) from exc
        # Every format names its file; a whole-relation download is saved, a page shown (docs/downloads.md,
        # "Downloads").
        response["Content-Disposition"] = content_disposition(self.relation, renderer.format, plan.window.is_everything)
        return response

    def stream_response(self, renderer, plan: PagePlan, alias: str, content_type: str) -> StreamingHttpResponse:
        """Every selected row, streamed; the query runs up to its first chunk first, so that an
        error is still a 4xx rather than a cut 200."""
        body = renderer.stream_body(first_then_rest(renderer.stream(plan.statement, alias)))
        response = StreamingHttpResponse(body, content_type=content_type)
        response["X-Accel-Buffering"] = "no"  # let proxies pass the stream through
        return response

    def tile(self, request, z=0, x=0, y=0, **kwargs):
        self.check_readable()
        try:
            return tiles.tile_response(self, int(z), int(x), int(y))
        except (DatabaseError, psycopg2.Error) as exc:
            raise self._database_error(exc) from exc

    def tilejson(self, request, **kwargs):
        return tiles.tilejson(self)

    def retrieve(self, request, *args, **kwargs):
        self.check_readable()
        key = self.relation.key
        if key is None:
            raise NotFound("this relation has no primary or unique key, so its rows have no URL; use the list")
        values = parse_key(kwargs.get("key", ""), len(key.columns))
        by_name = {c.name: c for c in self.relation.columns}
        try:
            queryset = self.get_queryset().filter(**{by_name[n].attname: v for n, v in zip(key.columns, values)})
        except (ValueError, TypeError, ValidationError):
            raise NotFound("no row has this key") from None
        renderer = request.accepted_renderer
        shape = parse_shape(request.query_params, self.relation, self.snapshot, request.build_absolute_uri("/api/"),
                            embeds_allowed=renderer.embeds_rows)
        try:
            page = renderer.read_page(renderer.statement(queryset[:1], shape), replicas.read_alias(request))
        except (DatabaseError, psycopg2.Error) as exc:
            error = self._database_error(exc)
            raise (NotFound("no row has this key") if error.status_code == 400 else error) from exc
        body = renderer.row_body(page)
        if body is None:
            raise NotFound("no row has this key")
        return HttpResponse(body, content_type=_content_type(renderer))


def _content_type(renderer) -> str:
    """The renderer's media type, with a charset unless its files are binary (Parquet, XLSX)."""
    return renderer.media_type + ("" if getattr(renderer, "binary", False) else "; charset=utf-8")


def parse_key(segment: str, size: int) -> list[str]:
    """A key in a URL (``naming.decode_key``), with the errors a client sees."""
    try:
        values = decode_key(segment)
    except ValueError:
        raise BadRequest("the key in the URL is not validly encoded (see docs/api.md, Names in paths)",
                         parameter="key") from None
    if any("\x00" in value for value in values):  # ~00: PostgreSQL stores no NUL, psycopg2 sends none
        raise NotFound("no row has this key (no PostgreSQL value holds a NUL character)")
    if len(values) != size:
        raise NotFound(f"this relation's key has {size} column(s); give {size} comma-separated value(s)")
    return values


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
            "plans": PlanCache(),
            "count_estimates": CountEstimates(),
            "renderer_classes": list(renderers.ROW_RENDERERS),  # the registry as it is now
        },
    )
