"""The load test's printout (tests/loadtest.py): wrk's figures, the slow readers' outcomes, every
worker's RSS, and one table of the targets of issue 14 with PASS/FAIL; True when all pass."""

from __future__ import annotations

import os

from autoapi.conf import DEFAULTS
from tests.loadtest_clients import DESIGNED


def connection_bound(workers: int) -> int:
    """docs/operations.md, "Slow clients": workers x (DB_CONNECTIONS + EXPORT_CONNECTIONS + 1 LISTEN)."""
    db = int(os.environ.get("PORTAL_DB_CONNECTIONS") or DEFAULTS["DB_CONNECTIONS"])
    exports = int(os.environ.get("PORTAL_EXPORT_CONNECTIONS") or DEFAULTS["EXPORT_CONNECTIONS"])
    return workers * (db + exports + 1)


def rss_lines(figures: dict, max_growth: float) -> bool:
    growth_ok = True
    rss_start, rss_end = figures["rss_start"], figures["rss_end"]
    for pid in sorted(set(rss_start) | set(rss_end)):
        before, after = rss_start.get(pid), rss_end.get(pid)
        if before is None or after is None:
            print(f"worker {pid}   {'gone' if after is None else 'new'} (a worker was replaced during the run)")
            growth_ok = False
            continue
        growth = (after - before) / before * 100
        growth_ok &= growth <= max_growth
        print(f"worker {pid}  RSS {before / 1024:.1f} MiB -> {after / 1024:.1f} MiB ({growth:+.1f} %)")
    return growth_ok


def report(args, paths: list[str], downloads: list[str], figures: dict) -> bool:
    result, readers, prober, sampler = figures["wrk"], figures["readers"], figures["prober"], figures["sampler"]
    seconds = result["duration_us"] / 1e6
    wrk_errors = sum(result[k] for k in ("connect", "read", "write", "timeout")) + result["status"] - result["designed"]
    print(
        f"pg-portal load test: {len(paths)} URLs (list, detail, CSV, catalog), {args.connections} connections, "
        f"{args.threads} wrk threads, {args.duration} s (ran {figures['elapsed']:.1f} s)"
    )
    for path in paths:
        print(f"  {path}")
    print(
        f"requests      {result['requests']}  ({result['requests'] / seconds:.1f} req/s, "
        f"{result['bytes'] / seconds / 1e6:.1f} MB/s)"
    )
    print(
        f"latency       p50 {result['p50_ms']:.1f} ms, p90 {result['p90_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
        f"max {result['max_ms']:.1f} ms"
    )
    print(
        f"errors        {wrk_errors} (connect {result['connect']}, read {result['read']}, write {result['write']}, "
        f"status>=400 {result['status'] - result['designed']}, timeout {result['timeout']}); "
        f"designed 429/503: {result['designed']}"
    )
    stats = readers.stats
    print(
        f"slow readers  {args.readers} from as many loopback addresses at {args.reader_rate / 1000:g} KB/s: "
        f"{', '.join(downloads)}"
    )
    print(
        f"              {figures['downloading']} downloading when wrk started; {stats['requests']} requests, "
        f"{stats['status 200']} x 200, {sum(stats[f'status {s}'] for s in DESIGNED)} x designed 429/503, "
        f"{stats['complete']} complete, {readers.errors()} errors {dict(_errors_of(stats))}, "
        f"{stats['bytes'] / 1e6:.1f} MB read"
    )
    growth_ok = rss_lines(figures, args.max_growth)
    workers = len(figures["rss_start"])
    return targets(args, result, wrk_errors, readers, prober, sampler, workers, growth_ok)


def _errors_of(stats):
    return ((k, n) for k, n in stats.items() if k.startswith("error ") or k == "closed early")


def targets(args, result, wrk_errors, readers, prober, sampler, workers, growth_ok) -> bool:
    bound = connection_bound(workers)
    sessions = sampler.maximum if sampler.error is None else -1
    rows = [
        (
            "pages: errors other than 429/503",
            f"{wrk_errors + readers.errors()}",
            "0",
            wrk_errors + readers.errors() == 0,
        ),
        (
            "pages: p99",
            f"{result['p99_ms']:.1f} ms ({result['requests']} served)",
            f"< {args.page_p99_ms:g} ms",
            result["requests"] > 0 and result["p99_ms"] < args.page_p99_ms,
        ),
        (
            "/healthz: p99 (new connection)",
            f"{prober.percentile(99):.1f} ms (p50 {prober.percentile(50):.0f})",
            f"< {args.healthz_p99_ms:g} ms",
            prober.percentile(99) < args.healthz_p99_ms and not prober.failures,
        ),
        (
            "/healthz: failures",
            f"{sum(prober.failures.values())} {dict(prober.failures) or ''}",
            "0",
            not prober.failures,
        ),
        ("worker RSS", "flat" if growth_ok else "grew", f"<= +{args.max_growth:g} %", growth_ok),
        (
            "PostgreSQL sessions (max seen)",
            f"{sessions}" + (f" ({sampler.error})" if sampler.error else ""),
            f"<= {bound} = {workers} x (db+exports+1)",
            0 <= sessions <= bound,
        ),
    ]
    print(f"{'target':<34} {'measured':<22} {'goal':<26} result")
    for name, measured, goal, passed in rows:
        print(f"{name:<34} {measured:<22} {goal:<26} {'PASS' if passed else 'FAIL'}")
    ok = all(passed for *_, passed in rows)
    print("result        " + ("OK: zero errors, flat memory, every target met" if ok else "FAILED: see the table"))
    return ok
