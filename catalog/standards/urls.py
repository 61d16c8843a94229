"""The standards' URLs. ``api_patterns`` are included under ``/api/`` after autoapi's own
(portal/urls.py): none ends with a slash, so none can be a relation's or a row's URL."""

from django.urls import path

from catalog.standards import croissant, csvw, datapackage, feeds

api_patterns = [
    path("<str:schema>/datapackage.json", datapackage.schema_package, name="schema-datapackage"),
    path("<str:schema>/<str:relation>/datapackage.json", datapackage.relation_package, name="datapackage"),
    path("<str:schema>/<str:relation>/csv-metadata.json", csvw.metadata_view, name="csvw"),
    path("<str:schema>/<str:relation>/croissant.json", croissant.croissant_view, name="croissant"),
    path(
        "<str:schema>/<str:relation>/changes.atom", feeds.relation_feed, {"fmt": "atom"}, name="relation-changes-atom"
    ),
    path(
        "<str:schema>/<str:relation>/changes.json", feeds.relation_feed, {"fmt": "json"}, name="relation-changes-json"
    ),
]
