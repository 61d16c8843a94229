"""A short-lived cache of successful answers, per process: catalog pages and API pages.

A catalog page costs tens of milliseconds of Python (statistics, preview, profiles, templates), an
API page a few milliseconds and two queries; under a crowd asking for the same URLs that is what
fills the CPUs and the connection pool. An answer is kept for a few seconds (the view's setting:
CATALOG_CACHE_SECONDS or API_CACHE_SECONDS; 0 turns it off) under its schema snapshot, URL, host,
scheme and Accept header, so a schema change is never served from the cache and data changes show
within those seconds (the portal already lets browsers and proxies keep answers for
CACHE_MAX_AGE). Only successful, non-streamed GET/HEAD answers are kept (never a ``?limit=all``
download), within PAGE_CACHE_MB per process (``boundedcache``: the least recently used go first,
an expired answer is dropped), each at most MAX_PAGE_BYTES.
"""

from __future__ import annotations

import functools
import sys

from django.http import HttpResponse

from autoapi.boundedcache import BytesCache
from autoapi.conf import portal_setting
from autoapi.web.registry import registry

MAX_PAGE_BYTES = 2 * 1024 * 1024
KEPT_HEADERS = ("Content-Type", "Content-Language", "Content-Disposition", "Link", "Vary", "Allow")


class PageCache:
    """Answers by key: the body, status and kept headers; a new ``HttpResponse`` for each hit."""

    def __init__(self):
        self._pages = BytesCache("pages", "PAGE_CACHE_MB")

    def get(self, key: tuple) -> HttpResponse | None:
        entry = self._pages.get(key)
        if entry is None:
            return None
        status, headers, body = entry
        response = HttpResponse(body, status=status)
        for name, value in headers:
            response[name] = value
        return response

    def put(self, key: tuple, response: HttpResponse, seconds: float) -> None:
        if response.status_code != 200 or response.streaming or len(response.content) > MAX_PAGE_BYTES:
            return
        headers = [(name, response[name]) for name in KEPT_HEADERS if response.has_header(name)]
        size = sys.getsizeof(response.content) + sum(len(name) + len(value) for name, value in headers)
        self._pages.put(key, (response.status_code, headers, response.content), size, seconds)

    def clear(self) -> None:
        self._pages.clear()

    @property
    def bytes(self) -> int:
        return self._pages.bytes

    def __len__(self) -> int:
        return len(self._pages)


pages = PageCache()


def serve_cached(request, setting: str, snapshot_version: str, produce, data_tag: str | None = None):
    """``produce()``'s answer, kept in ``pages`` for PORTAL[setting] seconds under the snapshot
    version the request resolved (and the data version when known, ``validators.py``: an answer
    is never kept under validators newer than its rows)."""
    seconds = portal_setting(setting)
    if seconds <= 0 or request.method not in ("GET", "HEAD"):
        return produce()
    key = (
        snapshot_version,
        request.get_full_path(),
        request.get_host(),
        request.is_secure(),
        request.META.get("HTTP_ACCEPT", ""),
        data_tag,
    )
    response = pages.get(key)
    if response is None:
        response = produce()
        pages.put(key, response, seconds)
    return response


def cached_response(setting: str):
    """Serve the view's successful GET and HEAD answers from ``pages`` for PORTAL[setting] seconds
    (views that resolve no relation of their own: the catalog's pages, OGC API's)."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if portal_setting(setting) <= 0 or request.method not in ("GET", "HEAD"):
                return view(request, *args, **kwargs)
            try:
                version = registry.current().snapshot.version
            except Exception:  # no snapshot (the database is down): let the view answer as it does
                return view(request, *args, **kwargs)
            return serve_cached(request, setting, version, lambda: view(request, *args, **kwargs))

        return wrapper

    return decorate


cached_page = cached_response("CATALOG_CACHE_SECONDS")  # the catalog's pages (through autoapi.public)
