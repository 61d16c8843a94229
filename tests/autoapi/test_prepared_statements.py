"""Prepared statements (autoapi/db/prepared.py): a statement a connection runs twice is prepared on
the server, runs the same rows as text would, follows the schema, and stays within its bound; a
name missing or taken (a pooler's other server connection) costs one run as text, never another
statement's rows."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connections, transaction

from autoapi.db import prepared
from tests.autoapi.helpers import published_relations, url

pytestmark = pytest.mark.db

PAGE = "SELECT id, name FROM public.single_pk WHERE name <> %s ORDER BY id LIMIT %s"


def _prepared_names(cursor) -> set[str]:
    cursor.execute("SELECT name FROM pg_prepared_statements")
    return {name for (name,) in cursor.fetchall()}


def _run(cursor, sql=PAGE, params=("nobody", 5)):
    prepared.execute(cursor, sql, params)
    return cursor.fetchall()


@pytest.fixture
def cursor():
    connection = connections["published"]
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
        prepared._connections.pop(connection.connection, None)
        yield cursor
        cursor.execute("DEALLOCATE ALL")
        prepared._connections.pop(connection.connection, None)


def test_prepared_on_the_second_run_with_the_same_rows(cursor):
    cursor.execute(PAGE, ("nobody", 5))
    as_text = cursor.fetchall()
    assert _run(cursor) == as_text
    assert not _prepared_names(cursor)  # once: run as text
    assert _run(cursor) == as_text
    names = _prepared_names(cursor)
    assert len(names) == 1 and next(iter(names)).startswith("portal_")
    assert _run(cursor) == as_text  # and from then on, EXECUTE
    assert _prepared_names(cursor) == names
    # Another value is another statement (the values are written in: one plan per statement).
    assert _run(cursor, params=("nobody", 2)) == as_text[:2]
    assert _prepared_names(cursor) == names


def test_percent_signs_and_quotes_survive(cursor):
    sql = "SELECT %s::text, '100%%', length(%s)"
    for _ in range(3):
        assert _run(cursor, sql, ("it's 50%", "%s%%")) == [("it's 50%", "100%", 4)]
    assert len(_prepared_names(cursor)) == 1


def test_the_budget_deallocates_the_least_recently_used(cursor, settings):
    # Three statements of the same length, a budget for two and a half of them (each charged
    # SERVER_BYTES_PER_CHARACTER per character of its text).
    cost = len(cursor.cursor.mogrify(PAGE, ("nobody", 1))) * prepared.SERVER_BYTES_PER_CHARACTER
    settings.PORTAL = {**settings.PORTAL, "PREPARED_STATEMENTS_MB": 2.5 * cost / (1024 * 1024)}
    for limit in (1, 2, 3):
        for _ in range(2):
            assert len(_run(cursor, params=("nobody", limit))) == limit
    known = prepared._connections[cursor.cursor.connection]
    names = {prepared._PREFIX + key.hex() for key in known.prepared}
    assert len(names) == 2 and _prepared_names(cursor) == names  # the first one deallocated
    assert known.charged == 2 * cost
    assert len(_run(cursor, params=("nobody", 1))) == 1  # as text again, then prepared again


def test_a_statement_too_large_for_the_budget_runs_as_text(cursor, settings):
    cost = len(cursor.cursor.mogrify(PAGE, ("nobody", 1))) * prepared.SERVER_BYTES_PER_CHARACTER
    settings.PORTAL = {**settings.PORTAL, "PREPARED_STATEMENTS_MB": 0.5 * cost / (1024 * 1024)}
    for _ in range(3):
        assert len(_run(cursor, params=("nobody", 1))) == 1
    assert not _prepared_names(cursor)


def test_off_prepares_nothing(cursor, settings):
    settings.PORTAL = {**settings.PORTAL, "PREPARED_STATEMENTS_MB": 0}
    for _ in range(3):
        _run(cursor)
    assert not _prepared_names(cursor)


def test_inside_a_transaction_statements_run_as_text(cursor):
    with transaction.atomic(using="published"):
        for _ in range(3):
            _run(cursor)
        assert not _prepared_names(cursor)


def test_a_name_gone_from_the_server_is_run_as_text_then_prepared_again(cursor):
    expected = _run(cursor)
    _run(cursor)
    cursor.execute("DEALLOCATE ALL")  # as DISCARD ALL, or a pooler's other server connection, would
    assert _run(cursor) == expected
    assert not _prepared_names(cursor)
    assert _run(cursor) == expected and _run(cursor) == expected
    assert len(_prepared_names(cursor)) == 1


def test_a_name_already_taken_is_the_same_statement(cursor):
    # What a transaction-pooling proxy can show: the server connection has the name already. Names
    # are the hash of the text, so it can only be this statement.
    expected = _run(cursor)
    text = cursor.cursor.mogrify(PAGE, ("nobody", 5)).decode()
    name = prepared._PREFIX + prepared.hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    cursor.execute(f"PREPARE {name} AS {text}")
    assert _run(cursor) == expected
    assert _run(cursor) == expected
    assert _prepared_names(cursor) == {name}


def test_a_prepared_statement_follows_the_schema(cursor, superuser_conn):
    superuser_conn.execute("CREATE TABLE public.prepared_probe (id int PRIMARY KEY, note text)")
    superuser_conn.at_teardown("DROP TABLE IF EXISTS public.prepared_probe")
    superuser_conn.execute("INSERT INTO public.prepared_probe VALUES (1, 'one'), (2, 'two')")
    superuser_conn.execute("GRANT SELECT ON public.prepared_probe TO portal_reader")
    sql = "SELECT row_to_json(p)::text FROM (SELECT id, note FROM public.prepared_probe ORDER BY id) p"
    for _ in range(2):
        rows = _run(cursor, sql, ())
    assert rows == [('{"id":1,"note":"one"}',), ('{"id":2,"note":"two"}',)]
    superuser_conn.execute("ALTER TABLE public.prepared_probe ALTER COLUMN note TYPE varchar(10)")
    superuser_conn.execute("UPDATE public.prepared_probe SET note = 'uno' WHERE id = 1")
    assert _run(cursor, sql, ())[0] == ('{"id":1,"note":"uno"}',)
    superuser_conn.execute("ALTER TABLE public.prepared_probe DROP COLUMN note")
    with pytest.raises(DatabaseError, match="note"):  # as the statement run as text would
        _run(cursor, sql, ())
    ids = "SELECT id FROM public.prepared_probe ORDER BY id"
    assert _run(cursor, ids, ()) == _run(cursor, ids, ()) == [(1,), (2,)]
    assert len(_prepared_names(cursor)) == 2
    superuser_conn.execute("REVOKE SELECT ON public.prepared_probe FROM portal_reader")
    with pytest.raises(DatabaseError, match="permission denied"):  # checked at every EXECUTE
        _run(cursor, ids, ())


def test_pages_through_the_api_are_the_same_prepared_or_not(client, settings):
    settings.PORTAL = {**settings.PORTAL, "API_CACHE_SECONDS": 0}
    prepared._connections.clear()  # what this test prepares, counted below (the server's own stay: named by text)
    relations = [r for r in published_relations() if r.schema == "public"][:25]
    assert relations
    seen = {}
    for relation in relations:
        for _ in range(4):
            response = client.get(url(relation) + "?limit=7")
            assert response.status_code == 200, (relation.name, response.content[:200])
            seen.setdefault(relation.name, response.content)
            assert response.content == seen[relation.name], relation.name
    # The pages did run prepared (on whichever pooled connections they had: the schema watcher
    # borrows one too, so a relation's four requests may alternate between two).
    assert sum(len(known.prepared) for known in prepared._connections.values()) >= 10
    settings.PORTAL = {**settings.PORTAL, "PREPARED_STATEMENTS_MB": 0}
    for relation in relations:
        assert client.get(url(relation) + "?limit=7").content == seen[relation.name], relation.name


def test_a_prepared_statement_follows_a_tightened_view_and_row_policy(cursor, superuser_conn):
    # Issue 21's guarantee, through a prepared statement: a view redefined to show fewer rows, or
    # a row policy switched on, is what the next EXECUTE returns (PostgreSQL plans it again).
    superuser_conn.execute("CREATE TABLE public.prepared_rows (id int PRIMARY KEY, open bool)")
    superuser_conn.at_teardown("DROP TABLE IF EXISTS public.prepared_rows CASCADE")
    superuser_conn.execute("INSERT INTO public.prepared_rows VALUES (1, true), (2, false)")
    superuser_conn.execute("CREATE VIEW public.prepared_view AS SELECT id FROM public.prepared_rows")
    superuser_conn.execute("GRANT SELECT ON public.prepared_rows, public.prepared_view TO portal_reader")
    through_view = "SELECT id FROM public.prepared_view ORDER BY id"
    direct = "SELECT id FROM public.prepared_rows ORDER BY id"
    for _ in range(2):
        assert _run(cursor, through_view, ()) == [(1,), (2,)]
        assert _run(cursor, direct, ()) == [(1,), (2,)]
    assert len(_prepared_names(cursor)) == 2
    superuser_conn.execute(
        "CREATE OR REPLACE VIEW public.prepared_view AS SELECT id FROM public.prepared_rows WHERE open"
    )
    assert _run(cursor, through_view, ()) == [(1,)]
    superuser_conn.execute("ALTER TABLE public.prepared_rows ENABLE ROW LEVEL SECURITY")
    superuser_conn.execute("CREATE POLICY only_open ON public.prepared_rows FOR SELECT TO portal_reader USING (open)")
    assert _run(cursor, direct, ()) == [(1,)]
    superuser_conn.execute("DROP POLICY only_open ON public.prepared_rows")
    assert _run(cursor, direct, ()) == []  # row security on and no policy: no row
    assert len(_prepared_names(cursor)) == 2  # the same prepared statements, planned again
