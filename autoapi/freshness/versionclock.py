"""When a relation's data version was first seen, shared by every process (and kept across
restarts) through the export cache's folder: one small SQLite file, ``versions/clock.sqlite3``,
one row per relation (its oid, its latest tag, the second it was first seen). Called by
``dataversion.py`` only for the versions new to a process, in one read and one write
transaction per check however many relations moved: a schema change is a new version of every
relation (10,000 at 10,000 relations), which one file per relation made cost 10,000 reads and
10,000 renames per process, seconds to tens of seconds on a busy disk, while the schema watcher
waited (issue 23). Without the folder (EXPORT_CACHE_MB = 0) each process keeps its own dates.

So every worker gives a version the same ``Last-Modified`` (two workers meeting a new version in
the same instant may still write dates a second apart; the later one wins), and the catalog's
"Data last changed" does not move when the portal restarts. SQLite in its rollback-journal mode,
as the change log (``catalog/standards/changelog.py``): its file lock holds across processes.
A file that cannot be read or written leaves the dates per process, never the check.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3

from autoapi.freshness import exportcache

log = logging.getLogger(__name__)

_SCHEMA = "CREATE TABLE IF NOT EXISTS clock (oid INTEGER PRIMARY KEY, tag TEXT NOT NULL, observed INTEGER NOT NULL)"


def _path():
    folder = exportcache.directory()
    return None if folder is None else folder / "versions" / "clock.sqlite3"


@contextlib.contextmanager
def _connection():
    path = _path()
    if path is None:
        yield None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute(_SCHEMA)
        yield conn
    finally:
        conn.close()


def recall_many(tags: dict[int, str]) -> dict[int, int]:
    """For each ``oid -> tag``, the second any process first saw that tag, when one did."""
    if not tags:
        return {}
    try:
        with _connection() as conn:
            if conn is None:
                return {}
            if len(tags) <= 500:
                marks = ",".join("?" * len(tags))
                rows = conn.execute(
                    f"SELECT oid, tag, observed FROM clock WHERE oid IN ({marks})", list(tags)
                ).fetchall()
            else:  # a schema change: every relation at once, in one scan
                rows = conn.execute("SELECT oid, tag, observed FROM clock").fetchall()
    except (sqlite3.Error, OSError):
        log.warning("the data-version clock cannot be read; dates stay per process", exc_info=True)
        return {}
    return {oid: observed for oid, tag, observed in rows if tags.get(oid) == tag}


def record_many(observed: dict[int, tuple[str, int]]) -> None:
    """Store ``oid -> (tag, second first seen)``, in one transaction."""
    if not observed:
        return
    try:
        with _connection() as conn:
            if conn is None:
                return
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT OR REPLACE INTO clock (oid, tag, observed) VALUES (?, ?, ?)",
                [(oid, tag, second) for oid, (tag, second) in observed.items()],
            )
            conn.execute("COMMIT")
    except (sqlite3.Error, OSError):
        log.warning("the data-version clock cannot be written; dates stay per process", exc_info=True)
