"""Fair share on real servers: rate limits shared through a real Redis by two gunicorn workers,
download caps held by clients that stop reading, API keys, and what is never limited.

One gunicorn with 2 workers shares a ``redis-server`` (module fixtures); a second, with one
worker and no Redis, shows the per-process download cap. Clients are told apart by
``X-Forwarded-For`` (127.0.0.1 is a trusted proxy), so every test has clients of its own.
The downloads read a view of 9 million generated rows that is never read to its end.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import connect_superuser, running_server
from tests.processes import free_port
from tests.production.fairshare_support import HeldDownload, key_entry, new_address, redis_server, wait_until

pytestmark = pytest.mark.db  # every test here reads the fixture database

RATE = 40
WINDOW = 3600  # one window for the whole module, unless a test starts at its very end (see fresh_window)
RAISED_KEY = "test-key-raised-" + uuid.uuid4().hex  # twice the requests
DOWNLOAD_KEY = "test-key-downloads-" + uuid.uuid4().hex  # no request limit, 3 downloads at once
FLIGHT_KEY = "test-key-in-flight-" + uuid.uuid4().hex  # no request limit, 2 requests in flight at once
BIG = "/api/public/fair_share_big/"
DOWNLOAD = BIG + "?limit=all&format=csv"
SLOW = "/api/public/fair_share_slow/?search=alpha+beta+gamma"  # each statement sleeps SLEEP s
SMALL = "/api/public/fair_share_small/?limit=5"
SMALL_DOWNLOAD = "/api/public/fair_share_small/?limit=all&format=csv"
SLEEP = 1.5
ACCESS_LOG = re.compile(r"<(\d+)> ([0-9a-f]{32}) (\d{3})")


@pytest.fixture(scope="module")
def big_relation():
    conn = connect_superuser()
    conn.execute(
        "CREATE VIEW public.fair_share_big AS SELECT a.a, b.b, repeat('x', 40) AS pad "
        "FROM generate_series(1, 3000) a(a) CROSS JOIN generate_series(1, 3000) b(b)"
    )
    conn.execute("GRANT SELECT ON public.fair_share_big TO portal_reader")
    try:
        yield
    finally:
        conn.execute("DROP VIEW IF EXISTS public.fair_share_big")
        conn.close()


@pytest.fixture(scope="module")
def costly_relations():
    """A small but expensive relation (every statement on it sleeps SLEEP s, like a many-word
    search over millions of rows) and a small cheap table."""
    conn = connect_superuser()
    # An uncorrelated subquery is an InitPlan: it runs once per statement, whatever the rows.
    conn.execute(
        "CREATE VIEW public.fair_share_slow AS SELECT g AS id, 'alpha beta gamma ' || g AS label "
        f"FROM generate_series(1, 3) g WHERE (SELECT true FROM pg_sleep({SLEEP}))"
    )
    conn.execute("CREATE TABLE public.fair_share_small (id int PRIMARY KEY, label text)")
    conn.execute("INSERT INTO public.fair_share_small SELECT g, 'row ' || g FROM generate_series(1, 50) g")
    conn.execute("GRANT SELECT ON public.fair_share_slow, public.fair_share_small TO portal_reader")
    try:
        yield
    finally:
        conn.execute("DROP VIEW IF EXISTS public.fair_share_slow")
        conn.execute("DROP TABLE IF EXISTS public.fair_share_small")
        conn.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory, big_relation, costly_relations):
    """Two workers sharing Redis; yields (base URL, the gunicorn log's path)."""
    log_dir = tmp_path_factory.mktemp("fair_share")
    keys = [
        key_entry(RAISED_KEY, "raised", rate_limit=2 * RATE),
        key_entry(DOWNLOAD_KEY, "downloads", rate_limit=0, client_downloads=3),
        key_entry(FLIGHT_KEY, "in flight", rate_limit=0, client_requests=2),
    ]
    with redis_server(log_dir) as redis_url:
        env = {
            "PORTAL_REDIS_URL": redis_url,
            "PORTAL_TRUSTED_PROXIES": "127.0.0.1",
            "PORTAL_RATE_LIMIT": str(RATE),
            "PORTAL_RATE_LIMIT_WINDOW": str(WINDOW),
            "PORTAL_CLIENT_DOWNLOADS": "2",
            "PORTAL_PROCESS_DOWNLOADS": "0",
            "PORTAL_API_KEYS": json.dumps(keys),
            # The worker's pid and the request id in gunicorn's access log: who served what. A worker
            # holding 4 connections accepts no more, so a burst of 8 is spread over both (else the
            # first worker the kernel wakes may take every connection).
            "GUNICORN_CMD_ARGS": "--worker-connections 4 --access-logformat '%(p)s %({x-request-id}i)s %(s)s'",
        }
        with running_server(log_dir, env, workers=2, threads=4) as base_url:
            yield base_url, next(log_dir.glob("gunicorn-*.log"))


def get(base_url: str, path: str, address: str, **headers) -> requests.Response:
    return requests.get(base_url + path, headers={"X-Forwarded-For": address, **headers}, timeout=30)


def fresh_window():
    """The windows are aligned to the clock: a test must not straddle the end of one."""
    left = WINDOW - time.time() % WINDOW
    if left < 60:
        time.sleep(left + 0.5)


def burst(base_url: str, path: str, address: str, count: int, **headers) -> list[requests.Response]:
    """``count`` requests at once (8 at a time, each on a new connection), with request ids."""

    def one(_):
        return get(base_url, path, address, **{"X-Request-ID": uuid.uuid4().hex, **headers})

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def assert_rate_limited(response: requests.Response, limit: int):
    assert response.status_code == 429, response.text[:300]
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["RateLimit-Limit"] == str(limit)
    assert response.headers["RateLimit-Remaining"] == "0"
    assert 0 < int(response.headers["RateLimit-Reset"]) <= WINDOW
    assert response.headers["Cache-Control"] == "no-store"


def test_the_rate_limit_is_one_count_across_two_worker_processes(shared):
    base_url, log_path = shared
    fresh_window()
    address = new_address()
    responses = burst(base_url, "/api/", address, RATE)
    assert [r.status_code for r in responses] == [200] * RATE
    # Each request counted exactly once by one counter: every remaining count appears once.
    assert sorted(int(r.headers["RateLimit-Remaining"]) for r in responses) == list(range(RATE))
    assert {r.headers["RateLimit-Policy"] for r in responses} == {f"{RATE};w={WINDOW}"}
    ids = {r.headers["X-Request-ID"] for r in responses}

    def served_by():
        seen = {m[1]: m[0] for m in ACCESS_LOG.findall(log_path.read_text(errors="replace"))}
        return {seen[i] for i in ids} if ids <= set(seen) else None

    assert len(wait_until(served_by, "the access log of every request")) == 2, "one worker served them all"
    refused = get(base_url, "/api/", address)
    assert_rate_limited(refused, RATE)
    assert "too many requests" in refused.json()["detail"]
    assert refused.headers["Access-Control-Allow-Origin"] == "*"  # a browser script may read it
    assert get(base_url, "/api/", new_address()).status_code == 200  # another client is unaffected


def test_a_client_gets_429_beyond_its_concurrent_downloads_until_one_ends(shared):
    base_url, _ = shared
    fresh_window()
    address = new_address()
    held = [HeldDownload(base_url, DOWNLOAD, address) for _ in range(2)]
    try:
        assert [h.status for h in held] == [200, 200]
        # Repeated on new connections, which either worker accepts: the count is shared.
        for _ in range(6):
            refused = get(base_url, DOWNLOAD, address)
            assert refused.status_code == 429, refused.text[:300]
            assert int(refused.headers["Retry-After"]) > 0
            assert "downloads" in refused.json()["detail"]
        assert get(base_url, BIG + "?limit=3", address).status_code == 200  # pages are not downloads
        other = HeldDownload(base_url, DOWNLOAD, new_address())
        other.close()
        assert other.status == 200  # the cap is per client
        held.pop().close()  # the client goes away: its slot is freed

        def download_again():
            attempt = HeldDownload(base_url, DOWNLOAD, address)
            attempt.close()
            return attempt.status == 200

        wait_until(download_again, "the closed download's slot to be free", timeout=10, interval=0.3)
    finally:
        for download in held:
            download.close()


def test_an_api_key_raises_the_limits_and_an_unknown_key_is_401(shared):
    base_url, _ = shared
    fresh_window()
    address = new_address()
    with_key = burst(base_url, "/api/", address, 2 * RATE - 1, **{"X-API-Key": RAISED_KEY})
    assert [r.status_code for r in with_key] == [200] * (2 * RATE - 1)
    assert {r.headers["RateLimit-Limit"] for r in with_key} == {str(2 * RATE)}
    # The key is the client, whatever its address; Authorization: Bearer works as well.
    last = get(base_url, "/api/", new_address(), Authorization=f"Bearer {RAISED_KEY}")
    assert last.status_code == 200 and last.headers["RateLimit-Remaining"] == "0"
    assert_rate_limited(get(base_url, "/api/", address, **{"X-API-Key": RAISED_KEY}), 2 * RATE)
    assert get(base_url, "/api/", address).status_code == 200  # the address alone has its own budget

    unknown = get(base_url, "/api/", address, **{"X-API-Key": "not-a-key"})
    assert unknown.status_code == 401 and "unknown API key" in unknown.json()["detail"]
    assert unknown.headers["WWW-Authenticate"].startswith("Bearer")
    page = get(base_url, "/", address, Authorization="Bearer not-a-key")
    assert page.status_code == 401 and page.headers["Content-Type"].startswith("text/html")


def test_key_guesses_are_counted_against_the_address_across_workers(shared):
    """API_KEY_FAILURES (10) refused keys from one address, spread over both workers, and then
    that address may present no key at all, not even a right one; other addresses may."""
    base_url, _ = shared
    fresh_window()
    address = new_address()
    guesses = burst(base_url, "/api/", address, 10, **{"X-API-Key": "guess-" + uuid.uuid4().hex})
    assert [r.status_code for r in guesses] == [401] * 10
    for headers in ({"X-API-Key": "guess-" + uuid.uuid4().hex}, {"X-API-Key": DOWNLOAD_KEY}):
        refused = get(base_url, "/api/", address, **headers)
        assert refused.status_code == 429, refused.text[:300]
        assert int(refused.headers["Retry-After"]) > 0 and "unknown API keys" in refused.json()["detail"]
    assert get(base_url, "/api/", new_address(), **{"X-API-Key": DOWNLOAD_KEY}).status_code == 200
    assert get(base_url, "/api/", address).status_code == 200  # and without a key, as before


def test_a_key_raises_the_download_cap(shared):
    base_url, _ = shared
    key = {"X-API-Key": DOWNLOAD_KEY}
    held = []
    try:
        held = [HeldDownload(base_url, DOWNLOAD, new_address(), key) for _ in range(3)]
        assert [h.status for h in held] == [200, 200, 200]
        assert "ratelimit-limit" not in held[0].headers  # this key has no request limit
        refused = get(base_url, DOWNLOAD, new_address(), **key)
        assert refused.status_code == 429 and "at most 3" in refused.json()["detail"]
    finally:
        for download in held:
            download.close()


def at_once(base_url: str, path: str, count: int, address: str, **headers) -> list[requests.Response]:
    """``count`` requests sent together, each on its own connection."""
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: get(base_url, path, address, **headers), range(count)))


def test_requests_in_flight_are_capped_per_client_across_worker_processes(shared):
    """Six slow pages at once with a key allowing 2 in flight: a worker accepts at most 4
    connections, so both workers get some; per process each would admit 2 (4 or more in all)."""
    base_url, _ = shared
    answers = at_once(base_url, SLOW, 6, new_address(), **{"X-API-Key": FLIGHT_KEY})
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200, 200, 429, 429, 429, 429], [r.text[:200] for r in answers]
    refused = next(r for r in answers if r.status_code == 429)
    assert refused.headers["Retry-After"] == "1" and "in flight" in refused.json()["detail"]
    assert refused.headers["Cache-Control"] == "no-store"
    # Released when the answers were closed: the same client is admitted again.
    assert get(base_url, SLOW, new_address(), **{"X-API-Key": FLIGHT_KEY}).status_code == 200


def test_a_stored_download_takes_no_download_slot(shared):
    """A client running its CLIENT_DOWNLOADS (2) live downloads still gets a stored file: serving
    it holds no database connection."""
    base_url, _ = shared
    first = get(base_url, SMALL_DOWNLOAD, new_address())
    assert first.status_code == 200
    wait_until(
        lambda: get(base_url, SMALL_DOWNLOAD, new_address()).headers.get("Accept-Ranges") == "bytes",
        "the small table's download to be stored",
    )
    address = new_address()
    held = [HeldDownload(base_url, DOWNLOAD, address) for _ in range(2)]
    try:
        assert [h.status for h in held] == [200, 200]
        assert get(base_url, DOWNLOAD, address).status_code == 429  # no third live download
        stored = get(base_url, SMALL_DOWNLOAD, address)
        assert stored.status_code == 200, stored.text[:300]
        assert stored.headers["Accept-Ranges"] == "bytes" and stored.content == first.content
    finally:
        for download in held:
            download.close()


def test_a_heavy_client_gets_429_before_the_pool_is_exhausted_for_the_others(tmp_path, costly_relations):
    """One process, 4 pooled connections, a pool wait of 2 s (the statement timeout): twelve slow
    pages at once from one address would hold all four for 3 rounds of SLEEP s, and another
    address's pages would wait past the pool's timeout (503). With CLIENT_POOL_SHARE the heavy
    client is refused (429) once 3 connections are spoken for, and the other's pages answer."""
    env = {
        "PORTAL_TRUSTED_PROXIES": "127.0.0.1",
        "PORTAL_RATE_LIMIT": "0",
        "PORTAL_CLIENT_REQUESTS": "0",
        "PORTAL_CLIENT_POOL_SHARE": "0.5",
        "PORTAL_DB_CONNECTIONS": "4",
        "PORTAL_STATEMENT_TIMEOUT_MS": "2000",
    }
    with running_server(tmp_path, env, workers=1, threads=24) as base_url:
        heavy, light = new_address(), new_address()
        assert get(base_url, SMALL, light).status_code == 200  # the snapshot is built
        with ThreadPoolExecutor(12) as pool:
            flood = [pool.submit(get, base_url, SLOW, heavy) for _ in range(12)]
            time.sleep(0.3)
            pages = []
            deadline = time.monotonic() + 3 * SLEEP
            while time.monotonic() < deadline:
                pages.append(get(base_url, SMALL, light))
                time.sleep(0.2)
            heavy_answers = [f.result() for f in flood]
        assert len(pages) >= 10
        assert [r.status_code for r in pages] == [200] * len(pages), [
            r.text[:200] for r in pages if r.status_code != 200
        ]
        statuses = [r.status_code for r in heavy_answers]
        assert 429 in statuses and 200 in statuses and not any(s >= 500 for s in statuses), statuses
        refused = next(r for r in heavy_answers if r.status_code == 429)
        assert refused.headers["Retry-After"] == "1" and "share" in refused.json()["detail"]


def test_health_and_static_files_are_never_limited(shared):
    base_url, _ = shared
    fresh_window()
    address = new_address()
    burst(base_url, "/api/", address, RATE)
    assert_rate_limited(get(base_url, "/api/", address), RATE)
    page = get(base_url, "/", address)
    assert_rate_limited(page, RATE)
    assert page.headers["Content-Type"].startswith("text/html") and "Too many requests" in page.text
    ogc = get(base_url, "/ogc/collections", address)  # GDAL and QGIS read an OGC exception, in JSON
    assert_rate_limited(ogc, RATE)
    assert ogc.json()["code"] == "TooManyRequests", ogc.text
    assert "too many requests" in ogc.json()["description"]
    from django.contrib.staticfiles.storage import staticfiles_storage

    for path in ("/healthz", "/readyz", staticfiles_storage.url("catalog/map.js")) * 3:  # a hashed name
        response = get(base_url, path, address)
        assert response.status_code == 200, path
        assert "RateLimit-Limit" not in response.headers


def test_a_process_answers_503_beyond_its_concurrent_downloads(tmp_path, big_relation):
    env = {
        "PORTAL_TRUSTED_PROXIES": "127.0.0.1",
        "PORTAL_PROCESS_DOWNLOADS": "2",
        "PORTAL_CLIENT_DOWNLOADS": "0",
        "PORTAL_RATE_LIMIT": "0",
    }
    with running_server(tmp_path, env, workers=1, threads=4) as base_url:
        held = [HeldDownload(base_url, DOWNLOAD, new_address()) for _ in range(2)]
        try:
            assert [h.status for h in held] == [200, 200]
            refused = get(base_url, DOWNLOAD, new_address())
            assert refused.status_code == 503, refused.text[:300]
            assert int(refused.headers["Retry-After"]) > 0
            assert "downloads" in refused.json()["detail"]
            assert get(base_url, "/api/", new_address()).status_code == 200  # pages still served
            held.pop().close()

            def download_again():
                attempt = HeldDownload(base_url, DOWNLOAD, new_address())
                attempt.close()
                return attempt.status == 200

            wait_until(download_again, "the closed download's slot to be free", timeout=10, interval=0.3)
        finally:
            for download in held:
                download.close()


def test_a_redis_that_cannot_be_reached_fails_open_to_per_process_counts(tmp_path):
    env = {
        "PORTAL_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "PORTAL_TRUSTED_PROXIES": "127.0.0.1",
        "PORTAL_RATE_LIMIT": "5",
        "PORTAL_RATE_LIMIT_WINDOW": str(WINDOW),
    }
    with running_server(tmp_path, env, workers=1) as base_url:
        fresh_window()
        address = new_address()
        answers = [get(base_url, "/api/", address) for _ in range(6)]
        assert [r.status_code for r in answers] == [200] * 5 + [429]  # served, and still limited
        log = next(tmp_path.glob("gunicorn-*.log"))
        wait_until(lambda: "Redis is unavailable" in log.read_text(errors="replace"), "the outage in the log")
        assert log.read_text(errors="replace").count("Redis is unavailable") == 1
