"""The API's URLs: the index, and the list, detail and tile routes shared by every relation.

Relations are not separate URL patterns: the two routes below look the relation up in the current
snapshot (a dict lookup) and hand the request to that relation's viewset. So a schema change never
touches Django's URL resolver or its caches, and routing cost does not grow with the schema.
"""

from django.urls import path

from autoapi.db import replicas
from autoapi.errors import NotFound, error_response
from autoapi.schema.naming import decode_segment
from autoapi.web import validators
from autoapi.web.openapi_documents import service_desc_link
from autoapi.web.registry import registry
from autoapi.web.responsecache import cached_response
from autoapi.web.views_index import api_docs, api_index, openapi_document, relation_openapi_document

app_name = "autoapi"


def _names(schema: str, relation: str) -> tuple[str, str] | None:
    """The URL's two tilde-encoded segments decoded, or None when either is no valid encoding."""
    try:
        return decode_segment(schema), decode_segment(relation)
    except ValueError:
        return None


def _endpoints(schema: str, relation: str):
    names = _names(schema, relation)
    return registry.current().endpoints(*names) if names else None


def _missing(schema: str, relation: str):
    names = _names(schema, relation)
    why = registry.current().why_unpublished(*names) if names else None
    if why:
        return error_response(NotFound(f"this relation is not published: {why}"))
    return error_response(NotFound("no published relation has this name; see /api/ for the list"))


def _serve(request, schema: str, relation: str, view_name: str, **kwargs):
    """Serve from the current snapshot; if the query raced a DDL change (the relation or a column
    is gone), refresh the snapshot now and try once more on it. A request read on a replica that
    failed there (down, or lagging behind the DDL) is first run again on the primary."""
    refreshed = False
    while True:
        endpoints = _endpoints(schema, relation)
        if endpoints is None:
            return _missing(schema, relation)
        response = getattr(endpoints, view_name)(request, **kwargs)
        if replicas.fall_back(request, response):  # at most once: the request is now on the primary
            continue
        if not refreshed and getattr(response, "schema_changed", False):
            refreshed = True
            if registry.catch_up_after_race():
                continue
        return response


@cached_response("API_CACHE_SECONDS")
def _cached(request, schema: str, relation: str, view_name: str, **kwargs):
    return _serve(request, schema, relation, view_name, **kwargs)


def _with_validators(request, schema: str, relation: str, view_name: str, **kwargs):
    """Data-version validators first (a 304 costs no query), then the short answer cache."""
    names = _names(schema, relation)
    snapshot = registry.current().snapshot
    found = snapshot.get(*names) if names else None
    return validators.serve(request, found, snapshot.version,
                            lambda: _cached(request, schema, relation, view_name, **kwargs))


def relation_list(request, schema: str, relation: str):
    return _with_service_desc(_with_validators(request, schema, relation, "list_view"), schema, relation)


def _with_service_desc(response, schema: str, relation: str):
    """RFC 8631: a list answer names the OpenAPI document that describes it (a dict lookup)."""
    names = _names(schema, relation)
    found = registry.current().snapshot.get(*names) if names else None
    if found is not None:
        link = service_desc_link(found)
        response["Link"] = f"{response['Link']}, {link}" if response.has_header("Link") else link
    return response


def relation_detail(request, schema: str, relation: str, key: str):
    return _with_validators(request, schema, relation, "detail_view", key=key)


def relation_tile(request, schema: str, relation: str, z: int, x: int, y: int):
    return _with_validators(request, schema, relation, "tile_view", z=z, x=x, y=y)


@cached_response("API_CACHE_SECONDS")
def relation_tilejson(request, schema: str, relation: str):
    return _serve(request, schema, relation, "tilejson_view")


urlpatterns = [
    path("", api_index, name="index"),
    path("schema/", openapi_document, name="schema"),
    path("docs/", api_docs, name="docs"),
    path("schema/<str:schema>/<str:relation>/openapi.json", relation_openapi_document, name="relation-schema"),
    path("<str:schema>/<str:relation>/", relation_list, name="relation-list"),
    path("<str:schema>/<str:relation>/tiles/<int:z>/<int:x>/<int:y>.mvt", relation_tile, name="relation-tile"),
    path("<str:schema>/<str:relation>/tiles.json", relation_tilejson, name="relation-tilejson"),
    path("<str:schema>/<str:relation>/<str:key>/", relation_detail, name="relation-detail"),
]
