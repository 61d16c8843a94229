"""Read the published database's catalog into a ``Snapshot``, in a handful of bulk queries.

Called by the registry (``registry.py``) whenever the fingerprint changes. Every query is filtered
by the connecting role's privileges, so what the role cannot read never enters a snapshot: no
relation name, no column, no row count, no foreign key pointing at it.

Never one query per table: relations, columns, types, keys and PostGIS typmods are each read once
for the whole database (see techniques.md section 3 for why).
"""
from __future__ import annotations

import time

from autoapi.naming import python_attname
from autoapi.snapshot import RELATION_KINDS, Column, ForeignKey, Key, Relation, Skipped, Snapshot

SYSTEM_SCHEMA_FILTER = """
    n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%%'
    AND n.nspname NOT LIKE 'pg\\_temp\\_%%'
    AND (cardinality(%(schemas)s::text[]) = 0 OR n.nspname = ANY(%(schemas)s::text[]))
    AND has_schema_privilege(n.oid, 'USAGE')
"""

# Relations the role may read (wholly, or some of their columns), with a flag for those that
# belong to an extension (PostGIS's spatial_ref_sys and friends), which are not published.
RELATIONS_SQL = f"""
SELECT c.oid, n.nspname, c.relname, c.relkind,
       obj_description(c.oid, 'pg_class'),
       CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END,
       c.relispopulated,
       EXISTS (SELECT 1 FROM pg_depend d
               WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT c.relispartition
  AND {SYSTEM_SCHEMA_FILTER}
  AND (has_table_privilege(c.oid, 'SELECT') OR has_any_column_privilege(c.oid, 'SELECT'))
ORDER BY n.nspname, c.relname
"""

COLUMNS_SQL = """
SELECT a.attrelid, a.attnum, a.attname, a.atttypid, a.atttypmod,
       format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(ad.adbin, ad.adrelid), col_description(a.attrelid, a.attnum)
FROM pg_attribute a
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE a.attrelid = ANY(%(oids)s::oid[])
  AND a.attnum > 0 AND NOT a.attisdropped
  AND has_column_privilege(a.attrelid, a.attnum, 'SELECT')
ORDER BY a.attrelid, a.attnum
"""

TYPES_SQL = """
SELECT t.oid, t.typname, t.typtype, t.typcategory, t.typbasetype, t.typelem
FROM pg_type t
WHERE t.oid = ANY(%(oids)s::oid[])
   OR t.typtype = 'd'
   OR t.oid IN (SELECT typelem FROM pg_type WHERE oid = ANY(%(oids)s::oid[]))
"""

ENUMS_SQL = """
SELECT enumtypid, array_agg(enumlabel::text ORDER BY enumsortorder)
FROM pg_enum GROUP BY enumtypid
"""

# Primary keys, unique constraints and foreign keys, plus unique indexes that are not constraints
# (plain columns only: no expressions, no partial indexes).
KEYS_SQL = """
SELECT con.conrelid, con.conname, con.contype, con.conkey, con.confrelid, con.confkey
FROM pg_constraint con
WHERE con.conrelid = ANY(%(oids)s::oid[]) AND con.contype IN ('p', 'u', 'f')
UNION ALL
SELECT i.indrelid, ic.relname, 'u', i.indkey::int2[], 0, NULL
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE i.indrelid = ANY(%(oids)s::oid[]) AND i.indisunique AND NOT i.indisprimary
  AND i.indpred IS NULL AND i.indexprs IS NULL
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
ORDER BY 1, 3, 2
"""

GEOMETRY_TYPMODS_SQL = """
SELECT a.attrelid, a.attnum, postgis_typmod_type(a.atttypmod), postgis_typmod_srid(a.atttypmod)
FROM pg_attribute a
WHERE a.attrelid = ANY(%(oids)s::oid[]) AND a.atttypmod <> -1
  AND a.atttypid IN (SELECT oid FROM pg_type WHERE typname IN ('geometry', 'geography'))
"""

# The fingerprint: one hash over everything a snapshot depends on. Cheap enough to run every
# second (a few ms on thousands of columns); see registry.py.
FINGERPRINT_SQL = f"""
SELECT md5(count(*) || '-' || coalesce(sum(hashtextextended(part, 0)::numeric), 0))
FROM (
    SELECT concat_ws(',', c.oid, n.nspname, c.relname, c.relkind, c.relacl::text, n.nspacl::text,
                     c.relispopulated, d.description, has_table_privilege(c.oid, 'SELECT')) AS part
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_description d ON d.classoid = 'pg_class'::regclass AND d.objoid = c.oid AND d.objsubid = 0
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {SYSTEM_SCHEMA_FILTER}
    UNION ALL
    SELECT concat_ws(',', a.attrelid, a.attnum, a.attname, a.atttypid, a.atttypmod, a.attnotnull,
                     a.attacl::text, a.atthasdef, d.description)
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_description d ON d.classoid = 'pg_class'::regclass AND d.objoid = a.attrelid AND d.objsubid = a.attnum
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped
      AND {SYSTEM_SCHEMA_FILTER}
    UNION ALL
    SELECT concat_ws(',', con.oid, con.conname, con.contype, con.conrelid, con.conkey::text,
                     con.confrelid, con.confkey::text)
    FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace
    WHERE con.contype IN ('p', 'u', 'f') AND {SYSTEM_SCHEMA_FILTER}
    UNION ALL
    SELECT concat_ws(',', i.indexrelid, i.indrelid, i.indisunique, i.indkey::text)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE i.indisunique AND {SYSTEM_SCHEMA_FILTER}
    UNION ALL
    SELECT concat_ws(',', e.enumtypid, e.enumlabel, e.enumsortorder) FROM pg_enum e
) AS parts
"""


# The change probe: the newest row version and the row count of each catalog a snapshot reads.
# Any DDL, GRANT, REVOKE or COMMENT writes a new row version (a new xmin, newer than every other)
# or deletes rows (the count moves), so an unchanged probe means an unchanged catalog. It reads
# no text and joins nothing, so it stays within a few milliseconds on thousands of tables; when
# it moves (for any schema), the full fingerprint decides whether the published part changed.
CHANGE_PROBE_SQL = """
SELECT concat_ws(',',
    (SELECT max(xmin::text::bigint) || ':' || count(*) FROM pg_class),
    (SELECT max(xmin::text::bigint) || ':' || count(*) FROM pg_attribute),
    (SELECT max(xmin::text::bigint) || ':' || count(*) FROM pg_constraint),
    (SELECT max(xmin::text::bigint) || ':' || count(*) FROM pg_index),
    (SELECT max(xmin::text::bigint) || ':' || count(*) FROM pg_description),
    (SELECT max(xmin::text::bigint) || ':' || count(*) FROM pg_namespace),
    (SELECT max(xmin::text::bigint) || ':' || count(*) FROM pg_type),
    (SELECT max(xmin::text::bigint) || ':' || count(*) FROM pg_enum),
    (SELECT max(xmin::text::bigint) || ':' || count(*) FROM pg_attrdef))
"""


def change_probe(cursor) -> str:
    cursor.execute(CHANGE_PROBE_SQL)
    return cursor.fetchone()[0]


def fingerprint(cursor, schemas: list[str]) -> str:
    cursor.execute(FINGERPRINT_SQL, {"schemas": list(schemas)})
    return cursor.fetchone()[0]


def _resolve_type(types: dict, oid: int) -> dict:
    """Follow domains down to their base type (domains may stack)."""
    seen = 0
    t = types.get(oid)
    while t is not None and t["typtype"] == "d" and seen < 20:
        t = types.get(t["typbasetype"])
        seen += 1
    return t or {"typname": "unknown", "typtype": "b", "typcategory": "X", "typelem": 0}


def read_snapshot(cursor, schemas: list[str], version: str | None = None) -> Snapshot:
    """Build a complete Snapshot from the catalog, using the given DB-API cursor (``version``:
    the fingerprint, when the caller has just computed it)."""
    started = time.time()
    version = version or fingerprint(cursor, schemas)
    cursor.execute("SHOW server_version")
    server_version = cursor.fetchone()[0]
    cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'postgis')")
    has_postgis = cursor.fetchone()[0]

    cursor.execute(RELATIONS_SQL, {"schemas": list(schemas)})
    skipped: list[Skipped] = []
    rel_rows = []
    for oid, schema, name, relkind, comment, reltuples, populated, from_extension in cursor.fetchall():
        if from_extension:
            skipped.append(Skipped(f"{schema}.{name}", "belongs to an extension"))
        else:
            rel_rows.append((oid, schema, name, relkind, comment, reltuples, populated))
    oids = [row[0] for row in rel_rows]

    cursor.execute(COLUMNS_SQL, {"oids": oids})
    column_rows = cursor.fetchall()
    type_oids = sorted({row[3] for row in column_rows})
    cursor.execute(TYPES_SQL, {"oids": type_oids})
    types = {
        row[0]: {"typname": row[1], "typtype": row[2], "typcategory": row[3], "typbasetype": row[4], "typelem": row[5]}
        for row in cursor.fetchall()
    }
    cursor.execute(ENUMS_SQL)
    enums = {row[0]: tuple(row[1]) for row in cursor.fetchall()}

    geometry_typmods = {}
    if has_postgis:
        cursor.execute(GEOMETRY_TYPMODS_SQL, {"oids": oids})
        geometry_typmods = {(row[0], row[1]): (row[2], row[3]) for row in cursor.fetchall()}

    columns_by_rel: dict[int, list[Column]] = {oid: [] for oid in oids}
    names_by_attnum: dict[tuple[int, int], str] = {}
    taken: dict[int, set[str]] = {oid: set() for oid in oids}
    for relid, attnum, attname, typid, _typmod, formatted, notnull, default, comment in column_rows:
        base = _resolve_type(types, typid)
        element = types.get(base["typelem"]) if base["typcategory"] == "A" else None
        geometry_type, srid = geometry_typmods.get((relid, attnum), (None, None))
        if base["typname"] in ("geometry", "geography") and geometry_type is None:
            geometry_type, srid = "Geometry", 0
        if base["typname"] == "geography" and not srid:
            srid = 4326  # geography defaults to WGS 84
        columns_by_rel[relid].append(
            Column(
                name=attname,
                attname=python_attname(attname, taken[relid]),
                position=attnum,
                type=formatted,
                base_type=base["typname"],
                type_kind=base["typtype"],
                type_category=base["typcategory"],
                element_type=element["typname"] if element else None,
                nullable=not notnull,
                default=default,
                comment=comment,
                enum_labels=enums.get(typid, ()) or enums.get(_base_oid(types, typid), ()),
                geometry_type=geometry_type,
                srid=srid,
                is_geography=base["typname"] == "geography",
            )
        )
        names_by_attnum[(relid, attnum)] = attname

    cursor.execute(KEYS_SQL, {"oids": oids})
    key_rows = cursor.fetchall()
    published = {row[0]: (row[1], row[2]) for row in rel_rows}
    primary: dict[int, Key] = {}
    uniques: dict[int, list[Key]] = {oid: [] for oid in oids}
    fkeys: dict[int, list[ForeignKey]] = {oid: [] for oid in oids}
    for relid, conname, contype, conkey, confrelid, confkey in key_rows:
        names = [names_by_attnum.get((relid, n)) for n in conkey]
        if None in names:
            continue  # a key over a column the role cannot read (or a system column)
        if contype == "f":
            ref_names = [names_by_attnum.get((confrelid, n)) for n in confkey]
            if confrelid not in published or None in ref_names:
                continue  # never reveal a relation or column the role cannot read
            ref_schema, ref_name = published[confrelid]
            fkeys[relid].append(ForeignKey(conname, tuple(names), ref_schema, ref_name, tuple(ref_names)))
            continue
        cols = {c.name: c for c in columns_by_rel[relid]}
        if any(cols[n].nullable for n in names) and contype != "p":
            continue  # a unique key over nullable columns does not name one row
        key = Key(conname, tuple(names), is_primary=contype == "p")
        if contype == "p":
            primary[relid] = key
        else:
            uniques[relid].append(key)

    relations = []
    for oid, schema, name, relkind, comment, reltuples, populated in rel_rows:
        relations.append(
            Relation(
                oid=oid,
                schema=schema,
                name=name,
                kind=RELATION_KINDS[relkind],
                comment=comment,
                estimated_rows=reltuples,
                columns=tuple(columns_by_rel[oid]),
                primary_key=primary.get(oid),
                unique_keys=tuple(uniques[oid]),
                foreign_keys=tuple(fkeys[oid]),
                is_populated=populated,
            )
        )
    relations = _with_referenced_by(relations)
    return Snapshot(
        version=version,
        built_at=started,
        server_version=server_version,
        relations=tuple(relations),
        skipped=tuple(skipped),
        has_postgis=has_postgis,
    )


def _base_oid(types: dict, oid: int) -> int:
    t = types.get(oid)
    while t is not None and t["typtype"] == "d":
        oid = t["typbasetype"]
        t = types.get(oid)
    return oid


def _with_referenced_by(relations: list[Relation]) -> list[Relation]:
    """Fill each relation's ``referenced_by`` from the others' foreign keys."""
    import dataclasses

    incoming: dict[tuple[str, str], list] = {}
    for rel in relations:
        for fk in rel.foreign_keys:
            incoming.setdefault((fk.ref_schema, fk.ref_relation), []).append((rel.schema, rel.name, fk))
    return [
        dataclasses.replace(rel, referenced_by=tuple(incoming.get(rel.qualified_name, ()))) if rel.qualified_name in incoming else rel
        for rel in relations
    ]
