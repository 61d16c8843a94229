"""Memory bounded by bytes (docs/operations.md, "Memory"), over real HTTP against gunicorn: many distinct large
pages grow the workers' resident memory (read from /proc/<pid>/status) by a bounded amount, and
once the answers expire the workers give the memory back.

The figure itself (600 pages of about 0.5 MB, 2 workers) is measured by ``make bench`` ("memory");
this test checks the mechanism with a bound generous enough for a loaded machine, and fails with
caches bounded by entry count (512 answers kept per worker, none ever purged).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.production.support import portal_server

MB = 1024 * 1024
PAGES = 500  # distinct URLs of ~0.4 MB each: ~195 MB of answers, split between two workers
PAGE_ROWS = 1000


def rss(pid: int) -> int:
    """The process's resident memory in bytes (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


@pytest.fixture
def wide_rows(superuser_conn):
    """public.memory_probe: 60,000 rows of ~400 characters, so that 1,000 rows are ~0.4 MB of JSON."""
    superuser_conn.execute("CREATE TABLE public.memory_probe (id integer PRIMARY KEY, payload text)")
    superuser_conn.at_teardown("DROP TABLE IF EXISTS public.memory_probe")
    superuser_conn.execute(
        "INSERT INTO public.memory_probe SELECT g, repeat(md5(g::text), 12) FROM generate_series(1, 60000) AS g"
    )
    superuser_conn.execute("ANALYZE public.memory_probe")


def test_distinct_large_pages_grow_the_workers_by_a_bounded_amount_then_are_given_back(tmp_path, wide_rows):
    with portal_server(
        tmp_path,
        GUNICORN_WORKERS="2",
        GUNICORN_THREADS="8",
        GUNICORN_MAX_REQUESTS="0",
        PORTAL_API_CACHE_SECONDS="3",
        PORTAL_RATE_LIMIT="0",
        PORTAL_CLIENT_REQUESTS="0",
        PORTAL_CLIENT_POOL_SHARE="0",
    ) as server:
        # Warm both workers (snapshot, models, plans, the heap's working size) with other pages than
        # the measured ones, let those expire, then measure from where the workers stand.
        def warm(i: int) -> None:
            url = f"{server.base_url}/api/public/memory_probe/?limit={PAGE_ROWS}&offset={i * 100}&ordering=-id"
            response = requests.get(url, timeout=60)
            assert response.status_code == 200, response.text[:300]

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(warm, range(80)))
        time.sleep(5)
        pids = sorted(server.worker_pids())
        assert len(pids) == 2
        before = {pid: rss(pid) for pid in pids}

        def fetch(i: int) -> int:
            url = f"{server.base_url}/api/public/memory_probe/?limit={PAGE_ROWS}&offset={i * 100}"
            response = requests.get(url, timeout=60)
            assert response.status_code == 200, response.text[:300]
            return len(response.content)

        with ThreadPoolExecutor(4) as pool:
            sizes = list(pool.map(fetch, range(PAGES)))
        assert min(sizes) > 300_000  # large pages indeed
        after = {pid: rss(pid) for pid in pids}
        growth = sum(after[pid] - before[pid] for pid in pids)
        served = sum(sizes)
        # With answers kept by count (512 per worker), every one of these pages stays: the workers
        # grew by 250-290 MB. Bounded by bytes (16 MB of answers per worker, plus what the heap
        # holds of the requests' own buffers until the janitor trims it): 100-125 MB.
        assert growth < 180 * MB, (
            f"the workers grew by {growth / MB:.0f} MB serving {served / MB:.0f} MB of "
            f"distinct pages (before {before}, after {after})"
        )

        # The answers expire after 3 s; the janitor purges them and gives the heap back (each worker
        # came back to 15-30 MB above its start; kept by count, 85-165 MB above it, for good).
        deadline = time.monotonic() + 30
        while True:
            settled = {pid: rss(pid) for pid in pids}
            if all(settled[pid] - before[pid] < 45 * MB for pid in pids) or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert all(settled[pid] - before[pid] < 45 * MB for pid in pids), (
            f"the workers did not give their memory back: before {before}, after the pages {after}, "
            f"30 s later {settled}"
        )
