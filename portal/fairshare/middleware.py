"""``FairShareMiddleware``: request rate limits, download caps and API keys, in one place.

It sits in ``settings.MIDDLEWARE`` just inside ``CorsMiddleware`` (so a browser script can read a
429 and its headers) and outside everything that does work, so a refused request costs a counter
and nothing else. It covers the API and the catalog alike; ``/healthz``, ``/readyz`` and static
files are never limited (load balancers and page assets must not be refused).

- **Rate**: each client (address or API key, ``clients.py``) may make ``RATE_LIMIT`` requests per
  fixed window of ``RATE_LIMIT_WINDOW`` seconds. Every limited answer carries ``RateLimit-Limit``,
  ``RateLimit-Remaining``, ``RateLimit-Reset`` (seconds) and ``RateLimit-Policy``; beyond the
  limit the answer is ``429`` with ``Retry-After``.
- **In flight**: each client may have ``CLIENT_REQUESTS`` requests in flight at once (pages,
  downloads, the catalog; shared through Redis like the rate), and holds a lease from the moment
  it is admitted until its response is closed; beyond: ``429`` with ``Retry-After: 1``. The rate
  and this lease are one Redis round trip (``store.ADMIT_SCRIPT``), the lease's release a second.
- **Share of the pool** (``share.py``): in this process, a client already holding
  ``CLIENT_POOL_SHARE`` of the ``DB_CONNECTIONS`` is refused (``429``, ``Retry-After: 1``) when
  its requests take long (one running for a second or more) or fewer than a quarter of the pool
  is free, so a heavy client is turned away before the pool is exhausted for everyone.
- **Downloads**: a whole-relation download (``?limit=all`` on ``/api/<schema>/<relation>/``) that
  runs a query holds a slot of its client (``CLIENT_DOWNLOADS``, beyond: ``429``) and one of this
  process (``PROCESS_DOWNLOADS``, beyond: ``503``; each download holds a worker thread, so this
  keeps threads free for pages) until its response is closed: after the last byte, or when the
  client goes away. Both come with ``Retry-After``. The slots are taken only when the download
  is about to query (``autoapi.web.validators`` calls the request context's ``download_admission``): a
  stored file holds no database connection and takes none (it is still in flight for its client).
- **Keys**: a listed API key gets its own limits; an unknown one (or one shorter than
  ``API_KEY_MIN_LENGTH``) is a ``401``, counted against the address that sent it: past
  ``API_KEY_FAILURES`` refused keys in a window, that address may present no key at all (``429``)
  until the window ends, so keys cannot be guessed at the rate limit's pace.

Not DRF throttling: it sees only DRF views (not the catalog, nor requests refused before a view),
and its cache-based history is read, changed and written back, so two processes sharing it lose
counts; Redis ``INCR`` and a Lua script count atomically.
"""

from __future__ import annotations

import math

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse

from autoapi.conf import portal_setting
from autoapi.db.context import context_of
from autoapi.errors import PortalError, TooManyDownloads, TooManyRequests, Unauthorized
from portal.errorpages import render_error
from portal.fairshare.clients import KeyTable, UnknownKey, address_identity, identify, presented_key
from portal.fairshare.share import PoolShare
from portal.fairshare.store import Counters

EXEMPT_PATHS = ("/healthz", "/readyz")
DOWNLOAD_RETRY_AFTER = 10  # seconds: nobody knows when a running download ends; ask again soon
IN_FLIGHT_RETRY_AFTER = 1  # seconds: a page ends within the statement timeout, usually far sooner
LEASE_MARGIN_SECONDS = 60  # a lease lasts at most its statement timeout plus this


TITLES = {401: "Unknown API key", 429: "Too many requests", 503: "This server is busy"}


def refusal(request, error: PortalError, headers: dict) -> HttpResponse:
    """JSON ``{"detail": ...}`` on the API, an OGC exception on /ogc/ (GDAL and QGIS read JSON), the
    catalog's error page elsewhere; never cached."""
    response = render_error(request, error, title=TITLES[error.status_code], html_on_ogc_for_browsers=True)
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
        match is not None
        and match.url_name == "relation-list"
        and match.namespace == "autoapi"
        and str(request.GET.get("limit", "")).lower() == "all"
    )


def looks_like_download(request) -> bool:
    """Before URL resolution: might this be a whole-relation download (its lease lasts longer)?"""
    return request.path.startswith("/api/") and str(request.GET.get("limit", "")).lower() == "all"


MIN_KEY_LENGTH_FLOOR = 16  # autoapi/checks.py holds API_KEY_MIN_LENGTH to it too


class FairShareMiddleware:
    def __init__(self, get_response):
        if portal_setting("API_KEY_MIN_LENGTH") < MIN_KEY_LENGTH_FLOOR:
            # Refuse to start (gunicorn: "Worker failed to boot"), not only in `manage.py check`:
            # shorter keys could be guessed.
            raise ImproperlyConfigured(
                f"PORTAL_API_KEY_MIN_LENGTH is {portal_setting('API_KEY_MIN_LENGTH')}; it must be at least "
                f"{MIN_KEY_LENGTH_FLOOR} (docs/operations.md, Fair share)"
            )
        self.get_response = get_response
        self.counters = Counters(portal_setting("REDIS_URL"))  # per client: shared through Redis
        self.process = Counters()  # this process's downloads: memory only, by definition
        self.share = PoolShare(portal_setting("DB_CONNECTIONS"), portal_setting("CLIENT_POOL_SHARE"))
        self.keys = KeyTable()
        self.static_prefix = "/" + settings.STATIC_URL.lstrip("/")

    def __call__(self, request):
        if request.path in EXEMPT_PATHS or request.path.startswith(self.static_prefix):
            return self.get_response(request)
        try:
            client = self.identify(request)
        except UnknownKey as exc:
            return self.refuse_key(request, exc)
        except TooManyRequests as exc:
            return refusal(request, exc, exc.headers)
        context = context_of(request)
        context.client = client
        download = looks_like_download(request)
        timeout = portal_setting("EXPORT_STATEMENT_TIMEOUT_MS" if download else "STATEMENT_TIMEOUT_MS")
        headers, lease = {}, None
        if client.rate_limit or client.requests:
            window = portal_setting("RATE_LIMIT_WINDOW")
            count, reset, lease, admitted = self.counters.admit(
                client.identity, window, client.rate_limit, client.requests, timeout / 1000 + LEASE_MARGIN_SECONDS
            )
            if client.rate_limit:
                headers = rate_headers(client.rate_limit, window, count, reset)
                if count > client.rate_limit:
                    error = TooManyRequests(
                        f"too many requests: at most {client.rate_limit} every {window} s per client; "
                        f"try again in {headers['RateLimit-Reset']} s"
                    )
                    return refusal(request, error, {**headers, "Retry-After": headers["RateLimit-Reset"]})
            if not admitted:
                return refusal(
                    request,
                    TooManyRequests(
                        f"too many requests at once: at most {client.requests} in flight per client; "
                        "try again when one has finished"
                    ),
                    {**headers, "Retry-After": str(IN_FLIGHT_RETRY_AFTER)},
                )
        ticket = None if download else self.share.enter(client.identity)
        if ticket is None and not download:
            if lease is not None:
                lease.release()
            return refusal(
                request,
                TooManyRequests(
                    "this client already holds its share of this server's database connections, with requests "
                    "that take long or while the server is busy; try again when one of them has finished"
                ),
                {**headers, "Retry-After": str(IN_FLIGHT_RETRY_AFTER)},
            )
        try:
            response = self.get_response(request)
        except BaseException:
            if lease is not None:
                lease.release()
            raise
        finally:
            if ticket:
                self.share.leave(client.identity, ticket)  # its pooled connections are given back now
        for name, value in headers.items():
            response[name] = value
        leases, context.leases = context.leases, []
        if lease is not None:
            leases.append(lease)
        for taken in leases:
            # Run when the server closes the response: after the last byte, or the client gone.
            response._resource_closers.append(taken.release)
        return response

    def identify(self, request):
        """The client; a request presenting a key from an address that sent too many refused keys
        is refused (TooManyRequests) before its key is even looked at."""
        presented = presented_key(request.META)  # two dict lookups: anonymous requests stop here
        failures_allowed = portal_setting("API_KEY_FAILURES")
        if presented is not None and failures_allowed and self.keys.keys():
            window = portal_setting("RATE_LIMIT_WINDOW")
            failures, reset = self.counters.peek(f"keyfail:{address_identity(request.META)}", window)
            if failures >= failures_allowed:
                error = TooManyRequests(
                    f"too many unknown API keys from this address: at most {failures_allowed} every {window} s; "
                    f"try again in {max(1, math.ceil(reset))} s"
                )
                error.headers = {"Retry-After": str(max(1, math.ceil(reset)))}
                raise error
        return identify(request.META, self.keys, shared_pool=bool(self.share.share))

    def refuse_key(self, request, exc: UnknownKey):
        """401 for a key that is not listed, counted against the address that sent it."""
        if portal_setting("API_KEY_FAILURES"):
            self.counters.hit(f"keyfail:{exc.address}", portal_setting("RATE_LIMIT_WINDOW"))
        error = Unauthorized("unknown API key: send a key the publisher issued (X-API-Key), or none")
        return refusal(request, error, {"WWW-Authenticate": 'Bearer realm="pg-portal"'})

    def process_view(self, request, view_func, view_args, view_kwargs):
        """Offer the download slots to the view: taken only when the download is about to query."""
        context = context_of(request)
        if context.client is not None and is_download(request):
            client = context.client
            context.download_admission = lambda: self.take_download_slots(request, client)
        return None

    def take_download_slots(self, request, client):
        """The download slots (client first, then process), or the refusal to answer instead."""
        hold = portal_setting("EXPORT_STATEMENT_TIMEOUT_MS") / 1000 + LEASE_MARGIN_SECONDS
        retry = {"Retry-After": str(DOWNLOAD_RETRY_AFTER)}
        leases = []
        if client.downloads:
            lease = self.counters.acquire(client.identity, client.downloads, hold)
            if lease is None:
                return refusal(
                    request,
                    TooManyRequests(
                        f"too many downloads at once: at most {client.downloads} whole-relation downloads "
                        "(limit=all) per client; try again when one has finished"
                    ),
                    retry,
                )
            leases.append(lease)
        process_limit = portal_setting("PROCESS_DOWNLOADS")
        if process_limit:
            lease = self.process.acquire("process", process_limit, hold)
            if lease is None:
                for taken in leases:
                    taken.release()
                return refusal(
                    request,
                    TooManyDownloads(
                        "this server is running as many whole-relation downloads as it can; try again shortly"
                    ),
                    retry,
                )
            leases.append(lease)
        context_of(request).leases.extend(leases)
        return None
