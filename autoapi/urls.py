"""The API's URLs: the index, and one list and one detail route shared by every relation.

Relations are not separate URL patterns: the two routes below look the relation up in the current
snapshot (a dict lookup) and hand the request to that relation's viewset. So a schema change never
touches Django's URL resolver or its caches, and routing cost does not grow with the schema.
"""
from django.urls import path

from autoapi.errors import NotFound, error_response
from autoapi.naming import decode_segment
from autoapi.registry import registry
from autoapi.views_index import ApiIndexView

app_name = "autoapi"


def _endpoints(schema: str, relation: str):
    try:
        schema_name, relation_name = decode_segment(schema), decode_segment(relation)
    except ValueError:
        return None
    return registry.current().endpoints(schema_name, relation_name)


def _missing():
    return error_response(NotFound("no published relation has this name; see /api/ for the list"))


def relation_list(request, schema: str, relation: str):
    endpoints = _endpoints(schema, relation)
    return endpoints.list_view(request) if endpoints else _missing()


def relation_detail(request, schema: str, relation: str, key: str):
    endpoints = _endpoints(schema, relation)
    return endpoints.detail_view(request, key=key) if endpoints else _missing()


urlpatterns = [
    path("", ApiIndexView.as_view(), name="index"),
    path("<str:schema>/<str:relation>/", relation_list, name="relation-list"),
    path("<str:schema>/<str:relation>/<str:key>/", relation_detail, name="relation-detail"),
]
