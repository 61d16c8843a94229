"""A data version per published relation, from PostgreSQL's own change counters.

The registry's watcher calls ``DataVersions.refresh`` with the schema probe, every
REFRESH_INTERVAL, on the primary: ONE query (``dataversion_sql.COUNTERS_SQL``) for every relation.
A relation's version is a hash of, for each table its rows come from (``datasources.py``), the
table's ``relfilenode`` and its inserted, updated and deleted tuple counters, together with the
database's statistics reset time and the postmaster's start time (a reset or a crash zeroes the
counters, which could otherwise climb back to the same values over different data), and the
schema snapshot's version, which includes who may see what (view definitions, row security and
policies, grants, ownership, role membership: ``catalog_sql.PERMISSIONS_PARTS``), so that a
permission change is a new version of every relation (docs/operations.md, "Permissions and versions").

What it promises (docs/downloads.md, "Data versions"): a committed change shows in the version once the
writing session has flushed its statistics (PostgreSQL 15+: at its first transaction end a second
after its previous flush, or 10 s after it went idle; up to 60 s when the statistics are
contended) and the watcher has looked again. Aborted transactions move the counters too: a version
may change with no data changed, never the other way round. ``None`` means unknown: PostgreSQL 14
(its statistics collector may drop messages under load), ``track_counts`` off, foreign tables,
views over them or calling ``now()`` (see ``datasources.py``). Unknown relations are served as if
this module did not exist.

Each version carries the time the portal first saw it (``observed``, shared by the processes
through ``versionclock.py``): the ``Last-Modified`` of its answers, on a whole second, never
shared by two versions of a relation in one process.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from autoapi.freshness import versionclock
from autoapi.freshness.datasources import Graph, read_graph, sources
from autoapi.freshness.dataversion_sql import COUNTERS_SQL

MIN_SERVER_VERSION = 150000  # shared-memory statistics; the UDP collector of 14 may lose counts


@dataclass(frozen=True)
class DataVersion:
    tag: str | None  # None: unknown
    observed: int | None = None  # Unix second first seen (Last-Modified), None when unknown or ambiguous
    why_unknown: str = ""
    claimed: int = 0  # the latest second any version of the relation was given in this process

    @property
    def known(self) -> bool:
        return self.tag is not None

    def last_modified(self, now: float | None = None) -> int | None:
        """``observed`` once that second has begun (it is rounded up: never before the change)."""
        now = time.time() if now is None else now
        return self.observed if self.observed is not None and self.observed <= now else None


UNKNOWN = DataVersion(None, None, "not read yet")


class DataVersions:
    """The current version of every relation of one snapshot, swapped whole at each refresh."""

    def __init__(self):
        self._versions: dict[int, DataVersion] = {}
        self._graph: Graph | None = None
        self._graph_key: tuple | None = None
        self._sources: dict[int, frozenset[int] | str] = {}
        self.generation = 0  # moves whenever any relation's version does (listeners skip otherwise)

    def get(self, relation) -> DataVersion:
        return self._versions.get(relation.oid, UNKNOWN)

    def refresh(self, cursor, snapshot) -> None:
        """Read the counters of every source of ``snapshot``'s relations (one query; the graph
        again only when the snapshot or the pg_rewrite/pg_inherits probe moved)."""
        header, counters = self._read(cursor, snapshot)
        if header is None:
            return
        self._swap(_versions(snapshot, self._sources, header, counters, self._versions))

    def _swap(self, versions: dict) -> None:
        # An unchanged relation keeps its DataVersion object: comparing is mostly identity checks.
        if versions != self._versions:
            self.generation += 1
        self._versions = versions

    def _read(self, cursor, snapshot, graph_read: bool = False):
        oids = sorted({o for s in self._sources.values() if not isinstance(s, str) for o in s})
        cursor.execute(COUNTERS_SQL, {"oids": oids})
        reset, started, tracked, server, graph_probe, counters = cursor.fetchone()
        why = _why_unknown(server, tracked)
        if why:
            self._swap({r.oid: DataVersion(None, None, why) for r in snapshot.relations})
            return None, None
        if self._graph_key != (snapshot.version, graph_probe) and not graph_read:
            # The graph again only when pg_rewrite or pg_inherits moved; with the same graph a
            # relation's sources are the same, so a new snapshot (a new table among 10,000)
            # works out those of its new relations only.
            if self._graph is None or self._graph_key[1] != graph_probe:
                self._graph, known = read_graph(cursor), {}
            else:
                known = self._sources
            self._sources = {
                r.oid: known[r.oid] if r.oid in known else sources(self._graph, r.oid, _relkind(r))
                for r in snapshot.relations
            }
            self._graph_key = (snapshot.version, graph_probe)
            return self._read(cursor, snapshot, graph_read=True)  # the counters of the new sources
        # The snapshot version too: it holds who sees what (catalog_sql.PERMISSIONS_PARTS), so a
        # redefined view, a new policy or a revoked grant is a new version of every relation, with
        # its own tag, stored downloads and Last-Modified, even with no row written.
        return f"{reset}|{started}|{snapshot.version}", {row[0]: tuple(row[1:]) for row in counters}


def _why_unknown(server: int, tracked: bool) -> str:
    if server < MIN_SERVER_VERSION:
        return "PostgreSQL 14 and older: the statistics collector may lose counts under load"
    if not tracked:
        return "track_counts is off: PostgreSQL counts no changes"
    return ""


def _relkind(relation) -> str:
    return {"table": "r", "partitioned table": "p", "materialized view": "m", "view": "v", "foreign table": "f"}.get(
        relation.kind, "?"
    )


def _versions(snapshot, all_sources, header: str, counters: dict, previous: dict) -> dict[int, DataVersion]:
    now = math.ceil(time.time())
    result, new = {}, {}
    for relation in snapshot.relations:
        found = all_sources.get(relation.oid, "not read yet")
        if isinstance(found, str):
            result[relation.oid] = DataVersion(None, None, found)
            continue
        if any(oid not in counters for oid in found):  # dropped since the graph was read
            result[relation.oid] = DataVersion(None, None, "a table it reads was just dropped")
            continue
        text = header + ";" + ";".join(f"{oid}:{counters[oid]}" for oid in sorted(found))
        tag = hashlib.sha256(text.encode()).hexdigest()[:24]
        before = previous.get(relation.oid)
        if before is not None and before.tag == tag:
            result[relation.oid] = before
        else:
            new[relation.oid] = tag
    if new:  # versions new to this process: their dates in one read and one write (versionclock.py)
        recalled = versionclock.recall_many(new)
        recorded = {}
        for oid, tag in new.items():
            result[oid] = _first_seen(tag, previous.get(oid), now, recalled.get(oid))
            if result[oid].observed is not None and result[oid].observed != recalled.get(oid):
                recorded[oid] = (tag, result[oid].observed)
        versionclock.record_many(recorded)
    return result


def _first_seen(tag: str, before: DataVersion | None, now: int, recalled: int | None) -> DataVersion:
    """A version new to this process. Its Last-Modified second is when any process first saw it
    (``recalled``, from ``versionclock.py``), else ``now`` (rounded up), and always later than the
    relation's previous version's, so that If-Modified-Since tells them apart (a second not begun
    yet is not sent: ``DataVersion.last_modified``). Versions coming faster than one a second get
    none; their ETags still tell them apart. The caller stores a new date."""
    claimed = before.claimed if before is not None else 0
    observed = recalled
    if observed is None or observed <= claimed:
        observed = max(now, claimed + 1)
        if observed > now + 1:
            return DataVersion(tag, None, claimed=claimed)
    return DataVersion(tag, observed, claimed=observed)
