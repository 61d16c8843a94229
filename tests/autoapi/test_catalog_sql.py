"""Unit tests of ``autoapi/schema/catalog_sql.py``, the statements that read PostgreSQL's catalog.

Run directly as the reader and as the superuser: privileges filter what the reader sees, system
and temporary schemas are left out (and the ``LIKE`` escapes do not leave out look-alikes). Then
the contract between the three readers of the catalog: whenever a change alters what
``read_snapshot`` returns, the fingerprint (``RELATION_HASHES_SQL``) and the change probe
(``CHANGE_PROBE_SQL``) must both move, or the registry would keep serving a stale snapshot.
"""

from __future__ import annotations

import dataclasses

import pytest
from django.db import connections

from autoapi.conf import DATABASE_ALIAS
from autoapi.schema.catalog_sql import RELATIONS_SQL
from autoapi.schema.introspect import change_probe, fingerprint, read_snapshot


def relations_as(conn_execute, schemas=()) -> dict[tuple[str, str], tuple]:
    """(schema, name) -> (relkind, from_extension) of RELATIONS_SQL's rows."""
    rows = conn_execute(RELATIONS_SQL, {"schemas": list(schemas), "only": None})
    return {
        (schema, name): (relkind, from_extension)
        for _oid, schema, name, relkind, _c, _n, _p, from_extension, _s in rows
    }


def reader_execute(sql, params):
    with connections[DATABASE_ALIAS].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def test_relations_sql_is_filtered_by_the_roles_privileges(superuser_conn):
    as_superuser = relations_as(superuser_conn.execute)
    as_reader = relations_as(reader_execute)
    assert ("public", "secret_table") in as_superuser and ("public", "secret_table") not in as_reader
    assert ("secret_schema", "hidden_things") in as_superuser
    assert not any(schema == "secret_schema" for schema, _ in as_reader)
    assert ("public", "partial_columns") in as_reader  # some columns are readable
    granted_alone = {("public", "private_log_2024")}  # see test_relations_sql_partitions
    assert set(as_reader) - granted_alone < set(as_superuser)


def test_relations_sql_partitions(superuser_conn):
    as_superuser = relations_as(superuser_conn.execute)
    as_reader = relations_as(reader_execute)
    # The superuser reads every parent: no partition is listed on its own.
    assert ("public", "measurements_2023") not in as_superuser
    assert ("public", "private_log_2024") not in as_superuser
    # The reader may read this partition but not its parent: listed.
    assert as_reader[("public", "private_log_2024")] == ("r", False)
    assert ("public", "private_log") not in as_reader
    # Limited to PORTAL_SCHEMAS = public: the same.
    assert relations_as(reader_execute, ["public"])[("public", "events")] == ("p", False)


@pytest.mark.spatial
def test_relations_sql_flags_extension_members():
    as_reader = relations_as(reader_execute)
    assert as_reader[("extensions", "spatial_ref_sys")] == ("r", True)
    assert as_reader[("public", "single_pk")] == ("r", False)


def test_system_and_temporary_schemas_are_left_out_but_look_alikes_are_not(superuser_conn):
    # "pgxtoast..." and "pgxtempx..." would match 'pg_toast%' / 'pg_temp_%' if "_" were not escaped.
    superuser_conn.at_teardown("DROP SCHEMA IF EXISTS pgxtoastx CASCADE")
    superuser_conn.at_teardown("DROP SCHEMA IF EXISTS pgxtempx1 CASCADE")
    for schema in ("pgxtoastx", "pgxtempx1"):
        superuser_conn.execute(f"CREATE SCHEMA {schema}")
        superuser_conn.execute(f"CREATE TABLE {schema}.t (id int)")
    superuser_conn.execute("CREATE TEMP TABLE unit_temp_table (id int)")
    listed = relations_as(superuser_conn.execute)
    assert ("pgxtoastx", "t") in listed and ("pgxtempx1", "t") in listed
    assert not any(
        schema.startswith(("pg_temp", "pg_toast", "pg_catalog", "information_schema")) for schema, _ in listed
    )
    assert not any(name == "unit_temp_table" for _, name in listed)


# -- fingerprint and probe follow everything the snapshot holds ---------------------------------


SETUP = [
    "CREATE TYPE public.unit_cs_enum AS ENUM ('x', 'y')",
    "CREATE TABLE public.unit_cs (id int PRIMARY KEY, a int DEFAULT 1, b text, c public.unit_cs_enum)",
    "CREATE UNIQUE INDEX unit_cs_ui ON public.unit_cs (id, a) WHERE false",  # partial: never a key
    "CREATE UNIQUE INDEX unit_cs_key ON public.unit_cs (id)",
    "CREATE ROLE unit_cs_role",
    "CREATE TABLE public.unit_cs_hidden (id int PRIMARY KEY)",
    "REVOKE ALL ON public.unit_cs_hidden FROM portal_reader",
    "GRANT SELECT ON public.unit_cs_hidden TO unit_cs_role",
]
TEARDOWN = [  # run in this order
    "REVOKE unit_cs_role FROM portal_reader",
    "DROP TABLE IF EXISTS public.unit_cs, public.unit_cs_renamed, public.unit_cs_hidden",
    "DROP TYPE IF EXISTS public.unit_cs_enum, public.unit_cs_enum_renamed",
    "DROP ROLE IF EXISTS unit_cs_role",
]


def state(cursor_schemas=("public",)):
    """(fingerprint, probe, the unit_cs* relations as read_snapshot gives them, minus row estimates)."""
    with connections[DATABASE_ALIAS].cursor() as cursor:
        probe = change_probe(cursor)
        version = fingerprint(cursor, list(cursor_schemas))
        snapshot = read_snapshot(cursor, list(cursor_schemas), version)
    relations = {
        r.name: dataclasses.replace(r, estimated_rows=None, oid=0)
        for r in snapshot.relations
        if r.name.startswith("unit_cs")
    }
    return version, probe, relations


CHANGES = {
    "column comment": "COMMENT ON COLUMN public.unit_cs.b IS 'bee'",
    "table comment": "COMMENT ON TABLE public.unit_cs IS 'see'",
    "rename column": "ALTER TABLE public.unit_cs RENAME COLUMN b TO bb",
    "set not null": "ALTER TABLE public.unit_cs ALTER COLUMN b SET NOT NULL",
    "drop default": "ALTER TABLE public.unit_cs ALTER COLUMN a DROP DEFAULT",
    "enum value": "ALTER TYPE public.unit_cs_enum ADD VALUE 'z'",
    "rename enum value": "ALTER TYPE public.unit_cs_enum RENAME VALUE 'x' TO 'ex'",
    "column type": "ALTER TABLE public.unit_cs ALTER COLUMN a TYPE bigint",
    "unique constraint": "ALTER TABLE public.unit_cs ALTER COLUMN b SET NOT NULL, ADD CONSTRAINT unit_cs_b UNIQUE (b)",
    "rename constraint": "ALTER TABLE public.unit_cs RENAME CONSTRAINT unit_cs_pkey TO unit_cs_pk",
    "revoke a column": "REVOKE SELECT ON public.unit_cs FROM portal_reader; GRANT SELECT (id, a) ON public.unit_cs TO portal_reader",
    "rename table": "ALTER TABLE public.unit_cs RENAME TO unit_cs_renamed",
    "change default": pytest.param("ALTER TABLE public.unit_cs ALTER COLUMN a SET DEFAULT 2"),
    "rename type": pytest.param("ALTER TYPE public.unit_cs_enum RENAME TO unit_cs_enum_renamed"),
    "rename unique index": pytest.param("ALTER INDEX public.unit_cs_key RENAME TO unit_cs_key_renamed"),
    "role membership": pytest.param("GRANT unit_cs_role TO portal_reader"),
}


@pytest.mark.parametrize("ddl", list(CHANGES.values()), ids=list(CHANGES))
def test_a_change_to_the_snapshot_moves_fingerprint_and_probe(superuser_conn, ddl):
    for sql in reversed(TEARDOWN):
        superuser_conn.at_teardown(sql)
    for sql in SETUP:
        superuser_conn.execute(sql)
    version, probe, relations = state()
    assert set(relations) == {"unit_cs"}
    assert relations["unit_cs"].unique_keys[0].name == "unit_cs_key"

    superuser_conn.execute(ddl)
    new_version, new_probe, new_relations = state()
    assert new_relations != relations, "the change must show in a fresh snapshot (else this case tests nothing)"
    assert (new_version != version, new_probe != probe) == (True, True)


# -- a partial read equals a whole read ----------------------------------------------------------

PARTIAL_SETUP = [
    *SETUP,
    "CREATE TABLE public.unit_cs_child (id int PRIMARY KEY, parent int REFERENCES public.unit_cs (id))",
    "GRANT SELECT ON public.unit_cs_child TO portal_reader",
    "CREATE VIEW public.unit_cs_view AS SELECT id, b FROM public.unit_cs",
    "GRANT SELECT ON public.unit_cs_view TO portal_reader",
]
# For the renamed table: a column of its row type names it (it cannot change type meanwhile).
ROW_TYPE_SETUP = [
    "CREATE TABLE public.unit_cs_rows (id int PRIMARY KEY, r public.unit_cs, rs public.unit_cs[])",
    "GRANT SELECT ON public.unit_cs_rows TO portal_reader",
]
PARTIAL_TEARDOWN = [
    "DROP VIEW IF EXISTS public.unit_cs_view",
    "DROP TABLE IF EXISTS public.unit_cs_child, public.unit_cs_new, public.unit_cs_child2, public.unit_cs_rows",
    *TEARDOWN,
]
# The changes a partial read handles (the other CHANGES need a whole read: a type, a role).
PARTIAL_CHANGES = {
    **{
        k: v
        for k, v in CHANGES.items()
        if k not in ("enum value", "rename enum value", "rename type", "role membership")
    },
    "new table": "CREATE TABLE public.unit_cs_new (id int PRIMARY KEY, t text); GRANT SELECT ON public.unit_cs_new TO portal_reader",
    "new table pointing at one": "CREATE TABLE public.unit_cs_child2 (id int PRIMARY KEY, up int REFERENCES public.unit_cs (id));"
    " GRANT SELECT ON public.unit_cs_child2 TO portal_reader",
    "drop the referencing table": "DROP TABLE public.unit_cs_child",
    "drop a view": "DROP VIEW public.unit_cs_view",
    "revoke a table": "REVOKE SELECT ON public.unit_cs_child FROM portal_reader",
    "row security under a view": "ALTER TABLE public.unit_cs ENABLE ROW LEVEL SECURITY",
    "redefine a view": "CREATE OR REPLACE VIEW public.unit_cs_view AS SELECT id, b, a FROM public.unit_cs",
    "the referenced column hidden": "REVOKE SELECT ON public.unit_cs FROM portal_reader;"
    " GRANT SELECT (a, b, c) ON public.unit_cs TO portal_reader",
}


def _without_estimates(snapshot):
    # Row estimates are not part of the fingerprint: a partial read keeps the unchanged relations'.
    return (
        [dataclasses.replace(r, estimated_rows=None) for r in snapshot.relations],
        sorted(snapshot.skipped, key=repr),
        snapshot.version,
    )


def _partial_fixture(superuser_conn, setup: list[str]):
    """The partial-read tables made (and dropped at teardown); the fingerprint's parts and the
    snapshot read before the change."""
    from autoapi.schema.introspect import relation_hashes, version_of

    for sql in reversed(PARTIAL_TEARDOWN):
        superuser_conn.at_teardown(sql)
    for sql in setup:
        superuser_conn.execute(sql)
    with connections[DATABASE_ALIAS].cursor() as cursor:
        before_hashes = relation_hashes(cursor, ["public"])
        return before_hashes, read_snapshot(cursor, ["public"], version_of(before_hashes))


@pytest.mark.parametrize("ddl", list(PARTIAL_CHANGES.values()), ids=list(PARTIAL_CHANGES))
def test_a_partial_read_equals_a_whole_read(superuser_conn, ddl):
    """The registry reads again only the relations whose parts of the fingerprint moved (and the
    views over them, and those whose foreign keys name them): the snapshot it builds so must be
    exactly the one a whole read gives."""
    from autoapi.schema.introspect import changed_relations, read_changes, relation_hashes, version_of

    before_hashes, before = _partial_fixture(
        superuser_conn, PARTIAL_SETUP + (ROW_TYPE_SETUP if "RENAME TO" in ddl else [])
    )
    superuser_conn.execute(ddl)
    with connections[DATABASE_ALIAS].cursor() as cursor:
        after_hashes = relation_hashes(cursor, ["public"])
        whole = read_snapshot(cursor, ["public"], version_of(after_hashes))
        changed = changed_relations(before, before_hashes, after_hashes)
        assert changed, "this change is read partially: it names the changed relations"
        partial = read_changes(cursor, ["public"], before, changed, version_of(after_hashes))
    assert partial is not None
    assert _without_estimates(partial) == _without_estimates(whole)
    assert len(changed) < len(whole.relations) // 2 or len(whole.relations) < 10
    kept = {r.oid for r in before.relations} & {r.oid for r in partial.relations}
    reused = [r for r in partial.relations if r.oid in kept and r in before.relations]
    assert any(r is next(b for b in before.relations if b.oid == r.oid) for r in reused), "unchanged records are kept"


@pytest.mark.parametrize("ddl", ["ALTER TYPE public.unit_cs_enum ADD VALUE 'z'", "GRANT unit_cs_role TO portal_reader"])
def test_what_every_relation_depends_on_needs_a_whole_read(superuser_conn, ddl):
    from autoapi.schema.introspect import changed_relations, relation_hashes

    before_hashes, before = _partial_fixture(superuser_conn, PARTIAL_SETUP)
    superuser_conn.execute(ddl)
    with connections[DATABASE_ALIAS].cursor() as cursor:
        assert changed_relations(before, before_hashes, relation_hashes(cursor, ["public"])) is None
