"""The catalog's pages: the home page (every relation, searchable) and one page per relation.

Relation segments are tilde-encoded names (see ``autoapi.public.relation_segments``); the view
decodes them, so a schema change never touches the URL resolver.
"""
from django.urls import path

from catalog import views

urlpatterns = [
    path("", views.home, name="home"),
    path("catalog/<str:schema>/<str:relation>/", views.relation, name="relation"),
]
