"""Caches bounded by bytes (autoapi/boundedcache.py; docs/operations.md, "Memory"): the accounted bytes never
pass the budget, the least recently used go first, expired entries are dropped (on access, on a
full insert and by the janitor), and the answer, plan and estimate caches are all such caches."""

from __future__ import annotations

import threading
import time

import pytest

from autoapi import boundedcache
from autoapi.boundedcache import BytesCache
from autoapi.query import pagination, plans
from autoapi.web.responsecache import pages

MB = 1024 * 1024


@pytest.fixture
def budget(settings):
    """A BytesCache of the (small) budget asked for, in MiB, under PAGE_CACHE_MB."""
    made = []

    def make(mb: int) -> BytesCache:
        settings.PORTAL = {**settings.PORTAL, "PAGE_CACHE_MB": mb}
        cache = BytesCache("probe", "PAGE_CACHE_MB")
        made.append(cache)
        return cache

    yield make
    for cache in made:
        cache.clear()


def test_accounted_bytes_never_pass_the_budget_and_the_oldest_go_first(budget):
    cache = budget(1)
    body = bytes(100_000)
    for i in range(200):  # 20 MB offered to a 1 MiB cache
        assert cache.put(("page", i), body, len(body), 60)
        assert cache.bytes <= MB
    assert 8 <= len(cache) <= 10
    kept = [key[1] for key in cache]
    assert kept == list(range(200 - len(kept), 200))  # the most recent ones
    assert cache.get(("page", 0)) is None and cache.get(("page", 199)) is body


def test_a_read_keeps_an_entry_and_a_large_one_is_refused(budget):
    cache = budget(1)
    cache.put("first", b"x", 200_000, 60)
    for i in range(6):  # 1.4 MB offered
        cache.put(i, b"x", 200_000, 60)
        assert cache.get("first") == b"x"  # used: the others go before it
    assert cache.get("first") == b"x" and cache.get(0) is None
    assert not cache.put("huge", b"x", MB // 4 + 1, 60)  # more than a quarter of the budget
    assert cache.get("huge") is None


def test_the_key_counts_too(budget):
    cache = budget(1)
    cache.put("k" * 100_000, b"", 0, 60)
    assert cache.bytes > 100_000


def test_expired_entries_go_on_access_on_a_full_insert_and_by_the_janitor(budget):
    cache = budget(1)
    cache.put("short", b"x", 100, 0.05)
    cache.put("long", b"x", 100, 60)
    before = cache.bytes
    time.sleep(0.1)
    assert cache.get("short") is None and cache.bytes < before  # on access
    cache.put("short", b"x", 100, 0.05)
    time.sleep(0.1)
    boundedcache.sweep()  # what the janitor thread does every second
    assert list(cache) == ["long"]
    cache.put("short", b"x", 100_000, 0.05)
    time.sleep(0.1)
    for i in range(10):  # filling up: the expired entry goes before any live one
        cache.put(i, b"x", 100_000, 60)
    assert "short" not in list(cache) and "long" in list(cache)


def test_the_janitor_runs_by_itself(budget):
    cache = budget(1)
    cache.put("short", b"x", 100, 0.05)
    deadline = time.monotonic() + boundedcache.JANITOR_SECONDS * 3 + 1
    while len(cache) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(cache) == 0 and cache.bytes == 0


def test_threads_writing_at_once_keep_the_account_exact(budget):
    cache = budget(1)

    def write(n: int) -> None:
        for i in range(500):
            cache.put((n, i % 50), b"x", 10_000, 60)
            cache.get((n, (i * 7) % 50))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert cache.bytes <= MB
    assert cache.bytes == sum(entry[1] for entry in cache._entries.values())


def test_many_distinct_large_pages_stay_within_the_page_budget(client, settings):
    """Real pages of ~0.3 MB (2,500 rows of big_2500 as CSV and JSON, at many offsets): the answer
    cache never accounts more than PAGE_CACHE_MB, and what it accounts is what it holds."""
    settings.PORTAL = {**settings.PORTAL, "API_CACHE_SECONDS": 60, "PAGE_CACHE_MB": 2, "MAX_PAGE_SIZE": 2500}
    pages.clear()
    try:
        sizes = []
        for offset in range(40):
            for fmt in ("json", "csv"):
                response = client.get(f"/api/public/big_2500/?limit=2500&offset={offset}&format={fmt}")
                assert response.status_code == 200
                sizes.append(len(response.content))
                assert pages.bytes <= 2 * MB
        assert sum(sizes) > 4 * 2 * MB and max(sizes) < 2 * MB // 4  # far more than fits; each fits
        held = sum(len(entry[2][2]) for entry in pages._pages._entries.values())
        assert 1 * MB < held <= pages.bytes <= 2 * MB
    finally:
        pages.clear()


def test_plans_and_estimates_of_every_relation_share_one_budget(client, settings):
    settings.PORTAL = {**settings.PORTAL, "PLAN_CACHE_MB": 1}
    plans._plans.clear()
    long_value = "v" * 5000  # a plan keeps its parameters: 5 KB each here
    for i in range(400):
        for relation, column in (("big_2500", "label"), ("single_pk", "name")):
            response = client.get(f"/api/public/{relation}/?limit=1&id__in={i},{i + 1}&{column}__gt={long_value}{i}")
            assert response.status_code == 200, response.content[:300]
        assert plans._plans.bytes <= MB
    assert len(plans._plans) > 30
    assert len({key[0] for key in plans._plans}) >= 2  # both relations' viewsets, in one budget
    assert pagination._estimates.bytes <= settings.PORTAL.get("COUNT_CACHE_MB", 1) * MB


def test_a_count_plan_keeps_its_selection_once():
    from autoapi.db.sql import Statement
    from autoapi.query.pagination import CountPlan

    rows = Statement("SELECT id FROM t WHERE x = %s", (1,))
    plan = CountPlan(rows=rows)
    assert plan.explain.sql == "EXPLAIN (FORMAT JSON) SELECT id FROM t WHERE x = %s"
    assert plan.capped.sql.startswith("SELECT count(*) FROM (SELECT 1 FROM (SELECT id FROM t WHERE x = %s) AS x LIMIT ")
    assert [f.name for f in CountPlan.__dataclass_fields__.values()] == ["estimate", "rows", "from_page", "exact"]


def test_a_quiet_process_collects_the_garbage_of_its_busy_spell(budget):
    """Cyclic garbage the workers' GC thresholds leave alone (here: automatic collection off) is
    collected once the caches have seen no write for QUIET_SECONDS, then the heap is trimmed."""
    import gc
    import weakref

    class Page:
        pass

    cache = budget(1)
    gc.disable()
    try:
        page = Page()
        page.body, page.itself = bytes(1_000_000), page  # a cycle: only a collection frees it
        alive = weakref.ref(page)
        del page
        cache.put("busy", b"x", 100, 60)  # a busy spell
        now = time.monotonic()
        boundedcache.sweep(now)
        boundedcache.sweep(now + boundedcache.QUIET_SECONDS + 1)
        assert alive() is None
    finally:
        gc.enable()
