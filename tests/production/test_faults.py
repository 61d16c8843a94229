"""Faults against the real server (gunicorn with portal/gunicorn.conf.py) and the real PostgreSQL:

- the database stopped under load: fast 503s with Retry-After (JSON on the API, a page in the
  catalog), no transport error, no worker dies, and full service within 5 s of the restart;
- a pathological filter hits the statement timeout and gets a clear 400 quickly;
- exhausted connections give fast 503s, not a hang;
- in process: a database error anywhere outside the API views (the first snapshot of a process,
  the catalog, /readyz) is a 503 with Retry-After, never a 500.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
import requests
from django.db import OperationalError, connections

from autoapi.web.registry import registry
from tests.production.support import PgControl, portal_server

# URLs that need the database on every request, and what a 503 must look like there.
DB_URLS = {
    "/api/public/big_2500/?limit=5&grp=3": "json",
    "/api/public/single_pk/1/": "json",
    "/api/public/composite_pk/?format=csv": "json",  # errors are JSON whatever the format
    # Filtered: the whole relation's download may be stored, and is then served without the database.
    "/api/public/single_pk/?limit=all&format=ndjson&id__gte=1": "json",
    "/catalog/public/big_2500/?grp=2": "html",
    "/readyz": "json",
}
# URLs served from the snapshot alone: 200 even while the database is down.
SNAPSHOT_URLS = ("/", "/api/", "/healthz")
RECOVERY_SECONDS = 5.0
FAST_SECONDS = 3.0


@dataclass
class Result:
    url: str
    started: float
    elapsed: float
    status: int | None
    error: str | None = None
    retry_after: str | None = None
    content_type: str = ""
    body: bytes = b""


class Load:
    """``threads`` clients looping over ``urls`` until stopped, recording every answer."""

    def __init__(self, base_url: str, urls, threads: int = 6):
        self.base_url, self.urls, self.threads = base_url, list(urls), threads
        self.results: list[Result] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, index: int):
        session = requests.Session()
        i = index
        while not self._stop.is_set():
            url = self.urls[i % len(self.urls)]
            i += 1
            started = time.monotonic()
            try:
                response = session.get(self.base_url + url, timeout=30)
                result = Result(
                    url,
                    started,
                    time.monotonic() - started,
                    response.status_code,
                    retry_after=response.headers.get("Retry-After"),
                    content_type=response.headers.get("Content-Type", ""),
                    body=response.content,
                )
            except requests.RequestException as exc:
                result = Result(url, started, time.monotonic() - started, None, error=repr(exc))
                session = requests.Session()
            with self._lock:
                self.results.append(result)

    def __enter__(self):
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=60)


@pytest.fixture
def pg_control(pg_cluster):
    if not PgControl.available():
        pytest.skip("the cluster was given by the environment without its PORTAL_TEST_PG_* variables")
    control = PgControl()
    yield control
    if not control.is_running():
        control.start()
    # This process's own connections died with the server. A real server notices at the next
    # request (CONN_HEALTH_CHECKS), but Django's test client skips that check: close them here.
    connections.close_all()


def _assert_unavailable(result: Result, kind: str):
    assert result.retry_after and int(result.retry_after) > 0, result
    if kind == "json":
        assert result.content_type.startswith("application/json"), result
        assert b'"detail"' in result.body, result
    else:
        assert result.content_type.startswith("text/html"), result
        assert b"Database unavailable" in result.body, result


def test_database_stopped_under_load(tmp_path, pg_control):
    with portal_server(tmp_path, GUNICORN_WORKERS="2", GUNICORN_THREADS="4", GUNICORN_MAX_REQUESTS="0") as server:
        for url in [*DB_URLS, *SNAPSHOT_URLS]:  # warm: every worker has its snapshot
            for _ in range(4):
                assert requests.get(server.base_url + url, timeout=10).status_code == 200, url
        workers_before = server.worker_pids()
        assert len(workers_before) == 2

        with Load(server.base_url, [*DB_URLS, *SNAPSHOT_URLS]) as load:
            time.sleep(1.0)
            stop_at = time.monotonic()
            pg_control.stop()
            stopped_at = time.monotonic()
            time.sleep(2.5)
            pg_control.start()
            up_at = time.monotonic()
            time.sleep(RECOVERY_SECONDS + 1.5)
        results = load.results

        # No transport error: every request got an HTTP answer (no worker died mid-request).
        broken = [r for r in results if r.error]
        assert not broken, broken[:5]
        # Only 200s and 503s, and every answer fast.
        unexpected = [r for r in results if r.status not in (200, 503)]
        assert not unexpected, (
            unexpected[:3],
            [e.get("exc_info", e["message"])[-3000:] for e in _log_entries(server) if e["logger"] == "django.request"][
                :2
            ],
        )
        slow = [r for r in results if r.elapsed > FAST_SECONDS]
        assert not slow, slow[:5]
        # The outage was seen, and answered properly.
        down = [r for r in results if r.status == 503]
        assert len(down) >= len(DB_URLS), f"only {len(down)} 503s during the outage"
        for result in down:
            assert result.url in DB_URLS, result
            _assert_unavailable(result, DB_URLS[result.url])
        outage = [r for r in results if stopped_at + 0.2 <= r.started <= up_at - 0.2 and r.url in DB_URLS]
        assert outage and all(r.status == 503 for r in outage), [r for r in outage if r.status != 503][:5]
        # Snapshot-only pages kept working throughout.
        assert all(r.status == 200 for r in results if r.url in SNAPSHOT_URLS and r.url != "/readyz")
        # Back within RECOVERY_SECONDS of the database.
        late_failures = [r for r in results if r.started >= up_at + RECOVERY_SECONDS and r.status != 200]
        assert not late_failures, late_failures[:5]
        recovered = [r for r in results if r.started >= up_at + RECOVERY_SECONDS]
        assert {r.url for r in recovered} == set(DB_URLS) | set(SNAPSHOT_URLS)
        print(f"\n{len(results)} requests, {len(down)} 503s, slowest {max(r.elapsed for r in results):.3f} s")
        first_ok = min(
            (r.started for r in results if r.started >= up_at and r.status == 200 and r.url in DB_URLS), default=None
        )
        assert first_ok is not None and first_ok - up_at < RECOVERY_SECONDS
        last_503 = max(r.started for r in down)
        print(
            f"database down {up_at - stopped_at:.2f} s; first 200 {first_ok - up_at:.2f} s after its restart, "
            f"last 503 {last_503 - up_at:.2f} s after"
        )

        # The same workers, none restarted or killed.
        assert server.worker_pids() == workers_before
        entries = _log_entries(server)
        gunicorn_messages = " ".join(e["message"] for e in entries if e["logger"].startswith("gunicorn"))
        for sign in ("WORKER TIMEOUT", "Worker exiting", "was sent", "Error handling request"):
            assert sign not in gunicorn_messages, f"{sign!r} in the log:\n{server.tail()}"
        assert gunicorn_messages.count("Booting worker") == 2
        # No 500 anywhere (the schema watcher and the catalog may log the outage itself).
        assert not [e for e in entries if e["logger"] == "django.request"], server.tail()
        logged = {e["status"] for e in entries if e["logger"] == "portal.request"}
        assert logged <= {200, 503}, logged
        assert stop_at < stopped_at


def _log_entries(server) -> list[dict]:
    return [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]


def test_a_pathological_filter_hits_the_statement_timeout_quickly(tmp_path, superuser_conn):
    superuser_conn.at_teardown("DROP VIEW IF EXISTS public.slow_cross")
    superuser_conn.execute(
        "CREATE VIEW public.slow_cross AS SELECT a.i::bigint * 100000 + b.i AS n "
        "FROM generate_series(1, 100000) AS a(i) CROSS JOIN generate_series(1, 100000) AS b(i)"
    )
    superuser_conn.execute("GRANT SELECT ON public.slow_cross TO portal_reader")
    with portal_server(
        tmp_path, PORTAL_STATEMENT_TIMEOUT_MS="800", PORTAL_EXPORT_STATEMENT_TIMEOUT_MS="1500", GUNICORN_WORKERS="1"
    ) as server:
        deadline = time.monotonic() + 10
        while requests.get(server.base_url + "/api/public/slow_cross/?limit=1", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the new view was not published"
            time.sleep(0.2)
        for url, kind, bound in [
            ("/api/public/slow_cross/?n__lt=0", "json", 3.0),
            ("/api/public/slow_cross/?n__lt=0&format=csv", "json", 3.0),
            ("/api/public/slow_cross/?n__lt=0&ordering=-n", "json", 3.0),
            # Grouping: a page of groups, and every group streamed.
            ("/api/public/slow_cross/?group_by=n&aggregate=count", "json", 3.0),
            ("/api/public/slow_cross/?aggregate=sum:n,median:n", "json", 3.0),
            ("/api/public/slow_cross/?group_by=n&limit=all&format=csv", "json", 4.0),
            ("/catalog/public/slow_cross/?n__lt=0", "html", 3.0),
            # A download has the longer export timeout, and still ends with a clear error.
            ("/api/public/slow_cross/?n__lt=0&limit=all", "json", 4.0),
        ]:
            started = time.monotonic()
            response = requests.get(server.base_url + url, timeout=30)
            elapsed = time.monotonic() - started
            assert response.status_code == 400, (url, response.status_code, response.text[:500])
            assert elapsed < bound, (url, elapsed)
            if kind == "json":
                assert "statement timeout" in response.json()["detail"], response.text
            else:
                assert "statement timeout" in response.text
        # The worker is fine afterwards.
        assert requests.get(server.base_url + "/api/public/single_pk/1/", timeout=10).status_code == 200


def _as_user(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port}"))


def test_exhausted_connections_give_fast_503s(tmp_path, superuser_conn):
    superuser_conn.at_teardown("DROP ROLE IF EXISTS portal_limited")
    superuser_conn.at_teardown(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'portal_limited'"
    )
    superuser_conn.execute(
        "CREATE ROLE portal_limited LOGIN PASSWORD 'limited-pw' IN ROLE portal_reader CONNECTION LIMIT 3"
    )
    url = _as_user(os.environ["DATABASE_URL"], "portal_limited", "limited-pw")
    # Every request opens its own connection (CONN_MAX_AGE=0), so none can hide behind an old one.
    with portal_server(tmp_path, DATABASE_URL=url, PORTAL_CONN_MAX_AGE="0", GUNICORN_WORKERS="1") as server:
        assert requests.get(server.base_url + "/api/public/single_pk/1/", timeout=10).status_code == 200
        hogs = []
        try:
            while len(hogs) < 10:  # take every slot the role has left
                try:
                    hogs.append(psycopg2.connect(url, connect_timeout=3))
                except psycopg2.OperationalError:
                    break
            assert len(hogs) < 10
            for path, kind in DB_URLS.items():
                started = time.monotonic()
                response = requests.get(server.base_url + path, timeout=30)
                elapsed = time.monotonic() - started
                assert response.status_code == 503, (path, response.status_code, response.text[:300])
                assert elapsed < FAST_SECONDS, (path, elapsed)
                _assert_unavailable(
                    Result(
                        path,
                        started,
                        elapsed,
                        503,
                        retry_after=response.headers.get("Retry-After"),
                        content_type=response.headers["Content-Type"],
                        body=response.content,
                    ),
                    kind,
                )
            assert requests.get(server.base_url + "/api/", timeout=10).status_code == 200
        finally:
            for conn in hogs:
                conn.close()
        deadline = time.monotonic() + RECOVERY_SECONDS
        while requests.get(server.base_url + "/api/public/single_pk/1/", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "not back after the connections were released"
            time.sleep(0.1)


# -- in process: database errors outside the API's views ---------------------------------------------


@pytest.fixture
def database_down(monkeypatch):
    """The registry cannot build a snapshot (a fresh process whose database is down)."""

    def refuse():
        raise OperationalError('connection to server at "127.0.0.1", port 1 failed: Connection refused')

    monkeypatch.setattr(registry, "current", refuse)


@pytest.mark.parametrize(
    "url",
    ["/api/", "/api/public/single_pk/", "/api/public/single_pk/1/", "/readyz", "/api/public/single_pk/?format=csv"],
)
def test_no_snapshot_yet_is_a_json_503_on_the_api(client, database_down, url):
    response = client.get(url)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"].startswith("application/json")
    assert "detail" in response.json()
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("url", ["/", "/catalog/public/single_pk/"])
def test_no_snapshot_yet_is_a_503_page_in_the_catalog(client, database_down, url):
    response = client.get(url)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"].startswith("text/html")
    assert b"Database unavailable" in response.content


def test_a_raw_psycopg2_error_outside_a_view_is_a_503(client, monkeypatch):
    def refuse():
        raise psycopg2.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(registry, "current", refuse)
    response = client.get("/api/public/single_pk/1/")
    assert response.status_code == 503 and response["Retry-After"] == "5"
