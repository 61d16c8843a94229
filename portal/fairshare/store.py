"""The counters behind the limits: requests per fixed time window, and leases (requests in flight,
running downloads).

Used only by ``portal.fairshare``. Two stores with the same operations:

- ``MemoryStore``: this process's memory. Each gunicorn worker counts on its own, so with N
  workers a client may get up to N times a limit; right for one process, or when no Redis exists.
  At most ``MEMORY_MAX_KEYS`` windows are kept: past that, the expired ones go, then the least
  recently counted (LRU), one at a time, so a flood of new identities never resets anyone else's count.
- ``RedisStore``: one Redis shared by every process and host (``REDIS_URL``). A window is one
  key (``INCR`` + ``EXPIRE``); a client's leases are a sorted set scored by their expiry, so a
  lease that is never released (a worker killed mid-download) vanishes by itself instead of
  holding a slot for ever. ``admit`` counts a request and takes its in-flight lease in ONE round
  trip (a Lua script); releasing the lease is a second (``ZREM``) when the response is closed.

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
from collections import OrderedDict

log = logging.getLogger(__name__)

PREFIX = "pg-portal:"
REDIS_RETRY_SECONDS = 5.0  # how long Redis is left out after an error (one slow probe per interval)
REDIS_TIMEOUT_SECONDS = 0.5  # a hung Redis may delay a request by this much, once per interval
MEMORY_MAX_KEYS = 100_000  # clients counted in memory at most (a few MB); then the oldest go

# Atomic: expired leases are dropped, the rest counted, and the new one added only below the limit.
ACQUIRE_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

# Atomic: one request counted in its window (KEYS[1]) and, when the window's count is within the
# rate limit (ARGV[1], 0: none), an in-flight lease taken on KEYS[2] below its limit (ARGV[3], 0:
# none). Returns {count, taken}: taken is 0 when the client has its limit of requests in flight.
ADMIT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
local limit = tonumber(ARGV[1])
if limit > 0 and count > limit then return {count, 1} end
if tonumber(ARGV[3]) == 0 then return {count, 1} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {count, 0} end
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[7])
return {count, 1}
"""


class MemoryStore:
    """Windows and leases in this process, behind one lock."""

    errors: tuple = ()

    def __init__(self, max_keys: int = MEMORY_MAX_KEYS):
        self._lock = threading.Lock()
        self.max_keys = max_keys
        # key -> (window index, count), least recently counted first (an LRU).
        self._windows: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._leases: dict[str, dict[str, float]] = {}

    def hit(self, key: str, window: int, now: float) -> int:
        """Count one request of ``key`` in the current window; return the window's count."""
        index = int(now // window)
        with self._lock:
            seen, count = self._windows.pop(key, (index, 0))
            count = count + 1 if seen == index else 1
            self._windows[key] = (index, count)  # now the most recent
            if len(self._windows) > self.max_keys:
                # The least recently counted goes. Entries of past windows (which count nothing any
                # more) come first in that order, so a live count goes only when all are of this
                # window, and then the one idle longest: never everyone's, as a flood of fresh
                # identities (an IPv6 /48) would otherwise achieve.
                self._windows.popitem(last=False)
        return count

    def peek(self, key: str, window: int, now: float) -> int:
        """The current window's count of ``key``, without counting."""
        with self._lock:
            seen, count = self._windows.get(key, (None, 0))
        return count if seen == int(now // window) else 0

    def admit(
        self, key: str, window: int, rate_limit: int, flight_limit: int, lease: str, expires: float, now: float
    ) -> tuple[int, bool]:
        """``hit`` then, within the rate limit, ``acquire`` on the in-flight leases of ``key``."""
        count = self.hit(key, window, now)
        if (rate_limit and count > rate_limit) or not flight_limit:
            return count, True
        return count, self.acquire(f"flight:{key}", flight_limit, lease, expires, now)

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
        self._admit = self.client.register_script(ADMIT_SCRIPT)

    def hit(self, key: str, window: int, now: float) -> int:
        name = f"{PREFIX}rate:{key}:{int(now // window)}"
        pipe = self.client.pipeline(transaction=True)
        pipe.incr(name)
        pipe.expire(name, window + 1)
        return int(pipe.execute()[0])

    def peek(self, key: str, window: int, now: float) -> int:
        return int(self.client.get(f"{PREFIX}rate:{key}:{int(now // window)}") or 0)

    def acquire(self, key: str, limit: int, lease: str, expires: float, now: float) -> bool:
        ttl = max(1, math.ceil(expires - now) + 1)
        return bool(self._acquire(keys=[f"{PREFIX}downloads:{key}"], args=[now, limit, expires, lease, ttl]))

    def admit(
        self, key: str, window: int, rate_limit: int, flight_limit: int, lease: str, expires: float, now: float
    ) -> tuple[int, bool]:
        ttl = max(1, math.ceil(expires - now) + 1)
        count, taken = self._admit(
            keys=[f"{PREFIX}rate:{key}:{int(now // window)}", f"{PREFIX}downloads:flight:{key}"],
            args=[rate_limit, window + 1, flight_limit, now, expires, lease, ttl],
        )
        return int(count), bool(taken)

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

    def peek(self, key: str, window: int) -> tuple[int, float]:
        """The window's count so far (nothing counted), and the seconds until it resets."""
        _, count = self._run("peek", key, window)
        return count, window - (time.time() % window)

    def acquire(self, key: str, limit: int, hold_seconds: float) -> Lease | None:
        """A lease on one of ``limit`` slots of ``key``, held at most ``hold_seconds``; None when full."""
        lease = uuid.uuid4().hex
        store, taken = self._run("acquire", key, limit, lease, time.time() + hold_seconds)
        return Lease(store, key, lease) if taken else None

    def admit(
        self, key: str, window: int, rate_limit: int, flight_limit: int, hold_seconds: float
    ) -> tuple[int, float, Lease | None, bool]:
        """Count a request (as ``hit``) and, within ``rate_limit``, take one of ``flight_limit``
        in-flight leases of ``key`` (0: none taken). Returns the window's count, the seconds until
        it resets, the lease (None when none was taken) and whether the in-flight limit let it in."""
        lease = uuid.uuid4().hex
        store, (count, taken) = self._run(
            "admit", key, window, rate_limit, flight_limit, lease, time.time() + hold_seconds
        )
        held = (
            Lease(store, f"flight:{key}", lease)
            if taken and flight_limit and not (rate_limit and count > rate_limit)
            else None
        )
        return count, window - (time.time() % window), held, taken
