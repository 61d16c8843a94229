"""``FairShareMiddleware``: request rate limits, download caps and API keys, in one place.

It sits in ``settings.MIDDLEWARE`` just inside ``CorsMiddleware`` (so a browser script can read a
429 and its headers) and outside everything that does work, so a refused request costs a counter
and nothing else. It covers the API and the catalog alike; ``/healthz``, ``/readyz`` and static
files are never limited (load balancers and page assets must not be refused).

- **Rate**: each client (address or API key, ``clients.py``) may make ``RATE_LIMIT`` requests per
  fixed window of ``RATE_LIMIT_WINDOW`` seconds. Every limited answer carries ``RateLimit-Limit``,
  ``RateLimit-Remaining``, ``RateLimit-Reset`` (seconds) and ``RateLimit-Policy``; beyond the
  limit the answer is ``429`` with ``Retry-After``.
- **Downloads**: a whole-relation download (``?limit=all`` on ``/api/<schema>/<relation>/``) holds
  a slot of its client (``CLIENT_DOWNLOADS``, beyond: ``429``) and one of this process
  (``PROCESS_DOWNLOADS``, beyond: ``503``; each download holds a worker thread, so this keeps
  threads free for pages) until its response is closed: after the last byte, or when the client
  goes away. Both come with ``Retry-After``.
- **Keys**: a listed API key gets its own limits; an unknown one is a ``401``.

Not DRF throttling: it sees only DRF views (not the catalog, nor requests refused before a view),
and its cache-based history is read, changed and written back, so two processes sharing it lose
counts; Redis ``INCR`` and a Lua script count atomically.
"""
from __future__ import annotations

import math

from django.conf import settings
from django.http import HttpResponse

from autoapi.conf import portal_setting
from autoapi.errors import PortalError, TooManyDownloads, TooManyRequests, Unauthorized, error_response
from autoapi.ogc import responses as ogc_responses
from portal.fairshare.clients import KeyTable, UnknownKey, identify
from portal.fairshare.store import Counters

EXEMPT_PATHS = ("/healthz", "/readyz")
DOWNLOAD_RETRY_AFTER = 10  # seconds: nobody knows when a running download ends; ask again soon
LEASE_MARGIN_SECONDS = 60  # a download's slot lasts at most the export timeout plus this


TITLES = {401: "Unknown API key", 429: "Too many requests", 503: "This server is busy"}


def refusal(request, error: PortalError, headers: dict) -> HttpResponse:
    """JSON ``{"detail": ...}`` on the API, an OGC exception on /ogc/ (GDAL and QGIS read JSON), the
    catalog's error page elsewhere; never cached."""
    if request.path.startswith("/api/"):
        response = error_response(error)
    elif ogc_responses.is_ogc_json(request):
        response = ogc_responses.error_response(error)
    else:
        from catalog.views import error_page

        response = error_page(request, error.status_code, TITLES[error.status_code], error.detail)
    for name, value in headers.items():
        response[name] = value
    response["Cache-Control"] = "no-store"
    return response


def rate_headers(limit: int, window: int, count: int, reset: float) -> dict:
    return {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(max(0, limit - count)),
        "RateLimit-Reset": str(max(1, math.ceil(reset))),
        "RateLimit-Policy": f"{limit};w={window}",
    }


def is_download(request) -> bool:
    match = request.resolver_match
    return (
        match is not None and match.url_name == "relation-list" and match.namespace == "autoapi"
        and str(request.GET.get("limit", "")).lower() == "all"
    )


class FairShareMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.counters = Counters(portal_setting("REDIS_URL"))  # per client: shared through Redis
        self.process = Counters()  # this process's downloads: memory only, by definition
        self.keys = KeyTable()
        self.static_prefix = "/" + settings.STATIC_URL.lstrip("/")

    def __call__(self, request):
        if request.path in EXEMPT_PATHS or request.path.startswith(self.static_prefix):
            return self.get_response(request)
        try:
            client = identify(request.META, self.keys)
        except UnknownKey:
            error = Unauthorized("unknown API key: send a key the publisher issued (X-API-Key), or none")
            return refusal(request, error, {"WWW-Authenticate": 'Bearer realm="pg-portal"'})
        request.fair_share_client = client
        headers = {}
        if client.rate_limit:
            window = portal_setting("RATE_LIMIT_WINDOW")
            count, reset = self.counters.hit(client.identity, window)
            headers = rate_headers(client.rate_limit, window, count, reset)
            if count > client.rate_limit:
                error = TooManyRequests(
                    f"too many requests: at most {client.rate_limit} every {window} s per client; "
                    f"try again in {headers['RateLimit-Reset']} s"
                )
                return refusal(request, error, {**headers, "Retry-After": headers["RateLimit-Reset"]})
        response = self.get_response(request)
        for name, value in headers.items():
            response[name] = value
        for lease in request.__dict__.pop("_fair_share_leases", ()):
            # Run when the server closes the response: after the last byte, or the client gone.
            response._resource_closers.append(lease.release)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        """Take the download slots (client first, then process) before the view starts the query."""
        client = getattr(request, "fair_share_client", None)
        if client is None or not is_download(request):
            return None
        hold = portal_setting("EXPORT_STATEMENT_TIMEOUT_MS") / 1000 + LEASE_MARGIN_SECONDS
        retry = {"Retry-After": str(DOWNLOAD_RETRY_AFTER)}
        leases = []
        if client.downloads:
            lease = self.counters.acquire(client.identity, client.downloads, hold)
            if lease is None:
                return refusal(request, TooManyRequests(
                    f"too many downloads at once: at most {client.downloads} whole-relation downloads "
                    "(limit=all) per client; try again when one has finished"), retry)
            leases.append(lease)
        process_limit = portal_setting("PROCESS_DOWNLOADS")
        if process_limit:
            lease = self.process.acquire("process", process_limit, hold)
            if lease is None:
                for taken in leases:
                    taken.release()
                return refusal(request, TooManyDownloads(
                    "this server is running as many whole-relation downloads as it can; try again shortly"), retry)
            leases.append(lease)
        request._fair_share_leases = leases
        return None
