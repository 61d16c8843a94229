"""The counters behind the limits: requests per fixed time window, and download leases.

Used only by ``portal.fairshare.middleware``. Two stores with the same three operations:

- ``MemoryStore``: this process's memory. Each gunicorn worker counts on its own, so with N
  workers a client may get up to N times a limit; right for one process, or when no Redis exists.
- ``RedisStore``: one Redis shared by every process and host (``REDIS_URL``). A window is one
  key (``INCR`` + ``EXPIRE``); a client's running downloads are a sorted set of leases scored by
  their expiry, so a lease that is never released (a worker killed mid-download) vanishes by
  itself instead of holding a slot for ever.

``Counters`` picks one per call: Redis when configured and reachable; otherwise (or for
``REDIS_RETRY_SECONDS`` after a Redis error) memory. A Redis outage is logged once and then the
limits are per process until it is back: serving on is better than failing every request over a
counter.
"""
from __future__ import annotations

import logging
import math
import threading
import time
import uuid

log = logging.getLogger(__name__)

PREFIX = "pg-portal:"
REDIS_RETRY_SECONDS = 5.0  # how long Redis is left out after an error (one slow probe per interval)
REDIS_TIMEOUT_SECONDS = 0.5  # a hung Redis may delay a request by this much, once per interval
MEMORY_MAX_KEYS = 100_000  # clients counted in memory at most (a few MB)

# Atomic: expired leases are dropped, the rest counted, and the new one added only below the limit.
ACQUIRE_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


class MemoryStore:
    """Windows and leases in this process, behind one lock."""

    errors: tuple = ()

    def __init__(self):
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, int]] = {}
        self._leases: dict[str, dict[str, float]] = {}

    def hit(self, key: str, window: int, now: float) -> int:
        """Count one request of ``key`` in the current window; return the window's count."""
        index = int(now // window)
        with self._lock:
            if len(self._windows) >= MEMORY_MAX_KEYS:
                self._windows = {k: v for k, v in self._windows.items() if v[0] == index}
                if len(self._windows) >= MEMORY_MAX_KEYS:  # that many clients in one window: forget
                    self._windows = {}  # them (lenient for a moment) rather than grow without bound
            seen, count = self._windows.get(key, (index, 0))
            count = count + 1 if seen == index else 1
            self._windows[key] = (index, count)
        return count

    def acquire(self, key: str, limit: int, lease: str, expires: float, now: float) -> bool:
        with self._lock:
            leases = {k: v for k, v in self._leases.get(key, {}).items() if v > now}
            taken = len(leases) < limit
            if taken:
                leases[lease] = expires
            if leases:
                self._leases[key] = leases
            else:
                self._leases.pop(key, None)
        return taken

    def release(self, key: str, lease: str) -> None:
        with self._lock:
            leases = self._leases.get(key)
            if leases is not None:
                leases.pop(lease, None)
                if not leases:
                    del self._leases[key]


class RedisStore:
    """The same operations in Redis (redis-py), shared by every process that names this URL."""

    def __init__(self, url: str):
        import redis

        self.errors = (redis.RedisError, OSError)
        self.client = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
        )
        self._acquire = self.client.register_script(ACQUIRE_SCRIPT)

    def hit(self, key: str, window: int, now: float) -> int:
        name = f"{PREFIX}rate:{key}:{int(now // window)}"
        pipe = self.client.pipeline(transaction=True)
        pipe.incr(name)
        pipe.expire(name, window + 1)
        return int(pipe.execute()[0])

    def acquire(self, key: str, limit: int, lease: str, expires: float, now: float) -> bool:
        ttl = max(1, math.ceil(expires - now) + 1)
        return bool(self._acquire(keys=[f"{PREFIX}downloads:{key}"], args=[now, limit, expires, lease, ttl]))

    def release(self, key: str, lease: str) -> None:
        self.client.zrem(f"{PREFIX}downloads:{key}", lease)


class Lease:
    """One download slot; ``release()`` may be called any number of times (only the first counts)."""

    def __init__(self, store, key: str, lease: str):
        self.store, self.key, self.lease = store, key, lease
        self.released = False

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        try:
            self.store.release(self.key, self.lease)
        except self.store.errors:  # Redis is down: the lease's expiry frees the slot
            log.debug("could not release a download lease", exc_info=True)


class Counters:
    """Redis when configured and reachable, this process's memory otherwise (see module docstring)."""

    def __init__(self, redis_url: str = ""):
        self.memory = MemoryStore()
        self.redis = RedisStore(redis_url) if redis_url else None
        self._down_until = 0.0
        self._outage = False

    def _stores(self, now: float) -> list:
        if self.redis is not None and now >= self._down_until:
            return [self.redis, self.memory]
        return [self.memory]

    def _run(self, operation: str, *args):
        now = time.time()
        for store in self._stores(now):
            try:
                result = getattr(store, operation)(*args, now)
            except store.errors as exc:
                self._down_until = now + REDIS_RETRY_SECONDS
                if not self._outage:
                    self._outage = True
                    log.warning("Redis is unavailable, limits are per process until it is back: %s", exc)
                continue
            if store is self.redis and self._outage:
                self._outage = False
                log.warning("Redis is back: limits are shared again")
            return store, result
        raise AssertionError("the memory store cannot fail")

    def hit(self, key: str, window: int) -> tuple[int, float]:
        """Count a request; return the window's count and the seconds until it resets."""
        _, count = self._run("hit", key, window)
        return count, window - (time.time() % window)

    def acquire(self, key: str, limit: int, hold_seconds: float) -> Lease | None:
        """A lease on one of ``limit`` slots of ``key``, held at most ``hold_seconds``; None when full."""
        lease = uuid.uuid4().hex
        store, taken = self._run("acquire", key, limit, lease, time.time() + hold_seconds)
        return Lease(store, key, lease) if taken else None
