"""Slow and vanishing clients against the real server (gunicorn with portal/gunicorn.conf.py):

- a client that closes its socket in the middle of a whole-relation download (CSV through COPY,
  NDJSON through a server-side cursor): the portal's statement is gone from ``pg_stat_activity``
  within a second and its connection is closed;
- a client that leaves while its page is still being queried: the statement is cancelled within a
  second (autoapi/db/disconnect.py), where it would otherwise run for its whole statement timeout;
- slow readers holding every download slot: further downloads get a fast 503 with Retry-After,
  while ``/healthz``, pages and the catalog keep answering at once, and the portal's PostgreSQL
  connections stay within workers x (DB_CONNECTIONS + EXPORT_CONNECTIONS + 1).
"""

from __future__ import annotations

import contextlib
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests

from tests.production.support import portal_server

ROWS = 2_000_000
CANCEL_SECONDS = 1.0


@pytest.fixture
def big_table(superuser_conn):
    """``public.slow_clients_big``: about 80 MB of CSV, far more than any buffer on the way."""
    superuser_conn.at_teardown("DROP TABLE IF EXISTS public.slow_clients_big")
    superuser_conn.execute(
        "CREATE TABLE public.slow_clients_big AS SELECT g AS id, md5(g::text) AS label, g * 0.5 AS amount "
        "FROM generate_series(1, %s) AS g",
        [ROWS],
    )
    superuser_conn.execute("ALTER TABLE public.slow_clients_big ADD PRIMARY KEY (id)")
    superuser_conn.execute("GRANT SELECT ON public.slow_clients_big TO portal_reader")
    superuser_conn.execute("ANALYZE public.slow_clients_big")
    return "/api/public/slow_clients_big/"


def _wait_published(base_url: str, path: str):
    deadline = time.monotonic() + 15
    while requests.get(base_url + path + "?limit=1", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, f"{path} was not published within 15 s"
        time.sleep(0.2)


def _portal_sessions(superuser_conn) -> list[tuple]:
    """The portal's sessions busy with a download: running its COPY or SELECT, or holding its
    cursor open (``FETCH ... FROM portal_export``, idle in transaction between two fetches)."""
    return superuser_conn.execute(
        "SELECT pid, state, query FROM pg_stat_activity WHERE application_name = 'pg-portal' "
        "AND state <> 'idle' AND (query LIKE '%%slow_clients_big%%' OR query LIKE '%%portal_export%%')"
    )


class Download(socket.socket):
    received = b""  # what the client read before it stopped reading


def _send(base_url: str, path: str, source: str = "127.0.0.1") -> Download:
    url = urlsplit(base_url)
    sock = Download(socket.AF_INET, socket.SOCK_STREAM)
    # A small receive buffer: the server's writes back up at once, as with a slow client.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.bind((source, 0))
    sock.settimeout(10)
    sock.connect((url.hostname, url.port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {url.hostname}\r\nConnection: close\r\n\r\n".encode())
    return sock


def _start_download(base_url: str, path: str, read: int = 64 * 1024, source: str = "127.0.0.1") -> Download:
    """A raw HTTP/1.1 GET of ``path`` that reads ``read`` bytes of the answer, then stops reading."""
    sock = _send(base_url, path, source)
    received = b""
    while len(received) < read:
        chunk = sock.recv(16 * 1024)
        if not chunk:
            break
        received += chunk
    sock.received = received
    return sock


def _status(sock: Download) -> int:
    return int(sock.received.split(b" ", 2)[1])


def _gone_within(superuser_conn, limit: float) -> float:
    """Seconds until no portal session reads the big table any more (fails after ``limit`` x 3)."""
    started = time.monotonic()
    while _portal_sessions(superuser_conn):
        elapsed = time.monotonic() - started
        assert elapsed < 3 * limit, (
            f"still in pg_stat_activity after {elapsed:.1f} s: {_portal_sessions(superuser_conn)}"
        )
        time.sleep(0.02)
    return time.monotonic() - started


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_a_client_that_disconnects_mid_download_has_its_statement_cancelled(tmp_path, superuser_conn, big_table, fmt):
    with portal_server(tmp_path, GUNICORN_WORKERS="1") as server:
        _wait_published(server.base_url, big_table)
        sock = _start_download(server.base_url, big_table + f"?format={fmt}&limit=all")
        try:
            assert _status(sock) == 200, sock.received[:300]
            time.sleep(0.5)  # the server is now blocked on the unread socket
            running = _portal_sessions(superuser_conn)
            assert any(state == "active" for _, state, _ in running) or fmt == "ndjson", running
            assert running, "the download's statement should be running (or its cursor open)"
        finally:
            sock.close()  # the client just goes away mid-download
        elapsed = _gone_within(superuser_conn, CANCEL_SECONDS)
        assert elapsed < CANCEL_SECONDS, f"the statement and its connection outlived the client by {elapsed:.2f} s"
        # The worker is fine afterwards.
        assert requests.get(server.base_url + big_table + "?limit=2", timeout=10).status_code == 200


def test_a_slow_client_whose_socket_closes_after_a_pause_is_cancelled(tmp_path, superuser_conn, big_table):
    """The client stops reading for a while (the COPY is held back, not finished), then closes."""
    with portal_server(tmp_path, GUNICORN_WORKERS="1") as server:
        _wait_published(server.base_url, big_table)
        sock = _start_download(server.base_url, big_table + "?format=csv&limit=all", read=16 * 1024)
        try:
            time.sleep(3)
            assert _portal_sessions(superuser_conn), "a stalled download keeps its statement until the client leaves"
        finally:
            sock.close()
        assert _gone_within(superuser_conn, CANCEL_SECONDS) < CANCEL_SECONDS


def test_slow_readers_leave_pages_and_healthz_responsive(tmp_path, superuser_conn, big_table):
    exports, db_connections = 3, 2
    # The test process's own Django connections (in-process tests) are not the server's.
    before = [
        pid
        for (pid,) in superuser_conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'pg-portal'")
    ] or [0]
    with portal_server(
        tmp_path,
        GUNICORN_WORKERS="1",
        GUNICORN_THREADS="12",
        PORTAL_EXPORT_CONNECTIONS=str(exports),
        PORTAL_DB_CONNECTIONS=str(db_connections),
    ) as server:
        _wait_published(server.base_url, big_table)
        readers = []
        try:
            for i in range(12):  # four times the slots, from twelve client addresses
                readers.append(
                    _start_download(
                        server.base_url, big_table + "?format=csv&limit=all", read=1, source=f"127.0.0.{10 + i}"
                    )
                )
            statuses = sorted(_status(r) for r in readers)
            assert statuses == [200] * exports + [503] * (12 - exports), statuses
            busy = next(r.received for r in readers if _status(r) == 503)
            assert b"Retry-After:" in busy, busy[:400]
            for path in ("/healthz", "/api/public/big_2500/?limit=5", "/catalog/public/big_2500/", "/"):
                started = time.monotonic()
                assert requests.get(server.base_url + path, timeout=10).status_code == 200, path
                assert time.monotonic() - started < 1.0, (path, time.monotonic() - started)
            sessions = superuser_conn.execute(
                "SELECT pid, state, left(query, 60) FROM pg_stat_activity WHERE application_name = 'pg-portal' "
                "AND NOT pid = ANY(%s)",
                [before],
            )
            assert len(sessions) <= db_connections + exports + 1, sessions  # + the LISTEN connection
        finally:
            for reader in readers:
                with contextlib.suppress(OSError):
                    reader.close()
        assert _gone_within(superuser_conn, CANCEL_SECONDS) < CANCEL_SECONDS


@pytest.mark.parametrize("last_words", [b"", b"G"], ids=["close", "a-pipelined-byte-then-close"])
def test_a_client_that_leaves_while_its_page_is_queried_has_its_statement_cancelled(
    tmp_path, superuser_conn, last_words
):
    """``last_words``: what the client sends before it closes. A byte of a next request on the
    socket once made the watcher stop watching (it peeked data, not an end)."""
    # A view that takes 50 ms per row: a page of 200 rows queries for 10 s.
    superuser_conn.at_teardown("DROP VIEW IF EXISTS public.slow_clients_sleepy")
    superuser_conn.execute(
        "CREATE VIEW public.slow_clients_sleepy AS SELECT g AS id, pg_sleep(0.05)::text AS nap "
        "FROM generate_series(1, 1000) AS g"
    )
    superuser_conn.execute("GRANT SELECT ON public.slow_clients_sleepy TO portal_reader")
    path = "/api/public/slow_clients_sleepy/"
    with portal_server(tmp_path, GUNICORN_WORKERS="1", PORTAL_STATEMENT_TIMEOUT_MS="30000") as server:
        deadline = time.monotonic() + 15
        while requests.get(server.base_url + "/api/", timeout=10).text.find("slow_clients_sleepy") < 0:
            assert time.monotonic() < deadline, "the view was not published within 15 s"
            time.sleep(0.2)
        sock = _send(server.base_url, path + "?limit=200")
        try:
            deadline = time.monotonic() + 5
            while not _sleepy_sessions(superuser_conn):
                assert time.monotonic() < deadline, "the page's query never showed in pg_stat_activity"
                time.sleep(0.05)
            if last_words:
                sock.sendall(last_words)
                time.sleep(0.3)  # the watcher sees the byte first
        finally:
            sock.close()  # the client gives up on the page
        started = time.monotonic()
        while _sleepy_sessions(superuser_conn):
            assert time.monotonic() - started < 3, _sleepy_sessions(superuser_conn)
            time.sleep(0.02)
        assert time.monotonic() - started < CANCEL_SECONDS
        assert requests.get(server.base_url + "/healthz", timeout=10).status_code == 200
        # Logged as the client's leaving (nginx's 499), not as the cancelled statement's 400.
        deadline = time.monotonic() + 5
        while f'"path": "{path}"' not in server.log():
            assert time.monotonic() < deadline, "the page's request was never logged"
            time.sleep(0.05)
        [line] = [
            line for line in server.log().splitlines() if f'"path": "{path}"' in line and '"portal.request"' in line
        ]
        assert '"status": 499' in line, line


def test_a_cancel_is_sent_while_no_connection_can_change_hands():
    """Sent after the lock is let go, a cancel could reach the statement of the next request given
    the same connection (a client still there, answered 400 "statement timeout")."""
    from autoapi.db import disconnect

    class Connection:
        held = []

        def cancel(self):
            self.held.append(disconnect._lock.locked())

    gone, there = Connection(), Connection()
    watcher = disconnect.Watcher()
    with disconnect._lock:
        disconnect._lent[id(gone)] = (-1, gone)  # lent to a thread whose client left
        disconnect._lent[id(there)] = (-2, there)
    try:
        watcher._gone.add(-1)
        watcher.cancel_gone()
    finally:
        disconnect.give_back(gone)
        disconnect.give_back(there)
    assert Connection.held == [True]  # the one lent to the gone thread, under the lock


def _sleepy_sessions(superuser_conn) -> list[tuple]:
    return superuser_conn.execute(
        "SELECT pid, state FROM pg_stat_activity WHERE application_name = 'pg-portal' "
        "AND state = 'active' AND query LIKE '%%slow_clients_sleepy%%'"
    )
