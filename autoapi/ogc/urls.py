"""``/ogc/``: OGC API - Features. Collections are looked up in the current snapshot per request
(as the API's relations are), so a schema change never touches the URL resolver."""

from django.urls import include, path, re_path

from autoapi.ogc import views

app_name = "ogc"

# One collection's resources, below ``collections/<collection>``.
collection_patterns = [
    path("", views.collection, name="collection"),
    path("/queryables", views.queryables, name="queryables"),
    path("/items", views.items_list, name="items"),
    path("/items/<path:feature_id>", views.item, name="item"),
]

urlpatterns = [
    path("", views.landing, name="landing"),
    path("conformance", views.conformance, name="conformance"),
    path("collections", views.collections, name="collections"),
    path("collections/<str:collection>", include(collection_patterns)),
    re_path(r"^(?P<rest>.*)$", views.not_found),
]
