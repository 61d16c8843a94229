"""A small blocking pool of psycopg2 connections, one per database alias and process.

psycopg2 ships no blocking pool (``psycopg2.pool`` raises when empty) and Django pools only
psycopg 3, so this is the few lines the portal needs: at most ``size`` connections exist; a
borrower waits up to ``timeout`` seconds for one (then ``OperationalError``: a 503 with
Retry-After, like an unreachable database); an idle connection is kept ``max_age`` seconds and
checked with ``SELECT 1`` when lent again after ``CHECK_AFTER`` seconds idle (what Django's
``CONN_HEALTH_CHECKS`` did per request), so a restarted server costs no failed request.
"""

from __future__ import annotations

import os
import threading
import time

import psycopg2
from psycopg2 import extensions

from autoapi.db import disconnect
from autoapi.db.base import PoolBusy

CHECK_AFTER = 1.0  # seconds idle after which a connection is checked before it is lent again


class Pool:
    def __init__(self, size: int, max_age: float, timeout: float):
        self.size, self.max_age, self.timeout = size, max_age, timeout
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[tuple[object, float, float]] = []  # (connection, opened at, idle since)
        self._opened: dict[int, float] = {}  # id(connection) -> opened at, for lent ones

    def getconn(self, connect):
        """A connection: an idle one if it is fresh and alive, else ``connect()``'s."""
        if not self._slots.acquire(timeout=self.timeout):
            raise PoolBusy(f"all {self.size} database connections of this process are busy (PORTAL_DB_CONNECTIONS)")
        try:
            conn, opened = self._reuse()
            if conn is None:
                conn, opened = connect(), time.monotonic()
        except BaseException:
            self._slots.release()
            raise
        with self._lock:
            self._opened[id(conn)] = opened
        disconnect.lend(conn)  # cancelled if this thread's client goes away (autoapi/db/disconnect.py)
        return conn

    def _reuse(self):
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._idle:
                    return None, None
                conn, opened, since = self._idle.pop()  # the most recently used: warm caches
            if conn.closed or now - opened > self.max_age or (now - since > CHECK_AFTER and not _alive(conn)):
                _close_quietly(conn)
                continue
            return conn, opened

    def putconn(self, conn):
        """Take a connection back: kept when it is idle and healthy, closed otherwise."""
        disconnect.give_back(conn)
        with self._lock:
            opened = self._opened.pop(id(conn), 0.0)
        try:
            usable = not conn.closed and _reset(conn) and time.monotonic() - opened <= self.max_age
            if usable:
                with self._lock:
                    self._idle.append((conn, opened, time.monotonic()))
            else:
                _close_quietly(conn)
        finally:
            self._slots.release()

    def close_idle(self):
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _, _ in idle:
            _close_quietly(conn)


def _reset(conn) -> bool:
    """Back to an idle, autocommit session, or False when that is not possible."""
    status = conn.info.transaction_status
    if status == extensions.TRANSACTION_STATUS_IDLE:
        return True
    if status in (extensions.TRANSACTION_STATUS_INTRANS, extensions.TRANSACTION_STATUS_INERROR):
        try:
            conn.rollback()
            return conn.info.transaction_status == extensions.TRANSACTION_STATUS_IDLE
        except psycopg2.Error:
            return False
    return False  # active (a query still running) or unknown (connection lost)


def _alive(conn) -> bool:
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
        return _reset(conn)
    except psycopg2.Error:
        return False


def _close_quietly(conn):
    try:
        conn.close()
    except psycopg2.Error:
        pass


_pools: dict[tuple[int, str], Pool] = {}
_pools_lock = threading.Lock()


def close_idle_connections() -> None:
    """Close every idle connection of this process's pools (gunicorn's master, before it forks
    the workers: a connection must never be shared by two processes)."""
    with _pools_lock:
        pools = [pool for (pid, _alias), pool in _pools.items() if pid == os.getpid()]
    for pool in pools:
        pool.close_idle()


def pool_for(alias: str, size: int, max_age: float, timeout: float) -> Pool:
    """The process's pool for ``alias`` (keyed by pid too: a forked child never shares its parent's)."""
    key = (os.getpid(), alias)
    pool = _pools.get(key)
    if pool is None:
        with _pools_lock:
            pool = _pools.setdefault(key, Pool(size, max_age, timeout))
    return pool
