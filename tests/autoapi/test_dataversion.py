"""The data version (autoapi/freshness/dataversion.py) follows every kind of write within the documented
bound, through views, views of views and partitions, and says "unknown" where it cannot tell.

Writes come from superuser sessions, as any other writer's would: each test polls the version the
registry's watcher reads (never a fixed sleep) for at most BOUND seconds: REFRESH_INTERVAL plus
the 10 s a session that goes idle may keep its statistics (PGSTAT_IDLE_INTERVAL), plus slack.
"""

from __future__ import annotations

import time

import psycopg2
import pytest

from autoapi.conf import portal_setting
from autoapi.web.registry import registry
from tests.conftest import superuser_url

BOUND = portal_setting("REFRESH_INTERVAL") + 10 + 3


def relation(schema: str, name: str):
    return registry.current().snapshot.get(schema, name)


def version(schema: str, name: str):
    return registry.data_version(relation(schema, name))


def wait_for(predicate, what: str, seconds: float = BOUND):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        registry.current()  # starts this process's watcher if needed
        if predicate():
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"not seen within {seconds:.1f} s: {what}")


def known_tag(schema: str, name: str) -> str:
    wait_for(lambda: relation(schema, name) is not None and version(schema, name).known, f"{schema}.{name} known")
    return version(schema, name).tag


def write(sql: str) -> None:
    """One statement in a session of its own, as a separate writer would (it flushes at exit)."""
    conn = psycopg2.connect(superuser_url())
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql)
    finally:
        conn.close()


def changes(schema: str, name: str, sql: str) -> None:
    before = known_tag(schema, name)
    write(sql)
    wait_for(lambda: version(schema, name).tag not in (None, before), f"{sql!r} changes {schema}.{name}")


@pytest.fixture
def table(superuser_conn):
    superuser_conn.at_teardown("DROP TABLE IF EXISTS public.dv_t CASCADE")
    superuser_conn.at_teardown("DROP MATERIALIZED VIEW IF EXISTS public.dv_mv")
    superuser_conn.execute("CREATE TABLE public.dv_t (id int PRIMARY KEY, label text)")
    superuser_conn.execute("INSERT INTO public.dv_t SELECT g, 'row ' || g FROM generate_series(1, 5) g")
    registry.refresh_now()
    return superuser_conn


def test_insert_update_delete_truncate_each_change_the_version(table):
    for sql in (
        "INSERT INTO public.dv_t VALUES (100, 'new')",
        "UPDATE public.dv_t SET label = 'changed' WHERE id = 1",
        "DELETE FROM public.dv_t WHERE id = 2",
        "TRUNCATE public.dv_t",
    ):
        changes("public", "dv_t", sql)


def test_a_session_that_keeps_writing_is_seen_within_the_bound(table):
    """Two commits in one session a moment apart: the second one's statistics wait for the idle
    timeout (PostgreSQL flushes at most once a second), and still show within the bound."""
    table.execute("INSERT INTO public.dv_t VALUES (200, 'a')")
    known_tag("public", "dv_t")
    before = version("public", "dv_t").tag
    started = time.monotonic()
    table.execute("INSERT INTO public.dv_t VALUES (201, 'b')")
    seen = wait_for(lambda: version("public", "dv_t").tag != before, "a second commit in the same session")
    assert seen - started < BOUND


def test_refresh_materialized_view_and_views_over_changed_tables(table):
    table.execute("CREATE MATERIALIZED VIEW public.dv_mv AS SELECT count(*) AS n FROM public.dv_t")
    table.execute("CREATE VIEW public.dv_v AS SELECT id, upper(label) AS label FROM public.dv_t WHERE id < 50")
    table.execute("CREATE VIEW public.dv_vv AS SELECT v.id FROM public.dv_v v JOIN public.dv_t t USING (id)")
    registry.refresh_now()
    changes("public", "dv_mv", "REFRESH MATERIALIZED VIEW public.dv_mv")
    changes("public", "dv_v", "UPDATE public.dv_t SET label = 'under the view' WHERE id = 3")
    changes("public", "dv_vv", "DELETE FROM public.dv_t WHERE id = 4")


def test_a_change_in_a_partition_changes_its_partitioned_table(superuser_conn):
    changes("public", "events", "UPDATE public.events SET payload = payload WHERE region = 'eu' AND id = 1")
    changes("public", "measurements", "UPDATE public.measurements SET value = value WHERE id = 1")


def test_unchanged_data_keeps_its_version(table):
    first = known_tag("public", "dv_t")
    registry.refresh_now()
    assert version("public", "dv_t").tag == first
    assert version("public", "dv_t").observed is not None


def test_foreign_tables_and_views_calling_now_are_unknown(superuser_conn):
    superuser_conn.at_teardown("DROP VIEW IF EXISTS public.dv_now")
    superuser_conn.execute("CREATE VIEW public.dv_now AS SELECT id FROM public.single_pk WHERE now() > '2000-01-01'")
    registry.refresh_now()
    wait_for(lambda: relation("public", "dv_now") is not None, "the view in the snapshot")
    registry.refresh_now()
    assert not version("public", "dv_now").known
    assert "function" in version("public", "dv_now").why_unknown
    if relation("public", "foreign_csv") is not None:
        assert not version("public", "foreign_csv").known
        assert "foreign table" in version("public", "foreign_csv").why_unknown
    assert version("public", "v_single").known  # a plain view over a table is followed


def test_a_view_of_system_catalogs_is_unknown(superuser_conn):
    superuser_conn.at_teardown("DROP VIEW IF EXISTS public.dv_catalog")
    superuser_conn.execute("CREATE VIEW public.dv_catalog AS SELECT relname FROM pg_catalog.pg_class")
    registry.refresh_now()
    wait_for(lambda: relation("public", "dv_catalog") is not None, "the view in the snapshot")
    registry.refresh_now()
    assert "system catalog" in version("public", "dv_catalog").why_unknown


def test_two_versions_never_share_a_last_modified_second():
    """If-Modified-Since must tell versions apart: a second version within the same second is
    dated the next one (sent once it has begun); a third gets no date, only its ETag."""
    from autoapi.freshness import dataversion

    first = dataversion._first_seen("a", None, 100, None)
    second = dataversion._first_seen("b", first, 100, None)
    third = dataversion._first_seen("c", second, 100, None)
    assert (first.observed, second.observed, third.observed) == (100, 101, None)
    assert second.last_modified(now=100.5) is None and second.last_modified(now=101.0) == 101
    assert dataversion._first_seen("d", third, 103, None).observed == 103
    # A date another process recorded is taken, unless it is not after the previous version's.
    assert dataversion._first_seen("e", third, 103, 102).observed == 102
    assert dataversion._first_seen("f", dataversion._first_seen("e", third, 103, 102), 103, 101).observed == 103
