"""Frozen metadata records: what the portal knows about the published database.

One ``Snapshot`` holds every published ``Relation`` with its ``Column``s, keys and foreign keys,
exactly as introspection read them. Records are plain frozen dataclasses (no Django in them) so the
API builder and the HTML catalog read the same facts, and ``manage.py dump_snapshot`` can print
them as JSON. Nothing here talks to the database; ``introspect.py`` fills these records.

Column statistics (``pg_stats``) are not kept here, unlike ARCHITECTURE.md's first sketch: they
change with every ANALYZE, which the schema fingerprint rightly ignores, so a snapshot would serve
stale profiles. The catalog reads them per page (``public.column_statistics``), in one query.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

RELATION_KINDS = {
    "r": "table",
    "p": "partitioned table",
    "v": "view",
    "m": "materialized view",
    "f": "foreign table",
}


@dataclass(frozen=True)
class Column:
    name: str  # the exact identifier
    attname: str  # a safe Python name for it (see naming.py), unique within the relation
    position: int  # pg_attribute.attnum
    type: str  # format_type(): what PostgreSQL prints, e.g. "numeric(10,2)", "mood", "geometry(Point,4326)"
    base_type: str  # pg_type.typname after resolving domains; arrays as "_int4" and so on
    type_kind: str  # pg_type.typtype of the base type: b(ase), c(omposite), e(num), r(ange), m(ultirange), p(seudo)
    type_category: str  # pg_type.typcategory of the base type: A(rray), N(umeric), S(tring), ...
    element_type: str | None = None  # for arrays: typname of the element
    element_kind: str | None = None  # for arrays: typtype of the element (e: an enum, r: a range...)
    nullable: bool = True
    default: str | None = None
    comment: str | None = None
    enum_labels: tuple[str, ...] = ()
    geometry_type: str | None = None  # "Point", "MultiPolygon", ... or "Geometry" when unconstrained
    srid: int | None = None  # 0 or None when the column has no fixed SRID
    is_geography: bool = False
    # Schema of the base type (pg_type.typnamespace): for an extension's type (PostGIS, citext,
    # hstore...) the schema the extension lives in, which qualifies every call to its functions.
    type_schema: str = "pg_catalog"

    @property
    def is_geometry(self) -> bool:
        """True for PostGIS geometry and geography columns."""
        return self.base_type in ("geometry", "geography")

    @property
    def is_array(self) -> bool:
        return self.type_category == "A"


@dataclass(frozen=True)
class Key:
    """A primary key or a unique constraint (or unique index) whose columns are all NOT NULL."""

    name: str
    columns: tuple[str, ...]
    is_primary: bool


@dataclass(frozen=True)
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    ref_schema: str
    ref_relation: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class Partition:
    """One partition of a partitioned table, at any depth (``level`` 1 is a direct child)."""

    schema: str
    name: str
    parent: str  # the partition's direct parent's name (in ``schema`` of the parent)
    level: int
    bound: str  # pg_get_expr(relpartbound): "FOR VALUES FROM ('2023-01-01') TO ('2024-01-01')"
    is_partitioned: bool  # a sub-partitioned partition (its own partitions follow it)


@dataclass(frozen=True)
class Extension:
    """An installed extension and the schema PostgreSQL records for it (pg_extension)."""

    name: str
    schema: str
    version: str


@dataclass(frozen=True)
class Relation:
    oid: int
    schema: str
    name: str
    kind: str  # one of RELATION_KINDS' values
    comment: str | None
    estimated_rows: int | None  # pg_class.reltuples; None when never vacuumed or analysed, or row_security
    columns: tuple[Column, ...]
    primary_key: Key | None = None
    unique_keys: tuple[Key, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    # Foreign keys of other published relations that point here (filled in by the snapshot).
    referenced_by: tuple[tuple[str, str, ForeignKey], ...] = ()
    is_populated: bool = True  # False for a materialized view never REFRESHed
    partitions: tuple[Partition, ...] = ()  # a partitioned table's partitions, depth first
    # Row security may hide some of its rows from the role (catalog_sql.ROW_SECURITY): its
    # statistics (row estimates, pg_stat counters, estimated extents) describe rows the role may
    # not see, so none is shown and its counts are exact (docs/operations.md, "Permissions and versions").
    row_security: bool = False

    @property
    def qualified_name(self) -> tuple[str, str]:
        return (self.schema, self.name)

    @property
    def key(self) -> Key | None:
        """The key that names one row in URLs: the primary key, else the first usable unique key."""
        if self.primary_key:
            return self.primary_key
        return self.unique_keys[0] if self.unique_keys else None

    @property
    def geometry_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.is_geometry)

    def column(self, name: str) -> Column | None:
        for c in self.columns:
            if c.name == name:
                return c
        return None


@dataclass(frozen=True)
class Skipped:
    """Something introspection saw and chose not to publish, with the reason."""

    what: str
    why: str
    schema: str | None = None  # for a relation left out: its schema and name
    name: str | None = None


@dataclass(frozen=True)
class Snapshot:
    version: str  # the catalog fingerprint this snapshot was built from
    built_at: float  # time.time() when it was built
    server_version: str
    relations: tuple[Relation, ...]
    skipped: tuple[Skipped, ...] = ()
    has_postgis: bool = False
    extensions: tuple[Extension, ...] = ()

    def extension_schema(self, name: str) -> str | None:
        """The schema an extension's objects live in, or None when it is not installed."""
        return next((e.schema for e in self.extensions if e.name == name), None)

    @cached_property
    def by_name(self) -> dict[tuple[str, str], Relation]:
        return {r.qualified_name: r for r in self.relations}

    def get(self, schema: str, name: str) -> Relation | None:
        return self.by_name.get((schema, name))

    def why_skipped(self, schema: str, name: str) -> str | None:
        """Why a relation the role may read is not published, or None."""
        return next((s.why for s in self.skipped if (s.schema, s.name) == (schema, name)), None)

    @property
    def schemas(self) -> list[str]:
        return sorted({r.schema for r in self.relations})

    def as_dict(self) -> dict:
        """A JSON-ready dump (for ``manage.py dump_snapshot`` and golden-file tests)."""
        return dataclasses.asdict(self)
