"""What the standards' documents share: absolute URLs of a relation's documents and downloads,
finding the relation a URL names (a JSON 404 otherwise), JSON answers, and a small memo of whole
documents keyed by the snapshot version with a byte budget."""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict

from django.http import HttpResponse, JsonResponse

from autoapi.public import Relation, api_url, decode_segment, get_snapshot, web_url

DOCUMENT_MEMO_BYTES = 32 * 1024 * 1024  # whole-catalog documents kept per process, at most


def is_url(text) -> bool:
    """The pages' rule for links from data (``autoapi/web/weblinks.py``)."""
    return isinstance(text, str) and web_url(text) is not None


def absolute(request, path: str) -> str:
    """``path`` (site-relative, ASCII: tilde- and percent-encoded) as an absolute URL."""
    from catalog.opendata import site_origin

    return site_origin(request) + path


def relation_base(relation: Relation) -> str:
    """``/api/<schema>/<relation>/`` with tilde-encoded segments."""
    return api_url(relation)


def download_url(request, relation: Relation, fmt: str) -> str:
    """The whole-relation download in ``fmt``, absolute: the URL the stored file answers."""
    return absolute(request, f"{api_url(relation)}?format={fmt}&limit=all")


def not_found(detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=404)


def bad_request(detail: str, parameter: str) -> JsonResponse:
    """The API's 400: what was wrong and the parameter it was in."""
    return JsonResponse({"detail": detail, "parameter": parameter}, status=400)


def find_relation(schema_segment: str, relation_segment: str) -> Relation | None:
    """The published relation the URL's (tilde-encoded) segments name, or None."""
    try:
        schema, name = decode_segment(schema_segment), decode_segment(relation_segment)
    except Exception:  # a segment that cannot be decoded names nothing
        return None
    return get_snapshot().get(schema, name)


def schema_of(schema_segment: str) -> str | None:
    try:
        schema = decode_segment(schema_segment)
    except Exception:
        return None
    return schema if schema in get_snapshot().schemas else None


def json_answer(data, content_type: str = "application/json") -> HttpResponse:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return HttpResponse(
        body, content_type=f"{content_type}; charset=utf-8" if "charset" not in content_type else content_type
    )


def bytes_answer(body: bytes, content_type: str) -> HttpResponse:
    return HttpResponse(body, content_type=content_type)


_SLUG = re.compile(r"[^a-z0-9._-]+")


def resource_name(relation: Relation) -> str:
    """A name Data Package and Croissant accept (lowercase letters, digits, ``-._``), unique per
    relation: ``schema.name`` when it already is one, else a slug of it with the relation's oid."""
    plain = f"{relation.schema}.{relation.name}"
    slug = _SLUG.sub("-", plain.lower()).strip("-.") or "relation"
    return slug if slug == plain else f"{slug}-{relation.oid}"


def referenced(snapshot, relation: Relation) -> list[Relation]:
    """The published relations ``relation``'s foreign keys point at (itself excluded), in order."""
    found = []
    for fk in relation.foreign_keys:
        other = snapshot.get(fk.ref_schema, fk.ref_relation)
        if other is not None and other is not relation and other not in found:
            found.append(other)
    return found


class DocumentMemo:
    """Whole documents (bytes) per key, least recently used first out past ``budget`` bytes. Keys
    hold the snapshot version, so a schema change is never served from it; a key is built at most
    once per process while it stays (two threads may build it at once, once: the last one wins)."""

    def __init__(self, budget: int = DOCUMENT_MEMO_BYTES):
        self.budget = budget
        self._items: OrderedDict = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key, value) -> None:
        size = len(value[0]) if isinstance(value, tuple) else len(value)
        if size > self.budget:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old[0]) if isinstance(old, tuple) else len(old)
            self._items[key] = value
            self._size += size
            while self._size > self.budget and self._items:
                _key, old = self._items.popitem(last=False)
                self._size -= len(old[0]) if isinstance(old, tuple) else len(old)

    def get_or_build(self, key, build):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = build()
        size = len(value[0]) if isinstance(value, tuple) else len(value)
        if size > self.budget:
            return value
        with self._lock:
            if key not in self._items:
                self._items[key] = value
                self._size += size
            while self._size > self.budget and self._items:
                _key, old = self._items.popitem(last=False)
                self._size -= len(old[0]) if isinstance(old, tuple) else len(old)
        return value


memo = DocumentMemo()
