"""Stream whole result sets with constant memory: CSV through COPY, JSON through a server-side cursor.

Each export opens its own short-lived connection (same settings as Django's, so read-only and
timed) inside a READ ONLY transaction: a server-side cursor needs a transaction, and Django's
request connection runs in autocommit, where a cursor ``WITH HOLD`` would make PostgreSQL
materialise the whole result before the first byte.

``first_then_rest`` runs the query up to its first chunk before the HTTP response starts, so a
bad filter still gets its 400 rather than a broken 200.

A process streams at most ``EXPORT_CONNECTIONS`` downloads at once (each holds a PostgreSQL
connection for as long as its client takes to read); the next one is a 503 with Retry-After at
once, never a wait that would hold a request thread. When the client goes away, the server closes
the response, which closes these generators: the COPY is cancelled and the connection closed
(``tests/production/test_slow_clients.py`` watches ``pg_stat_activity`` for it).
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
from collections.abc import Iterator

import psycopg2
from django.db import connections

from autoapi.conf import DATABASE_ALIAS, portal_setting
from autoapi.db import disconnect
from autoapi.db.sql import Statement
from autoapi.errors import PortalError

FETCH_ROWS = 2000
# Bounded: a slow client holds back COPY, never fills memory. Each download buffers at most
# COPY_QUEUE_CHUNKS + 1 batches (1.25 MB), however slowly its client reads.
COPY_QUEUE_CHUNKS = 4
COPY_BATCH_BYTES = 256 * 1024
_DONE = object()


class ExportsBusy(PortalError):
    status_code = 503
    headers = {"Retry-After": "10"}


_slots: list[threading.BoundedSemaphore] = []  # made at first use (after gunicorn's fork)
_slots_lock = threading.Lock()


@contextlib.contextmanager
def export_slot():
    """One of the process's ``EXPORT_CONNECTIONS`` download slots, or ``ExportsBusy``."""
    with _slots_lock:
        if not _slots:
            _slots.append(threading.BoundedSemaphore(portal_setting("EXPORT_CONNECTIONS")))
    slots = _slots[0]
    if not slots.acquire(blocking=False):
        raise ExportsBusy("too many downloads are running; try again in a few seconds")
    try:
        yield
    finally:
        slots.release()


def _connect(alias: str = DATABASE_ALIAS):
    """A new connection to ``alias`` (the request's read replica, or the primary)."""
    params = connections[alias].get_connection_params()
    conn = psycopg2.connect(**params)
    disconnect.lend(conn)  # cancelled if the client leaves before the first chunk (autoapi/db/disconnect.py)
    try:
        conn.set_session(readonly=True)
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true)", [str(portal_setting("EXPORT_STATEMENT_TIMEOUT_MS"))]
            )
    except BaseException:
        _close(conn)
        raise
    return conn


def _close(conn) -> None:
    disconnect.give_back(conn)
    conn.close()


def stream_rows(statement: Statement, alias: str = DATABASE_ALIAS) -> Iterator[str]:
    """Yield the first column of every row, fetched in batches from a server-side cursor.

    A short batch is the last: no further round trip (nor a CLOSE, which closing the connection
    does), so a result that fits in one batch needs the server only until its first row."""
    with export_slot():
        yield from _stream_rows(statement, alias)


def _stream_rows(statement: Statement, alias: str) -> Iterator[str]:
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
        _close(conn)


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
    with export_slot():
        yield from _stream_copy(statement, alias)


def copy_page(statement: Statement, alias: str = DATABASE_ALIAS) -> list[bytes]:
    """A page (or one row) in CSV: COPY on the request's pooled connection, in memory (a page is
    at most MAX_PAGE_SIZE rows), so a CSV page costs no connection of its own nor a thread."""
    buffer = io.BytesIO()
    with connections[alias].cursor() as cursor:
        sql = cursor.mogrify(statement.sql, statement.params).decode("utf-8")
        cursor.copy_expert(sql, buffer)
    return [buffer.getvalue()]


def _stream_copy(statement: Statement, alias: str) -> Iterator[bytes]:
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
        _close(conn)


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
