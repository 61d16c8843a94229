"""The living state: the current snapshot's API, checked against the catalog and swapped.

Each process holds one ``PublishedAPI``. A daemon thread checks the catalog fingerprint every
REFRESH_INTERVAL seconds and, when it changed, builds the next snapshot while requests keep using
the current one, then swaps a single reference (atomic under the GIL). A failed rebuild keeps the
old snapshot, logs why and is retried at the next tick. Requests never wait for a rebuild, except
the very first one of a process, which has nothing to serve yet.
"""
from __future__ import annotations

import logging
import os
import threading
import time

from django.db import connections

from autoapi.api import PublishedAPI
from autoapi.conf import DATABASE_ALIAS, portal_setting
from autoapi.introspect import fingerprint, read_snapshot

log = logging.getLogger(__name__)


class Registry:
    def __init__(self):
        self._current: PublishedAPI | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._watcher_pid: int | None = None
        self.last_checked: float | None = None

    def current(self) -> PublishedAPI:
        if self._current is None:
            with self._lock:
                if self._current is None:
                    self._current = PublishedAPI(self._read())
        self._ensure_watcher()
        return self._current

    def refresh_now(self) -> bool:
        """Check the fingerprint and rebuild if it moved; True when a new snapshot was swapped in."""
        with self._lock:
            with connections[DATABASE_ALIAS].cursor() as cursor:
                version = fingerprint(cursor, portal_setting("SCHEMAS"))
            self.last_checked = time.time()
            if self._current is not None and version == self._current.snapshot.version:
                return False
            snapshot = self._read()
            self._current = PublishedAPI(snapshot)
            log.info("schema snapshot %s: %d relations published", snapshot.version[:8], len(snapshot.relations))
            return True

    def poke(self):
        """Ask the watcher to check now (a query hit a relation or column that is gone)."""
        self._wake.set()

    def _read(self):
        with connections[DATABASE_ALIAS].cursor() as cursor:
            return read_snapshot(cursor, portal_setting("SCHEMAS"))

    def _ensure_watcher(self):
        # After a fork (gunicorn), the parent's thread is gone: start one per process.
        if self._watcher_pid == os.getpid():
            return
        with self._lock:
            if self._watcher_pid == os.getpid():
                return
            self._watcher_pid = os.getpid()
            threading.Thread(target=self._watch, name="portal-schema-watcher", daemon=True).start()

    def _watch(self):
        while True:
            self._wake.wait(portal_setting("REFRESH_INTERVAL"))
            self._wake.clear()
            try:
                self.refresh_now()
            except Exception:
                log.exception("schema refresh failed; still serving the previous snapshot")
                connections[DATABASE_ALIAS].close()


registry = Registry()
