"""What one request settles once and several layers read: one ``RequestContext`` per request.

Django keeps its own per-request facts on the request (``user``, ``resolver_match``); the portal's
are gathered in this one object, ``request.portal``, made by the outermost middleware
(``portal.logs.RequestLogMiddleware``) or, for a request that did not pass through it (a test's
``RequestFactory``), at its first use by ``context_of``. Each field has one writer:

=====================  ===============================  ==========================================
field                  written by                       read by
=====================  ===============================  ==========================================
``request_id``         the request log                  the request log, ``X-Request-ID``
``read_alias``         ``replicas.read_alias`` (once)   every data read of the request (rows and
                       and ``replicas.use_primary``     count from the same server)
``client``, ``leases``  the fair-share middleware       the fair-share middleware (leases released
                                                        when the response is closed)
``download_admission``  the fair-share middleware       ``autoapi.web.validators``: called just
                                                        before a whole-relation download queries
``relation``           ``autoapi.web.urls`` (resolved)  the request log's ``relation`` field
``host``, ``full_path``  ``host_of``, ``full_path_of``  plan keys and ETags (``Host`` checked
                       (once)                           against ``ALLOWED_HOSTS`` once)
=====================  ===============================  ==========================================

A copy of the request (``copy.copy``) shares its context, so a page built from a copied request
still reads from the server its request chose.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

ATTRIBUTE = "portal"


@dataclass(slots=True, eq=False)
class RequestContext:
    request_id: str | None = None
    read_alias: str | None = None  # None: not chosen yet (the request has read no data)
    client: object = None  # portal.fairshare.clients.Client
    leases: list = field(default_factory=list)  # fair-share leases, released when the response closes
    # Returns the refusal to answer instead (its download slots are taken), or None: go ahead.
    download_admission: Callable[[], object] | None = None
    relation: str | None = None  # "schema.name" of the relation the URL named, when published
    host: str | None = None  # request.get_host(), once it has been asked for
    full_path: str | None = None  # request.get_full_path(): the path and the query string as sent
    origin: str | None = None  # "scheme://host" of the request, for documents of many absolute URLs


def context_of(request) -> RequestContext:
    """The request's context (Django's request or DRF's wrapper of it), made at first use."""
    base = getattr(request, "_request", request)  # DRF's Request wraps Django's: one context for both
    try:
        return base.__dict__[ATTRIBUTE]
    except KeyError:
        context = base.__dict__[ATTRIBUTE] = RequestContext()
        return context


def host_of(request) -> str:
    """``request.get_host()`` (validated against ``ALLOWED_HOSTS``), worked out once per request."""
    context = context_of(request)
    if context.host is None:
        context.host = request.get_host()
    return context.host


def origin_of(request) -> str:
    """``scheme://host`` of the request, worked out once per request: the documents that list
    every relation make many absolute URLs (their paths are ASCII already: tilde-encoded)."""
    context = context_of(request)
    if context.origin is None:
        context.origin = request.build_absolute_uri("/").removesuffix("/")
    return context.origin


def full_path_of(request) -> str:
    """``request.get_full_path()``, worked out once per request: the path and the query string as
    the client sent them (a copy of the request with other ``GET`` parameters has the same one)."""
    context = context_of(request)
    if context.full_path is None:
        context.full_path = request.get_full_path()
    return context.full_path
