"""The views of ``/ogc/``: each builds its document, then answers it as JSON or HTML (``f=``),
and every error as OGC's ``{"code", "description"}`` with a 4xx (503 only when the database
cannot be reached)."""

from __future__ import annotations

import functools

import psycopg2
from django.db import DatabaseError
from django.http import HttpResponse

from autoapi.errors import BadRequest, NotFound, PortalError, SchemaChanged, translate_database_error
from autoapi.ogc import documents, html, ids, items, links, params
from autoapi.ogc.responses import GEOJSON, error_response, json_response, wants_html
from autoapi.web import pagejson
from autoapi.web.registry import registry
from autoapi.web.responsecache import cached_response

TITLE = "OGC API - Features"


def ogc_view(view):
    """Errors as OGC documents; the API's short-lived page cache, as its own pages have. A request
    that raced a DDL change runs once more on the new snapshot, as the API's do (autoapi/web/urls.py)."""

    @cached_response("API_CACHE_SECONDS")
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        for last_try in (False, True):
            try:
                return view(request, *args, **kwargs)
            except PortalError as error:
                failure = error
            except (DatabaseError, psycopg2.Error) as exc:
                failure = translate_database_error(exc, filtered=False)
            if last_try or not isinstance(failure, SchemaChanged) or not registry.catch_up_after_race():
                return error_response(failure)

    return wrapper


def _only_f(request) -> None:
    for name in request.GET:
        if name != "f":
            raise BadRequest(f"unknown query parameter {name!r}", parameter=name, allowed_parameters=["f"])


def _answer(request, title: str, document, kind: str = "document", media_type: str | None = None):
    _only_f(request)
    if wants_html(request):
        return html.page(request, title, document, kind)
    return json_response(document, media_type) if media_type else json_response(document)


def _collection(collection: str):
    api = registry.current()
    relation = ids.find(api.snapshot, collection)
    if relation is None:
        raise NotFound("no collection has this id; see /ogc/collections")
    return api, relation


@ogc_view
def landing(request):
    return _answer(request, TITLE, documents.landing(request, TITLE), "landing")


@ogc_view
def conformance(request):
    return _answer(request, "Conformance", documents.conformance(request))


@ogc_view
def collections(request):
    return _answer(
        request, "Collections", documents.all_collections(request, registry.current().snapshot), "collections"
    )


@ogc_view
def collection(request, collection: str):
    _api, relation = _collection(collection)
    return _answer(request, collection, documents.collection(request, relation), "collection")


@ogc_view
def queryables(request, collection: str):
    _api, relation = _collection(collection)
    # JSON Schema, served as the type the links and the OpenAPI name (OGC API Features Part 3).
    return _answer(
        request,
        f"Queryables of {collection}",
        documents.queryables(request, relation),
        media_type="application/schema+json",
    )


@ogc_view
def items_list(request, collection: str):
    api, relation = _collection(collection)
    as_html = wants_html(request)
    endpoints = api.endpoints(relation.schema, relation.name)
    if endpoints is None:
        raise NotFound(
            "this collection cannot be served: " + (api.why_unpublished(relation.schema, relation.name) or "")
        )
    selection = params.parse(request.GET, relation, endpoints.viewset.filterset_class.knows)
    body = items.items_page(request, api, relation, selection)
    if as_html:
        return html.page(
            request, f"Features of {collection}", pagejson.loads(body), "items", item_url=_item_url(request, relation)
        )
    return json_response_bytes(body)


@ogc_view
def item(request, collection: str, feature_id: str):
    api, relation = _collection(collection)
    _only_f(request)
    as_html = wants_html(request)
    body = items.feature(request, api, relation, feature_id)
    if as_html:
        return html.page(request, f"Feature {feature_id} of {collection}", pagejson.loads(body), "item")
    return json_response_bytes(body)


def _item_url(request, relation):
    """A feature's page by its id, where features have URLs (a single-column key), else None."""
    if relation.key is None or len(relation.key.columns) != 1:
        return None
    return lambda feature_id: links.feature_url(request, relation, str(feature_id)) + "?f=html"


def json_response_bytes(body: bytes) -> HttpResponse:
    return HttpResponse(body, content_type=f"{GEOJSON}; charset=utf-8")


@ogc_view
def not_found(request, rest: str = ""):
    raise NotFound("no OGC API resource at this address; see /ogc/")
