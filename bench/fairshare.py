"""`make bench`'s "fairshare" section: one client's expensive requests must not starve another's.

One address (127.0.0.2) sends 40 expensive requests at once, a many-word ``?search=`` over
bench.points (2,000,000 rows: every word must appear, so each row is tried against several
ILIKEs and the page and its count scan the whole table), and sends each again as soon as it is
answered (after 0.1 s when refused, ignoring Retry-After, as a hostile client would). Meanwhile
another address (127.0.0.3) reads a small page every 0.2 s. Both for 15 s (5 s with --quick).
The server is the one `make serve` runs, with its defaults (2 workers, 8 pooled connections each,
CLIENT_REQUESTS=8, CLIENT_POOL_SHARE=0.25, a 5 s statement timeout, no Redis), except the request
rate limit, which is off so that the figures show the admission by cost, not the rate.

Rows: the small client's p95 and 5xx count (target: p95 under 1 s, no 5xx), what the heavy
client got, and the same run without admission (CLIENT_REQUESTS=0, CLIENT_POOL_SHARE=0), as
the portal behaved before it existed.

The clients are told apart by their loopback source addresses (the server listens on 127.0.0.1
and trusts no proxy), so REMOTE_ADDR is each client's own.
"""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from collections import Counter

from bench.server import Portal

HEAVY_ADDRESS, LIGHT_ADDRESS = "127.0.0.2", "127.0.0.3"
HEAVY_CLIENTS = 40
EXPENSIVE = "/api/bench/points/?search=point+1+2+3+4+5+zzz"
SMALL = "/api/bench/points/?limit=10"
LIGHT_INTERVAL = 0.2
REFUSED_PAUSE = 0.1


def _get(port: int, path: str, source: str, timeout: float = 30) -> tuple[int, float]:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    except (OSError, http.client.HTTPException):
        return 0, time.monotonic() - started  # no answer at all: counted apart
    finally:
        conn.close()


def _heavy(port: int, until: float, statuses: Counter, lock: threading.Lock) -> None:
    while time.monotonic() < until:
        status, _ = _get(port, EXPENSIVE, HEAVY_ADDRESS)
        with lock:
            statuses[status] += 1
        if status == 429:
            time.sleep(REFUSED_PAUSE)


def run_scenario(port: int, seconds: float) -> tuple[list[tuple[int, float]], Counter]:
    """The light client's (status, seconds) answers, and the heavy client's status counts."""
    until = time.monotonic() + seconds
    statuses, lock = Counter(), threading.Lock()
    heavy = [
        threading.Thread(target=_heavy, args=(port, until, statuses, lock), daemon=True) for _ in range(HEAVY_CLIENTS)
    ]
    for thread in heavy:
        thread.start()
    time.sleep(0.5)  # the flood is in
    light = []
    while time.monotonic() < until:
        light.append(_get(port, SMALL, LIGHT_ADDRESS))
        time.sleep(LIGHT_INTERVAL)
    for thread in heavy:
        thread.join(timeout=60)
    return light, statuses


def p95(values: list[float]) -> float:
    return (
        statistics.quantiles(values, n=20, method="inclusive")[-1]
        if len(values) >= 2
        else (values[0] if values else 0.0)
    )


def section_fairshare(ctx) -> None:
    from bench.run import log, ms

    seconds = 5 if ctx.args.quick else 15
    configs = (
        ("with admission (defaults)", {}),
        (
            "without admission (CLIENT_REQUESTS=0, CLIENT_POOL_SHARE=0), as before",
            {"PORTAL_CLIENT_REQUESTS": "0", "PORTAL_CLIENT_POOL_SHARE": "0"},
        ),
    )
    for label, extra in configs:
        env = {"PORTAL_CLIENT_REQUESTS": "8", "PORTAL_CLIENT_POOL_SHARE": "0.25", **extra}
        portal = Portal(ctx.main_url, workers=2, threads=48, log_dir=ctx.tmp, name="fairshare", env=env)
        log(f"fairshare: gunicorn {portal.describe()}, {label}")
        portal.start()
        try:
            portal.warm([SMALL])
            light, heavy = run_scenario(portal.port, seconds)
        finally:
            portal.stop()
        times = [t for _, t in light]
        errors = sum(1 for status, _ in light if status >= 500 or status == 0)
        other = Counter(status for status, _ in light if status != 200)
        figure = f"p95 {ms(p95(times))}, max {ms(max(times))}, {len(light)} pages, {errors} 5xx or unanswered" + (
            f" ({dict(other)})" if other else ""
        )
        work = (
            f"fair share, {label}: another address's small pages every {LIGHT_INTERVAL} s while one "
            f"address sends {HEAVY_CLIENTS} expensive ?search= at once over bench.points, {seconds} s"
        )
        if extra:
            ctx.add(work, figure)
        else:
            ctx.add(work, figure, target="p95 < 1 s, no 5xx", ok=p95(times) < 1.0 and errors == 0)
        ctx.add(
            f"  the heavy address's answers ({label})",
            ", ".join(f"{n} x {status or 'unanswered'}" for status, n in sorted(heavy.items())),
        )
