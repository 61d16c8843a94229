"""Helpers for the production tests: the portal under gunicorn with ITS OWN configuration file
(``portal/gunicorn.conf.py``, so the tests exercise the deployed set-up; tests/portal_server.py),
stopping and starting the tests' PostgreSQL (``PgControl``, from tests/pg.py), and a checksum of
every fixture table.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import psycopg2

from tests.pg import PgControl
from tests.portal_server import gunicorn_for_tests

ROOT = Path(__file__).resolve().parent.parent.parent
__all__ = ["ROOT", "PgControl", "database_checksum", "portal_server"]


# -- the portal under gunicorn --------------------------------------------------------------------


@contextlib.contextmanager
def portal_server(log_dir: Path, scheme: str = "http", **env_overrides: str):
    """``gunicorn -c portal/gunicorn.conf.py portal.wsgi:application`` on a free loopback port.

    ``env_overrides`` go to its environment (``GUNICORN_WORKERS="2"``, ``PORTAL_STATEMENT_TIMEOUT_MS=
    "500"``, ``DATABASE_URL=...``). Waits until ``/healthz`` answers; stops the server on exit.
    ``scheme="https"`` when the overrides give gunicorn a certificate (not verified here).
    Yields the ``Gunicorn``: ``base_url``, ``process``, ``logfile``, ``worker_pids()``, ``log()``, ``tail()``.
    """
    env = {"GUNICORN_WORKERS": "2", "GUNICORN_THREADS": "4", "GUNICORN_GRACEFUL_TIMEOUT": "5", **env_overrides}
    with gunicorn_for_tests(log_dir, env, config_file=True, name="portal-{port}.log", scheme=scheme) as server:
        yield server


# -- the fixture database, unchanged -----------------------------------------------------------------

CHECKSUM_SQL = """
SELECT n.nspname, c.relname, c.relkind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""


def database_checksum(superuser_url: str) -> dict:
    """Per table and materialized view: row count and md5 of every row's text; plus the catalog's
    list of relations, roles' privileges and columns, so that a DDL or GRANT also shows."""
    conn = psycopg2.connect(superuser_url, application_name="pytest-checksum")
    conn.autocommit = True
    result = {}
    try:
        with conn.cursor() as cur:
            cur.execute(CHECKSUM_SQL)
            relations = cur.fetchall()
            for schema, name, kind in relations:
                quoted = '"' + schema.replace('"', '""') + '"."' + name.replace('"', '""') + '"'
                if kind == "m":
                    cur.execute("SELECT relispopulated FROM pg_class WHERE oid = %s::regclass", [quoted])
                    if not cur.fetchone()[0]:
                        result[(schema, name)] = "unpopulated"
                        continue
                cur.execute(
                    f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {quoted} AS t"
                )
                result[(schema, name)] = cur.fetchone()
            cur.execute(
                "SELECT md5(string_agg(format('%s.%s:%s:%s', n.nspname, c.relname, c.relkind, c.relacl), ',' "
                "ORDER BY n.nspname, c.relname)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'"
            )
            result["catalog"] = cur.fetchone()[0]
            cur.execute(
                "SELECT md5(string_agg(format('%s:%s:%s', rolname, rolsuper, rolconfig), ',' ORDER BY rolname)) FROM pg_roles"
            )
            result["roles"] = cur.fetchone()[0]
    finally:
        conn.close()
    return result
