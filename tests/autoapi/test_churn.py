"""DDL in a loop while clients hammer a real server: zero 5xx, and the end state matches the database."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import requests

from tests.autoapi.test_live_schema import wait_for
from tests.conftest import connect_superuser, running_server

SECONDS = 8
TABLES = [f"churn_{i}" for i in range(4)]


def ddl_loop(stop: threading.Event, errors: list):
    rng = random.Random(7)
    conn = connect_superuser()
    try:
        while not stop.is_set():
            table = rng.choice(TABLES)
            exists = bool(conn.execute("SELECT to_regclass(%s)", [f"public.{table}"])[0][0])
            if not exists:
                action = "create"
            else:
                action = rng.choice(
                    ["add", "drop_col", "rename", "comment", "revoke", "grant", "retype", "drop", "view"]
                )
            statements = {
                "create": [
                    f"CREATE TABLE public.{table} (id int PRIMARY KEY, a text, n numeric)",
                    f"INSERT INTO public.{table} SELECT g, 'row ' || g, g / 3.0 FROM generate_series(1, 50) g",
                ],
                "add": [f"ALTER TABLE public.{table} ADD COLUMN IF NOT EXISTS extra int DEFAULT 1"],
                "drop_col": [f"ALTER TABLE public.{table} DROP COLUMN IF EXISTS a"],
                "rename": [
                    f"DO $$ BEGIN ALTER TABLE public.{table} RENAME COLUMN n TO m; EXCEPTION WHEN undefined_column THEN "
                    f"ALTER TABLE public.{table} RENAME COLUMN m TO n; END $$"
                ],
                "comment": [f"COMMENT ON TABLE public.{table} IS 'churned at {time.time()}'"],
                "revoke": [f"REVOKE SELECT ON public.{table} FROM portal_reader"],
                "grant": [f"GRANT SELECT ON public.{table} TO portal_reader"],
                "retype": [
                    f"DO $$ BEGIN ALTER TABLE public.{table} ALTER COLUMN extra TYPE text; "
                    f"EXCEPTION WHEN undefined_column THEN NULL; END $$"
                ],
                "drop": [f"DROP TABLE public.{table} CASCADE"],
                "view": [
                    f"CREATE OR REPLACE VIEW public.{table}_v AS SELECT id FROM public.{table}",
                    f"GRANT SELECT ON public.{table}_v TO portal_reader",
                ],
            }[action]
            try:
                for statement in statements:
                    conn.execute(statement)
            except Exception as exc:  # a race between our own statements is not the portal's fault
                errors.append(f"{action}: {exc}")
            time.sleep(rng.uniform(0.0, 0.05))
    finally:
        conn.close()


def client_loop(base: str, stop: threading.Event, statuses: Counter, failures: list, seed: int):
    rng = random.Random(seed)
    session = requests.Session()
    while not stop.is_set():
        table = rng.choice(TABLES)
        path = rng.choice(
            [
                "/api/",
                f"/api/public/{table}/",
                f"/api/public/{table}/?a__contains=row",
                f"/api/public/{table}/?n__gt=3",
                f"/api/public/{table}/1/",
                f"/api/public/{table}/?format=csv&limit=all",
                f"/api/public/{table}_v/",
                f"/catalog/public/{table}/",
                "/",
                "/api/schema/",
                f"/api/public/{table}/?ordering=-extra&fields=id,extra",
            ]
        )
        try:
            response = session.get(base + path, timeout=20)
        except requests.RequestException as exc:
            failures.append(f"{path}: {exc}")
            continue
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            failures.append(f"{path}: {response.status_code} {response.text[:200]}")


def test_ddl_churn_never_gives_5xx(tmp_path, superuser_conn):
    for table in TABLES:
        superuser_conn.at_teardown(f"DROP TABLE IF EXISTS public.{table} CASCADE")
    with running_server(tmp_path, workers=2, threads=4) as base:
        stop, statuses, failures, ddl_errors = threading.Event(), Counter(), [], []
        threads = [threading.Thread(target=ddl_loop, args=(stop, ddl_errors))]
        threads += [threading.Thread(target=client_loop, args=(base, stop, statuses, failures, n)) for n in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(SECONDS)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        tracebacks = [
            line[-3000:]
            for log in tmp_path.glob("gunicorn-*.log")
            for line in log.read_text().splitlines()
            if "Traceback" in line or '"level": "ERROR"' in line
        ]
        assert not failures, (failures[:5], tracebacks[:3])
        # The loop really ran against a changing schema: rows were served and vanished tables seen.
        assert sum(statuses.values()) >= 40 and statuses[200] >= 10 and statuses[404] >= 1, statuses

        expected = {
            row[0]
            for row in superuser_conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relname LIKE 'churn%%' "
                "AND has_table_privilege('portal_reader', c.oid, 'SELECT')"
            )
        }

        def final_state_matches():
            listed = {r["name"] for r in requests.get(f"{base}/api/", timeout=10).json()["relations"]}
            return {name for name in listed if name.startswith("churn")} == expected

        wait_for(final_state_matches, "the API's relations match the database after the churn")
