"""Items: a page of a collection's features, and one feature, through the API's own pipeline.

The relation's ``RelationQuery`` is made from the translated parameters (``params.py``): it
selects the rows as the API does (plus ``datetime``, one condition more), its plan with the GeoJSON
renderer writes them (PostgreSQL's Features, as ``?format=geojson``), and it counts them by the
API's rules. Only the envelope and the links are OGC's.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg2
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError
from django.http import QueryDict
from rest_framework.exceptions import ValidationError

from autoapi.cql2 import conditions
from autoapi.db import replicas
from autoapi.errors import BadRequest, NotFound, translate_database_error
from autoapi.formats.renderers import GeoJSONRenderer
from autoapi.ogc import links
from autoapi.ogc.params import Selection
from autoapi.query import cursors
from autoapi.query.plans import value_parameters
from autoapi.query.relation_query import RelationQuery
from autoapi.query.shaping import parse_shape


def relation_query(request, api, relation, selection: Selection | None = None) -> RelationQuery:
    """The API's RelationQuery of ``relation`` on ``selection``'s parameters (none: every row),
    with its ``datetime`` as one condition more."""
    endpoints = api.endpoints(relation.schema, relation.name)
    if endpoints is None:
        raise NotFound(
            "this collection is not published: " + (api.why_unpublished(relation.schema, relation.name) or "gone")
        )
    node = selection.datetime if selection else None
    condition = () if node is None else (conditions.build(node, relation, api.snapshot),)
    query = endpoints.published.query(
        selection.api_params if selection else QueryDict(),
        api_root=request.build_absolute_uri("/api/"),
        conditions=condition,
    )
    query.check_readable()
    return query


def items_page(request, api, relation, selection: Selection) -> bytes:
    """The FeatureCollection of one page, with numberMatched, numberReturned, timeStamp, links."""
    query = relation_query(request, api, relation, selection)
    renderer = GeoJSONRenderer()
    key = ("ogc", request.get_full_path(), request.get_host(), request.is_secure())

    def read(alias):
        plan = query.plan(renderer, key)
        page = renderer.read_page(plan.statement, alias)
        count, estimated = query.count(plan, page.returned, alias)  # the API's count rules
        return plan, page, {"count": count, **({"count_is_estimate": True} if estimated else {})}

    plan, page, counted = _run(request, read)
    # OGC API Features (Req 30) wants numberMatched exact when present: an estimate has its own name.
    if counted.get("count_is_estimate"):
        head = {"type": "FeatureCollection", "numberMatchedEstimate": counted["count"]}
    else:
        head = {"type": "FeatureCollection", "numberMatched": counted["count"]}
    head["numberReturned"] = page.returned
    head["timeStamp"] = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    cursor = None
    if plan.keyset and page.last_cursor_values is not None:
        cursor = cursors.encode(plan.signature, page.last_cursor_values)
    head["links"] = links.items_links(request, relation, plan.window, page.returned, counted, cursor)
    rows = ",".join(page.rows)
    return f'{links.dumps_head(head)},"features":[{rows}]}}'.encode()


def feature(request, api, relation, feature_id: str) -> bytes:
    """One Feature by the value of its relation's single-column key, with its links; 404 when the
    relation has no such key or no such row."""
    key = relation.key
    if key is None or len(key.columns) != 1:
        raise NotFound("this collection has no single-column key, so its features have no URL")
    query = relation_query(request, api, relation)
    column = relation.column(key.columns[0])
    renderer = GeoJSONRenderer()
    try:
        queryset = query.all_rows().filter(**{column.attname: feature_id})[:1]
        shape = parse_shape(
            QueryDict(), relation, api.snapshot, request.build_absolute_uri("/api/"), embeds_allowed=True
        )
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
