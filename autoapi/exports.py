"""Stream whole result sets with constant memory: CSV through COPY, JSON through a server-side cursor.

Each export opens its own short-lived connection (same settings as Django's, so read-only and
timed) inside a READ ONLY transaction: a server-side cursor needs a transaction, and Django's
request connection runs in autocommit, where a cursor ``WITH HOLD`` would make PostgreSQL
materialise the whole result before the first byte.

``first_then_rest`` runs the query up to its first chunk before the HTTP response starts, so a
bad filter still gets its 400 rather than a broken 200.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import psycopg2
from django.db import connections

from autoapi.conf import DATABASE_ALIAS, portal_setting
from autoapi.queries import Statement

FETCH_ROWS = 2000
COPY_QUEUE_CHUNKS = 64  # bounded: a slow client holds back COPY, never fills memory
COPY_BATCH_BYTES = 256 * 1024
_DONE = object()


def _connect(alias: str = DATABASE_ALIAS):
    """A new connection to ``alias`` (the request's read replica, or the primary)."""
    params = connections[alias].get_connection_params()
    conn = psycopg2.connect(**params)
    conn.set_session(readonly=True)
    with conn.cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(portal_setting("EXPORT_STATEMENT_TIMEOUT_MS"))])
    return conn


def stream_rows(statement: Statement, alias: str = DATABASE_ALIAS) -> Iterator[str]:
    """Yield the first column of every row, fetched in batches from a server-side cursor.

    A short batch is the last: no further round trip (nor a CLOSE, which closing the connection
    does), so a result that fits in one batch needs the server only until its first row."""
    conn = _connect(alias)
    try:
        cursor = conn.cursor(name="portal_export")
        cursor.itersize = FETCH_ROWS
        cursor.execute(statement.sql, statement.params)
        while True:
            rows = cursor.fetchmany(FETCH_ROWS)
            for row in rows:
                yield row[0]
            if len(rows) < FETCH_ROWS:
                break
    finally:
        conn.close()


class _QueueWriter:
    """The file object psycopg2's ``copy_expert`` writes into; batches small writes."""

    def __init__(self, chunks: queue.Queue, cancelled: threading.Event):
        self.chunks = chunks
        self.cancelled = cancelled
        self.buffer: list[bytes] = []
        self.size = 0

    def write(self, data):
        if self.cancelled.is_set():
            raise BrokenPipeError("client went away")
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.buffer.append(data)
        self.size += len(data)
        if self.size >= COPY_BATCH_BYTES:
            self.flush()

    def flush(self):
        if self.buffer:
            self.chunks.put(b"".join(self.buffer))
            self.buffer, self.size = [], 0


def stream_copy(statement: Statement, alias: str = DATABASE_ALIAS) -> Iterator[bytes]:
    """Yield ``COPY ... TO STDOUT`` output in chunks while PostgreSQL is still producing it.

    psycopg2's ``copy_expert`` only returns when COPY ends, so it runs in a thread that feeds a
    bounded queue; closing this generator early cancels the COPY.
    """
    chunks: queue.Queue = queue.Queue(maxsize=COPY_QUEUE_CHUNKS)
    cancelled = threading.Event()
    conn = _connect(alias)

    def produce():
        writer = _QueueWriter(chunks, cancelled)
        try:
            with conn.cursor() as cursor:
                sql = cursor.mogrify(statement.sql, statement.params).decode("utf-8")
                cursor.copy_expert(sql, writer, size=COPY_BATCH_BYTES)
            writer.flush()
            chunks.put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            chunks.put(exc)

    thread = threading.Thread(target=produce, name="portal-copy", daemon=True)
    thread.start()
    try:
        while True:
            item = chunks.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        if thread.is_alive():
            cancelled.set()
            conn.cancel()
            while thread.is_alive():  # drain so the producer can finish
                try:
                    chunks.get(timeout=0.1)
                except queue.Empty:
                    pass
        thread.join()
        conn.close()


def first_then_rest(iterator: Iterator) -> Iterator:
    """Pull the first item now (so errors surface before the response starts), then the rest.

    Returns a generator, so that the response closing it (client gone) closes the source too.
    """
    iterator = iter(iterator)
    try:
        first = next(iterator)
    except StopIteration:
        return iter(())

    def rest():
        try:
            yield first
            yield from iterator
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    return rest()
