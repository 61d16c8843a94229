"""Items: a page of a collection's features, and one feature, through the API's own pipeline.

The relation's viewset is run on the translated parameters (``params.py``): its filter backends
select the rows (plus ``datetime``, one backend more), ``plans.build_plan`` with the GeoJSON
renderer writes them (PostgreSQL's Features, as ``?format=geojson``), and ``RowPagination`` gives
the count by the API's rules. Only the envelope and the links are OGC's.
"""
from __future__ import annotations

import copy
from datetime import datetime, timezone

import psycopg2
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError
from django.http import QueryDict
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from autoapi.cql2 import conditions
from autoapi.db import replicas
from autoapi.errors import BadRequest, NotFound, translate_database_error
from autoapi.formats.renderers import GeoJSONRenderer
from autoapi.ogc import links
from autoapi.ogc.params import Selection
from autoapi.query import cursors
from autoapi.query.pagination import RowPagination
from autoapi.query.plans import build_plan, value_parameters
from autoapi.query.shaping import parse_shape


class DatetimeBackend:
    """The ``datetime`` condition, ANDed after the viewset's own filter backends."""

    def filter_queryset(self, request, queryset, view):
        node = getattr(view, "ogc_datetime", None)
        return queryset if node is None else queryset.filter(conditions.build(node, view.relation, view.snapshot))


def relation_view(request, api, relation, selection: Selection | None = None):
    """The API's list view of ``relation`` reading ``selection``'s parameters (none: every row)."""
    endpoints = api.endpoints(relation.schema, relation.name)
    if endpoints is None:
        raise NotFound("this collection is not published: " + (api.why_unpublished(relation.schema, relation.name) or "gone"))
    inner = copy.copy(request)  # the same request, with the API's query string
    inner.GET = selection.api_params if selection else QueryDict()
    view = endpoints.viewset(request=Request(inner), format_kwarg=None, action="list")
    view.check_readable()
    view.ogc_datetime = selection.datetime if selection else None
    view.filter_backends = [*view.filter_backends, DatetimeBackend]
    return view


def items_page(request, api, relation, selection: Selection) -> bytes:
    """The FeatureCollection of one page, with numberMatched, numberReturned, timeStamp, links."""
    view = relation_view(request, api, relation, selection)
    renderer = GeoJSONRenderer()
    key = ("ogc", request.get_full_path(), request.get_host(), request.is_secure())
    paginator = RowPagination()

    def read(alias):
        paginator.paginate_queryset(view.plans.get_or_build(key, lambda: build_plan(view, renderer, key)),
                                    renderer, alias, view)
        return paginator.get_envelope()  # the API's count rules

    envelope = _run(request, read)
    page, plan = paginator.page, paginator.plan
    # OGC API Features (Req 30) wants numberMatched exact when present: an estimate has its own name.
    if envelope.get("count_is_estimate"):
        head = {"type": "FeatureCollection", "numberMatchedEstimate": envelope["count"]}
    else:
        head = {"type": "FeatureCollection", "numberMatched": envelope["count"]}
    head["numberReturned"] = page.returned
    head["timeStamp"] = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    cursor = None
    if plan.keyset and page.last_cursor_values is not None:
        cursor = cursors.encode(plan.signature, page.last_cursor_values)
    head["links"] = links.items_links(request, relation, plan.window, page.returned, envelope, cursor)
    rows = ",".join(page.rows)
    return f"{links.dumps_head(head)},\"features\":[{rows}]}}".encode("utf-8")


def feature(request, api, relation, feature_id: str) -> bytes:
    """One Feature by the value of its relation's single-column key, with its links; 404 when the
    relation has no such key or no such row."""
    key = relation.key
    if key is None or len(key.columns) != 1:
        raise NotFound("this collection has no single-column key, so its features have no URL")
    view = relation_view(request, api, relation)
    column = relation.column(key.columns[0])
    renderer = GeoJSONRenderer()
    try:
        queryset = view.get_queryset().filter(**{column.attname: feature_id})[:1]
        shape = parse_shape(QueryDict(), relation, api.snapshot, request.build_absolute_uri("/api/"), embeds_allowed=True)
        page = _run(request, lambda alias: renderer.read_page(renderer.statement(queryset, shape), alias))
    except (ValueError, TypeError, DjangoValidationError):
        raise NotFound("no feature has this id") from None
    except BadRequest:  # PostgreSQL could not read the id as the key's type
        raise NotFound("no feature has this id") from None
    if not page.returned:
        raise NotFound("no feature has this id")
    return links.with_feature_links(page.rows[0], request, relation, feature_id)


def _run(request, work):
    """``work(alias)`` on the request's read server, with the API's errors."""
    try:
        return replicas.run(request, work, filtered=True)
    except ValidationError as exc:  # a simple filter's value the FilterSet refused
        raise BadRequest("invalid query parameter", errors=exc.detail) from None
    except (DatabaseError, psycopg2.Error) as exc:
        raise translate_database_error(exc, filtered=True, inputs=value_parameters(request.GET)) from exc
