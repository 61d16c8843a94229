"""What the standards' documents share: absolute URLs of a relation's documents and downloads,
finding the relation a URL names (a JSON 404 otherwise) and JSON answers. Whole documents are
kept by ``autoapi.public.shared_document`` (one cache for every whole-catalog document)."""

from __future__ import annotations

import json
import re
from json.encoder import encode_basestring

from django.http import HttpResponse, JsonResponse

from autoapi.public import Relation, api_url, decode_segment, get_snapshot, web_url


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


def dumps(data) -> str:
    """JSON text as every standards document writes it: UTF-8 as is, no spaces."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def json_text(value) -> str:
    """``dumps(value)``, a string's at C speed (``json``'s own encoder for strings)."""
    return encode_basestring(value) if type(value) is str else dumps(value)


class JSONTemplate:
    """A JSON text written once by ``dumps`` from a model whose holes are ``JSONTemplate.hole(n)``,
    then filled with values' JSON texts (``json_text``, or any JSON text): exactly what ``dumps``
    writes for the model with the values in the holes, at a fraction of its cost. For the documents
    that repeat one shape 10,000 times (``/data.json``: docs/operations.md, "Catalog documents at
    scale")."""

    _HOLE = re.compile(r'"\\u0000(\d+)\\u0000"')

    def __init__(self, model):
        parts = self._HOLE.split(dumps(model))
        self.first = parts[0]
        self.rest = [(int(parts[i]), parts[i + 1]) for i in range(1, len(parts), 2)]

    @staticmethod
    def hole(number: int) -> str:
        return f"\0{number}\0"

    def fill(self, *texts: str) -> str:
        out = [self.first]
        for number, constant in self.rest:
            out.append(texts[number])
            out.append(constant)
        return "".join(out)


def json_answer(data, content_type: str = "application/json") -> HttpResponse:
    body = dumps(data).encode()
    return HttpResponse(
        body, content_type=f"{content_type}; charset=utf-8" if "charset" not in content_type else content_type
    )


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
