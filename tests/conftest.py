"""Shared pytest fixtures. Run the tests through the harness, which provides the database:

    python -m tests.harness [--server debian|embedded] -- <pytest args>

The published database is the fixture database of tests/fixtures/*.sql, reached as the
read-only role ``portal_reader`` (DATABASE_URL, Django alias ``published``). No test database is
ever created: ``django_db_setup`` is a no-op and database access is unblocked for the whole
session, so tests may use Django's test ``client`` without ``django_db`` marks.

Fixtures:

- ``superuser_conn``: psycopg2 autocommit connection as ``postgres`` to change the schema during a
  test. ``superuser_conn.execute(sql, params)`` runs a statement (returns rows, if any);
  ``superuser_conn.at_teardown(sql)`` registers SQL (e.g. ``DROP TABLE IF EXISTS ...``) to run
  after the test, in reverse order, even when the test fails.
- ``reader_conn``: psycopg2 autocommit connection as ``portal_reader`` (read-only).
- ``live_server_url``: the real app under gunicorn on a free port (session-scoped), e.g.
  ``http://127.0.0.1:40123`` (no trailing slash).
- ``pg_info``: server facts (server, version_num, has_postgis, pg_bin, port).
- ``secret_sentinels``: ("TOPSECRET", "secret_schema", "secret_table", "secret_col"), strings no
  response may contain.
- ``requires_postgis``: request it to skip a test without PostGIS; ``@pytest.mark.spatial`` does
  the same for a test or module.

Never use pytest-django's ``live_server``, ``transactional_db`` or ``TransactionTestCase``
against the published database (they flush): ``live_server`` is disabled below.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import hypothesis
import psycopg2
import psycopg2.extensions
import pytest

from tests.processes import die_with_parent, free_port, tail

# Property tests draw the same examples on every run (CI must not turn red by chance) and keep no
# example database in the checkout.
hypothesis.settings.register_profile("portal", derandomize=True, database=None)
hypothesis.settings.load_profile("portal")

ROOT = Path(__file__).resolve().parent.parent
HARNESS_HINT = "python -m tests.harness [--server debian|embedded] -- <pytest args>"

_HARNESS_ENV_MISSING = not os.environ.get("PORTAL_TEST_SUPERUSER_URL") or not os.environ.get("DATABASE_URL")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # Note: pytest-django imports the settings before this file is read, so without DATABASE_URL
    # the app may already have started its embedded demo database by now.
    if _HARNESS_ENV_MISSING:
        pytest.exit(
            "these tests need the disposable fixture database that the harness creates. Run them with:\n"
            f"    {HARNESS_HINT}\n"
            "(DATABASE_URL and PORTAL_TEST_SUPERUSER_URL are not set.)",
            returncode=4,
        )


SUPERUSER_URL = os.environ.get("PORTAL_TEST_SUPERUSER_URL", "")
READER_URL = os.environ.get("DATABASE_URL", "")
HAS_POSTGIS = os.environ.get("PORTAL_TEST_HAS_POSTGIS") == "1"

#: Strings that must never appear in any portal response (see tests/fixtures/80_secrets.sql).
SECRET_SENTINELS = ("TOPSECRET", "secret_schema", "secret_table", "secret_col")

#: ``@requires_postgis`` style marker for code that prefers a decorator object to the mark.
requires_postgis_mark = pytest.mark.skipif(not HAS_POSTGIS, reason="needs PostGIS (PORTAL_TEST_HAS_POSTGIS != 1)")


# -- pytest hooks ----------------------------------------------------------------------------


def pytest_report_header(config):
    return (
        f"fixture database: {os.environ.get('PORTAL_TEST_SERVER', '?')} server, "
        f"{urlsplit(READER_URL).hostname}:{urlsplit(READER_URL).port}, "
        f"PostGIS {'yes' if HAS_POSTGIS else 'no'}"
    )


def pytest_collection_modifyitems(config, items):
    if HAS_POSTGIS:
        return
    skip = pytest.mark.skip(reason="needs PostGIS (this server has none: PORTAL_TEST_HAS_POSTGIS != 1)")
    for item in items:
        if item.get_closest_marker("spatial"):
            item.add_marker(skip)


# -- Django: no test database, access always allowed -------------------------------------------


@pytest.fixture(scope="session")
def django_db_setup():
    """The published database is the harness's fixture database: create nothing, migrate nothing."""
    yield


@pytest.fixture(scope="session", autouse=True)
def _unblock_database_access(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        yield
        from autoapi.registry import registry

        registry.stop()  # its thread must not query once access is blocked again


@pytest.fixture(scope="session", autouse=True)
def _static_files_collected():
    """Pages link to content-hashed static files (collectstatic's manifest): collect them before
    the first request, in-process or under gunicorn (a no-op when nothing changed)."""
    from portal.staticfiles import collect_if_stale

    collect_if_stale(verbosity=0)


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
    conn = psycopg2.connect(SUPERUSER_URL, connection_factory=SuperuserConnection,
                            application_name="pytest-superuser")
    conn.autocommit = True
    return conn


@pytest.fixture
def superuser_conn():
    conn = connect_superuser()
    try:
        yield conn
    finally:
        errors = conn.run_teardown() if not conn.closed else []
        conn.close()
        # The test may have changed the schema: let this process's snapshot catch up now, so the
        # next test does not see a relation that its teardown just dropped.
        from autoapi.registry import registry

        registry.refresh_now()
        if errors:
            pytest.fail("superuser_conn teardown SQL failed:\n" + "\n".join(errors), pytrace=False)


@pytest.fixture
def reader_conn():
    conn = psycopg2.connect(READER_URL, application_name="pytest-reader")
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture(scope="session")
def pg_info():
    conn = connect_superuser()
    try:
        version_num = int(conn.execute("SHOW server_version_num")[0][0])
    finally:
        conn.close()
    return {
        "server": os.environ.get("PORTAL_TEST_SERVER"),
        "version_num": version_num,
        "has_postgis": HAS_POSTGIS,
        "pg_bin": os.environ.get("PORTAL_TEST_PG_BIN"),
        "port": urlsplit(READER_URL).port,
    }


@pytest.fixture(scope="session")
def secret_sentinels():
    """Strings that must never appear in any portal response (tests/fixtures/80_secrets.sql)."""
    return SECRET_SENTINELS


@pytest.fixture
def requires_postgis():
    if not HAS_POSTGIS:
        pytest.skip("needs PostGIS (PORTAL_TEST_HAS_POSTGIS != 1)")


# -- the real server -------------------------------------------------------------------------





@contextlib.contextmanager
def running_server(log_dir: Path, env_overrides: dict | None = None, workers: int = 2, threads: int = 4):
    """The real app under gunicorn on a free port, yielding its base URL; stopped on exit."""
    import requests

    gunicorn = Path(sys.executable).parent / "gunicorn"
    launcher = [str(gunicorn)] if gunicorn.exists() else [sys.executable, "-m", "gunicorn"]
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    logfile = log_dir / f"gunicorn-{port}.log"
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="portal.settings", PYTHONUNBUFFERED="1", **(env_overrides or {}))
    cmd = [
        *launcher, "portal.wsgi:application",
        "-b", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
        # The worker make serve runs (heads read in its poller: README, "Slow request heads").
        "--worker-class", "portal.workers.ThreadWorker",
        "--graceful-timeout", "5", "--access-logfile", "-", "--error-logfile", "-",
    ]
    with open(logfile, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    try:
        deadline = time.monotonic() + 60
        ready = False
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"gunicorn exited with {proc.returncode} before answering:\n{tail(logfile)}",
                            pytrace=False)
            for path in ("/healthz", "/api/"):
                try:
                    if requests.get(base_url + path, timeout=5).status_code < 500:
                        ready = True
                        break
                except requests.RequestException:
                    pass
            if ready:
                break
            time.sleep(0.2)
        if not ready:
            pytest.fail(f"gunicorn did not answer /healthz or /api/ within 60 s:\n{tail(logfile)}", pytrace=False)
        yield base_url
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session")
def live_server_url(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("live_server")) as base_url:
        yield base_url
