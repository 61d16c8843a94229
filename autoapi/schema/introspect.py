"""Read the published database's catalog into a ``Snapshot``, in a handful of bulk queries.

Called by the registry (``registry.py``) whenever the fingerprint changes. Every query is filtered
by the connecting role's privileges, so what the role cannot read never enters a snapshot: no
relation name, no column, no row count, no foreign key pointing at it. The SQL is in
``catalog_sql.py``.

Never one query per table: relations, columns, types, keys and partitions are each read once for
the whole database (see techniques.md section 3 for why). One object the portal cannot describe
never takes the rest down: a relation whose record cannot be built is left out and listed in
``Snapshot.skipped`` with the reason, and a failed optional read (keys, partitions) is listed
there too while everything else is published.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import logging
import re
import time

from autoapi.schema.catalog_sql import (
    CHANGE_PROBE_SQL,
    CHANGED_SPREAD_SQL,
    COLUMNS_SQL,
    ENUMS_SQL,
    EXTENSIONS_SQL,
    KEYS_SQL,
    PARTITIONS_SQL,
    RELATION_HASHES_SQL,
    RELATIONS_SQL,
    TYPES_SQL,
)
from autoapi.schema.naming import python_attname
from autoapi.schema.snapshot import (
    RELATION_KINDS,
    Column,
    Extension,
    ForeignKey,
    Key,
    Partition,
    Relation,
    Skipped,
    Snapshot,
)

log = logging.getLogger(__name__)

UNKNOWN_TYPE = {
    "typname": "unknown",
    "typtype": "b",
    "typcategory": "X",
    "typelem": 0,
    "typtypmod": -1,
    "schema": "pg_catalog",
}
# "geometry(Point,4326)", "extensions.geography(PointZ,4326)", "geometry(Polygon)": the type
# modifier as PostGIS's own typmod output writes it, read without calling PostGIS.
GEOMETRY_TYPMOD = re.compile(r"\(\s*([A-Za-z]+)\s*(?:,\s*(-?\d+)\s*)?\)\s*$")


def change_probe(cursor) -> str:
    cursor.execute(CHANGE_PROBE_SQL)
    return cursor.fetchone()[0]


# Past this many changed relations a whole read is about as quick as a partial one.
PARTIAL_READ_MAX = 500


def relation_hashes(cursor, schemas: list[str]) -> dict[int, str]:
    """The fingerprint's parts: a hash per relation oid, and under 0 what every relation depends on
    (``catalog_sql.RELATION_HASHES_SQL``)."""
    cursor.execute(RELATION_HASHES_SQL, {"schemas": list(schemas)})
    return dict(cursor.fetchall())


def version_of(hashes: dict[int, str]) -> str:
    """The snapshot version: one hash over the parts' hashes."""
    text = ";".join(f"{oid}:{part}" for oid, part in sorted(hashes.items()))
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def fingerprint(cursor, schemas: list[str]) -> str:
    return version_of(relation_hashes(cursor, schemas))


def changed_relations(previous: Snapshot, before: dict[int, str], after: dict[int, str]) -> set[int] | None:
    """The oids of the relations to read again to go from ``previous`` (read when the parts were
    ``before``) to the parts ``after``, or None when only a whole read will do: what every
    relation depends on moved (types, roles, policies...), too many relations moved, or one moved
    that ``previous`` did not publish and is not new (a partition, a table a view reads, one the
    role could not read or an extension's: what it means for the others is not a partial read's to
    work out)."""
    if before.get(0) != after.get(0):
        return None
    changed = {oid for oid in before.keys() | after.keys() if before.get(oid) != after.get(oid)}
    if len(changed) > PARTIAL_READ_MAX:
        return None
    published = {r.oid for r in previous.relations}
    if any(oid in before and oid not in published for oid in changed):
        return None
    return changed


class _Reader:
    """One snapshot read: the cursor, and what was left out and why."""

    def __init__(self, cursor, schemas: list[str]):
        self.cursor = cursor
        self.schemas = list(schemas)
        self.skipped: list[Skipped] = []

    def rows(self, sql: str, **params) -> list[tuple]:
        self.cursor.execute(sql, {"schemas": self.schemas, **params})
        return self.cursor.fetchall()

    def optional_rows(self, what: str, sql: str, **params) -> list[tuple]:
        """Rows of a read the snapshot can do without; a failure is recorded, not raised."""
        try:
            return self.rows(sql, **params)
        except Exception as exc:  # any database error: publish the rest without this part
            self.skip(what, f"could not be read: {_first_line(exc)}")
            return []

    def skip(self, what: str, why: str) -> None:
        self.skipped.append(Skipped(what, why))

    def skip_relation(self, schema: str, name: str, why: str) -> None:
        self.skipped.append(Skipped(f"{schema}.{name}", why, schema, name))


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@contextlib.contextmanager
def _no_collection():
    """The cyclic garbage collector paused: a read makes a few hundred thousand objects (a few
    per column), and at 10,000 relations the collections they set off took a third of the read
    (issue 23). They hold no cycles; the collector resumes afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_snapshot(cursor, schemas: list[str], version: str | None = None) -> Snapshot:
    """Build a complete Snapshot from the catalog, using the given DB-API cursor (``version``:
    the fingerprint, when the caller has just computed it)."""
    with _no_collection():
        return _read_snapshot(cursor, schemas, version)


def _read_snapshot(cursor, schemas: list[str], version: str | None) -> Snapshot:
    started = time.time()
    reader = _Reader(cursor, schemas)
    version = version or fingerprint(cursor, schemas)
    server_version = reader.rows("SHOW server_version")[0][0]
    extensions = tuple(Extension(*row) for row in reader.rows(EXTENSIONS_SQL))
    relations = _read_relations(reader, None, {})
    return Snapshot(
        version=version,
        built_at=started,
        server_version=server_version,
        relations=tuple(_with_referenced_by(relations)),
        skipped=tuple(reader.skipped),
        has_postgis=any(e.name == "postgis" for e in extensions),
        extensions=extensions,
    )


def read_changes(cursor, schemas: list[str], previous: Snapshot, changed: set[int], version: str) -> Snapshot | None:
    """``previous`` with the relations ``changed`` (``changed_relations``) read again, and the
    views that read them and the relations whose foreign keys point at them; every other
    ``Relation`` object is kept as it is. None when only a whole read will do (a partition or a
    partitioned table among them). At 10,000 relations: milliseconds where a whole read takes
    seconds, so a new table is published within the watcher's interval (issue 23)."""
    started = time.time()
    reader = _Reader(cursor, schemas)
    views, partitioned = reader.rows(CHANGED_SPREAD_SQL, oids=sorted(changed))[0]
    if partitioned:
        return None
    again = set(changed) | set(views)
    by_name = {r.qualified_name: r.oid for r in previous.relations}
    for relation in previous.relations:  # whose foreign keys name a changed relation
        if any(by_name.get((fk.ref_schema, fk.ref_relation)) in again for fk in relation.foreign_keys):
            again.add(relation.oid)
    kept = {r.oid: r for r in previous.relations if r.oid not in again}
    fresh = _read_relations(reader, sorted(again), kept)
    relations = sorted([*kept.values(), *fresh], key=lambda r: (r.schema, r.name))
    names = {r.qualified_name for r in fresh} | {r.qualified_name for r in previous.relations if r.oid in again}
    skipped = [s for s in previous.skipped if (s.schema, s.name) not in names or s.schema is None]
    skipped += [s for s in reader.skipped if s not in skipped]
    return dataclasses.replace(
        previous,
        version=version,
        built_at=started,
        relations=tuple(_with_referenced_by(relations)),
        skipped=tuple(skipped),
    )


def _read_relations(reader: _Reader, only: list[int] | None, kept: dict[int, Relation]) -> list[Relation]:
    """The relations the role may read (``only``: of these oids; None: all), as records;
    ``kept``: the published relations not read again (their names and columns name the targets
    of foreign keys)."""
    rel_rows = []
    row_security = set()
    for oid, schema, name, relkind, comment, reltuples, populated, from_extension, secured in reader.rows(
        RELATIONS_SQL, only=only
    ):
        if from_extension:
            reader.skip_relation(schema, name, "it belongs to an extension")
        else:
            if secured:
                row_security.add(oid)
                reltuples = None  # counts every row, seen or not: never shown, never used
            rel_rows.append((oid, schema, name, relkind, comment, reltuples, populated))
    columns = _read_columns(reader, {row[0]: (row[1], row[2]) for row in rel_rows})
    keys = _read_keys(reader, rel_rows, columns, kept)
    partitions = _read_partitions(reader, [row[0] for row in rel_rows if row[3] == "p"])

    relations = []
    for oid, schema, name, relkind, comment, reltuples, populated in rel_rows:
        if oid not in columns:
            continue  # left out while reading its columns (recorded there)
        primary, uniques, fkeys = keys.get(oid, (None, (), ()))
        relations.append(
            Relation(
                oid=oid,
                schema=schema,
                name=name,
                kind=RELATION_KINDS[relkind],
                comment=comment,
                estimated_rows=reltuples,
                columns=tuple(columns[oid]),
                primary_key=primary,
                unique_keys=uniques,
                foreign_keys=fkeys,
                is_populated=populated,
                partitions=partitions.get(oid, ()),
                row_security=oid in row_security,
            )
        )
    return relations


def _read_columns(reader: _Reader, names: dict[int, tuple[str, str]]) -> dict[int, list[Column]]:
    """Each relation's readable columns (``names``: oid -> (schema, name)); a relation one of
    whose columns cannot be described is left out whole (publishing it without that column would
    misdescribe it)."""
    column_rows = reader.rows(COLUMNS_SQL, oids=list(names))
    types = _read_types(reader, sorted({row[3] for row in column_rows}))
    enums = dict(reader.optional_rows("enum labels", ENUMS_SQL))
    columns: dict[int, list[Column]] = {oid: [] for oid in names}
    taken: dict[int, set[str]] = {oid: set() for oid in names}
    for row in column_rows:
        relid = row[0]
        if relid not in columns:
            continue
        try:
            columns[relid].append(_column(row, types, enums, taken[relid]))
        except Exception as exc:
            reader.skip_relation(*names[relid], f"its column {row[2]!r} could not be described: {_first_line(exc)}")
            del columns[relid]
    return columns


def _read_types(reader: _Reader, type_oids: list[int]) -> dict[int, dict]:
    fields = ("typname", "typtype", "typcategory", "typbasetype", "typelem", "typtypmod", "schema")
    return {row[0]: dict(zip(fields, row[1:])) for row in reader.rows(TYPES_SQL, oids=type_oids)}


def _column(row: tuple, types: dict, enums: dict, taken: set[str]) -> Column:
    _relid, attnum, attname, typid, _typmod, formatted, notnull, default, comment = row
    base = _resolve_type(types, typid)
    element = types.get(base["typelem"]) if base["typcategory"] == "A" else None
    is_geometry = base["typname"] in ("geometry", "geography") and base["typtype"] == "b"
    geometry_type, srid = _geometry_typmod(formatted) if is_geometry else (None, None)
    if base["typname"] == "geography" and is_geometry and not srid:
        srid = 4326  # geography defaults to WGS 84
    return Column(
        name=attname,
        attname=python_attname(attname, taken),
        position=attnum,
        type=formatted,
        base_type=base["typname"],
        type_kind=base["typtype"],
        type_category=base["typcategory"],
        element_type=element["typname"] if element else None,
        element_kind=element["typtype"] if element else None,
        nullable=not notnull,
        default=default,
        comment=comment,
        enum_labels=tuple(enums.get(typid, ()) or enums.get(_base_oid(types, typid), ())),
        geometry_type=geometry_type,
        srid=srid,
        is_geography=base["typname"] == "geography",
        type_schema=base["schema"],
    )


def _geometry_typmod(formatted: str) -> tuple[str, int]:
    """("Point", 4326) from "geometry(Point,4326)"; ("Geometry", 0) when unconstrained."""
    match = GEOMETRY_TYPMOD.search(formatted)
    if match is None:
        return "Geometry", 0
    return match.group(1), int(match.group(2) or 0)


def _resolve_type(types: dict, oid: int) -> dict:
    """Follow domains down to their base type (domains may stack)."""
    seen = 0
    t = types.get(oid)
    while t is not None and t["typtype"] == "d" and seen < 20:
        t = types.get(t["typbasetype"])
        seen += 1
    return t or UNKNOWN_TYPE


def _base_oid(types: dict, oid: int) -> int:
    t = types.get(oid)
    while t is not None and t["typtype"] == "d":
        oid = t["typbasetype"]
        t = types.get(oid)
    return oid


def _read_keys(
    reader: _Reader, rel_rows: list[tuple], columns: dict[int, list[Column]], kept: dict[int, Relation]
) -> dict[int, tuple]:
    """Per relation oid: (primary key, unique keys, foreign keys); ``kept``: the other published
    relations, which foreign keys may name."""
    names_by_attnum = {(relid, c.position): c.name for relid, cols in columns.items() for c in cols}
    published = {row[0]: (row[1], row[2]) for row in rel_rows if row[0] in columns}

    def column_name(relid: int, attnum: int) -> str | None:
        found = names_by_attnum.get((relid, attnum))
        if found is None and relid in kept:  # a relation not read again: its record has them
            found = next((c.name for c in kept[relid].columns if c.position == attnum), None)
        return found

    primary: dict[int, Key] = {}
    uniques: dict[int, list[Key]] = {oid: [] for oid in columns}
    fkeys: dict[int, list[ForeignKey]] = {oid: [] for oid in columns}
    for relid, conname, contype, conkey, confrelid, confkey in reader.optional_rows(
        "keys and foreign keys", KEYS_SQL, oids=list(columns)
    ):
        names = [names_by_attnum.get((relid, n)) for n in conkey]
        if relid not in columns or None in names:
            continue  # a key over a column the role cannot read (or a system column)
        if contype == "f":
            ref_names = [column_name(confrelid, n) for n in confkey]
            target = published.get(confrelid) or (kept[confrelid].qualified_name if confrelid in kept else None)
            if target is None or None in ref_names:
                continue  # never reveal a relation or column the role cannot read
            ref_schema, ref_name = target
            fkeys[relid].append(ForeignKey(conname, tuple(names), ref_schema, ref_name, tuple(ref_names)))
            continue
        cols = {c.name: c for c in columns[relid]}
        if any(cols[n].nullable for n in names) and contype != "p":
            continue  # a unique key over nullable columns does not name one row
        key = Key(conname, tuple(names), is_primary=contype == "p")
        if contype == "p":
            primary[relid] = key
        else:
            uniques[relid].append(key)
    return {oid: (primary.get(oid), tuple(uniques[oid]), tuple(fkeys[oid])) for oid in columns}


def _read_partitions(reader: _Reader, parent_oids: list[int]) -> dict[int, tuple[Partition, ...]]:
    """Each partitioned table's partitions, depth first (a sub-partitioned partition is followed
    by its own partitions)."""
    if not parent_oids:
        return {}
    children: dict[tuple[int, str], list[Partition]] = {}
    for root, schema, name, parent, level, bound, partitioned in reader.optional_rows(
        "partitions", PARTITIONS_SQL, oids=parent_oids
    ):
        children.setdefault((root, parent), []).append(Partition(schema, name, parent, level, bound or "", partitioned))
    roots = {root for root, _parent in children}
    return {root: tuple(_depth_first(children, root, _root_name(children, root))) for root in roots}


def _root_name(children: dict, root: int) -> str:
    level_one = next(p for (r, _), parts in children.items() if r == root for p in parts if p.level == 1)
    return level_one.parent


def _depth_first(children: dict, root: int, parent: str) -> list[Partition]:
    ordered = []
    for partition in children.get((root, parent), ()):
        ordered.append(partition)
        if partition.is_partitioned:
            ordered.extend(_depth_first(children, root, partition.name))
    return ordered


def _with_referenced_by(relations: list[Relation]) -> list[Relation]:
    """Fill each relation's ``referenced_by`` from the others' foreign keys (a relation kept from
    an earlier snapshot is replaced only when they changed)."""
    incoming: dict[tuple[str, str], list] = {}
    for rel in relations:
        for fk in rel.foreign_keys:
            incoming.setdefault((fk.ref_schema, fk.ref_relation), []).append((rel.schema, rel.name, fk))
    result = []
    for rel in relations:
        referenced_by = tuple(incoming.get(rel.qualified_name, ()))
        result.append(
            rel if rel.referenced_by == referenced_by else dataclasses.replace(rel, referenced_by=referenced_by)
        )
    return result
