"""Read-only three times over: HTTP methods, the session, and the role."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connections

from tests.autoapi.helpers import published_relations, url

pytestmark = pytest.mark.db  # every test here reads the fixture database

WRITE_METHODS = ("post", "put", "patch", "delete")


@pytest.mark.parametrize("method", WRITE_METHODS)
def test_write_methods_are_405_everywhere(client, method):
    relation = next(r for r in published_relations() if r.name == "single_pk")
    for path in ("/api/", url(relation), url(relation) + "1/"):
        response = getattr(client, method)(path, data="{}", content_type="application/json")
        assert response.status_code == 405, (method, path)
        assert response.json()["detail"]


def test_head_and_options_are_allowed(client):
    relation = next(r for r in published_relations() if r.name == "single_pk")
    assert client.head(url(relation)).status_code == 200
    response = client.options(url(relation))
    assert response.status_code == 200
    assert "POST" not in response["Allow"] and "GET" in response["Allow"]


def test_the_portal_session_is_read_only_and_timed():
    with connections["published"].cursor() as cursor:
        cursor.execute("SHOW default_transaction_read_only")
        assert cursor.fetchone()[0] == "on"
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] not in ("0", "")


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO public.single_pk (id, name) VALUES (999, 'x')",
        "UPDATE public.single_pk SET name = 'x'",
        "CREATE TABLE public.portal_wrote_this (x int)",
        "DROP TABLE public.single_pk",
    ],
)
def test_a_write_through_the_portal_connection_fails(statement, superuser_conn):
    before = superuser_conn.execute("SELECT count(*), md5(string_agg(name, ',' ORDER BY id)) FROM public.single_pk")
    with pytest.raises(DatabaseError), connections["published"].cursor() as cursor:
        cursor.execute(statement)
    after = superuser_conn.execute("SELECT count(*), md5(string_agg(name, ',' ORDER BY id)) FROM public.single_pk")
    assert before == after
    assert not superuser_conn.execute("SELECT 1 FROM pg_class WHERE relname = 'portal_wrote_this'")


def test_even_turning_read_only_off_cannot_write():
    """The session setting guards against accidents; the role's missing grants enforce it."""
    with pytest.raises(DatabaseError), connections["published"].cursor() as cursor:
        cursor.execute("SET transaction_read_only = off; INSERT INTO public.single_pk (id, name) VALUES (998, 'x')")
