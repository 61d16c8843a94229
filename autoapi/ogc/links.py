"""Absolute URLs of the OGC resources and the ``links`` arrays OGC API documents carry."""

from __future__ import annotations

import json
from urllib.parse import quote

from autoapi.ogc.ids import collection_id
from autoapi.ogc.responses import GEOJSON, HTML, JSON
from autoapi.query.pagination import Window

ROOT = "/ogc"


def url(request, path: str = "") -> str:
    return request.build_absolute_uri(ROOT + path)


def collection_url(request, relation) -> str:
    return url(request, "/collections/" + collection_id(relation))


def link(href: str, rel: str, media_type: str, title: str | None = None) -> dict:
    item = {"href": href, "rel": rel, "type": media_type}
    if title:
        item["title"] = title
    return item


def self_and_alternate(request, media_type: str = JSON) -> list[dict]:
    """``self`` (this URL as JSON) and ``alternate`` (as HTML), keeping the other parameters."""
    return [
        link(_with(request, f="json" if media_type == JSON else None), "self", media_type),
        link(_with(request, f="html"), "alternate", HTML, "this document as HTML"),
    ]


def _with(request, **changes) -> str:
    """This request's URL with some parameters set (a value) or removed (None)."""
    params = request.GET.copy()
    for name, value in changes.items():
        params.pop(name, None)
        if value is not None:
            params[name] = value
    query = params.urlencode(safe=",~:/")
    return request.build_absolute_uri(request.path) + (f"?{query}" if query else "")


def items_links(request, relation, window: Window, returned: int, envelope: dict, cursor: str | None) -> list[dict]:
    """self, alternate, collection, and next/prev: a keyset cursor where the API pages by cursor,
    else offsets. With an estimated count a full page always has a next page (the estimate may
    be short)."""
    found = [*self_and_alternate(request, GEOJSON), link(collection_url(request, relation), "collection", JSON)]
    full = returned >= window.limit
    if cursor is not None and full:
        found.append(link(_with(request, cursor=cursor, offset=None), "next", GEOJSON))
        return found
    more = full and (envelope.get("count_is_estimate") or window.offset + window.limit < envelope["count"])
    if more:
        found.append(link(_with(request, offset=str(window.offset + window.limit)), "next", GEOJSON))
    if window.offset > 0:
        found.append(link(_with(request, offset=str(max(window.offset - window.limit, 0))), "prev", GEOJSON))
    return found


def feature_url(request, relation, feature_id: str) -> str:
    return collection_url(request, relation) + "/items/" + quote(feature_id, safe="")


def with_feature_links(feature_text: str, request, relation, feature_id: str) -> bytes:
    """PostgreSQL's Feature with ``links`` added (self, alternate, collection)."""
    own = feature_url(request, relation, feature_id)
    found = [
        link(own, "self", GEOJSON),
        link(own + "?f=html", "alternate", HTML),
        link(collection_url(request, relation), "collection", JSON),
    ]
    return (feature_text[:-1] + ',"links":' + json.dumps(found, ensure_ascii=False) + "}").encode("utf-8")


def dumps_head(head: dict) -> str:
    """A document's JSON without its closing brace, for PostgreSQL's rows to follow."""
    return json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1]
