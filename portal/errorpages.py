"""Which renderer answers an error, by URL namespace: one table for the whole site.

``/api/`` (and the health URLs) answer the API's JSON ``{"detail": ...}``; ``/ogc`` answers OGC
API's exception JSON ``{"code", "description"}`` (GDAL and QGIS read it); everything else is the
catalog's HTML error page. The middleware (``error_for``), the fair-share refusals and Django's
404/500 handlers all ask ``render_error``, never the path themselves.
"""

from __future__ import annotations

from django.http import HttpResponse

from autoapi.errors import PortalError, error_response
from autoapi.ogc import responses as ogc_responses
from catalog.views import error_page

API, OGC, CATALOG = "api", "ogc", "catalog"
# (path prefix, namespace), first match wins; a path no prefix matches is the catalog's.
NAMESPACES = (("/api/", API), ("/ogc/", OGC))
EXACT = {"/ogc": OGC, "/healthz": API, "/readyz": API}

TITLES = {
    400: "This request cannot be answered",
    401: "Unknown API key",
    404: "Not found",
    405: "Method not allowed",
    409: "This relation cannot be read",
    429: "Too many requests",
    503: "Database unavailable",
}


def namespace(request) -> str:
    path = request.path
    if path in EXACT:
        return EXACT[path]
    return next((name for prefix, name in NAMESPACES if path.startswith(prefix)), CATALOG)


def render_error(
    request,
    error: PortalError,
    title: str | None = None,
    message: str | None = None,
    html_on_ogc_for_browsers: bool = False,
) -> HttpResponse:
    """``error`` as its namespace answers errors. ``title``/``message``: the catalog page's (by
    default from the status); ``html_on_ogc_for_browsers``: on /ogc, a request that prefers HTML
    (``f=html`` or a browser's Accept) gets the catalog's page instead of OGC JSON."""
    where = namespace(request)
    if where == OGC and html_on_ogc_for_browsers and not ogc_responses.is_ogc_json(request):
        where = CATALOG
    if where == API:
        return error_response(error)
    if where == OGC:
        return ogc_responses.error_response(error)
    response = error_page(
        request, error.status_code, title or TITLES.get(error.status_code, TITLES[400]), message or error.detail
    )
    for name, value in error.headers.items():
        response[name] = value
    return response
