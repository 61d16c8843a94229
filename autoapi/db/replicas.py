"""Reads spread over streaming replicas (``DATABASE_REPLICA_URLS``), with the primary as fallback.

Settings turn each replica URL into a Django alias ``replica_0``, ``replica_1``, ... with the same
session settings as the primary (``published``). Only DATA reads go to a replica: a page's rows and
count, a download's stream, the catalog's preview. The schema snapshot (introspection, fingerprint,
change probe), the catalog's statistics and ``/readyz`` stay on the primary, the source of truth.

- The server is chosen once per request (``read_alias``) and remembered in its context
  (``context.py``), so that a page's rows and its count come from the same server. Replicas take
  turns (round-robin, per process); the primary serves only when every replica is down (or none
  is configured).
- A replica that fails to connect or loses its connection (503-class errors) is left out for
  ``REPLICA_RETRY_SECONDS`` and the request is run again on the primary: a replica being down is
  never a 5xx. So is a replica that does not have the relation yet (it lags behind a fresh DDL:
  42P01, the "schema changed" path) or cannot read it (409): the primary answers.
- Only the replica's health moves reads (``verdict``): not this process's own "busy" answers (its
  pool lent out, ``PoolBusy``; too many downloads), which a hostile client can cause at will and
  which would move every read to the primary; and not an error the client caused (a bad value,
  22xxx; a program limit, 54xxx; an unknown function, 42883; the statement timeout), which the
  primary would only repeat at its own cost.
- Nothing is shared between processes; each finds a dead replica on its own, at the cost of one
  failed connection attempt per ``REPLICA_RETRY_SECONDS``.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time

import psycopg2
from django.conf import settings
from django.db import DatabaseError, connections

from autoapi.conf import DATABASE_ALIAS, portal_setting
from autoapi.db.base import PoolBusy
from autoapi.db.context import context_of
from autoapi.errors import DatabaseUnavailable, RelationUnreadable, SchemaChanged, translate_database_error

log = logging.getLogger(__name__)

PRIMARY = DATABASE_ALIAS
PREFIX = "replica_"
# SQLSTATEs (classes, or whole codes) of errors the client's request caused: never retried elsewhere.
CLIENT_CAUSED = ("22", "54", "42883", "57014")
DOWN, ELSEWHERE = "down", "elsewhere"

_lock = threading.Lock()
_turns = itertools.count()
_down_until: dict[str, float] = {}


def replica_aliases() -> list[str]:
    """The configured replicas' aliases, in order (empty without DATABASE_REPLICA_URLS)."""
    aliases = [a for a in settings.DATABASES if a.startswith(PREFIX)]
    return sorted(aliases, key=lambda a: int(a[len(PREFIX) :])) if len(aliases) > 1 else aliases


def is_replica(alias: str) -> bool:
    return alias.startswith(PREFIX)


def healthy_replicas(now: float | None = None) -> list[str]:
    now = time.monotonic() if now is None else now
    return [a for a in replica_aliases() if _down_until.get(a, 0.0) <= now]


def choose() -> str:
    """A healthy replica, in turn, or the primary when none is."""
    candidates = healthy_replicas()
    if not candidates:
        return PRIMARY
    with _lock:
        turn = next(_turns)
    return candidates[turn % len(candidates)]


def read_alias(request=None) -> str:
    """The alias a request reads its data from: chosen at its first data read, then the same."""
    if request is None:
        return choose()
    context = context_of(request)
    if context.read_alias is None:
        context.read_alias = choose()
    return context.read_alias


def use_primary(request) -> None:
    context_of(request).read_alias = PRIMARY


def mark_down(alias: str, reason: str = "") -> None:
    """Leave a replica out for REPLICA_RETRY_SECONDS, and drop this thread's connection to it."""
    if not is_replica(alias):
        return
    seconds = float(portal_setting("REPLICA_RETRY_SECONDS"))
    first = _down_until.get(alias, 0.0) <= time.monotonic()
    _down_until[alias] = time.monotonic() + seconds
    if first:
        log.warning(
            "read replica %s unavailable (%s); reading from the primary for %g s", alias, reason or "error", seconds
        )
    try:
        connections[alias].close()
    except Exception:  # a connection that is already broken may fail to close: it is gone anyway
        pass


def _causes(exc, depth: int = 8):
    while exc is not None and depth:
        yield exc
        exc, depth = exc.__cause__ or exc.__context__, depth - 1


def verdict(error, exc=None) -> str | None:
    """What a replica's failed read says about the replica: ``DOWN`` (unreachable: leave it out and
    ask the primary), ``ELSEWHERE`` (it lags behind, or cannot read what the primary can: ask the
    primary) or None (the same answer would come from the primary, or the failure is this
    process's own: answer it as it is). ``error``: the translated PortalError; ``exc``: the
    database exception behind it, when known (else ``error``'s own cause)."""
    chain = list(_causes(exc if exc is not None else getattr(error, "__cause__", None)))
    if any(isinstance(e, PoolBusy) for e in chain):
        return None
    code = next((e.pgcode for e in chain if getattr(e, "pgcode", None)), "") or ""
    if code.startswith(CLIENT_CAUSED):
        return None
    if type(error) is DatabaseUnavailable:  # exactly: other 503s (ExportsBusy...) are local
        return DOWN
    if isinstance(error, (SchemaChanged, RelationUnreadable)):
        return ELSEWHERE
    return None


def fall_back(request, response) -> bool:
    """After a view answered ``response`` from the request's read alias: True when that was a
    replica and the primary should answer instead (the request is switched to the primary, and a
    replica that was unreachable is marked down). At most once per request. Judged by the error
    behind the answer (``verdict``), never by its status alone."""
    alias = context_of(request).read_alias
    if alias is None or not is_replica(alias):
        return False
    error = getattr(response, "portal_error", None)  # set by errors.error_response
    found = verdict(error) if error is not None else None
    if found is None:
        return False
    if found == DOWN:
        mark_down(alias, "a request's read failed: unreachable, or shutting down")
    use_primary(request)
    return True


def run(request, work, *, filtered: bool = True):
    """``work(alias)`` on the request's read alias; on a replica, an error that the primary may not
    have (see ``verdict``) runs it again on the primary. Other errors (a bad filter value, the
    statement timeout, this process's pool being busy) propagate: the primary would say the same."""
    alias = read_alias(request)
    try:
        return work(alias)
    except (DatabaseError, psycopg2.Error) as exc:
        if not is_replica(alias):
            raise
        found = verdict(translate_database_error(exc, filtered=filtered), exc)
        if found is None:
            raise
        if found == DOWN:
            mark_down(alias, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    use_primary(request)
    return work(PRIMARY)


def reset() -> None:
    """Forget which replicas are down (tests)."""
    _down_until.clear()
