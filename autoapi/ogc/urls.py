"""``/ogc/``: OGC API - Features. Collections are looked up in the current snapshot per request
(as the API's relations are), so a schema change never touches the URL resolver."""

from django.urls import path, re_path

from autoapi.ogc import views

app_name = "ogc"

# Routes without a trailing slash, as OGC API - Features spells them; so no include() below
# ``collections/<collection>`` (Django's urls.W002 warns of an included route starting with '/').
urlpatterns = [
    path("", views.landing, name="landing"),
    path("conformance", views.conformance, name="conformance"),
    path("collections", views.collections, name="collections"),
    path("collections/<str:collection>", views.collection, name="collection"),
    path("collections/<str:collection>/queryables", views.queryables, name="queryables"),
    path("collections/<str:collection>/items", views.items_list, name="items"),
    path("collections/<str:collection>/items/<path:feature_id>", views.item, name="item"),
    re_path(r"^(?P<rest>.*)$", views.not_found),
]
