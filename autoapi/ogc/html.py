"""The HTML encoding: each OGC document as a page in the site's layout, for a person.

OGC API's HTML requirement asks for the JSON's information and every link as an ``<a>``. The
landing page lists its links; the collections are a table; a collection its facts and links; a
page of items is a table (one row per feature, one column per property) with a small map drawn
by the catalog's ``static/catalog/map.js`` from the page's own GeoJSON, and next/previous links;
one item its properties and the same map. Other documents (conformance, queryables) are shown by
a generic walk: objects as definition lists, arrays as lists.

Everything here comes from data (a row's properties, a relation's comment) and is escaped; only
``http``/``https`` URLs become links (``autoapi.web.weblinks.web_url``), whatever their key or place,
and any JSON shape (lists of scalars, nested objects, nulls, huge values) is shown as text, cut.
The templates get plain dicts and strings; the JSON documents are not changed.
"""

from __future__ import annotations

import json
from functools import lru_cache

from django.contrib.staticfiles import finders
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from autoapi.conf import portal_setting
from autoapi.ogc.responses import GEOJSON, HTML
from autoapi.web.weblinks import link_or_text, web_url

MAX_TEXT = 2000  # longer values (a big polygon's coordinates) are cut on the page, not in JSON
CELL_TEXT = 200  # in a table cell
MAX_COLUMNS = 40  # property columns of the items table; the JSON has them all
MAX_DEPTH = 20  # the generic walk shows deeper parts as JSON text


def page(request, title: str, document, kind: str = "document", **extra) -> HttpResponse:
    """The page of ``document``; ``kind`` is landing, collections, collection, items, item or
    document (anything else: the generic walk)."""
    document = document if isinstance(document, dict) else {"value": document}
    context = {
        "title": title,
        "kind": kind,
        "links": _links(document.get("links")),
        "json_url": _json_url(document.get("links")),
    }
    build = _KINDS.get(kind)
    context.update(build(request, document, **extra) if build else {"body": _value(document, "", 0)})
    body = render_to_string("autoapi/ogc.html", context, request=request)
    return HttpResponse(body, content_type="text/html; charset=utf-8")


# --- links ---------------------------------------------------------------------------------------


def _links(items) -> list[dict]:
    """A ``links`` array as rows to show; an entry that is not an object, or whose href is not a
    web URL, is shown as text."""
    if not isinstance(items, list):
        return []
    rows = []
    for item in items:
        if not isinstance(item, dict):
            rows.append({"url": None, "text": _text(item, CELL_TEXT), "rel": "", "type": ""})
            continue
        href = item.get("href")
        title = item.get("title") or item.get("rel") or href
        rows.append(
            {
                "url": web_url(href),
                "text": _text(title, CELL_TEXT),
                "href": _text(href, CELL_TEXT),
                "rel": _text(item.get("rel", ""), CELL_TEXT),
                "type": _text(item.get("type", ""), CELL_TEXT),
            }
        )
    return rows


def _link_item(row: dict) -> str:
    text = format_html('<a href="{}">{}</a>', row["url"], row["text"]) if row["url"] else format_html("{}", row["text"])
    return format_html(
        '<li>{} <span class="muted">{}</span></li>', text, ", ".join(part for part in (row["rel"], row["type"]) if part)
    )


def _json_url(items) -> str | None:
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict) and item.get("rel") == "self":
            return web_url(item.get("href"))
    return None


def _rel(items, rel: str, media_type: str | None = None) -> str | None:
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict) and item.get("rel") == rel and (media_type is None or item.get("type") == media_type):
            return web_url(item.get("href"))
    return None


def _as_html(url: str | None) -> str | None:
    """The HTML form of one of our own JSON URLs (``f=html`` in place of any ``f``)."""
    if url is None:
        return None
    base, _, query = url.partition("?")
    params = [p for p in query.split("&") if p and not p.startswith("f=")]
    return base + "?" + "&".join([*params, "f=html"])


# --- values --------------------------------------------------------------------------------------


def _text(value, limit: int = MAX_TEXT) -> str:
    """A value as plain text: strings as they are, anything else as compact JSON; cut at ``limit``."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + " …"


def _cell(value) -> dict:
    """A property value for a table cell or a definition: its kind (for the style), its text, and
    a link when it is a web URL."""
    if value is None:
        return {"kind": "null", "text": "null", "url": None}
    if isinstance(value, str):
        return {"kind": "text" if value else "empty", "text": _text(value, CELL_TEXT), "url": web_url(value)}
    if isinstance(value, (bool, int, float)):
        return {"kind": "number" if not isinstance(value, bool) else "bool", "text": _text(value), "url": None}
    return {"kind": "json", "text": _text(value, CELL_TEXT), "url": None}


def _value(value, key: str, depth: int) -> str:
    """The generic walk: HTML built from escaped parts only (so marking it safe is sound)."""
    if depth >= MAX_DEPTH:
        return format_html("<code>{}</code>", _text(value))
    if key == "links" and isinstance(value, list):
        return "<ul>" + "".join(_link_item(row) for row in _links(value)) + "</ul>"
    if key == "geometry" and value is not None:
        return format_html("<code>{}</code>", _text(value))
    if isinstance(value, dict):
        items = "".join(
            format_html("<dt>{}</dt><dd>{}</dd>", _text(k, CELL_TEXT), mark_safe(_value(v, str(k), depth + 1)))
            for k, v in value.items()
        )
        return f'<dl class="ogc">{items}</dl>'
    if isinstance(value, list):
        return "<ul>" + "".join(f"<li>{_value(v, '', depth + 1)}</li>" for v in value) + "</ul>" if value else "(none)"
    if isinstance(value, str):
        return link_or_text(value, _text(value))
    return escape(_text(value))


# --- the pages -----------------------------------------------------------------------------------


def _landing(request, document) -> dict:
    return {"description": _text(document.get("description", ""))}


def _collection_facts(document) -> dict:
    extent = document.get("extent") if isinstance(document.get("extent"), dict) else {}
    bbox = (extent.get("spatial") or {}).get("bbox") if isinstance(extent.get("spatial"), dict) else None
    links = document.get("links")
    return {
        "id": _text(document.get("id", ""), CELL_TEXT),
        "title": _text(document.get("title", ""), CELL_TEXT),
        "description": _text(document.get("description", "")),
        "bbox": ", ".join(
            _text([round(c, 4) if isinstance(c, float) else c for c in box], CELL_TEXT)
            for box in bbox
            if isinstance(box, list)
        )
        if isinstance(bbox, list)
        else "",
        "url": _rel(links, "alternate", HTML) or _as_html(_rel(links, "self")),
        "items_html": _rel(links, "items", HTML),
        "items_json": _rel(links, "items", GEOJSON),
        "json_url": _rel(links, "self"),
        "catalog_url": _rel(links, "describedby"),
    }


def _collections(request, document) -> dict:
    found = document.get("collections")
    return {
        "collections": [_collection_facts(c) for c in found if isinstance(c, dict)] if isinstance(found, list) else []
    }


def _collection(request, document) -> dict:
    return {"collection": _collection_facts(document)}


def _feature_row(feature, columns, item_url) -> dict:
    properties = feature.get("properties") if isinstance(feature.get("properties"), dict) else {}
    feature_id = feature.get("id")
    url = (
        item_url(feature_id)
        if item_url and isinstance(feature_id, (str, int)) and not isinstance(feature_id, bool)
        else None
    )
    return {
        "label": (_text(feature_id, CELL_TEXT) if feature_id is not None else "") or "(no id)",
        "url": url,
        "cells": [_cell(properties.get(name)) for name in columns],
        "located": isinstance(feature.get("geometry"), dict),
    }


def _items(request, document, item_url=None) -> dict:
    features = (
        [f for f in document.get("features") or () if isinstance(f, dict)]
        if isinstance(document.get("features"), list)
        else []
    )
    names: list[str] = []  # every property name, in the order first met, up to MAX_COLUMNS
    for feature in features:
        properties = feature.get("properties")
        for name in properties if isinstance(properties, dict) else ():
            if len(names) < MAX_COLUMNS and name not in names:
                names.append(name)
    links = document.get("links")
    matched = document.get("numberMatched", document.get("numberMatchedEstimate"))
    return {
        "columns": names,
        "more_columns": any(
            isinstance(f.get("properties"), dict) and len(f["properties"]) > len(names) for f in features
        ),
        "features": [_feature_row(f, names, item_url) for f in features],
        "returned": _text(document.get("numberReturned", len(features)), CELL_TEXT),
        "matched": _text(matched, CELL_TEXT) if matched is not None else None,
        "estimated": "numberMatchedEstimate" in document,
        "next_url": _as_html(_rel(links, "next")),
        "prev_url": _as_html(_rel(links, "prev")),
        "collection_url": _as_html(_rel(links, "collection")),
        "map": _map(_json_url(links)) if any(isinstance(f.get("geometry"), dict) for f in features) else None,
    }


def _item(request, document, item_url=None) -> dict:
    properties = document.get("properties") if isinstance(document.get("properties"), dict) else {}
    links = document.get("links")
    return {
        "feature_id": _text(document.get("id", ""), CELL_TEXT),
        "properties": [{"name": _text(name, CELL_TEXT), **_cell(value)} for name, value in properties.items()],
        "collection_url": _as_html(_rel(links, "collection")),
        "map": _map(_json_url(links), fit_max_zoom=ONE_FEATURE_ZOOM)
        if isinstance(document.get("geometry"), dict)
        else None,
    }


_KINDS = {"landing": _landing, "collections": _collections, "collection": _collection, "items": _items, "item": _item}


# --- the map -------------------------------------------------------------------------------------


ONE_FEATURE_ZOOM = 9  # one point shown with its surroundings (a region), not alone on blank land


def _map(geojson_url: str | None, fit_max_zoom: int | None = None) -> dict | None:
    """What ``static/catalog/map.js`` reads from the map's element: the GeoJSON to draw (this
    page's own JSON) and the base map; no vector tiles and no row links here."""
    if geojson_url is None or not _installed("vendor/leaflet/leaflet.js"):
        return None
    tile_url = portal_setting("MAP_TILE_URL")
    return {
        "geojson_url": geojson_url,
        "tile_url": tile_url,
        "attribution": portal_setting("MAP_TILE_ATTRIBUTION"),
        "natural_earth": not tile_url and all(_installed(p) for p in NATURAL_EARTH),
        "fit_max_zoom": fit_max_zoom,
    }


NATURAL_EARTH = (
    "vendor/topojson-client/topojson-client.min.js",
    "vendor/world-atlas/countries-110m.json",
    "vendor/world-atlas/countries-50m.json",
)


@lru_cache(maxsize=8)
def _installed(path: str) -> bool:
    return finders.find(path) is not None
