"""The change log: what changed in the published database and when, kept in one SQLite file that
every process and host sharing the portal's state reads and writes, so that the feeds
(``feeds.py``) say the same everywhere and after a restart.

**Where.** ``CHANGE_LOG_DIR`` (empty: the ``changes/`` folder of ``EXPORT_CACHE_DIR``, beside the
data-version dates of ``autoapi/freshness/versionclock.py``), one file per published database and role,
``<hash of host, port, database and user>.sqlite3``: two portals publishing different databases, or
the same one as different roles, never mix their logs. SQLite in its rollback-journal mode (not
WAL, whose shared memory does not reach across hosts): every write is one short transaction under
SQLite's own file lock, which holds across processes and, on a file system whose POSIX locks reach
across hosts (NFSv4), across hosts. Entries older than ``CHANGE_LOG_DAYS`` are deleted.

**Recording.** Every process's schema watcher calls ``record`` after each check
(``autoapi.public.on_check``, every REFRESH_INTERVAL). A process that saw nothing new since its
last call returns at once (one comparison per relation, no I/O). Otherwise, in one write
transaction, it compares its snapshot with the last state the log holds (``relations``: each
relation's name, comment, columns and data version) and writes the differences as entries:

- ``published`` / ``withdrawn``: a relation appeared in or left the published set (dropped, its
  grant revoked, its schema no longer published); ``renamed`` when its oid stayed;
- ``column_added``, ``column_dropped``, ``column_renamed`` (same position), ``column_retyped``;
- ``comment_changed``: the relation's or a column's ``COMMENT``;
- ``data_changed``: a new data version (``autoapi/freshness/dataversion.py``), with the live row count
  before and after (``pg_stat_all_tables.n_live_tup``: a count PostgreSQL keeps, read for the
  changed relations only, never under row security).

A process whose snapshot is older than the one recorded (it has not caught up yet) writes
nothing; the first process to see a change records it, the others find it recorded. Each entry has
a stable id (a UUID from its content: the snapshot version, or the data version) and the time it
was first seen (a data version's time is the one ``versionclock`` shares). The very first run only
stores the state: nothing "changed" before the log existed.

Data versions include the schema snapshot's version (``dataversion.py``): a schema change moves
every relation's version, so the versions seen with a new snapshot become the new state without
entries, and a data change that lands within the same check as a schema change shows as that
schema change only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sqlite3
import threading
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError

from autoapi.conf import portal_setting
from autoapi.public import published_database, relation_activity

log = logging.getLogger(__name__)

KINDS = (
    "published",
    "withdrawn",
    "renamed",
    "column_added",
    "column_dropped",
    "column_renamed",
    "column_retyped",
    "comment_changed",
    "data_changed",
)
_NAMESPACE = uuid.UUID("6f1c7a52-3d5e-4b8e-9a4c-2f0d5e7b9c11")  # the portal's ids (uuid5)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    oid INTEGER NOT NULL,
    schema_name TEXT NOT NULL,
    relation_name TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_oid ON entries (oid, seq);
CREATE INDEX IF NOT EXISTS entries_by_time ON entries (at);
CREATE TABLE IF NOT EXISTS relations (
    oid INTEGER PRIMARY KEY,
    schema_name TEXT NOT NULL,
    relation_name TEXT NOT NULL,
    shape TEXT NOT NULL,
    tag TEXT,
    live_rows INTEGER
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


# --- where -----------------------------------------------------------------------------------------


def folder() -> Path:
    configured = portal_setting("CHANGE_LOG_DIR")
    if configured:
        return Path(configured)
    base = portal_setting("EXPORT_CACHE_DIR") or Path(settings.BASE_DIR) / "var" / "export-cache"
    return Path(base) / "changes"


def path() -> Path:
    """The log of this portal's database and role."""
    identity = "\x00".join(published_database())
    return folder() / f"{hashlib.sha256(identity.encode()).hexdigest()[:20]}.sqlite3"


_local = threading.local()


def _connect(for_path: Path) -> sqlite3.Connection:
    """This thread's connection to the log (opened once per thread and file)."""
    known = getattr(_local, "connections", None)
    if known is None:
        known = _local.connections = {}
    conn = known.get(for_path)
    if conn is None:
        for_path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(for_path, timeout=10, isolation_level=None, check_same_thread=True)
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.executescript(_SCHEMA)
        known[for_path] = conn
    return conn


def connection() -> sqlite3.Connection:
    return _connect(path())


# --- recording ---------------------------------------------------------------------------------------


def shape_of(relation) -> dict:
    """What the log compares of a relation: names, comment and columns (position, name, type,
    comment). A relation under row security has the same shape as any other."""
    return {
        "schema": relation.schema,
        "name": relation.name,
        "comment": relation.comment,
        "columns": [[c.position, c.name, c.type, c.comment] for c in relation.columns],
    }


def entry_id(*parts) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\x00".join(str(p) for p in parts)))


def schema_entries(old: dict | None, new: dict | None, oid: int, version: str) -> list[tuple[str, dict, str]]:
    """(kind, detail, id) for the differences between two shapes of one relation (None: absent)."""
    if old is None and new is None:
        return []
    if old is None:
        return [("published", {"columns": len(new["columns"])}, entry_id(version, oid, "published"))]
    if new is None:
        return [("withdrawn", {}, entry_id(version, oid, "withdrawn"))]
    found = []
    if (old["schema"], old["name"]) != (new["schema"], new["name"]):
        found.append(
            (
                "renamed",
                {"from": [old["schema"], old["name"]], "to": [new["schema"], new["name"]]},
                entry_id(version, oid, "renamed"),
            )
        )
    if old["comment"] != new["comment"]:
        found.append(
            (
                "comment_changed",
                {"column": None, "before": old["comment"], "after": new["comment"]},
                entry_id(version, oid, "comment"),
            )
        )
    before = {c[0]: c for c in old["columns"]}
    after = {c[0]: c for c in new["columns"]}
    for position in sorted(set(before) | set(after)):
        was, now = before.get(position), after.get(position)
        key = (version, oid, position)
        if was is None:
            found.append(("column_added", {"column": now[1], "type": now[2]}, entry_id(*key, "added")))
            continue
        if now is None:
            found.append(("column_dropped", {"column": was[1], "type": was[2]}, entry_id(*key, "dropped")))
            continue
        if was[1] != now[1]:
            found.append(("column_renamed", {"column": now[1], "from": was[1]}, entry_id(*key, "renamed")))
        if was[2] != now[2]:
            found.append(
                ("column_retyped", {"column": now[1], "before": was[2], "after": now[2]}, entry_id(*key, "retyped"))
            )
        if was[3] != now[3]:
            found.append(
                ("comment_changed", {"column": now[1], "before": was[3], "after": now[3]}, entry_id(*key, "comment"))
            )
    return found


class Recorder:
    """The listener each process gives ``autoapi.public.on_check``."""

    def __init__(self):
        self._seen: tuple | None = None  # (snapshot version, data versions' generation) last recorded

    def __call__(self, snapshot, versions, checked_at, generation=None) -> None:
        if portal_setting("CHANGE_LOG_DAYS") <= 0:
            return
        seen = (snapshot.version, generation)
        if generation is not None and seen == self._seen:
            return  # nothing moved since this process last looked: no I/O, no loop
        tags = {r.oid: versions(r) for r in snapshot.relations}
        try:
            record(snapshot, tags, checked_at)
        except (sqlite3.Error, OSError):
            log.warning("the change log at %s cannot be written; retrying at the next check", folder(), exc_info=True)
            return
        self._seen = seen


def record(snapshot, tags: dict[int, tuple], checked_at: float | None) -> int:
    """Compare ``snapshot`` and its data versions (``tags``: oid -> (tag, observed)) with the
    state the log holds and write the differences; returns how many entries were written."""
    conn = connection()
    now = time.time()
    at = checked_at or now
    written = 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        recorded_version = meta.get("snapshot_version")
        recorded_built = float(meta.get("snapshot_built_at", "0"))
        current = {r.oid: r for r in snapshot.relations}
        if recorded_version != snapshot.version:
            if recorded_version is not None and snapshot.built_at < recorded_built:
                conn.execute("COMMIT")  # an older snapshot than the log's: this process catches up later
                return 0
            written += _record_schema(conn, snapshot, current, tags, at, baseline=recorded_version is None)
            conn.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [("snapshot_version", snapshot.version), ("snapshot_built_at", repr(snapshot.built_at))],
            )
        else:
            written += _record_data(conn, current, tags, at)
        _expire(conn, now)
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    return written


def _insert(conn, kind: str, relation_oid: int, schema: str, name: str, detail: dict, ident: str, at: float) -> int:
    cursor = conn.execute(
        "INSERT OR IGNORE INTO entries (id, at, kind, oid, schema_name, relation_name, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (ident, at, kind, relation_oid, schema, name, json.dumps(detail, ensure_ascii=False)),
    )
    return cursor.rowcount


def _record_schema(conn, snapshot, current: dict, tags: dict, at: float, baseline: bool) -> int:
    stored = dict(conn.execute("SELECT oid, shape FROM relations"))
    written = 0
    for oid in sorted(set(stored) | set(current)):
        relation = current.get(oid)
        text = json.dumps(shape_of(relation), ensure_ascii=False) if relation is not None else None
        if text is not None and stored.get(oid) == text:
            continue  # unchanged (compared as text: only changed shapes are decoded)
        new = json.loads(text) if text is not None else None
        old = json.loads(stored[oid]) if oid in stored else None
        if not baseline:
            for kind, detail, ident in schema_entries(old, new, oid, snapshot.version):
                schema, name = (new["schema"], new["name"]) if new is not None else (old["schema"], old["name"])
                written += _insert(conn, kind, oid, schema, name, detail, ident, at)
        if relation is None:
            conn.execute("DELETE FROM relations WHERE oid = ?", (oid,))
        else:
            conn.execute(
                "INSERT INTO relations (oid, schema_name, relation_name, shape, tag) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (oid) DO UPDATE SET schema_name = excluded.schema_name, "
                "relation_name = excluded.relation_name, shape = excluded.shape",
                (oid, relation.schema, relation.name, text, None),
            )
    # A new snapshot is a new data version of every relation (dataversion.py): its versions become
    # the state, with no entries.
    conn.executemany(
        "UPDATE relations SET tag = ? WHERE oid = ?", [(tags.get(oid, (None,))[0], oid) for oid in current]
    )
    return written


def _record_data(conn, current: dict, tags: dict, at: float) -> int:
    stored = {oid: (tag, rows) for oid, tag, rows in conn.execute("SELECT oid, tag, live_rows FROM relations")}
    changed = [
        current[oid]
        for oid, (tag, _observed) in tags.items()
        if tag is not None and oid in stored and stored[oid][0] != tag
    ]
    if not changed:
        return 0
    counts = _live_rows(changed)
    written = 0
    for relation in changed:
        tag, observed = tags[relation.oid]
        old_tag, rows_before = stored[relation.oid]
        rows_after = counts.get(relation.oid)
        conn.execute("UPDATE relations SET tag = ?, live_rows = ? WHERE oid = ?", (tag, rows_after, relation.oid))
        if old_tag is None:  # the first version known of it: the state only
            continue
        detail = {"rows_before": rows_before, "rows_after": rows_after}
        written += _insert(
            conn,
            "data_changed",
            relation.oid,
            relation.schema,
            relation.name,
            detail,
            entry_id("data", relation.oid, tag),
            float(observed) if observed else at,
        )
    return written


def _live_rows(relations) -> dict[int, int]:
    """``n_live_tup`` of these relations (none under row security, nor for views)."""
    try:
        activity = relation_activity(relations)
    except DatabaseError:
        return {}
    by_name = {r.qualified_name: r.oid for r in relations}
    return {
        by_name[key]: value["live_rows"]
        for key, value in activity.items()
        if value.get("tracked") and value.get("live_rows") is not None
    }


def _expire(conn, now: float) -> None:
    days = portal_setting("CHANGE_LOG_DAYS")
    conn.execute("DELETE FROM entries WHERE at < ?", (now - days * 86400,))


# --- reading -----------------------------------------------------------------------------------------


def last_seq() -> int:
    """The newest entry's number (0: none): part of the feeds' cache keys."""
    try:
        row = connection().execute("SELECT max(seq) FROM entries").fetchone()
    except (sqlite3.Error, OSError):
        return 0
    return row[0] or 0


def entries(visible, before: int | None = None, limit: int = 50, oid: int | None = None) -> list[dict]:
    """The newest entries first, at most ``limit``, older than entry ``before`` when given, of one
    relation (``oid``) or of all: only those ``visible(entry)`` allows (``feeds.visible``)."""
    conn = connection()
    found: list[dict] = []
    cursor_seq = before if before is not None else (1 << 62)
    batch = max(limit * 4, 200)
    while len(found) < limit:
        if oid is None:
            rows = conn.execute(
                "SELECT seq, id, at, kind, oid, schema_name, relation_name, detail FROM entries "
                "WHERE seq < ? ORDER BY seq DESC LIMIT ?",
                (cursor_seq, batch),
            ).fetchall()
        else:
            rows = conn.execute(
                "SELECT seq, id, at, kind, oid, schema_name, relation_name, detail FROM entries "
                "WHERE oid = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
                (oid, cursor_seq, batch),
            ).fetchall()
        if not rows:
            break
        for seq, ident, at, kind, entry_oid, schema, name, detail in rows:
            entry = {
                "seq": seq,
                "id": ident,
                "at": at,
                "kind": kind,
                "oid": entry_oid,
                "schema": schema,
                "name": name,
                "detail": json.loads(detail),
            }
            if visible(entry):
                found.append(entry)
                if len(found) == limit:
                    break
        cursor_seq = rows[-1][0]
    return found


recorder = Recorder()
