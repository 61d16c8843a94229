"""portal/pgpool/pool.py on the real PostgreSQL: bounded, reused, and never lends a dead or busy
connection (the engine around it is exercised by every other test)."""

from __future__ import annotations

import os
import time

import psycopg2
import pytest

from portal.pgpool import pool as pgpool

pytestmark = pytest.mark.db  # every test here reads the fixture database


def _connect():
    conn = psycopg2.connect(os.environ["DATABASE_URL"], application_name="pytest-pool")
    conn.autocommit = True
    return conn


@pytest.fixture
def pool():
    made = pgpool.Pool(size=2, max_age=60, timeout=0.2)
    yield made
    made.close_idle()


def test_at_most_size_connections_and_a_fast_error_beyond(pool):
    first, second = pool.getconn(_connect), pool.getconn(_connect)
    started = time.monotonic()
    with pytest.raises(psycopg2.OperationalError, match="busy"):
        pool.getconn(_connect)
    assert time.monotonic() - started < 1
    pool.putconn(first)
    assert pool.getconn(_connect) is first  # reused, not reopened
    for conn in (first, second):
        pool.putconn(conn)


def test_a_connection_left_in_a_transaction_comes_back_idle(pool):
    conn = pool.getconn(_connect)
    conn.autocommit = False
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1")
    pool.putconn(conn)
    again = pool.getconn(_connect)
    assert again is conn
    assert again.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    pool.putconn(again)


def test_a_connection_the_server_dropped_is_not_lent_again(pool, superuser_conn, monkeypatch):
    monkeypatch.setattr(pgpool, "CHECK_AFTER", 0.0)  # check every reuse
    conn = pool.getconn(_connect)
    pid = conn.get_backend_pid()
    pool.putconn(conn)
    superuser_conn.execute("SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(0.2)
    fresh = pool.getconn(_connect)
    assert fresh is not conn and fresh.get_backend_pid() != pid
    with fresh.cursor() as cursor:
        cursor.execute("SELECT 1")
    pool.putconn(fresh)


def test_a_broken_connection_given_back_is_closed_and_frees_its_slot(pool):
    conn = pool.getconn(_connect)
    conn.close()
    pool.putconn(conn)
    held = [pool.getconn(_connect), pool.getconn(_connect)]  # both slots are free again
    for each in held:
        pool.putconn(each)
