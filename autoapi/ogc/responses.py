"""Media types, the ``f`` parameter and OGC's error shape.

OGC API answers errors as ``{"code", "description"}`` (its exception schema); the API's own
errors (``PortalError``) keep their status and their extra fields (``parameter``, ``allowed``...).
"""

from __future__ import annotations

import json

from django.http import HttpResponse

from autoapi.errors import BadRequest, PortalError
from autoapi.formats import records

JSON = records.JSON.media_type
GEOJSON = records.GEOJSON.media_type
HTML = "text/html"
OPENAPI = "application/vnd.oai.openapi+json;version=3.1"
FORMATS = {"json": JSON, "geojson": JSON, "html": HTML}  # ``geojson`` is JSON's feature form

CODES = {
    400: "InvalidParameterValue",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    429: "TooManyRequests",
    503: "ServiceUnavailable",
}


def dumps(document) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error_response(error: PortalError) -> HttpResponse:
    body = {"code": CODES.get(error.status_code, "Error"), "description": error.detail, **error.extra}
    response = HttpResponse(dumps(body), status=error.status_code, content_type=f"{JSON}; charset=utf-8")
    for name, value in error.headers.items():
        response[name] = value
    return response


def json_response(document, media_type: str = JSON) -> HttpResponse:
    return HttpResponse(dumps(document), content_type=f"{media_type}; charset=utf-8")


def wants_html(request) -> bool:
    """``f=html``/``f=json`` decide; without ``f``, HTML only when the Accept header prefers it to
    JSON (a browser), so curl (``*/*``) and GDAL get JSON."""
    chosen = request.GET.get("f")
    if chosen is not None:
        if chosen not in FORMATS:
            raise BadRequest(f"unknown format f={chosen!r}", parameter="f", allowed=sorted(FORMATS))
        return FORMATS[chosen] == HTML
    return _quality(request, (HTML,)) > _quality(request, (JSON, GEOJSON, "application/*"))


def is_ogc_json(request) -> bool:
    """Whether a refusal made outside the OGC views (fair share, a path the API has not) should be
    an OGC JSON exception: on /ogc/ unless HTML was asked for (an unknown ``f`` gets JSON)."""
    if not request.path.startswith("/ogc/") and request.path != "/ogc":
        return False
    try:
        return not wants_html(request)
    except BadRequest:
        return True


def _quality(request, types: tuple[str, ...]) -> float:
    """The highest q the Accept header gives any of ``types`` by name (wildcards ``*/*`` aside)."""
    best = 0.0
    for item in request.META.get("HTTP_ACCEPT", "").split(","):
        media, *options = [part.strip() for part in item.split(";")]
        if media.lower() not in types:
            continue
        q = 1.0
        for option in options:
            name, _, value = option.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best = max(best, q)
    return best
