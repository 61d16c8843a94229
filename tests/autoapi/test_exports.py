"""Unit tests of ``autoapi/formats/exports.py``: ``stream_rows`` (server-side cursor), ``stream_copy`` (COPY
through a bounded queue) and ``first_then_rest``.

Checked: the streamed output equals the same statement run at once; chunks stay near the batch
size; each export runs read-only with the export timeout; an error before the first chunk is
raised by ``first_then_rest`` (before a response would start); closing a stream early ends the
query on the server (``pg_stat_activity`` as the superuser, waited for at most 3 s).
"""

from __future__ import annotations

import time
import uuid

import psycopg2
import pytest

from autoapi.db.sql import Statement
from autoapi.formats import exports
from autoapi.formats.exports import first_then_rest, stream_copy, stream_rows
from autoapi.query.queries import RowShape, csv_copy, json_rows
from tests.autoapi.unit_helpers import copy_out, fetch, queryset_for, relation

GONE_WITHIN = 3.0  # seconds
# 100 million rows that stream from the first one (a single generate_series would first be
# materialised whole by its function scan).
ENDLESS = "(SELECT a * 10000 + b AS g FROM generate_series(0, 9999) AS a, generate_series(1, 10000) AS b) AS endless"


def marker() -> str:
    """A unique SQL comment, to find this test's query in pg_stat_activity."""
    return f"/* unit-export-{uuid.uuid4().hex} */"


def backends_running(superuser_conn, mark: str) -> list[tuple]:
    return superuser_conn.execute(
        "SELECT pid, state, application_name FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()",
        (f"%{mark}%",),
    )


def wait_until_gone(superuser_conn, mark: str) -> list[tuple]:
    deadline = time.monotonic() + GONE_WITHIN
    while True:
        found = backends_running(superuser_conn, mark)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


# -- stream_rows -------------------------------------------------------------------------------


def big_json_statement(**filters):
    rel = relation("big_2500")
    return json_rows(queryset_for(rel).filter(**filters).order_by("id"), RowShape(rel, rel.columns))


@pytest.mark.db
@pytest.mark.parametrize("fetch_rows", [2000, 7, 500, 2500, 1])
def test_stream_rows_yields_every_row_in_order(monkeypatch, fetch_rows):
    monkeypatch.setattr(exports, "FETCH_ROWS", fetch_rows)
    statement = big_json_statement()
    assert list(stream_rows(statement)) == [r[0] for r in fetch(statement.sql, statement.params)]


@pytest.mark.db
def test_stream_rows_of_nothing():
    assert list(stream_rows(big_json_statement(id__lt=0))) == []


@pytest.mark.db
def test_exports_run_read_only_with_the_export_timeout(settings):
    settings.PORTAL = {**settings.PORTAL, "EXPORT_STATEMENT_TIMEOUT_MS": 4321}
    statement = Statement(
        "SELECT current_setting('transaction_read_only') || ',' || "
        "current_setting('statement_timeout') || ',' || current_setting('application_name')",
        (),
    )
    assert list(stream_rows(statement)) == ["on,4321ms,pg-portal"]


@pytest.mark.db
def test_export_timeout_cancels_a_slow_query(settings):
    settings.PORTAL = {**settings.PORTAL, "EXPORT_STATEMENT_TIMEOUT_MS": 200}
    started = time.monotonic()
    with pytest.raises(psycopg2.errors.QueryCanceled):
        list(stream_rows(Statement("SELECT pg_sleep(5)::text", ())))
    assert time.monotonic() - started < 3


def test_stream_rows_cannot_write(superuser_conn):
    superuser_conn.at_teardown("DROP SEQUENCE IF EXISTS public.unit_export_seq")
    superuser_conn.execute("CREATE SEQUENCE public.unit_export_seq")
    superuser_conn.execute("GRANT USAGE ON SEQUENCE public.unit_export_seq TO portal_reader")
    with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
        list(stream_rows(Statement("SELECT nextval('public.unit_export_seq')::text", ())))


# -- stream_copy -------------------------------------------------------------------------------


@pytest.mark.db
def test_stream_copy_equals_copy_at_once():
    rel = relation("types_text")
    statement = csv_copy(queryset_for(rel).order_by("id"), rel.columns)
    assert b"".join(stream_copy(statement)) == copy_out(statement.sql, statement.params)


@pytest.mark.db
def test_stream_copy_chunks_stay_near_the_batch_size(monkeypatch):
    monkeypatch.setattr(exports, "COPY_BATCH_BYTES", 4096)
    rel = relation("big_2500")
    statement = csv_copy(queryset_for(rel).order_by("id"), rel.columns)
    chunks = list(stream_copy(statement))
    expected = copy_out(statement.sql, statement.params)
    assert b"".join(chunks) == expected
    assert len(chunks) >= len(expected) // (4096 + 100)
    longest_line = max(len(line) for line in expected.splitlines(keepends=True))
    assert all(4096 <= len(c) < 4096 + longest_line for c in chunks[:-1])
    assert 0 < len(chunks[-1]) < 4096 + longest_line


@pytest.mark.db
def test_stream_copy_of_a_filtered_queryset_with_parameters():
    rel = relation("per%cent")
    statement = csv_copy(queryset_for(rel).filter(label="percent one"), rel.columns)
    assert statement.params == ("percent one",)
    assert b"".join(stream_copy(statement)) == b"id,label\n1,percent one\n"


# -- errors before the first chunk ------------------------------------------------------------


@pytest.mark.db
@pytest.mark.parametrize("view", ["v_errors", "v_errors_late"])
def test_errors_before_the_first_chunk_are_raised_by_first_then_rest(view):
    rel = relation(view)
    shape = RowShape(rel, rel.columns)
    with pytest.raises(psycopg2.errors.DivisionByZero):
        first_then_rest(stream_rows(json_rows(queryset_for(rel), shape)))
    with pytest.raises(psycopg2.errors.DivisionByZero):
        first_then_rest(stream_copy(csv_copy(queryset_for(rel), rel.columns)))


@pytest.mark.db
def test_an_error_after_the_first_chunk_reaches_the_consumer(monkeypatch):
    monkeypatch.setattr(exports, "COPY_BATCH_BYTES", 64)
    # 1/(g - 20000) fails at row 20,000, long after the first 64-byte chunk went out.
    statement = Statement("COPY (SELECT g, 1 / (g - 20000) FROM generate_series(1, 30000) AS g) TO STDOUT", ())
    stream = first_then_rest(stream_copy(statement))
    received = [next(stream)]
    with pytest.raises(psycopg2.errors.DivisionByZero):
        received.extend(stream)
    assert b"".join(received).startswith(b"1\t")
    assert len(received) > 10


@pytest.mark.db
def test_first_then_rest_of_an_empty_source():
    assert list(first_then_rest(iter([]))) == []
    assert list(first_then_rest(stream_rows(big_json_statement(id__lt=0)))) == []


def test_first_then_rest_pulls_the_first_item_at_once_and_closes_the_source():
    events = []

    def source():
        try:
            events.append("started")
            yield 1
            yield 2
            yield 3
        finally:
            events.append("closed")

    stream = first_then_rest(source())
    assert events == ["started"]  # before anyone iterates
    assert next(stream) == 1 and next(stream) == 2
    stream.close()
    assert events == ["started", "closed"]


# -- closing early ends the query on the server --------------------------------------------------


def test_closing_stream_copy_early_cancels_the_copy(superuser_conn):
    mark = marker()
    statement = Statement(f"COPY (SELECT g, repeat('x', 200) FROM {ENDLESS}) TO STDOUT {mark}", ())
    stream = first_then_rest(stream_copy(statement))
    assert next(stream).startswith(b"1\t")
    assert [row[1] for row in backends_running(superuser_conn, mark)] == ["active"]
    started = time.monotonic()
    stream.close()
    assert time.monotonic() - started < GONE_WITHIN
    assert wait_until_gone(superuser_conn, mark) == []


def test_closing_stream_rows_early_ends_the_query(superuser_conn, monkeypatch):
    monkeypatch.setattr(exports, "FETCH_ROWS", 100)
    mark = marker()
    stream = first_then_rest(stream_rows(Statement(f"SELECT g::text FROM {ENDLESS} {mark}", ())))
    assert len({int(next(stream)) for _ in range(150)}) == 150  # past the first batch of 100
    # Between batches the export's connection is idle in its transaction, its last statement a FETCH.
    fetching = superuser_conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'pg-portal' AND query LIKE 'FETCH%%portal_export%%'"
    )
    assert len(fetching) == 1
    stream.close()
    deadline = time.monotonic() + GONE_WITHIN
    while superuser_conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", fetching[0]):
        assert time.monotonic() < deadline, "the export's backend is still there"
        time.sleep(0.05)


def test_no_portal_query_stays_active_after_closing(superuser_conn):
    """The brief's check: after early closes, no query of application_name 'pg-portal' other than
    the schema watcher's catalog probes is still running."""
    for _ in range(3):
        stream = first_then_rest(stream_copy(Statement(f"COPY (SELECT g FROM {ENDLESS}) TO STDOUT", ())))
        next(stream)
        stream.close()
    deadline = time.monotonic() + GONE_WITHIN
    while True:
        active = superuser_conn.execute(
            "SELECT query FROM pg_stat_activity WHERE application_name = 'pg-portal' AND state = 'active' "
            "AND query LIKE '%%generate_series%%'"
        )
        if not active or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert active == []
