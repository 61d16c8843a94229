"""A client's share of this process's database connections: admission by cost, before the pool is full.

Used only by ``portal.fairshare.middleware``. The pool (``portal/pgpool``) lends each process
``DB_CONNECTIONS`` connections; a request that finds none waits up to the statement timeout and
then gets a 503. Forty expensive requests from one client would take them all, and every other
client would wait behind them. So this counts, per process and per client, the requests in flight
that may hold a connection (every limited request but whole-relation downloads, which stream from
connections of their own, ``EXPORT_CONNECTIONS``), and refuses a client that already has its
share in flight, ``CLIENT_POOL_SHARE`` of the pool (0.25: 2 of 8, at least one), when either

- its requests are expensive: one of them has been running for ``SLOW_SECONDS`` or more. A client
  whose statements run for seconds holds at most its share, whether or not others are waiting:
  the connections are not the only thing it takes, its statements also take PostgreSQL's CPUs
  from everyone's pages;
- or the pool is nearly full: fewer than a quarter of ``DB_CONNECTIONS`` (at least one) are not
  spoken for. Then nobody gets more than its share.

So a client with nothing in flight is always admitted, a burst of cheap requests (a map loading
its tiles, a script's parallel pages) may use most of the pool while it has room, and a heavy
client is answered 429 at once, while a quarter of the pool is still free for the others.
Memory only, by definition (the pool is per process); one lock and a few dict operations per
request.
"""

from __future__ import annotations

import itertools
import math
import threading
import time

SLOW_SECONDS = 1.0  # a request in flight this long makes its client "expensive"


class PoolShare:
    def __init__(self, size: int, share: float):
        self.size = max(1, size)
        self.share = max(1, int(self.size * share)) if share > 0 else 0  # 0: admit everyone
        self.roomy = self.size - max(1, math.ceil(self.size / 4))  # in flight below this: room for all
        self._lock = threading.Lock()
        self._mine: dict[str, dict[int, float]] = {}  # client -> {ticket: started (monotonic)}
        self._tickets = itertools.count(1)
        self._total = 0

    def enter(self, identity: str) -> int | None:
        """A ticket for one request of ``identity`` in flight (give it to ``leave``), or None when
        refused (nothing counted). 0 when no share is kept."""
        if not self.share:
            return 0
        now = time.monotonic()
        with self._lock:
            mine = self._mine.get(identity)
            if (
                mine
                and len(mine) >= self.share
                and (self._total >= self.roomy or min(mine.values()) <= now - SLOW_SECONDS)
            ):
                return None
            ticket = next(self._tickets)
            self._mine.setdefault(identity, {})[ticket] = now
            self._total += 1
        return ticket

    def leave(self, identity: str, ticket: int) -> None:
        if not ticket:
            return
        with self._lock:
            mine = self._mine.get(identity, {})
            if mine.pop(ticket, None) is not None:
                self._total -= 1
            if not mine:
                self._mine.pop(identity, None)

    def in_flight(self) -> int:
        return self._total
