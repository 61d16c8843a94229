"""DDL by the superuser shows in the API without a restart: in-process and through a real server."""

from __future__ import annotations

import time

import requests

WAIT_SECONDS = 10


def wait_for(predicate, what: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"not seen within {WAIT_SECONDS} s: {what}")


def names(client):
    return {(r["schema"], r["name"]) for r in client.get("/api/").json()["relations"]}


def test_new_table_column_comment_and_revoke_appear(client, superuser_conn):
    superuser_conn.at_teardown('DROP TABLE IF EXISTS public."live table"')
    superuser_conn.execute('CREATE TABLE public."live table" (id int PRIMARY KEY, a text)')
    superuser_conn.execute("""INSERT INTO public."live table" VALUES (1, 'one')""")
    wait_for(lambda: ("public", "live table") in names(client), "new table in /api/")
    assert client.get("/api/public/live~20table/1/").json() == {"id": 1, "a": "one"}

    superuser_conn.execute('ALTER TABLE public."live table" ADD COLUMN "b b" numeric DEFAULT 2.50')
    wait_for(lambda: "b b" in client.get("/api/public/live~20table/1/").json(), "new column")
    assert client.get("/api/public/live~20table/?b%20b__gt=2").json()["count"] == 1

    superuser_conn.execute('ALTER TABLE public."live table" DROP COLUMN a')
    wait_for(lambda: "a" not in client.get("/api/public/live~20table/1/").json(), "dropped column")
    assert client.get("/api/public/live~20table/?a=one").status_code == 400

    superuser_conn.execute("""COMMENT ON TABLE public."live table" IS 'now with a comment'""")
    wait_for(
        lambda: any(r["comment"] == "now with a comment" for r in client.get("/api/").json()["relations"]),
        "new comment",
    )

    superuser_conn.execute('REVOKE SELECT ON public."live table" FROM portal_reader')
    wait_for(lambda: ("public", "live table") not in names(client), "revoked table gone")
    assert client.get("/api/public/live~20table/").status_code == 404


def test_a_real_server_follows_ddl(live_server_url, superuser_conn):
    superuser_conn.at_teardown("DROP VIEW IF EXISTS public.live_view")
    superuser_conn.execute("CREATE VIEW public.live_view AS SELECT 1 AS x, 'y'::text AS y")
    superuser_conn.execute("GRANT SELECT ON public.live_view TO portal_reader")

    def served():
        response = requests.get(f"{live_server_url}/api/public/live_view/", timeout=5)
        return response.status_code == 200 and response.json()["results"] == [{"x": 1, "y": "y"}]

    wait_for(served, "a new view through gunicorn")
    superuser_conn.execute("DROP VIEW public.live_view")
    wait_for(
        lambda: requests.get(f"{live_server_url}/api/public/live_view/", timeout=5).status_code == 404, "dropped view"
    )


def test_in_process_snapshot_has_caught_up(client):
    """Leaves the in-process snapshot without the tables above, for the tests that follow."""
    wait_for(lambda: not {("public", "live_view"), ("public", "live table")} & names(client), "cleanup seen")


def test_notify_refreshes_at_once_without_waiting_for_the_poll(tmp_path, superuser_conn):
    from tests.conftest import running_server

    superuser_conn.at_teardown("DROP TABLE IF EXISTS public.notify_probe")
    with running_server(tmp_path, {"PORTAL_REFRESH_INTERVAL": "120"}, workers=1, threads=2) as base:
        assert requests.get(f"{base}/api/", timeout=5).status_code == 200  # snapshot built
        time.sleep(0.5)  # let the listener connect
        superuser_conn.execute("CREATE TABLE public.notify_probe (id int)")
        time.sleep(1.0)
        assert requests.get(f"{base}/api/public/notify_probe/", timeout=5).status_code == 404, "no NOTIFY yet"
        superuser_conn.execute("NOTIFY portal_schema_changed")
        wait_for(
            lambda: requests.get(f"{base}/api/public/notify_probe/", timeout=5).status_code == 200, "NOTIFY refresh"
        )


def test_the_documented_event_trigger_notifies_the_portal(tmp_path, superuser_conn):
    from pathlib import Path

    from tests.conftest import running_server

    trigger_sql = (Path(__file__).resolve().parents[2] / "docs" / "schema-change-trigger.sql").read_text()
    superuser_conn.at_teardown("DROP TABLE IF EXISTS public.trigger_probe")
    superuser_conn.at_teardown("DROP FUNCTION IF EXISTS public.portal_notify_schema_change() CASCADE")
    superuser_conn.execute(trigger_sql)
    with running_server(tmp_path, {"PORTAL_REFRESH_INTERVAL": "120"}, workers=1, threads=2) as base:
        assert requests.get(f"{base}/api/", timeout=5).status_code == 200
        time.sleep(0.5)  # let the listener connect
        superuser_conn.execute("CREATE TABLE public.trigger_probe (id int)")
        wait_for(
            lambda: requests.get(f"{base}/api/public/trigger_probe/", timeout=5).status_code == 200, "trigger refresh"
        )


def test_a_worker_forked_later_checks_the_snapshot_it_inherits(tmp_path, superuser_conn):
    """gunicorn's master reads the snapshot once and its workers inherit it (issue 23: start at
    10,000 relations). A worker forked later (a crash, GUNICORN_MAX_REQUESTS) inherits the
    master's old snapshot: it must check it against the catalog before serving, not a poll later
    (the poll is made 120 s long here)."""
    import os
    import signal

    from tests.portal_server import gunicorn_for_tests

    superuser_conn.at_teardown("DROP TABLE IF EXISTS public.inherit_probe")
    env = {"PORTAL_REFRESH_INTERVAL": "120", "GUNICORN_MAX_REQUESTS": "0"}
    with gunicorn_for_tests(tmp_path, env, config_file=True, workers=1, threads=2) as server:
        base = server.base_url
        assert requests.get(f"{base}/api/", timeout=10).status_code == 200
        superuser_conn.execute("CREATE TABLE public.inherit_probe (id int PRIMARY KEY)")
        superuser_conn.execute("GRANT SELECT ON public.inherit_probe TO portal_reader")
        assert requests.get(f"{base}/api/public/inherit_probe/", timeout=10).status_code == 404, "no poll yet"
        (old,) = server.worker_pids()
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: server.worker_pids() not in ([], [old]), "a new worker")
        assert requests.get(f"{base}/api/public/inherit_probe/", timeout=10).status_code == 200
