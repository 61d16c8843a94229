"""The ReadOnlyModelViewSet every relation is served by, and the factory that specialises it.

A snapshot builds one subclass per relation (``build_viewset``), once; requests only run it.
The viewset keeps DRF's shape (filter backends, content negotiation, list and retrieve), but asks
PostgreSQL to write the rows (see ``queries.py``) instead of serialising model instances.
"""
from __future__ import annotations

import psycopg2
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connections
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import viewsets

from autoapi import queries
from autoapi.conf import DATABASE_ALIAS
from autoapi.errors import BadRequest, NotAcceptable, NotFound, RelationUnreadable, translate_database_error
from autoapi.exports import first_then_rest, stream_copy, stream_rows
from autoapi.filtersets import RESERVED_PARAMETERS
from autoapi.naming import decode_segment
from autoapi.pagination import count_rows, page_links, parse_window
from autoapi.renderers import ROW_RENDERERS, ROWS_AS_CSV, ROWS_AS_FEATURES
from autoapi.snapshot import Relation
from autoapi.typemap import type_info


class StrictParameterBackend:
    """Rejects any query parameter that is neither reserved nor a filter of this relation.

    django-filter ignores unknown parameters, so a typo would silently return every row.
    """

    def filter_queryset(self, request, queryset, view):
        known = view.filterset_class.base_filters
        for name in request.query_params:
            if name in RESERVED_PARAMETERS or name in known:
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


class ColumnOrderingBackend:
    """``?ordering=a,-b`` on sortable columns, always ending with the key as a stable tie-break."""

    def filter_queryset(self, request, queryset, view):
        relation: Relation = view.relation
        by_name = {c.name: c for c in relation.columns}
        order, used = [], set()
        raw = request.query_params.get("ordering", "")
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
            order.append(f"-{column.attname}" if descending else column.attname)
            used.add(column.name)
        if relation.key:
            tie_break = relation.key.columns
        elif order:
            tie_break = [c.name for c in relation.columns if type_info(c).sortable]
        else:
            tie_break = []
        order += [by_name[name].attname for name in tie_break if name not in used]
        return queryset.order_by(*order) if order else queryset


class RelationViewSet(viewsets.ReadOnlyModelViewSet):
    """List and retrieve one relation in JSON, NDJSON, CSV and GeoJSON. Set by ``build_viewset``."""

    relation: Relation = None
    model = None
    filterset_class = None
    lookups_by_column: dict = {}
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

    def _statement(self, queryset, renderer):
        columns = self.relation.columns
        if renderer.rows_as == ROWS_AS_CSV:
            return queries.csv_copy(queryset, columns)
        if renderer.rows_as == ROWS_AS_FEATURES:
            return queries.feature_rows(queryset, self.relation, columns, self._geometry_source())
        return queries.json_rows(queryset, columns)

    def _fetch(self, statement, renderer) -> list:
        with connections[DATABASE_ALIAS].cursor() as cursor:
            if renderer.rows_as == ROWS_AS_CSV:
                return list(stream_copy(statement))
            cursor.execute(statement.sql, statement.params)
            return [row[0] for row in cursor.fetchall()]

    def check_readable(self):
        if not self.relation.is_populated:
            raise RelationUnreadable(
                "this materialized view has not been populated yet (it needs REFRESH MATERIALIZED VIEW)"
            )

    # -- actions ---------------------------------------------------------------------------

    def list(self, request, *args, **kwargs):
        self.check_readable()
        renderer = request.accepted_renderer
        window = parse_window(request.query_params)
        queryset = self.filter_queryset(self.get_queryset())
        statement = self._statement(window.apply(queryset), renderer)
        content_type = f"{renderer.media_type}; charset=utf-8"
        try:
            if window.is_everything:
                source = stream_copy(statement) if renderer.rows_as == ROWS_AS_CSV else stream_rows(statement)
                response = StreamingHttpResponse(
                    renderer.stream_body(first_then_rest(source)), content_type=content_type
                )
                response["X-Accel-Buffering"] = "no"  # let proxies pass the stream through
            else:
                rows = self._fetch(statement, renderer)
                count, estimated = count_rows(queryset)
                envelope = {"count": count}
                if estimated:
                    envelope["count_is_estimate"] = True
                envelope.update(page_links(request, window, count, len(rows)))
                response = HttpResponse(renderer.page_body(rows, envelope), content_type=content_type)
                links = [f'<{envelope[rel]}>; rel="{rel}"' for rel in ("next", "previous") if envelope.get(rel)]
                if links:
                    response["Link"] = ", ".join(links)
        except (DatabaseError, psycopg2.Error) as exc:
            raise self._database_error(exc) from exc
        if renderer.rows_as == ROWS_AS_CSV:
            response["Content-Disposition"] = f'inline; filename="{_filename(self.relation)}.csv"'
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
        statement = self._statement(queryset[:1], renderer)
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
            body = rows[0].encode("utf-8") if found else b""
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


def _filename(relation: Relation) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in f"{relation.schema}.{relation.name}")
    return safe[:120] or "relation"


def build_viewset(relation: Relation, model, filterset_class) -> type[RelationViewSet]:
    lookups = {c.name: type_info(c).lookups for c in relation.columns}
    return type(
        f"{model.__name__}ViewSet",
        (RelationViewSet,),
        {
            "relation": relation,
            "model": model,
            "queryset": model._default_manager.all(),
            "filterset_class": filterset_class,
            "lookups_by_column": lookups,
        },
    )
