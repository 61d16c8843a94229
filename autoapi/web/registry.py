"""The living state: the current snapshot's API, checked against the catalog and swapped.

Each process holds one ``PublishedAPI``. A daemon thread checks the catalog fingerprint every
REFRESH_INTERVAL seconds and, when it changed, builds the next snapshot while requests keep using
the current one, then swaps a single reference (atomic under the GIL). A failed rebuild keeps the
old snapshot, logs why and is retried at the next tick. Requests never wait for a rebuild, except
the very first one of a process, which has nothing to serve yet, or checks the snapshot it
inherited from gunicorn's master (``read_before_fork``). The fingerprint is kept per relation, so
a rebuild reads again only the relations that changed (``introspect.read_changes``).
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time

import psycopg2
from django.db import InterfaceError, OperationalError, connections
from psycopg2 import sql

from autoapi.conf import DATABASE_ALIAS, portal_setting
from autoapi.freshness.dataversion import DataVersion, DataVersions
from autoapi.schema.introspect import (
    change_probe,
    changed_relations,
    read_changes,
    read_snapshot,
    relation_hashes,
    version_of,
)
from autoapi.web.api import PublishedAPI

log = logging.getLogger(__name__)


class Registry:
    def __init__(self):
        self._current: PublishedAPI | None = None
        self._probe: str | None = None  # the change probe when the current snapshot was checked
        self._hashes: dict[int, str] | None = None  # the fingerprint's parts the current snapshot was read with
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._failing = False  # the last refresh failed (logged once until it works again)
        self._watcher_pid: int | None = None
        self.last_checked: float | None = None
        self.data_versions = DataVersions()
        self._listeners: list = []  # called after each check (subscribe)
        self._pending = None  # the newest check not yet told to the listeners (_tell_later)
        self._pending_ready = threading.Event()
        self._read_pid: int | None = None  # the process whose read _current is (read_before_fork)
        self._inherit_lock = threading.Lock()
        self._began = 0.0  # when the current check began (time.monotonic(), for the log)

    def current(self) -> PublishedAPI:
        if self._current is None:
            with self._lock:
                if self._current is None:
                    self._current = _published(*self._read())
                    self._read_pid = os.getpid()
        elif self._read_pid != os.getpid():
            self._catch_up_inherited()
        self._ensure_watcher()
        return self._current

    def read_before_fork(self) -> None:
        """Read the snapshot in this process (gunicorn's master, with ``preload_app``) for its
        forked workers to inherit: at 10,000 relations one read of a few seconds at start instead
        of one per worker, all at once (issue 23). Starts no thread; the caller closes the
        connections before forking."""
        with self._lock:
            self._current = _published(*self._read())
            self._read_pid = os.getpid()
            self.last_checked = time.time()

    def _catch_up_inherited(self) -> None:
        """A worker's snapshot inherited from the master may be old (a worker replaced hours
        later): checked against the catalog once, before the worker serves it (the probe, and a
        read of what changed)."""
        with self._inherit_lock:
            if self._read_pid == os.getpid():
                return
            began = time.monotonic()
            self._ensure_watcher()  # the listeners' thread
            self.refresh_now(listeners_later=True)
            self._read_pid = os.getpid()
            log.info(
                "schema snapshot %s inherited, checked in %.2f s",
                self._current.snapshot.version[:8],
                time.monotonic() - began,
            )

    def refresh_now(self, force_fingerprint: bool = False, listeners_later: bool = False) -> bool:
        """Check the catalog and rebuild if the published part moved; True when a new snapshot
        was swapped in. The cheap change probe runs first; the full fingerprint only when the
        probe moved (or when asked). ``listeners_later``: tell the listeners from their own thread
        (the watcher's next check never waits for them: at 10,000 relations the change log's
        record after a schema change takes a second), else before returning."""
        with self._lock:
            self._began = time.monotonic()
            with connections[DATABASE_ALIAS].cursor() as cursor:
                swapped = self._check_schema(cursor, force_fingerprint)
                self._read_data_versions(cursor, self._current.snapshot)
            checked = self.last_checked
        if listeners_later:
            self._tell_later(self._current.snapshot, checked)
        else:
            self._tell_listeners(self._current.snapshot, checked)
        return swapped

    def _tell_later(self, snapshot, checked) -> None:
        """Hand the check to the listeners' thread; a check it has not begun yet is replaced by
        this newer one (the listeners compare with what they last saw, so none is lost)."""
        if not self._listeners:
            return
        self._pending = (snapshot, checked)
        self._pending_ready.set()

    def _tell_loop(self):
        while not self._stopped.is_set():
            self._pending_ready.wait(1.0)
            if not self._pending_ready.is_set():
                continue
            self._pending_ready.clear()
            pending, self._pending = self._pending, None
            if pending is not None:
                try:
                    self._tell_listeners(*pending)
                finally:
                    connections[DATABASE_ALIAS].close()  # back to the pool (a listener may query)

    def subscribe(self, listener) -> None:
        """Call ``listener(snapshot, data_versions, checked_at)`` after each check of this process
        (the watcher's thread, outside the lock): the snapshot then current, ``DataVersions`` and
        when the check began. A failing listener is logged, never stops the checks."""
        if listener not in self._listeners:
            self._listeners.append(listener)

    def _tell_listeners(self, snapshot, checked) -> None:
        for listener in list(self._listeners):
            try:
                listener(snapshot, self.data_versions, checked)
            except Exception:
                log.warning("a snapshot listener failed", exc_info=True)

    def _read_data_versions(self, cursor, snapshot) -> None:
        """With the probe, on the same connection: the data version of every relation. A failure
        leaves the last versions (or none: unknown) and never the schema's refresh."""
        try:
            self.data_versions.refresh(cursor, snapshot)
        except Exception:
            log.warning("reading the data versions failed; the last ones stay", exc_info=True)

    def _check_schema(self, cursor, force_fingerprint: bool) -> bool:
        connected = time.monotonic()
        probe = change_probe(cursor)
        self.last_checked = time.time()
        if probe == self._probe and not force_fingerprint and self._current is not None:
            return False
        schemas = portal_setting("SCHEMAS")
        hashes = relation_hashes(cursor, schemas)
        version = version_of(hashes)
        if self._current is not None and version == self._current.snapshot.version:
            self._probe, self._hashes = probe, hashes
            return False
        started = time.monotonic()
        waited = f"connection {connected - self._began:.2f} s, probe and fingerprint {started - connected:.2f} s; "
        snapshot, how = None, "read whole"
        if self._current is not None and self._hashes is not None:
            changed = changed_relations(self._current.snapshot, self._hashes, hashes)
            if changed is not None:
                snapshot = read_changes(cursor, schemas, self._current.snapshot, changed, version)
                how = f"{len(changed)} changed relation(s) read again"
        if snapshot is None:
            snapshot = read_snapshot(cursor, schemas, version)
        # The probe is kept only now: a read that failed is tried again at the next check.
        self._current, self._hashes, self._probe = (
            _published(snapshot, f"{waited}{how} in {time.monotonic() - started:.2f} s"),
            hashes,
            probe,
        )
        return True

    def data_version(self, relation) -> DataVersion:
        """The relation's data version as the last check read it (``dataversion.py``)."""
        return self.data_versions.get(relation)

    def rebuild(self) -> PublishedAPI:
        """Read a new snapshot and swap it in, whether or not the fingerprint moved."""
        with self._lock:
            self._current = _published(*self._read())
            self._read_pid = os.getpid()
            self.last_checked = time.time()
            return self._current

    def install(self, published: PublishedAPI) -> None:
        """Serve ``published`` as this process's own read, with no watcher thread: for a probe or
        benchmark that builds a synthetic snapshot and has no database (bench/standards_probe.py)."""
        with self._lock:
            self._current = published
            self._read_pid = self._watcher_pid = os.getpid()
            self.last_checked = time.time()

    def poke(self):
        """Ask the watcher to check now (a query hit a relation or column that is gone)."""
        self._wake.set()

    def catch_up_after_race(self) -> bool:
        """A request raced a DDL change: refresh now, so that it can run once more on the new
        snapshot (True). False when the catalog itself is mid-change: the watcher retries soon."""
        try:
            self.refresh_now()
            return True
        except Exception:
            log.warning("refresh after a schema race failed", exc_info=True)
            self.poke()
            return False

    def _read(self):
        with connections[DATABASE_ALIAS].cursor() as cursor:
            began = time.monotonic()
            self._probe = change_probe(cursor)  # taken first: a change during the read shows next time
            hashes = relation_hashes(cursor, portal_setting("SCHEMAS"))
            fingerprinted = time.monotonic()
            snapshot = read_snapshot(cursor, portal_setting("SCHEMAS"), version_of(hashes))
            self._hashes = hashes
            read = time.monotonic()
            self._read_data_versions(cursor, snapshot)  # known from a process's first request
            done = time.monotonic()
            return snapshot, (
                f"read whole in {done - began:.2f} s: probe and fingerprint {fingerprinted - began:.2f} s, "
                f"records {read - fingerprinted:.2f} s, data versions {done - read:.2f} s"
            )

    def _ensure_watcher(self):
        # After a fork (gunicorn), the parent's thread is gone: start one per process.
        if self._watcher_pid == os.getpid():
            return
        with self._lock:
            if self._watcher_pid == os.getpid():
                return
            self._watcher_pid = os.getpid()
            threading.Thread(target=self._watch, name="portal-schema-watcher", daemon=True).start()
            threading.Thread(target=self._tell_loop, name="portal-schema-listeners", daemon=True).start()
            if portal_setting("NOTIFY_CHANNEL"):
                threading.Thread(target=self._listen, name="portal-schema-listener", daemon=True).start()

    def stop(self):
        """Stop checking for schema changes (tests call it before database access ends)."""
        self._stopped.set()
        self._wake.set()

    def _watch(self):
        while not self._stopped.is_set():
            self._wake.wait(portal_setting("REFRESH_INTERVAL"))
            self._wake.clear()
            if self._stopped.is_set():
                return
            try:
                self.refresh_now(listeners_later=True)
                if self._failing:
                    log.info("schema refresh works again")
                    self._failing = False
            except (OperationalError, InterfaceError, psycopg2.OperationalError) as exc:
                # The database is down or unreachable: say so once, not every interval.
                if not self._failing:
                    log.warning(
                        "schema refresh failed, database unreachable (%s); still serving the "
                        "previous snapshot and retrying",
                        str(exc).strip().splitlines()[0] if str(exc) else exc,
                    )
                self._failing = True
            except Exception:
                log.exception("schema refresh failed; still serving the previous snapshot")
                self._failing = True
            finally:
                # Back to the process's pool (portal/pgpool) between two checks: the watcher
                # borrows a connection for a few milliseconds, it does not keep one.
                connections[DATABASE_ALIAS].close()

    def _listen(self):
        """The optional instant path: wake the watcher on ``NOTIFY <channel>`` (an event trigger
        an admin may install, see docs/downloads.md). The fingerprint stays the source of truth, so a lost
        notification only costs the polling delay."""
        channel = portal_setting("NOTIFY_CHANNEL")
        while not self._stopped.is_set():
            conn = None
            try:
                conn = psycopg2.connect(**connections[DATABASE_ALIAS].get_connection_params())
                conn.autocommit = True
                with conn.cursor() as cursor:
                    cursor.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                while True:
                    if select.select([conn], [], [], 60)[0]:
                        conn.poll()
                        if conn.notifies:
                            conn.notifies.clear()
                            self._wake.set()
                    else:
                        conn.poll()  # notices a dead connection
            except Exception:
                log.warning("schema change listener on %r lost its connection; retrying", channel)
                time.sleep(5)
            finally:
                if conn is not None:
                    conn.close()


def _published(snapshot, how: str = "") -> PublishedAPI:
    """The snapshot's API, saying once per snapshot what it publishes and what it left out (and
    how it was read: whole, or only the changed relations, and in how long)."""
    log.info("schema snapshot %s: %d relations published (%s)", snapshot.version[:8], len(snapshot.relations), how)
    for skipped in snapshot.skipped:
        if skipped.why != "it belongs to an extension":  # by design, not a problem
            log.warning("schema snapshot %s left out %s: %s", snapshot.version[:8], skipped.what, skipped.why)
    return PublishedAPI(snapshot)


registry = Registry()
