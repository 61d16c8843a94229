"""The HTML encoding: every document shown as a page in the site's layout.

OGC API's HTML requirement asks for all the JSON's information and every link as an ``<a>``; a
generic walk of the JSON document gives exactly that for every resource, with no page per type:
objects become definition lists, arrays lists, ``links`` arrays lists of anchors, and a
FeatureCollection's features a list of features (geometry as GeoJSON text).
"""
from __future__ import annotations

import json

from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

MAX_TEXT = 2000  # longer values (a big polygon's coordinates) are cut on the page, not in JSON


def page(request, title: str, document) -> HttpResponse:
    body = render_to_string("autoapi/ogc.html", {"title": title, "body": _value(document, "")}, request=request)
    return HttpResponse(body, content_type="text/html; charset=utf-8")


def _value(value, key: str) -> str:
    """HTML built from escaped parts only (so marking it safe above is sound)."""
    if key == "links" and isinstance(value, list):
        return _links(value)
    if key == "geometry" and value is not None:
        return format_html("<code>{}</code>", _cut(json.dumps(value, ensure_ascii=False)))
    if isinstance(value, dict):
        items = "".join(format_html("<dt>{}</dt><dd>{}</dd>", k, mark_safe(_value(v, k))) for k, v in value.items())
        return f'<dl class="ogc">{items}</dl>'
    if isinstance(value, list):
        return "<ul>" + "".join(f"<li>{_value(v, '')}</li>" for v in value) + "</ul>" if value else "(none)"
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return format_html('<a href="{}">{}</a>', value, value)
    return escape(_cut(json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value))


def _links(items: list) -> str:
    rows = (format_html('<li><a href="{}" rel="{}" type="{}">{}</a> ({}, {})</li>', item.get("href", ""),
                        item.get("rel", ""), item.get("type", ""), item.get("title") or item.get("rel", ""),
                        item.get("rel", ""), item.get("type", ""))
            for item in items)
    return "<ul>" + "".join(rows) + "</ul>"


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " …"
