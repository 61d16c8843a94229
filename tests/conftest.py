"""Shared pytest fixtures. The database comes from the plugin tests/plugin.py (loaded by pyproject's
addopts): a disposable cluster (tests/pg.py) started only when a collected test needs one.

    make test-unit                       # the tests that need no database: no PostgreSQL at all
    python -m pytest tests/some_test.py  # starts the cluster if one of them needs it
    python -m tests.harness [--server debian|embedded] -- <pytest args>   # the same, older spelling

The published database is the fixture database of tests/fixtures/*.sql, reached as the
read-only role ``portal_reader`` (DATABASE_URL, Django alias ``published``). No test database is
ever created: ``django_db_setup`` is a no-op and database access is unblocked for the whole
session, so tests may use Django's test ``client`` without ``django_db`` marks.

A test that needs the database is marked ``@pytest.mark.db`` or requests one of these fixtures
(each requests ``pg_cluster``); one that is neither is refused the database (tests/plugin.py).

Fixtures:

- ``pg_cluster``: the fixture database (started on first use): ``reader_url``, ``superuser_url``,
  ``has_postgis``, ``server``.
- ``client``: pytest-django's test client, on the fixture database.
- ``superuser_conn``: psycopg2 autocommit connection as ``postgres`` to change the schema during a
  test. ``superuser_conn.execute(sql, params)`` runs a statement (returns rows, if any);
  ``superuser_conn.at_teardown(sql)`` registers SQL (e.g. ``DROP TABLE IF EXISTS ...``) to run
  after the test, in reverse order, even when the test fails.
- ``reader_conn``: psycopg2 autocommit connection as ``portal_reader`` (read-only).
- ``live_server_url``: the real app under gunicorn on a free port (session-scoped), e.g.
  ``http://127.0.0.1:40123`` (no trailing slash).
- ``pg_info``: server facts (server, version_num, has_postgis, pg_bin, port).
- ``secret_sentinels``: ("TOPSECRET", "secret_schema", "secret_table", "secret_col"), strings no
  response may contain (no database needed).
- ``requires_postgis``: request it to skip a test without PostGIS; ``@pytest.mark.spatial`` does
  the same for a test or module.

Never use pytest-django's ``live_server``, ``transactional_db`` or ``TransactionTestCase``
against the published database (they flush): ``live_server`` is disabled below.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from urllib.parse import urlsplit

import hypothesis
import psycopg2
import psycopg2.extensions
import pytest

from tests.portal_server import gunicorn_for_tests

# Property tests draw the same examples on every run (CI must not turn red by chance) and keep no
# example database in the checkout.
hypothesis.settings.register_profile("portal", derandomize=True, database=None)
hypothesis.settings.load_profile("portal")

ROOT = Path(__file__).resolve().parent.parent

#: Strings that must never appear in any portal response (see tests/fixtures/80_secrets.sql).
SECRET_SENTINELS = ("TOPSECRET", "secret_schema", "secret_table", "secret_col")


def superuser_url() -> str:
    """The fixture database as ``postgres`` (set once the cluster runs)."""
    return os.environ.get("PORTAL_TEST_SUPERUSER_URL", "")


def reader_url() -> str:
    """The fixture database as the read-only ``portal_reader`` (set once the cluster runs)."""
    return os.environ.get("DATABASE_URL", "")


def has_postgis() -> bool:
    return os.environ.get("PORTAL_TEST_HAS_POSTGIS") == "1"


# -- Django: no test database, access always allowed -------------------------------------------


@pytest.fixture(scope="session")
def django_db_setup():
    """The published database is the harness's fixture database: create nothing, migrate nothing."""
    yield


@pytest.fixture(scope="session", autouse=True)
def _unblock_database_access(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        yield
        from autoapi.web.registry import registry

        registry.stop()  # its thread must not query once access is blocked again


@pytest.fixture
def client(pg_cluster, client):
    """pytest-django's test client: a database test."""
    return client


@pytest.fixture(scope="session")
def live_server():
    pytest.fail("pytest-django's live_server flushes databases; use the live_server_url fixture instead")


# -- direct connections ----------------------------------------------------------------------


class SuperuserConnection(psycopg2.extensions.connection):
    """An autocommit superuser connection with two helpers for tests."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.teardown_sql: list[str] = []

    def execute(self, sql, params=None):
        """Run one statement; return its rows (a list of tuples) or None."""
        with self.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description is not None else None

    def at_teardown(self, sql: str) -> None:
        """Run ``sql`` after the test (in reverse registration order), whatever its outcome."""
        self.teardown_sql.append(sql)

    def run_teardown(self) -> list[str]:
        errors = []
        if self.closed:
            return ["connection closed before teardown"]
        if not self.autocommit:
            self.rollback()
            self.autocommit = True
        while self.teardown_sql:
            sql = self.teardown_sql.pop()
            try:
                with self.cursor() as cur:
                    cur.execute(sql)
            except psycopg2.Error as exc:
                errors.append(f"{sql}: {exc}".strip())
        return errors


def connect_superuser() -> SuperuserConnection:
    conn = psycopg2.connect(
        superuser_url(), connection_factory=SuperuserConnection, application_name="pytest-superuser"
    )
    conn.autocommit = True
    return conn


@pytest.fixture
def superuser_conn(pg_cluster):
    conn = connect_superuser()
    try:
        yield conn
    finally:
        errors = conn.run_teardown() if not conn.closed else []
        conn.close()
        # The test may have changed the schema: let this process's snapshot catch up now, so the
        # next test does not see a relation that its teardown just dropped.
        from autoapi.web.registry import registry

        registry.refresh_now()
        if errors:
            pytest.fail("superuser_conn teardown SQL failed:\n" + "\n".join(errors), pytrace=False)


@pytest.fixture
def reader_conn(pg_cluster):
    conn = psycopg2.connect(reader_url(), application_name="pytest-reader")
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture(scope="session")
def pg_info(pg_cluster):
    conn = connect_superuser()
    try:
        version_num = int(conn.execute("SHOW server_version_num")[0][0])
    finally:
        conn.close()
    return {
        "server": os.environ.get("PORTAL_TEST_SERVER"),
        "version_num": version_num,
        "has_postgis": pg_cluster.has_postgis,
        "pg_bin": os.environ.get("PORTAL_TEST_PG_BIN"),
        "port": urlsplit(pg_cluster.reader_url).port,
    }


@pytest.fixture(scope="session")
def secret_sentinels():
    """Strings that must never appear in any portal response (tests/fixtures/80_secrets.sql)."""
    return SECRET_SENTINELS


@pytest.fixture
def requires_postgis(pg_cluster):
    if not pg_cluster.has_postgis:
        pytest.skip("needs PostGIS (PORTAL_TEST_HAS_POSTGIS != 1)")


# -- the real server -------------------------------------------------------------------------


@contextlib.contextmanager
def running_server(log_dir: Path, env_overrides: dict | None = None, workers: int = 2, threads: int = 4):
    """The real app under gunicorn on a free port, yielding its base URL; stopped on exit."""
    with gunicorn_for_tests(
        log_dir,
        env_overrides,
        workers=workers,
        threads=threads,
        config_file=False,
        ready_paths=("/healthz", "/api/"),
        ready_status=lambda status: status < 500,
    ) as server:
        yield server.base_url


@pytest.fixture(scope="session")
def live_server_url(pg_cluster, tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("live_server")) as base_url:
        yield base_url
