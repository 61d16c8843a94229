"""The catalog's pages: the home page, one page per relation and per keyed row, the add-a-filter
redirect, the open-data metadata (``/data.json`` in DCAT-US 3.0, ``/data-1.1.json`` in 1.1,
``/sitemap.xml``) and the change feeds with the "Recent changes" page (``catalog.standards``).

Relation and key segments are tilde-encoded (see ``autoapi.public.relation_segments``); the views
decode them, so a schema change never touches the URL resolver. ``-/filter`` cannot be a key: a
key is one path segment.
"""

from django.urls import include, path

from catalog import fragments, listing, opendata, rows, sitemaps, views
from catalog.standards import dcat_us3, feeds

# One relation's pages, below ``catalog/<schema>/<relation>/``.
relation_patterns = [
    path("", views.relation, name="relation"),
    path("-/filter", views.add_filter, name="add-filter"),
    path("-/facets", fragments.facets_fragment, name="facets"),
    path("<str:key>/", rows.row, name="row"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("data.json", dcat_us3.data_json, name="data-json"),
    path("data-1.1.json", opendata.data_json, name="data-json-1.1"),
    path("changes.atom", feeds.portal_feed, {"fmt": "atom"}, name="changes-atom"),
    path("changes.json", feeds.portal_feed, {"fmt": "json"}, name="changes-json"),
    path("changes/", feeds.recent_changes, name="changes"),
    path("sitemap.xml", sitemaps.sitemap_xml, name="sitemap"),
    path("sitemaps/<str:schema>/<int:number>.xml", sitemaps.schema_sitemap_xml, name="schema-sitemap"),
    path("catalog/<str:schema>/", listing.schema_list, name="schema"),
    path("catalog/<str:schema>/<str:relation>/", include(relation_patterns)),
]
