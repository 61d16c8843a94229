"""In-process caches bounded by bytes: the one class behind the answer cache (``responsecache``),
the plan cache (``plans``) and the count estimates (``pagination``).

Each ``BytesCache`` has a byte budget read from a setting (``PAGE_CACHE_MB``, ``PLAN_CACHE_MB``,
``COUNT_CACHE_MB``; docs/operations.md, "Memory"): an entry counts the size its owner gives it (a body's
length, a plan's SQL and parameters, from ``sys.getsizeof``: exact for ``str`` and ``bytes``,
cheap) plus its key's strings and a fixed overhead, and the least recently used entries go as
soon as the sum would pass the budget. Every entry expires: an expired one is dropped when it is
asked for, on an insert that finds the cache full, and by a janitor thread (one per process)
every ``JANITOR_SECONDS``, so a quiet process holds nothing stale.

Freed memory is given back to the system: CPython hands large bodies to glibc's ``malloc``, which
keeps freed heap pages in its arenas (one per thread, up to eight per CPU), so without help a
worker's RSS stays at its peak after the bodies are gone. After a purge or an eviction, and after
a busy second, the janitor calls glibc's ``malloc_trim(0)`` (as the Parquet writer does after each
row group), which returns the free pages of every arena; once a busy spell has been quiet for
``QUIET_SECONDS`` it first runs a full garbage collection, for the requests' cyclic garbage that
gunicorn.conf.py's thresholds leave in the oldest generation (``make bench``, "memory", measures
both).
"""

from __future__ import annotations

import ctypes
import gc
import itertools
import logging
import os
import sys
import threading
import time
import weakref
from collections import OrderedDict

from autoapi.conf import portal_setting

log = logging.getLogger(__name__)

MB = 1024 * 1024
ENTRY_OVERHEAD = 240  # an OrderedDict slot and its link, the entry tuple, the key tuple: estimated
LARGEST_SHARE = 4  # an entry larger than a quarter of the budget is not kept (it would flush the rest)
JANITOR_SECONDS = 1.0
QUIET_SECONDS = 5.0  # after a busy spell, this long without a cache write before a full collection

try:  # glibc's malloc_trim (Linux); absent elsewhere, where trimming is skipped
    _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
except (OSError, AttributeError):
    _malloc_trim = None


def release_memory() -> None:
    """Give freed heap pages back to the system (glibc only; a no-op elsewhere). Also called by
    the Parquet writer after each row group (``formats/parquet.py``)."""
    if _malloc_trim is not None:
        _malloc_trim(0)


_scopes = itertools.count()


def new_scope() -> int:
    """A number no other caller of this process gets: the first item of the keys of one owner
    (a viewset) in a shared cache, never reused, unlike ``id()``."""
    return next(_scopes)


def sizeof(value) -> int:
    """A cheap, honest size of ``value`` in bytes: exact for strings and bytes, their items for
    tuples, lists and dicts (one level of nesting more), ``sys.getsizeof`` for the rest."""
    if isinstance(value, (str, bytes, bytearray, int, float, bool)) or value is None:
        return sys.getsizeof(value)
    if isinstance(value, (tuple, list, frozenset, set)):
        return sys.getsizeof(value) + sum(sizeof(v) for v in value)
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(sizeof(k) + sizeof(v) for k, v in value.items())
    return sys.getsizeof(value)


class BytesCache:
    """A least-recently-used map whose entries expire, holding at most ``budget()`` bytes.

    Thread-safe (one lock; nothing slow runs under it). ``setting``: the name of the portal setting
    holding the budget in MiB (0 keeps nothing). ``put`` takes the value's own size: the cache
    adds its key's and a fixed overhead, and refuses an entry larger than a quarter of the budget.
    """

    def __init__(self, name: str, setting: str):
        self.name, self.setting = name, setting
        self._entries: OrderedDict[object, tuple[float, int, object]] = OrderedDict()  # key: (expires, bytes, value)
        self._bytes = 0
        self._lock = threading.Lock()
        _caches.add(self)

    # -- reading and writing ------------------------------------------------------------------

    def budget(self) -> int:
        return int(portal_setting(self.setting) * MB)

    @property
    def bytes(self) -> int:
        """The bytes the entries account for now (never above ``budget()`` after a ``put``)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self):
        """The keys, least recently used first (a copy: safe while others write)."""
        with self._lock:
            return iter(list(self._entries))

    def get(self, key, now: float | None = None):
        """The value under ``key``, or None when absent or expired (an expired entry is dropped)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= now:
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return entry[2]

    def put(self, key, value, nbytes: int, seconds: float) -> bool:
        """Keep ``value`` (``nbytes`` large) for ``seconds``; False when it is not kept (too large
        for the budget, or a budget of 0)."""
        size = nbytes + sizeof(key) + ENTRY_OVERHEAD
        budget = self.budget()
        if seconds <= 0 or size > budget // LARGEST_SHARE:
            return False
        now = time.monotonic()
        with self._lock:
            if key in self._entries:
                self._drop(key)
            if self._bytes + size > budget:
                self._purge_locked(now)  # the expired go first, then the least recently used
                while self._entries and self._bytes + size > budget:
                    self._drop(next(iter(self._entries)))
            self._entries[key] = (now + seconds, size, value)
            self._bytes += size
        _janitor.wake()
        return True

    def get_or_build(self, key, build, size, seconds: float):
        """The value under ``key``, or ``build()``'s, kept when ``size(value)`` fits."""
        value = self.get(key)
        if value is None:
            value = build()
            self.put(key, value, size(value), seconds)
        return value

    # -- dropping -----------------------------------------------------------------------------

    def purge(self, now: float | None = None) -> int:
        """Drop every expired entry; the bytes freed."""
        with self._lock:
            return self._purge_locked(time.monotonic() if now is None else now)

    def clear(self) -> None:
        with self._lock:
            freed = self._bytes
            self._entries.clear()
            self._bytes = 0
        _janitor.freed(freed)

    def _purge_locked(self, now: float) -> int:
        expired = [key for key, (expires, _size, _value) in self._entries.items() if expires <= now]
        before = self._bytes
        for key in expired:
            self._drop(key)
        return before - self._bytes

    def _drop(self, key) -> None:
        _expires, size, _value = self._entries.pop(key)
        self._bytes -= size
        _janitor.freed(size)


_caches: weakref.WeakSet[BytesCache] = weakref.WeakSet()


class _Janitor:
    """One daemon thread per process: purges every cache's expired entries, then trims the heap
    when entries were freed or caches were written since the last trim (a busy spell leaves
    freed request buffers behind too). After a busy spell, once the process has been quiet for
    ``QUIET_SECONDS``, it also runs a full garbage collection first: a request's objects that were
    still alive at a young collection (concurrent requests) end in the oldest generation, which
    gunicorn.conf.py's thresholds collect rarely, and a page's rows and body with them (measured:
    tens of MB per worker). Started by the first ``put`` of a process (after gunicorn's fork,
    never in the master); quiet processes trim once and then sleep."""

    def __init__(self):
        self._pid = None
        self._dirty = False  # freed or written since the last trim
        self._busy = False  # written since the last sweep
        self._quiet_since: float | None = None  # when the last busy sweep was
        self._lock = threading.Lock()

    def freed(self, nbytes: int) -> None:
        if nbytes:
            self._dirty = True

    def wake(self) -> None:
        self._dirty = self._busy = True
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._pid = os.getpid()
                    threading.Thread(target=self._run, name="cache-janitor", daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(JANITOR_SECONDS)
            try:
                self.sweep()
            except Exception:  # never let the janitor die: the caches would only stop shrinking
                log.exception("cache janitor failed")

    def sweep(self, now: float | None = None) -> None:
        """Purge every cache; after a busy spell gone quiet, collect garbage; trim the heap when
        anything was freed or written since the last sweep."""
        now = time.monotonic() if now is None else now
        for cache in list(_caches):
            cache.purge()
        if self._busy:
            self._busy, self._quiet_since = False, now
        elif self._quiet_since is not None and now - self._quiet_since >= QUIET_SECONDS:
            self._quiet_since = None
            gc.collect()
            self._dirty = True
        if self._dirty:
            self._dirty = False
            release_memory()


_janitor = _Janitor()


def sweep(now: float | None = None) -> None:
    """What the janitor does every ``JANITOR_SECONDS``, now (tests, benchmarks)."""
    _janitor.sweep(now)
