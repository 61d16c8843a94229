"""The portal's HTTP edges: CORS on the API, a Content-Security-Policy on pages, Cache-Control,
hostile input, database outages.

Their order in ``settings.MIDDLEWARE`` matters (outermost first)::

    portal.logs.RequestLogMiddleware             the request's context, its id in and out, one JSON line per request
    autoapi.db.disconnect.CancelOnDisconnectMiddleware   the client left while its answer was built: cancel its statements
    portal.pgpool.middleware.ReleaseConnectionsMiddleware   pooled database connections back once the response is built
    SecurityMiddleware                           HTTPS redirect, HSTS, nosniff, referrer policy (its own layer: Django's
                                                 `check --deploy` looks for it by name before checking its settings)
    portal.middleware.CorsMiddleware             preflights answered; Allow-Origin on every /api/ answer, 304s included;
                                                 Content-Security-Policy on every HTML answer, error pages included
    portal.fairshare.middleware.FairShareMiddleware   rate limits, download caps, API keys (429/503/401)
    portal.middleware.ReadOnlyMethodsMiddleware  anything but GET, HEAD, OPTIONS: 405
    whitenoise                                   static files (their own caching headers)
    portal.middleware.ConditionalGetMiddleware   Django's: ETag over the body, 304 on If-None-Match
    autoapi.web.compression.CompressionMiddleware     zstd/br/gzip by Accept-Encoding; inside the ETag, so each coding has its own
    portal.middleware.ViewGuardMiddleware        the last edge before the views, in one layer (it was five):
                                                 in: Django's CommonMiddleware checks, then NUL bytes in the path or
                                                 query string, bad read headers: 400;
                                                 out: a database error escaping a view: 503 + Retry-After (or its 4xx);
                                                 CSVW's describedby Link on CSV, X-Frame-Options, CommonMiddleware's
                                                 (APPEND_SLASH, Content-Length), then Cache-Control and Vary: Accept
                                                 (set before the ETag is computed: no-store gets none)

Merging layers keeps each one's order and short-circuits: a layer that answered by itself (a
redirect, a 400) still gets the outer layers' headers, never the inner ones'.
"""

from __future__ import annotations

import functools
import logging
import re
from urllib.parse import urlsplit

import psycopg2
from django.core.handlers.exception import response_for_exception
from django.db import DatabaseError
from django.http import HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.http import ConditionalGetMiddleware as DjangoConditionalGet
from django.utils.cache import patch_vary_headers, set_response_etag

from autoapi.conf import portal_setting
from autoapi.errors import (
    BadRequest,
    DatabaseUnavailable,
    PortalError,
    is_nul_refusal,
    translate_database_error,
)
from catalog.standards.links import add_describedby
from portal.errorpages import render_error

log = logging.getLogger(__name__)

API_PREFIX = "/api/"
OGC_PREFIX = "/ogc"
NEVER_CACHED = ("/healthz", "/readyz")
ALLOWED_METHODS = CORS_METHODS = "GET, HEAD, OPTIONS"
CORS_MAX_AGE = "86400"
# Response headers a browser script may read (the CORS-safelisted ones need no mention).
CORS_EXPOSED = (
    "ETag, Link, Retry-After, X-Request-ID, Content-Disposition, "
    "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy, X-Tile-Truncated"
)
# Request headers a preflight may ask for: a comma-separated list of HTTP tokens.
_HEADER_LIST = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*")
DEFAULT_ALLOWED_HEADERS = (
    "Accept, Accept-Language, Content-Type, If-None-Match, If-Modified-Since, Range, X-Request-ID, "
    "X-API-Key, Authorization"
)


def is_api(request) -> bool:
    """The API and OGC API Features (``/ogc``): JSON errors, CORS, ``Vary: Accept``."""
    return request.path.startswith((API_PREFIX, OGC_PREFIX + "/")) or request.path == OGC_PREFIX


def error_for(request, error: PortalError) -> HttpResponse:
    """The error as the request's URL namespace answers errors (``errorpages.py``)."""
    messages = {503: "The published database cannot be reached just now. Try again shortly."}
    return render_error(request, error, message=messages.get(error.status_code))


# Scripts only from the portal's own files: no inline script, no on*= handler, no eval. Styles
# likewise, as files only: the templates carry no style attribute and no <style> (Leaflet, Chart.js
# and Swagger UI set styles through the DOM's style properties, which CSP does not restrict).
# Images also from data: URIs (Leaflet's and Swagger UI's icons) and from the origin of
# MAP_TILE_URL when one is set; fetches only to the portal itself.
CSP_DIRECTIVES = (
    ("default-src", "'self'"),
    ("script-src", "'self'"),
    ("style-src", "'self'"),
    ("img-src", "'self' data:"),
    ("connect-src", "'self'"),
    ("font-src", "'self'"),
    ("object-src", "'none'"),
    ("base-uri", "'none'"),
    ("form-action", "'self'"),
    ("frame-ancestors", "'none'"),
)


@functools.lru_cache(maxsize=8)
def content_security_policy(tile_url: str = "") -> str:
    """The policy of every HTML answer; ``tile_url`` (``MAP_TILE_URL``) adds its origin to img-src
    (``{s}`` in the host, Leaflet's subdomains, becomes a ``*.`` wildcard)."""
    directives = dict(CSP_DIRECTIVES)
    origin = _tile_origin(tile_url)
    if origin:
        directives["img-src"] += " " + origin
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def _tile_origin(tile_url: str) -> str:
    try:
        parts = urlsplit(tile_url)
    except ValueError:
        return ""
    host = parts.netloc.rsplit("@", 1)[-1]
    if parts.scheme not in ("http", "https") or not host:
        return ""  # a relative template ("/tiles/{z}/...") is the portal's own: 'self' covers it
    host = re.sub(r"^\{[a-z]\}\.", "*.", host)
    if not re.fullmatch(r"(\*\.)?[A-Za-z0-9.-]+(:[0-9]+)?|\[[0-9A-Fa-f:.]+\](:[0-9]+)?", host):
        return ""  # nothing else may go into the header (catalog.E002 checks the template itself)
    return f"{parts.scheme}://{host}"


class ReadOnlyMethodsMiddleware:
    """Only GET, HEAD and OPTIONS exist, everywhere: any other method is a 405 with ``Allow``.

    The API's viewsets say so themselves; this makes it true of the catalog and the health URLs
    too (a Django function view would otherwise answer a POST like a GET), and is why the site
    needs no CSRF protection (``security.W003`` is silenced in settings). ``OPTIONS`` outside the
    API is answered here with ``Allow`` and no body.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in ("GET", "HEAD") or (request.method == "OPTIONS" and is_api(request)):
            return self.get_response(request)
        if request.method == "OPTIONS":
            response = HttpResponse(status=200)
        else:
            response = error_for(
                request, MethodNotAllowed(f"method {request.method[:20]!r} is not allowed: this site is read-only")
            )
        response["Allow"] = ALLOWED_METHODS
        return response


class MethodNotAllowed(PortalError):
    status_code = 405


class CorsMiddleware:
    """What other origins may do with an answer: ``Access-Control-Allow-Origin: *`` on every
    ``/api/`` response, with preflights answered here; and on every HTML answer (catalog, OGC
    HTML, API docs, error pages), the ``Content-Security-Policy`` (``content_security_policy()``)
    that lets a page run only the portal's own script files and be framed by no one.

    The API is public and read-only, and takes no cookies or credentials, so any origin may read
    it; ``Allow-Credentials`` is never sent. The catalog's pages are not opened to other origins.
    The policy sits here, outside the fair-share and read-only middleware, so that their error
    pages carry it too; it costs one header (a constant string per ``MAP_TILE_URL``) per page.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not is_api(request):
            return with_policy(self.get_response(request))
        if request.method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in request.META:
            response = HttpResponse(status=204)
            response["Access-Control-Allow-Methods"] = CORS_METHODS
            requested = request.META.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "").strip()
            if requested and len(requested) <= 1000 and _HEADER_LIST.fullmatch(requested):
                # Reading needs no special header, and a header cannot write anything: echo them.
                response["Access-Control-Allow-Headers"] = requested
            else:
                response["Access-Control-Allow-Headers"] = DEFAULT_ALLOWED_HEADERS
            response["Access-Control-Max-Age"] = CORS_MAX_AGE
            response["Cache-Control"] = f"public, max-age={CORS_MAX_AGE}"
        else:
            response = self.get_response(request)
            response["Access-Control-Expose-Headers"] = CORS_EXPOSED
        response["Access-Control-Allow-Origin"] = "*"
        return with_policy(response)


def with_policy(response):
    """The Content-Security-Policy on an HTML answer that has none of its own."""
    if response.get("Content-Type", "").startswith("text/html") and "Content-Security-Policy" not in response:
        response["Content-Security-Policy"] = content_security_policy(portal_setting("MAP_TILE_URL") or "")
    return response


# The request headers that make a GET conditional (RFC 9110 13.1), as WSGI names them.
_CONDITIONAL_HEADERS = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_MATCH", "HTTP_IF_UNMODIFIED_SINCE")


class ConditionalGetMiddleware(DjangoConditionalGet):
    """Django's ``ConditionalGetMiddleware`` (an ETag over the body when the answer has none, 304 on
    ``If-None-Match``), without reading the answer's validators back (parsing its Last-Modified)
    when the request sends no conditional header, which then cannot change the answer."""

    def process_response(self, request, response):
        if request.method == "GET" and not any(name in request.META for name in _CONDITIONAL_HEADERS):
            if self.needs_etag(response) and not response.has_header("ETag"):
                set_response_etag(response)
            return response
        return super().process_response(request, response)


def cache_control_value(max_age: int) -> str:
    return f"public, max-age={max_age}" if max_age > 0 else "no-cache"


def cache_control(request, response):
    """``Cache-Control: public, max-age=CACHE_MAX_AGE`` on successful GET/HEAD answers; ``no-store``
    on errors (a 503 must not outlive the outage in a CDN) and on the health URLs.

    API answers also get ``Vary: Accept``: the same URL gives JSON, CSV, GeoJSON or NDJSON by the
    Accept header, and a shared cache must not hand one client another's format. A view that set
    its own Cache-Control keeps it.
    """
    if is_api(request):
        patch_vary_headers(response, ("Accept",))
    if response.has_header("Cache-Control"):
        return response
    if request.path in NEVER_CACHED or response.status_code >= 400:
        response["Cache-Control"] = "no-store"
    elif request.method in ("GET", "HEAD"):
        response["Cache-Control"] = cache_control_value(int(portal_setting("CACHE_MAX_AGE")))
    return response


# The request headers the portal reads (validators, byte ranges, content negotiation, compression,
# API keys): each is bounded here, before any view or cache reads it.
READ_HEADERS = (
    "Range",
    "If-Range",
    "If-None-Match",
    "If-Modified-Since",
    "Accept",
    "Accept-Encoding",
    "X-API-Key",
    "Authorization",
)
# gunicorn refuses the same itself (limit_request_field_size, and RFC 9110 5.5's characters): the
# bound holds under any server (runserver, the embedded demo, another WSGI server).
MAX_HEADER_LENGTH = 8190
_READ_HEADER_KEYS = tuple((h, "HTTP_" + h.upper().replace("-", "_")) for h in READ_HEADERS)  # as WSGI names them
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # a field value holds no control character but tab (RFC 9110, 5.5)


def hostile_input(request) -> BadRequest | None:
    """What is wrong with the request's bytes, or None: a NUL in the path or the query string, a
    control character in, or an overlong, header the portal reads."""
    if "\x00" in request.path:
        return BadRequest("the path holds a NUL byte (%00), which no name or key can contain", parameter="path")
    for name, values in request.GET.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            shown = name.replace(chr(0), "%00")
            return BadRequest(
                f"query parameter {shown!r} holds a NUL byte (%00), which no value can contain", parameter=shown
            )
    meta = request.META
    for header, key in _READ_HEADER_KEYS:
        value = meta.get(key)
        if value is None:
            continue
        if len(value) > MAX_HEADER_LENGTH:
            return BadRequest(f"the {header} header is longer than {MAX_HEADER_LENGTH} characters", header=header)
        if _CONTROL.search(value):
            return BadRequest(f"the {header} header holds a control character", header=header)
    return None


class ViewGuardMiddleware:
    """The last edge before the views, both ways, in one layer (it was five: Cache-Control, Django's
    common and frame-options middleware, this guard and CSVW's describedby link): the request's
    bytes checked once before any view sees them, and a database error that escapes a view turned
    into the status it deserves, never a 500 (docs/operations.md, "Bad input").

    In: Django's ``CommonMiddleware`` checks (``DISALLOWED_USER_AGENTS``, ``PREPEND_WWW``); then a
    NUL byte in the path or the query string: PostgreSQL cannot store NUL in text (psycopg2
    refuses to send it), so no relation name, key or filter value can hold one; rejecting it here
    keeps every view from having to. The headers the portal reads are bounded here too. Each
    parameter's own value is then parsed, with its limits (``autoapi/query/limits.py``), by the one
    parser that reads it, before any query; and ``autoapi/errors.py`` is the one table from
    whatever escapes to a status.

    Out: most of all a lost or refused connection (the database restarting, a full connection
    table, ``connect_timeout``): 503 with ``Retry-After``, JSON on the API, a page in the catalog.
    The API views translate their own errors; this catches what happens outside them (the first
    snapshot of a process, the catalog, the URL dispatcher). Then, innermost first, as the five
    layers did: the ``describedby`` link on CSV (``catalog/standards/links.py``),
    ``X-Frame-Options``, ``CommonMiddleware``'s own (``APPEND_SLASH``'s redirect of a 404,
    ``Content-Length``) and ``cache_control``.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.common = CommonMiddleware(get_response)
        self.frame_options = XFrameOptionsMiddleware(get_response)

    def __call__(self, request):
        try:
            response = self.common.process_request(request)  # a redirect (PREPEND_WWW), or a 403
        except Exception as exc:  # as its own layer's boundary did: PermissionDenied is a 403
            response = response_for_exception(request, exc)
        if response is None:
            problem = hostile_input(request)
            response = error_for(request, problem) if problem else self.view_response(request)
            response = self.frame_options.process_response(request, response)
        response = self.common.process_response(request, response)
        return cache_control(request, response)

    def view_response(self, request):
        return add_describedby(request, self.get_response(request))

    def process_exception(self, request, exception):
        if is_nul_refusal(exception):  # psycopg2 would not send a client's NUL: a 400, as a view's own
            return error_for(
                request, BadRequest("a value holds a NUL character, which no PostgreSQL value can contain")
            )
        if not isinstance(exception, (DatabaseError, psycopg2.Error)):
            return None
        error = translate_database_error(exception, filtered=False)
        if isinstance(error, DatabaseUnavailable):
            log.warning(
                "database unavailable: %s",
                str(exception).strip().splitlines()[0] if str(exception).strip() else type(exception).__name__,
            )
        else:
            log.warning("database error outside a view's own handling", exc_info=exception)
        return error_for(request, error)
