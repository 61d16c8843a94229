"""Server-side prepared statements for the statements a connection runs again and again.

A page's statement is long (every column named, the ``_links`` expressions), and PostgreSQL parses,
analyses and plans it on every request: for a 100-row page of flights that is a quarter of the
database's CPU (pgbench: 3,300 statements/s as text, 4,400/s prepared). PostgREST prepares its
statements for the same reason. Here a statement is prepared on a connection the second time that
connection is asked to run it (a statement seen once, such as a one-off filter value, is never
prepared), then run with ``EXECUTE``.

- **What is prepared:** the statement with its parameters already written in as constants
  (``cursor.mogrify``), so a prepared statement has no parameters and PostgreSQL keeps one plan for
  it, made with the values known, as a fresh statement's would be. Plans follow the schema: DDL or
  a new ``ANALYZE`` makes PostgreSQL plan it again; a statement that no longer fits the schema
  fails as the plain statement would (and the request's schema-race retry takes over).
- **Named by content:** ``portal_<hash of the text>``. A same-named statement on any connection is
  the same text, so a transaction-pooling proxy (PgBouncer, Supavisor) that hands the ``EXECUTE`` to
  another server connection can at worst find the name missing (prepared again, once) or already
  there (the same statement): never another statement's rows.
- **Bounded by the server's memory:** PostgreSQL keeps a prepared statement's parse tree and plan,
  60 to 90 bytes per character of its text (``pg_backend_memory_contexts`` on PostgreSQL 15: 200 KB
  for the flights page, 24 KB for a two-column one). Each is charged ``SERVER_BYTES_PER_CHARACTER``
  per character against ``PREPARED_STATEMENTS_MB`` per connection; the least recently used are
  deallocated past it, and a statement that alone would pass it runs as text. This process
  keeps only 16-byte hashes (``SEEN_PER_CONNECTION`` of them per connection, and one per prepared
  statement). ``PREPARED_STATEMENTS_MB`` = 0 turns preparation off.
- **Only outside a transaction:** in autocommit with no transaction open, where a failed
  ``PREPARE`` or ``EXECUTE`` leaves nothing behind; inside one, statements run as text.
"""

from __future__ import annotations

import hashlib
import weakref
from collections import OrderedDict

from django.db import DatabaseError
from psycopg2 import errorcodes, extensions

from autoapi.conf import portal_setting
from autoapi.db import sql as composed

SEEN_PER_CONNECTION = 256  # hashes of statements run once, waiting for a second run
SERVER_BYTES_PER_CHARACTER = 100  # what PostgreSQL keeps per character of a prepared statement, rounded up
_PREFIX = "portal_"
# An EXECUTE that fails so is run as text instead (the statement itself is fine).
_RETRY_AS_TEXT = {
    errorcodes.INVALID_SQL_STATEMENT_NAME,  # gone: a pooler's other server connection, or DISCARD ALL
    errorcodes.FEATURE_NOT_SUPPORTED,  # "cached plan must not change result type"
}


class _Connection:
    """What one database connection has prepared, and what it has seen once (hashes only)."""

    __slots__ = ("prepared", "seen", "charged")

    def __init__(self):
        self.prepared: OrderedDict[bytes, int] = OrderedDict()  # hash -> the server bytes charged
        self.seen: OrderedDict[bytes, None] = OrderedDict()
        self.charged = 0


_connections: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def execute(cursor, sql: str, params: tuple = ()) -> None:
    """``cursor.execute(sql, params)`` (a Django cursor), as a prepared statement once this
    connection runs the same statement a second time."""
    budget = portal_setting("PREPARED_STATEMENTS_MB") * 1024 * 1024
    raw = cursor.cursor
    conn = raw.connection
    if budget <= 0 or not conn.autocommit or conn.info.transaction_status != extensions.TRANSACTION_STATUS_IDLE:
        cursor.execute(sql, params)
        return
    text = raw.mogrify(sql, params)
    cost = len(text) * SERVER_BYTES_PER_CHARACTER
    if cost > budget:  # a filter of thousands of terms: its plan alone would pass the budget
        cursor.execute(text.decode())
        return
    key = hashlib.blake2b(text, digest_size=16).digest()
    known = _connections.get(conn)
    if known is None:
        known = _connections[conn] = _Connection()
    name = _PREFIX + key.hex()
    if key in known.prepared:
        known.prepared.move_to_end(key)
        try:
            cursor.execute(composed.execute_prepared(name))
            return
        except DatabaseError as exc:
            if _sqlstate(exc) not in _RETRY_AS_TEXT:
                raise
            known.charged -= known.prepared.pop(key)
        _forget(cursor, name)
        cursor.execute(text.decode())
        return
    if key not in known.seen:
        known.seen[key] = None
        if len(known.seen) > SEEN_PER_CONNECTION:
            known.seen.popitem(last=False)
        cursor.execute(text.decode())
        return
    del known.seen[key]
    try:
        cursor.execute(composed.prepare(name, text.decode()))
    except DatabaseError as exc:
        # A statement that cannot be prepared fails as its text would (a missing column, a
        # revoked grant), and a lost connection is lost for either: the error is the request's.
        if _sqlstate(exc) != errorcodes.DUPLICATE_PREPARED_STATEMENT:
            raise
    known.prepared[key] = cost
    known.charged += cost
    while known.charged > budget:
        old, freed = known.prepared.popitem(last=False)
        known.charged -= freed
        _forget(cursor, _PREFIX + old.hex())
    cursor.execute(composed.execute_prepared(name))


def _forget(cursor, name: str) -> None:
    try:
        cursor.execute(composed.deallocate(name))
    except DatabaseError:
        pass  # already gone


def _sqlstate(exc: Exception) -> str | None:
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return getattr(cause, "pgcode", None)
