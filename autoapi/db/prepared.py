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
- **Bounded:** at most ``PREPARED_STATEMENTS`` per connection (least recently used are
  ``DEALLOCATE``\\ d); statements longer than ``MAX_PREPARED_BYTES`` are never prepared; this process
  keeps only 16-byte hashes (``SEEN_PER_CONNECTION`` of them per connection). ``PREPARED_STATEMENTS``
  = 0 turns preparation off.
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
MAX_PREPARED_BYTES = 64 * 1024  # a longer statement (a CQL2 filter of thousands of terms) runs as text
_PREFIX = "portal_"
_RETRY_AS_TEXT = {
    errorcodes.INVALID_SQL_STATEMENT_NAME,  # gone: a pooler's other server connection, or DISCARD ALL
    errorcodes.DUPLICATE_PREPARED_STATEMENT,  # already there under this name: the same text
    errorcodes.FEATURE_NOT_SUPPORTED,  # "cached plan must not change result type"
}


class _Connection:
    """What one database connection has prepared, and what it has seen once (hashes only)."""

    __slots__ = ("prepared", "seen")

    def __init__(self):
        self.prepared: OrderedDict[bytes, None] = OrderedDict()
        self.seen: OrderedDict[bytes, None] = OrderedDict()


_connections: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def execute(cursor, sql: str, params: tuple = ()) -> None:
    """``cursor.execute(sql, params)`` (a Django cursor), as a prepared statement once this
    connection runs the same statement a second time."""
    limit = portal_setting("PREPARED_STATEMENTS")
    raw = cursor.cursor
    conn = raw.connection
    if limit <= 0 or not conn.autocommit or conn.info.transaction_status != extensions.TRANSACTION_STATUS_IDLE:
        cursor.execute(sql, params)
        return
    text = raw.mogrify(sql, params)
    if len(text) > MAX_PREPARED_BYTES:
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
            del known.prepared[key]
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
    known.prepared[key] = None
    while len(known.prepared) > limit:
        old, _ = known.prepared.popitem(last=False)
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
