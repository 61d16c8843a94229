"""The API's URLs: the index, and the list, detail and tile routes shared by every relation.

Relations are not separate URL patterns: the two routes below look the relation up in the current
snapshot (a dict lookup) and hand the request to that relation's viewset. So a schema change never
touches Django's URL resolver or its caches, and routing cost does not grow with the schema.
"""

from dataclasses import dataclass

from django.urls import path

from autoapi.db import replicas
from autoapi.db.context import context_of
from autoapi.errors import NotFound, SchemaChanged, error_response
from autoapi.schema.naming import decode_segment
from autoapi.schema.snapshot import Relation
from autoapi.web import validators
from autoapi.web.api import PublishedAPI
from autoapi.web.openapi_documents import service_desc_link
from autoapi.web.registry import registry
from autoapi.web.responsecache import serve_cached
from autoapi.web.views_index import api_docs, api_index, openapi_document, relation_openapi_document

app_name = "autoapi"


@dataclass(frozen=True)
class Target:
    """What a request to a relation's URL resolved to, once: the API of one snapshot (read once
    from the registry) and the relation the URL names in it. The validators, the page cache and
    the view all use this one snapshot, so an ETag and its body never come from two."""

    api: PublishedAPI
    names: tuple[str, str] | None  # the URL's two segments decoded; None: not a valid encoding
    relation: Relation | None  # None: not published (or unknown)

    @classmethod
    def resolve(cls, schema: str, relation: str) -> "Target":
        api = registry.current()
        try:
            names = decode_segment(schema), decode_segment(relation)
        except ValueError:
            return cls(api, None, None)
        return cls(api, names, api.snapshot.get(*names))

    def endpoints(self):
        return self.api.endpoints(*self.names) if self.relation is not None else None

    def missing(self):
        why = self.api.why_unpublished(*self.names) if self.names else None
        if why:
            return error_response(NotFound(f"this relation is not published: {why}"))
        return error_response(NotFound("no published relation has this name; see /api/ for the list"))


def _serve(request, target: Target, segments: tuple[str, str], view_name: str, **kwargs):
    """Serve from the resolved snapshot. A request read on a replica that failed there (down, or
    lagging behind the DDL) is run again on the primary; one that raced a DDL change (the view
    raised ``SchemaChanged``: the relation or a column is gone) runs once more on a snapshot
    refreshed now, resolved again."""
    refreshed = False
    while True:
        endpoints = target.endpoints()
        if endpoints is None:
            return target.missing()
        race = None
        try:
            response = getattr(endpoints, view_name)(request, **kwargs)
        except SchemaChanged as error:  # errors.exception_handler lets this one through
            race, response = error, error_response(error)
        if replicas.fall_back(request, response):  # at most once: the request is now on the primary
            continue
        if race is not None and not refreshed:
            refreshed = True
            if registry.catch_up_after_race():
                target = Target.resolve(*segments)
                continue
        return response


def _resolved(request, schema: str, relation: str, view_name: str, service_desc: bool = False, **kwargs):
    """Resolve once; data-version validators first (a 304 costs no query), then the short answer
    cache, then the view."""
    target = Target.resolve(schema, relation)
    if target.names is not None:
        context_of(request).relation = ".".join(target.names)  # the request log's, decoded once
    version = target.api.snapshot.version

    def answer(data_tag):
        return serve_cached(
            request,
            "API_CACHE_SECONDS",
            version,
            lambda: _serve(request, target, (schema, relation), view_name, **kwargs),
            data_tag,
        )

    response = validators.serve(request, target.relation, version, answer)
    return _with_service_desc(response, target.relation) if service_desc else response


def relation_list(request, schema: str, relation: str):
    return _resolved(request, schema, relation, "list_view", service_desc=True)


def _with_service_desc(response, relation: Relation | None):
    """RFC 8631: a list answer names the OpenAPI document that describes it."""
    if relation is not None:
        link = service_desc_link(relation)
        response["Link"] = f"{response['Link']}, {link}" if response.has_header("Link") else link
    return response


def relation_detail(request, schema: str, relation: str, key: str):
    return _resolved(request, schema, relation, "detail_view", key=key)


def relation_tile(request, schema: str, relation: str, z: int, x: int, y: int):
    return _resolved(request, schema, relation, "tile_view", z=z, x=x, y=y)


def relation_tilejson(request, schema: str, relation: str):
    target = Target.resolve(schema, relation)
    return serve_cached(
        request,
        "API_CACHE_SECONDS",
        target.api.snapshot.version,
        lambda: _serve(request, target, (schema, relation), "tilejson_view"),
    )


urlpatterns = [
    # A relation's page first: the most asked URL, and no other pattern has exactly two segments and
    # a slash (so the order cannot change what any URL resolves to).
    path("<str:schema>/<str:relation>/", relation_list, name="relation-list"),
    path("", api_index, name="index"),
    path("schema/", openapi_document, name="schema"),
    path("docs/", api_docs, name="docs"),
    path("schema/<str:schema>/<str:relation>/openapi.json", relation_openapi_document, name="relation-schema"),
    path("<str:schema>/<str:relation>/tiles/<int:z>/<int:x>/<int:y>.mvt", relation_tile, name="relation-tile"),
    path("<str:schema>/<str:relation>/tiles.json", relation_tilejson, name="relation-tilejson"),
    path("<str:schema>/<str:relation>/<str:key>/", relation_detail, name="relation-detail"),
]
