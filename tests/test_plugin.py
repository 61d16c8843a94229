"""The test plugin itself (tests/plugin.py): a database only for the tests that need one, and a loud
failure for a test that reaches one without saying so. Each case runs an inner pytest on a small
test file, with no DATABASE_URL and a PostgreSQL version that does not exist (PG_MAJOR=99), so that
starting a cluster could only fail."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SNEAKY_TESTS = """
import psycopg2
import pytest


def test_connects_without_the_marker():
    psycopg2.connect("postgresql://nobody@127.0.0.1:1/nothing")


def test_connects_and_swallows_the_error():
    try:
        psycopg2.connect("postgresql://nobody@127.0.0.1:1/nothing")
    except Exception:
        pass


def test_uses_djangos_published_database():
    from django.db import connections

    connections["published"].cursor()


def test_pure():
    assert sorted("cba") == ["a", "b", "c"]
"""

MARKED_TESTS = """
import pytest


@pytest.fixture
def rows(reader_conn):
    return []


def test_with_client(client):
    pass


def test_with_superuser(superuser_conn):
    pass


def test_through_a_fixture_of_its_own(rows):
    pass


@pytest.mark.spatial
def test_spatial():
    pass


@pytest.mark.db
def test_marked():
    pass


def test_pure():
    pass
"""


def run_inner(tmp_path: Path, source: str, *args: str) -> subprocess.CompletedProcess:
    test_file = tmp_path / "test_inner.py"
    test_file.write_text(textwrap.dedent(source))
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("PORTAL_TEST_")}
    env["PG_MAJOR"] = "99"  # no such server: a cluster start would fail with exit status 3
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-p",
        "tests.conftest",
        "-c",
        str(ROOT / "pyproject.toml"),
        "--rootdir",
        str(tmp_path),
        "--pg-server",
        "debian",
        str(test_file),
        *args,
    ]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_an_unmarked_test_that_reaches_the_database_fails_with_the_way_to_mark_it(tmp_path):
    proc = run_inner(tmp_path, SNEAKY_TESTS, "-q", "-rfE")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out  # failed tests, not a cluster that could not start (3)
    # The test that swallowed the refusal passes its body and errors at teardown.
    assert "2 failed, 2 passed, 1 error" in out, out
    for name in ("test_connects_without_the_marker", "test_uses_djangos_published_database"):
        assert f"test_inner.py::{name}" in out.split("short test summary")[1].split("ERROR")[0], out
    # (the summary line may carry " - <reason>" after the name, cut to the terminal's width)
    summary = out.split("short test summary")[1]
    assert any(
        line.startswith("ERROR") and "test_inner.py::test_connects_and_swallows_the_error" in line
        for line in summary.splitlines()
    ), out
    assert "not marked as needing a database" in out and "@pytest.mark.db" in out, out
    assert "did not start" not in out, out


def test_database_fixtures_and_markers_make_a_database_test(tmp_path):
    proc = run_inner(tmp_path, MARKED_TESTS, "--collect-only", "-q", "-m", "db")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    selected = {line.split("::", 1)[1] for line in proc.stdout.splitlines() if "::" in line}
    assert selected == {
        "test_with_client",
        "test_with_superuser",
        "test_through_a_fixture_of_its_own",
        "test_spatial",
        "test_marked",
    }


def test_a_run_of_unit_tests_starts_no_cluster(tmp_path):
    # Only test_pure is selected: no cluster is started (it could not be: PG_MAJOR=99).
    proc = run_inner(tmp_path, MARKED_TESTS, "-q", "-m", "not db")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed, 5 deselected" in proc.stdout


def test_a_database_test_with_no_server_stops_the_run_with_the_reason(tmp_path):
    proc = run_inner(tmp_path, MARKED_TESTS, "-q", "-k", "test_marked")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "the disposable PostgreSQL cluster did not start" in proc.stdout + proc.stderr
    assert "/usr/lib/postgresql/99/bin" in proc.stdout + proc.stderr


def test_the_postgresql_version_comes_from_pg_major():
    code = "from tests import pg; print(pg.PG_MAJOR, pg.DEBIAN_BIN)"
    env = dict(os.environ, PG_MAJOR="17")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["17", "/usr/lib/postgresql/17/bin"]
