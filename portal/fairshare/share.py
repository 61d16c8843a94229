"""A client's share of this process's database connections: admission before the pool is full.

Used only by ``portal.fairshare.middleware``. The pool (``portal/pgpool``) lends each process
``DB_CONNECTIONS`` connections; a request that finds none waits up to the statement timeout and
then gets a 503. Forty expensive requests from one client would take them all, and every other
client would wait behind them. So this counts, per process and per client, the requests in flight
that may hold a connection (every limited request but whole-relation downloads, which stream from
connections of their own, ``EXPORT_CONNECTIONS``), and admits one when:

- the process has room: more than a quarter of ``DB_CONNECTIONS`` (at least one) not spoken for,
  so that a lone client (a map loading its tiles) may use the whole pool when nobody else needs it;
- or the client has fewer than its share in flight: ``CLIENT_POOL_SHARE`` of the pool (0.5: 4 of
  8), at least one. A client with nothing in flight is therefore always admitted.

Otherwise the answer is a 429 at once: the heavy client is refused while a quarter of the pool is
still free for the others, instead of everyone waiting for the pool. Memory only, by definition
(the pool is per process); one lock and a dict update per request.
"""
from __future__ import annotations

import math
import threading


class PoolShare:
    def __init__(self, size: int, share: float):
        self.size = max(1, size)
        self.share = max(1, int(self.size * share)) if share > 0 else 0  # 0: admit everyone
        self.roomy = self.size - max(1, math.ceil(self.size / 4))  # in flight below this: room for all
        self._lock = threading.Lock()
        self._mine: dict[str, int] = {}
        self._total = 0

    def enter(self, identity: str) -> bool:
        """Count one request of ``identity`` in flight, or False (nothing counted) when refused."""
        if not self.share:
            return True
        with self._lock:
            mine = self._mine.get(identity, 0)
            if mine >= self.share and self._total >= self.roomy:
                return False
            self._mine[identity] = mine + 1
            self._total += 1
        return True

    def leave(self, identity: str) -> None:
        if not self.share:
            return
        with self._lock:
            mine = self._mine.get(identity, 0) - 1
            if mine > 0:
                self._mine[identity] = mine
            else:
                self._mine.pop(identity, None)
            self._total -= 1

    def in_flight(self) -> int:
        return self._total
