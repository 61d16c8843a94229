"""The pytest plugin that gives tests a database only when they need one (loaded by ``-p tests.plugin``
in pyproject.toml's addopts, before pytest-django imports the settings).

- A test needs a database when it is marked ``@pytest.mark.db`` (or ``spatial``), or when it
  requests, directly or through other fixtures, the session fixture ``pg_cluster``: every database
  fixture of tests/conftest.py does (``client``, ``superuser_conn``, ``reader_conn``, ``pg_info``,
  ``live_server_url``, ``requires_postgis``...). Such tests get the ``db`` marker at collection,
  so ``-m db`` and ``-m "not db"`` select them (``make test-unit`` is ``-m "not db"``).
- ``pg_cluster`` starts one disposable cluster (tests/pg.py) for the session the first time a test
  needs it, loads tests/fixtures/*.sql, points the environment and Django's ``published`` database
  at it, and removes it at the end. A run of unit tests starts no PostgreSQL at all. When the
  environment already names a test cluster (DATABASE_URL and PORTAL_TEST_SUPERUSER_URL) and no
  ``--pg-server`` is given, that cluster is used as it is.
- A test without the marker cannot reach a database: opening a connection (psycopg2, Django), or
  starting the portal under gunicorn, fails the test with a message saying how to mark it, in
  every run (a forgotten marker fails the full suite too, not only ``make test-unit``); the
  cluster's variables are removed from its environment while it runs.

Options: ``--pg-server debian|embedded`` (default: debian when Debian's PostgreSQL PG_MAJOR is
installed), ``--pg-keep`` (keep the stopped data directory afterwards).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests import pg

#: Variables the cluster gives the tests (tests/pg.py, ``Cluster.test_env``).
CLUSTER_VARIABLES = (
    "DATABASE_URL",
    "PORTAL_TEST_SUPERUSER_URL",
    "PORTAL_TEST_HAS_POSTGIS",
    "PORTAL_TEST_SERVER",
    "PORTAL_TEST_PG_BIN",
    "PORTAL_TEST_PG_DATA",
    "PORTAL_TEST_PG_LOG",
    "PORTAL_TEST_PG_OS_USER",
)

#: Settings of the whole suite, in the environment before the settings are imported (and so in every
#: gunicorn the tests start): a fast schema refresh; no fair-share limits (the suite hammers the API
#: from one address; tests/production/test_fair_share.py sets its own); no answer reuse (tests change
#: data and read it back at once; tests/autoapi/test_responsecache.py turns it on).
SUITE_SETTINGS = {
    "PORTAL_REFRESH_INTERVAL": "0.2",
    "PORTAL_RATE_LIMIT": "0",
    "PORTAL_CLIENT_DOWNLOADS": "0",
    "PORTAL_PROCESS_DOWNLOADS": "0",
    "PORTAL_CLIENT_REQUESTS": "0",
    "PORTAL_CLIENT_POOL_SHARE": "0",
    "PORTAL_CATALOG_CACHE_SECONDS": "0",
    "PORTAL_API_CACHE_SECONDS": "0",
}

# -- before the settings: the environment -------------------------------------------------------

_GIVEN_CLUSTER = bool(os.environ.get("DATABASE_URL") and os.environ.get("PORTAL_TEST_SUPERUSER_URL"))
if not _GIVEN_CLUSTER:
    # A developer's own DATABASE_URL (or a half-set test environment) must not leak into the tests.
    for _name in CLUSTER_VARIABLES:
        os.environ.pop(_name, None)
for _name in [k for k in os.environ if k.startswith("PG") and k != "PG_MAJOR"]:
    del os.environ[_name]  # libpq's PGHOST, PGOPTIONS... would change every connection
os.environ.update(SUITE_SETTINGS)  # whatever the developer's shell says: the suite's figures are these
# Stored downloads (autoapi/freshness/exportcache.py) in a throw-away folder, never var/.
_EXPORT_CACHE = Path(tempfile.gettempdir()) / f"portal-test-export-cache-{os.getpid()}"
os.environ["PORTAL_EXPORT_CACHE_DIR"] = str(_EXPORT_CACHE)


class DatabaseNotMarked(Exception):
    """A test without the ``db`` marker tried to reach the database."""


def _marker_hint(what: str) -> str:
    return (
        f"{what}, but this test is not marked as needing a database. Mark it @pytest.mark.db (or the module "
        "with pytestmark = pytest.mark.db), or request a database fixture (client, superuser_conn, reader_conn, "
        "pg_info, live_server_url, pg_cluster): unit tests run with no PostgreSQL (make test-unit)."
    )


class _Guard:
    """Refuses database access from the test's own thread while a test without the marker runs."""

    def __init__(self):
        self.active = False
        self.violations: list[str] = []
        self.installed = False

    def check(self, what: str) -> None:
        if self.active and threading.current_thread() is threading.main_thread():
            message = _marker_hint(what)
            self.violations.append(message)
            raise DatabaseNotMarked(message)

    def install(self) -> None:
        if self.installed:
            return
        import psycopg2
        from django.db.backends.base.base import BaseDatabaseWrapper

        original_connect = psycopg2.connect
        original_ensure = BaseDatabaseWrapper.ensure_connection
        guard = self

        def connect(*args, **kwargs):
            guard.check("it opened a PostgreSQL connection")
            return original_connect(*args, **kwargs)

        def ensure_connection(self):
            if self.alias != "default":  # "default" is Django's in-memory SQLite
                guard.check(f"it used Django's database {self.alias!r}")
            return original_ensure(self)

        psycopg2.connect = connect
        BaseDatabaseWrapper.ensure_connection = ensure_connection
        self.installed = True


GUARD = _Guard()
_CALL_FAILED = pytest.StashKey[bool]()


def require_database(what: str) -> None:
    """For test helpers that reach the database in ways the guard cannot see (a gunicorn child, a
    ``manage.py`` subprocess): fail an unmarked test with the marker hint."""
    GUARD.check(what)


# -- options and markers --------------------------------------------------------------------------


def pytest_addoption(parser):
    group = parser.getgroup("pg", "the disposable PostgreSQL cluster (tests/plugin.py)")
    group.addoption(
        "--pg-server",
        choices=["debian", "embedded"],
        default=None,
        help="start this server for the tests that need a database (default: debian when "
        f"PostgreSQL {pg.PG_MAJOR or '?'} is installed under /usr/lib/postgresql, else embedded)",
    )
    group.addoption("--pg-keep", action="store_true", help="keep the cluster's (stopped) data directory afterwards")


#: pytest-django's fixtures that reach the database (tests/conftest.py's own request ``pg_cluster``).
DJANGO_DATABASE_FIXTURES = frozenset(
    {
        "client",
        "async_client",
        "admin_client",
        "admin_user",
        "django_user_model",
        "db",
        "transactional_db",
        "live_server",
    }
)


def _needs_database(item) -> bool:
    fixtures = set(getattr(item, "fixturenames", ()))
    return (
        item.get_closest_marker("db") is not None
        or item.get_closest_marker("spatial") is not None
        or "pg_cluster" in fixtures
        or bool(fixtures & DJANGO_DATABASE_FIXTURES)
    )


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # pytest stops as on Ctrl-C: fixtures tear down, the cluster is removed


def pytest_configure(config):
    # A SIGTERM (a CI timeout, `kill`) stops the run the way Ctrl-C does rather than at once.
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _needs_database(item) and item.get_closest_marker("db") is None:
            item.add_marker(pytest.mark.db)


def pytest_report_header(config):
    if _GIVEN_CLUSTER and not config.getoption("pg_server"):
        return f"database: the cluster named by DATABASE_URL ({os.environ.get('PORTAL_TEST_SERVER', '?')} server)"
    server = config.getoption("pg_server") or pg.default_server()
    return f"database: a disposable {server} cluster, started when the first test needs it"


# -- the cluster ----------------------------------------------------------------------------------


class ClusterInfo:
    """What ``pg_cluster`` yields: the URLs and facts of the fixture database."""

    def __init__(self, env: dict[str, str], cluster: pg.Cluster | None = None):
        self.cluster = cluster
        self.reader_url = env["DATABASE_URL"]
        self.superuser_url = env["PORTAL_TEST_SUPERUSER_URL"]
        self.has_postgis = env.get("PORTAL_TEST_HAS_POSTGIS") == "1"
        self.server = env.get("PORTAL_TEST_SERVER", "")

    def __repr__(self):
        return f"<ClusterInfo {self.server} {self.reader_url}>"


def _point_django_at(url: str) -> None:
    """The settings were imported before the cluster existed: point the published database at it
    (before any connection to it was made; the dict is the one Django's connection handler holds)."""
    from django.conf import settings
    from django.db import connections

    import portal.settings as portal_settings

    connections["published"].close()
    settings.DATABASE_URL = url
    settings.DATABASES["published"].update(portal_settings.database_entry(url))


_STATE: dict = {"info": None, "cluster": None}


def ensure_cluster(config) -> ClusterInfo:
    """The fixture database of this session, started on the first call."""
    if _STATE["info"] is not None:
        return _STATE["info"]
    server = config.getoption("pg_server")
    if _GIVEN_CLUSTER and not server:
        _STATE["info"] = ClusterInfo(dict(os.environ))
    else:
        started = time.monotonic()
        try:
            cluster = pg.start_cluster(server or pg.default_server(), keep=config.getoption("pg_keep"))
        except pg.ClusterError as exc:
            pytest.exit(f"the disposable PostgreSQL cluster did not start:\n{exc}", returncode=3)
        _STATE["cluster"] = cluster
        env = {k: v for k, v in cluster.test_env().items() if k in CLUSTER_VARIABLES}
        os.environ.update(env)
        _point_django_at(env["DATABASE_URL"])
        _STATE["info"] = ClusterInfo(env, cluster)
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"\n[pg] PostgreSQL {cluster.version} ({cluster.server}, {cluster.bin}) on 127.0.0.1:{cluster.port}, "
                f"database {pg.DB_NAME}, PostGIS {'yes' if cluster.has_postgis else 'no'}, ready in "
                f"{time.monotonic() - started:.1f} s, data in {cluster.base}"
            )
    # Pages link to content-hashed static files (collectstatic's manifest): collect them before the
    # first request, in-process or under gunicorn (a no-op when nothing changed).
    from portal.staticfiles import collect_if_stale

    collect_if_stale(verbosity=0)
    return _STATE["info"]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # Before any fixture of the test (a module-scoped one may connect too).
    if _needs_database(item):
        info = ensure_cluster(item.config)
        if item.get_closest_marker("spatial") and not info.has_postgis:
            pytest.skip("needs PostGIS (this server has none: PORTAL_TEST_HAS_POSTGIS != 1)")


@pytest.fixture(scope="session")
def pg_cluster(request) -> ClusterInfo:
    """The fixture database (session-scoped): its URLs, server and whether it has PostGIS. Request
    it (or any fixture that does) and the test is a database test."""
    return ensure_cluster(request.config)


def pytest_sessionfinish(session):
    if _STATE["info"] is None:
        return
    from autoapi.web.registry import registry

    registry.stop()  # its thread must not query a cluster that is going away
    # Its NOTIFY listener (a daemon thread) would report the server's going away as a lost connection.
    logging.getLogger("autoapi.web.registry").setLevel(logging.ERROR)
    cluster, _STATE["cluster"], _STATE["info"] = _STATE["cluster"], None, None
    if cluster is not None:
        from django.db import connections

        connections.close_all()
        pg.stop_cluster(cluster)


@pytest.fixture(autouse=True)
def _database_guard(request, monkeypatch):
    """Refuses the database to a test that is not marked as needing one."""
    if _needs_database(request.node):
        yield
        return
    GUARD.install()
    for name in CLUSTER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    GUARD.violations.clear()
    GUARD.active = True
    try:
        yield
    finally:
        GUARD.active = False
    if GUARD.violations and not request.node.stash.get(_CALL_FAILED, False):
        # The code under test caught the refusal (an error page, a retry...): fail all the same.
        pytest.fail(GUARD.violations[0], pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


def pytest_unconfigure(config):
    shutil.rmtree(_EXPORT_CACHE, ignore_errors=True)
