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
from rest_framework import viewsets

from autoapi.db import replicas
from autoapi.errors import BadRequest, NotAcceptable, NotFound, translate_database_error
from autoapi.formats import renderers, tiles
from autoapi.formats.exports import first_then_rest
from autoapi.formats.filenames import content_disposition
from autoapi.formats.renderers import ROW_RENDERERS
from autoapi.query import aggregates
from autoapi.query.pagination import RowPagination, content_type, plan_key
from autoapi.query.plans import PagePlan, is_filtered, value_parameters
from autoapi.query.relation_query import PublishedRelation, RelationQuery
from autoapi.query.shaping import parse_shape
from autoapi.schema.naming import decode_key
from autoapi.schema.snapshot import Relation


class RelationViewSet(viewsets.ReadOnlyModelViewSet):
    """List and retrieve one relation in every format of ``renderers.ROW_RENDERERS``. Set by
    ``build_viewset``. A list is filter -> paginate (or stream) -> render; the renderer is the row
    source that asks PostgreSQL for its rows (``rowsources.py``), so nothing here asks which
    format it serves."""

    published: PublishedRelation = None  # the relation, its snapshot, model, FilterSet and caches
    relation: Relation = None
    model = None
    filterset_class = None
    snapshot = None
    query_class = RelationQuery
    filter_backends = ()  # the request's RelationQuery filters (``filter_queryset``)
    renderer_classes = list(ROW_RENDERERS)
    pagination_class = RowPagination

    def get_queryset(self):
        return self.model._default_manager.all()

    def get_query(self) -> RelationQuery:
        """The request's RelationQuery: this relation, its snapshot and the query string (made
        once per request: the view instance is the request's)."""
        query = self.__dict__.get("_query")
        if query is None:
            request = self.request
            query = self._query = self.query_class(
                self.published, request.query_params, api_root=request.build_absolute_uri("/api/")
            )
        return query

    @property
    def default_response_headers(self):
        # DRF's (``Allow`` from the methods this view answers, ``Vary: Accept``), worked out once per
        # viewset and set of actions rather than once per request.
        key = frozenset(self.action_map or ())
        known = type(self).__dict__.get("_response_headers")
        if known is None:
            known = {}
            type.__setattr__(type(self), "_response_headers", known)
        headers = known.get(key)
        if headers is None:
            headers = known[key] = super().default_response_headers
        return dict(headers)

    def get_parsers(self):
        # Read-only: no request body is ever parsed (OPTIONS still lists ``parser_classes``).
        return []

    def perform_authentication(self, request):
        # No authentication classes (API keys are the fair-share middleware's): nothing to run.
        # ``request.user`` stays lazy, as DRF allows.
        pass

    def filter_queryset(self, queryset):
        """``queryset`` narrowed by the request's filters, as every list reads them."""
        return self.get_query().filter(queryset)

    def perform_content_negotiation(self, request, force=False):
        # A tile is a tile whatever the client accepts (MapLibre asks for its own media type).
        force = force or self.action in ("tile", "tilejson")
        if request.META.get("HTTP_ACCEPT", "*/*") == "*/*":
            # Any type accepted (no Accept header: curl, scripts): DRF's own answer, without
            # parsing the header, is the first renderer (of those of ?format=) with its media type.
            wanted = request.query_params.get("format")
            renderers = self.get_renderers()
            for renderer in renderers:
                if not wanted or renderer.format == wanted:
                    return renderer, renderer.media_type
            if force:
                return renderers[0], renderers[0].media_type
            formats = ", ".join(r.format for r in self.renderer_classes)
            raise NotAcceptable(f"unknown format; choose one of {formats}", parameter="format")
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:
            formats = ", ".join(r.format for r in self.renderer_classes)
            raise NotAcceptable(f"unknown format; choose one of {formats}", parameter="format") from None

    def check_readable(self):
        self.get_query().check_readable()

    def _database_error(self, exc: Exception):
        params = self.request.query_params
        return translate_database_error(
            exc, filtered=is_filtered(params), grouped=aggregates.requested(params), inputs=value_parameters(params)
        )

    def list(self, request, *args, **kwargs):
        self.check_readable()
        renderer = request.accepted_renderer
        query = self.get_query()
        try:
            rows = self.paginate_queryset(query)
            if rows is None:  # ?limit=all: every row, streamed
                plan = query.plan(renderer, plan_key(renderer.format, request))
                response = self.stream_response(renderer, plan, replicas.read_alias(request))
            else:
                response = self.get_paginated_response(rows)
        except (DatabaseError, psycopg2.Error) as exc:
            raise self._database_error(exc) from exc
        # Every format names its file; a whole-relation download is saved, a page shown (docs/downloads.md,
        # "Downloads").
        response["Content-Disposition"] = self.disposition(renderer.format, rows is None)
        return response

    @classmethod
    def disposition(cls, fmt: str, attachment: bool) -> str:
        """``content_disposition`` of this relation, worked out once per format (and kind) per viewset
        (a viewset is one relation of one snapshot; at most two entries per format)."""
        known = cls.__dict__.get("_dispositions")
        if known is None:
            known = {}
            type.__setattr__(cls, "_dispositions", known)
        value = known.get((fmt, attachment))
        if value is None:
            value = known[(fmt, attachment)] = content_disposition(cls.relation, fmt, attachment)
        return value

    def stream_response(self, renderer, plan: PagePlan, alias: str) -> StreamingHttpResponse:
        """Every selected row, streamed; the query runs up to its first chunk first, so that an
        error is still a 4xx rather than a cut 200."""
        body = renderer.stream_body(first_then_rest(renderer.stream(plan.statement, alias)))
        response = StreamingHttpResponse(body, content_type=content_type(renderer))
        response["X-Accel-Buffering"] = "no"  # let proxies pass the stream through
        return response

    def tile(self, request, z=0, x=0, y=0, **kwargs):
        self.check_readable()
        try:
            return tiles.tile_response(self.get_query(), request, int(z), int(x), int(y))
        except (DatabaseError, psycopg2.Error) as exc:
            raise self._database_error(exc) from exc

    def tilejson(self, request, **kwargs):
        return tiles.tilejson(self.get_query(), request)

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
        shape = parse_shape(
            request.query_params,
            self.relation,
            self.snapshot,
            request.build_absolute_uri("/api/"),
            embeds_allowed=renderer.embeds_rows,
        )
        try:
            page = renderer.read_page(renderer.statement(queryset[:1], shape), replicas.read_alias(request))
        except (DatabaseError, psycopg2.Error) as exc:
            error = self._database_error(exc)
            raise (NotFound("no row has this key") if error.status_code == 400 else error) from exc
        body = renderer.row_body(page)
        if body is None:
            raise NotFound("no row has this key")
        return HttpResponse(body, content_type=content_type(renderer))


def parse_key(segment: str, size: int) -> list[str]:
    """A key in a URL (``naming.decode_key``), with the errors a client sees."""
    try:
        values = decode_key(segment)
    except ValueError:
        raise BadRequest(
            "the key in the URL is not validly encoded (see docs/api.md, Names in paths)", parameter="key"
        ) from None
    if any("\x00" in value for value in values):  # ~00: PostgreSQL stores no NUL, psycopg2 sends none
        raise NotFound("no row has this key (no PostgreSQL value holds a NUL character)")
    if len(values) != size:
        raise NotFound(f"this relation's key has {size} column(s); give {size} comma-separated value(s)")
    return values


def build_viewset(published: PublishedRelation) -> type[RelationViewSet]:
    model = published.model
    return type(
        f"{model.__name__}ViewSet",
        (RelationViewSet,),
        {
            "published": published,
            "relation": published.relation,
            "snapshot": published.snapshot,
            "model": model,
            "queryset": model._default_manager.all(),
            "filterset_class": published.filterset_class,
            "renderer_classes": list(renderers.ROW_RENDERERS),  # the registry as it is now
        },
    )
