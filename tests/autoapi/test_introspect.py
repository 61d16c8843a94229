"""Unit tests of ``autoapi/schema/introspect.py`` (with the SQL of ``catalog_sql.py``): ``read_snapshot``
on the reader's own connection returns what tests/fixtures/*.sql hold, and nothing the reader
may not read; the small parsers; ``fingerprint`` and ``change_probe`` before and after DDL.

``read_snapshot`` is called directly with a cursor of Django's ``published`` connection (the
read-only role), never through the registry.
"""

from __future__ import annotations

import pytest
from django.db import connections

from autoapi.conf import DATABASE_ALIAS
from autoapi.schema.introspect import (
    UNKNOWN_TYPE,
    _geometry_typmod,
    _Reader,
    _resolve_type,
    change_probe,
    fingerprint,
    read_snapshot,
)
from autoapi.schema.snapshot import ForeignKey, Key, Partition


def read(schemas=()):
    with connections[DATABASE_ALIAS].cursor() as cursor:
        return read_snapshot(cursor, list(schemas))


@pytest.fixture(scope="module")
def snapshot():
    return read()


def rel(snapshot, name, schema="public"):
    found = snapshot.get(schema, name)
    assert found is not None, f"{schema}.{name} missing"
    return found


def current_fingerprint(schemas=()):
    with connections[DATABASE_ALIAS].cursor() as cursor:
        return fingerprint(cursor, list(schemas))


def current_probe():
    with connections[DATABASE_ALIAS].cursor() as cursor:
        return change_probe(cursor)


# -- relations and kinds -----------------------------------------------------------------------


@pytest.mark.db
def test_schemas_and_kinds(snapshot):
    assert snapshot.schemas == ["Odd Schema", "public", "sales"]
    kinds = {(r.schema, r.name): r.kind for r in snapshot.relations}
    assert kinds[("public", "single_pk")] == "table"
    assert kinds[("public", "measurements")] == "partitioned table"
    assert kinds[("public", "v_single")] == "view"
    assert kinds[("sales", "customer_totals")] == "view"
    assert kinds[("public", "mv_populated")] == "materialized view"
    assert kinds[("public", "foreign_csv")] == "foreign table"
    assert rel(snapshot, "mv_unpopulated").is_populated is False
    assert rel(snapshot, "mv_populated").is_populated is True


@pytest.mark.db
def test_server_version_and_fingerprint_are_recorded(snapshot):
    with connections[DATABASE_ALIAS].cursor() as cursor:
        cursor.execute("SHOW server_version")
        assert snapshot.server_version == cursor.fetchone()[0]
    assert snapshot.version == current_fingerprint()


@pytest.mark.db
def test_nothing_unreadable_is_published(snapshot, secret_sentinels):
    names = {(r.schema, r.name) for r in snapshot.relations}
    assert ("public", "secret_table") not in names
    assert not any(r.schema == "secret_schema" for r in snapshot.relations)
    assert [c.name for c in rel(snapshot, "partial_columns").columns] == ["id", "visible"]
    dump = repr(snapshot)
    for sentinel in secret_sentinels:
        assert sentinel not in dump


@pytest.mark.db
def test_partitions_are_published_through_their_parent_only(snapshot):
    names = {r.name for r in snapshot.relations}
    assert {"measurements", "events"} <= names
    assert not names & {
        "measurements_2023",
        "measurements_2024",
        "events_eu",
        "events_eu_2024",
        "events_us",
        "events_other",
    }
    # Granted alone (its parent and sibling are not readable): published on its own.
    assert "private_log_2024" in names
    assert not names & {"private_log", "private_log_2025"}


@pytest.mark.db
def test_partitions_with_bounds_depth_first(snapshot):
    assert rel(snapshot, "measurements").partitions == (
        Partition(
            "public", "measurements_2023", "measurements", 1, "FOR VALUES FROM ('2023-01-01') TO ('2024-01-01')", False
        ),
        Partition(
            "public", "measurements_2024", "measurements", 1, "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')", False
        ),
    )
    assert rel(snapshot, "events").partitions == (
        Partition("public", "events_eu", "events", 1, "FOR VALUES IN ('eu')", True),
        Partition(
            "public", "events_eu_2024", "events_eu", 2, "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')", False
        ),
        Partition(
            "public", "events_eu_2025", "events_eu", 2, "FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')", False
        ),
        Partition("public", "events_other", "events", 1, "DEFAULT", False),
        Partition("public", "events_us", "events", 1, "FOR VALUES IN ('us', 'ca')", False),
    )
    assert rel(snapshot, "private_log_2024").partitions == ()
    assert rel(snapshot, "single_pk").partitions == ()


@pytest.mark.db
def test_schemas_setting_limits_the_snapshot():
    only_sales = read(["sales"])
    assert {r.name for r in only_sales.relations} == {"customers", "orders", "customer_totals"}
    assert read(["sales", "Odd Schema"]).schemas == ["Odd Schema", "sales"]
    assert read(["no such schema"]).relations == ()


@pytest.mark.db
def test_estimated_rows_after_analyze(snapshot):
    assert rel(snapshot, "big_2500").estimated_rows == 2500
    assert rel(snapshot, "empty_cols").estimated_rows == 3
    assert rel(snapshot, "v_single").estimated_rows is None


# -- keys ----------------------------------------------------------------------------------------


@pytest.mark.db
def test_primary_keys_single_and_composite(snapshot):
    assert rel(snapshot, "single_pk").primary_key == Key("single_pk_pkey", ("id",), True)
    assert rel(snapshot, "composite_pk").primary_key == Key("composite_pk_pkey", ("region_id", "code"), True)
    assert rel(snapshot, "events").key.columns == ("id", "region", "happened")
    assert rel(snapshot, "price$list").key.columns == ("id$",)


@pytest.mark.db
def test_unique_keys_only_over_not_null_columns(snapshot):
    unique_only = rel(snapshot, "unique_only")
    assert unique_only.primary_key is None
    assert unique_only.unique_keys == (Key("unique_only_email_key", ("email",), False),)
    assert unique_only.key == unique_only.unique_keys[0]
    unique_nullable = rel(snapshot, "unique_nullable")
    assert (unique_nullable.primary_key, unique_nullable.unique_keys, unique_nullable.key) == (None, (), None)
    assert rel(snapshot, "no_key_dupes").key is None
    assert rel(snapshot, "v_single").key is None


def test_unique_indexes_plain_partial_and_expression(superuser_conn):
    superuser_conn.at_teardown("DROP TABLE IF EXISTS public.unit_unique_indexes")
    superuser_conn.execute(
        "CREATE TABLE public.unit_unique_indexes (a int NOT NULL, b int NOT NULL, c text NOT NULL, d int, e int NOT NULL)"
    )
    superuser_conn.execute("CREATE UNIQUE INDEX unit_ui_plain ON public.unit_unique_indexes (b, a)")
    superuser_conn.execute("CREATE UNIQUE INDEX unit_ui_partial ON public.unit_unique_indexes (c) WHERE a > 0")
    superuser_conn.execute("CREATE UNIQUE INDEX unit_ui_expression ON public.unit_unique_indexes (lower(c))")
    superuser_conn.execute("CREATE UNIQUE INDEX unit_ui_nullable ON public.unit_unique_indexes (d, e)")
    found = rel(read(["public"]), "unit_unique_indexes")
    assert found.primary_key is None
    assert found.unique_keys == (Key("unit_ui_plain", ("b", "a"), False),)


@pytest.mark.db
def test_foreign_keys(snapshot):
    assert rel(snapshot, "fk_simple").foreign_keys == (
        ForeignKey("fk_simple_single_pk_id_fkey", ("single_pk_id",), "public", "single_pk", ("id",)),
    )
    assert rel(snapshot, "fk_composite").foreign_keys == (
        ForeignKey(
            "fk_composite_region_id_code_fkey", ("region_id", "code"), "public", "composite_pk", ("region_id", "code")
        ),
    )
    assert rel(snapshot, "fk_unique").foreign_keys[0].ref_columns == ("email",)
    cross = rel(snapshot, "fk_cross_schema").foreign_keys[0]
    assert (cross.columns, cross.ref_schema, cross.ref_relation, cross.ref_columns) == (
        ("customer_id",),
        "sales",
        "customers",
        ("id",),
    )
    assert rel(snapshot, "order$line").foreign_keys == (
        ForeignKey("order$line_price$id_fkey", ("price$id",), "public", "price$list", ("id$",)),
    )
    tree = rel(snapshot, "tree_nodes")
    assert tree.referenced_by == (("public", "tree_nodes", tree.foreign_keys[0]),)


@pytest.mark.db
def test_referenced_by_lists_every_incoming_foreign_key(snapshot):
    incoming = {(schema, name) for schema, name, _fk in rel(snapshot, "customers", "sales").referenced_by}
    assert incoming == {("sales", "orders"), ("public", "fk_cross_schema")}
    assert [name for _s, name, _fk in rel(snapshot, "single_pk").referenced_by] == ["fk_simple"]


@pytest.mark.db
def test_foreign_keys_never_point_at_unreadable_or_unpublished_relations(snapshot):
    published = {(r.schema, r.name) for r in snapshot.relations}
    for relation in snapshot.relations:
        for fk in relation.foreign_keys:
            assert (fk.ref_schema, fk.ref_relation) in published, (relation.name, fk)
    assert rel(snapshot, "refs_hidden").foreign_keys == ()  # its target, secret_table, is not readable
    # With PORTAL_SCHEMAS = public only, the key to sales.customers is not published either.
    assert rel(read(["public"]), "fk_cross_schema").foreign_keys == ()


# -- columns and types -------------------------------------------------------------------------


@pytest.mark.db
def test_columns_in_order_with_unique_attnames(snapshot):
    for relation in snapshot.relations:
        positions = [c.position for c in relation.columns]
        assert positions == sorted(positions)
        assert len({c.attname for c in relation.columns}) == len(relation.columns), relation.name
    names = [c.name for c in rel(snapshot, "case_and_mapping_collisions").columns]
    assert names == ["id", "Value", "VALUE", "value", "value$", "value%", "value."]
    assert rel(snapshot, "empty_cols").columns == ()


@pytest.mark.db
def test_column_facts(snapshot):
    orders = rel(snapshot, "orders", "sales")
    total = orders.column("total")
    assert (total.type, total.base_type, total.type_category, total.nullable) == (
        "numeric(12,2)",
        "numeric",
        "N",
        False,
    )
    generated = rel(snapshot, "generated_cols").column("doubled")
    assert generated.default == "(a * 2)"
    assert rel(snapshot, "v_single").column("name").comment == 'Name, from the "single_pk" table'
    assert rel(snapshot, "single_pk").comment == 'A plain table with a "single" primary key — it\'s ünïcödé ✓'


@pytest.mark.db
def test_domains_resolve_to_their_base_type(snapshot):
    custom = rel(snapshot, "types_custom")
    positive, email = custom.column("positive"), custom.column("email")
    assert (positive.type, positive.base_type, positive.type_kind) == ("posint", "int4", "b")
    assert (email.type, email.base_type) == ("email_text", "text")


@pytest.mark.db
def test_enums_composites_and_arrays(snapshot):
    mood = rel(snapshot, "types_custom").column("mood")
    assert (mood.type_kind, mood.type_schema) == ("e", "public")
    assert mood.enum_labels == ("happy", "sad", "it's complicated", "with space", "ÜBER")
    status = rel(snapshot, "Mixed Case Table", "Odd Schema").column("status")
    assert (status.type_schema, status.enum_labels) == ("Odd Schema", ("new", "in progress", "done"))
    assert rel(snapshot, "types_custom").column("addr").type_kind == "c"
    ia = rel(snapshot, "types_arrays").column("ia")
    assert (ia.is_array, ia.base_type, ia.element_type, ia.type_schema) == (True, "_int4", "int4", "pg_catalog")


def test_extensions_and_the_type_schema_of_their_columns(snapshot, pg_info):
    schemas = {e.name: e.schema for e in snapshot.extensions}
    for name in ("citext", "hstore", "ltree", "isn", "cube"):
        assert schemas[name] == "extensions"
    assert snapshot.extension_schema("citext") == "extensions"
    assert snapshot.extension_schema("no_such_extension") is None
    assert all(e.version for e in snapshot.extensions)
    assert snapshot.has_postgis is pg_info["has_postgis"]
    columns = rel(snapshot, "extension_types")
    for name, base in [
        ("email", "citext"),
        ("attributes", "hstore"),
        ("category", "ltree"),
        ("isbn", "isbn13"),
        ("extent", "cube"),
    ]:
        assert (columns.column(name).base_type, columns.column(name).type_schema) == (base, "extensions"), name
    aliases = columns.column("aliases")
    assert (aliases.is_array, aliases.element_type) == (True, "citext")
    assert rel(snapshot, "single_pk").column("name").type_schema == "pg_catalog"


@pytest.mark.spatial
def test_geometry_columns(snapshot):
    assert snapshot.extension_schema("postgis") == "extensions"
    cases = {
        "geo_points": ("geom", "Point", 4326, False),
        "geo_polygons_2263": ("geom", "Polygon", 2263, False),
        "geo_multipolygons_3857": ("geom", "MultiPolygon", 3857, False),
        "geog_points": ("geog", "Point", 4326, True),
        "geom_mixed": ("geom", "Geometry", 0, False),
    }
    for table, (name, geometry_type, srid, geography) in cases.items():
        column = rel(snapshot, table).column(name)
        assert (column.geometry_type, column.srid, column.is_geography, column.type_schema) == (
            geometry_type,
            srid,
            geography,
            "extensions",
        ), table
        assert rel(snapshot, table).geometry_columns == (column,)


@pytest.mark.spatial
def test_extension_relations_are_skipped_with_a_reason(snapshot):
    skipped = {(s.schema, s.name): s.why for s in snapshot.skipped}
    assert skipped[("extensions", "spatial_ref_sys")] == "it belongs to an extension"
    assert snapshot.why_skipped("extensions", "spatial_ref_sys") == "it belongs to an extension"
    assert snapshot.get("extensions", "spatial_ref_sys") is None


@pytest.mark.db
def test_only_extension_relations_are_skipped_on_the_fixture(snapshot):
    assert all(s.why == "it belongs to an extension" for s in snapshot.skipped), snapshot.skipped


@pytest.mark.db
def test_a_failed_optional_read_is_recorded_not_raised():
    with connections[DATABASE_ALIAS].cursor() as cursor:
        reader = _Reader(cursor, [])
        assert reader.optional_rows("partitions", "SELECT 1 / 0") == []
        assert reader.rows("SELECT 2") == [(2,)]  # the connection is still usable
    assert len(reader.skipped) == 1
    assert reader.skipped[0].what == "partitions"
    assert reader.skipped[0].why == "could not be read: division by zero"


# -- small parsers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("formatted", "expected"),
    [
        ("geometry(Point,4326)", ("Point", 4326)),
        ("extensions.geography(PointZ,4326)", ("PointZ", 4326)),
        ('"Odd Schema".geometry(MultiPolygon, 3857)', ("MultiPolygon", 3857)),
        ("geometry(Polygon)", ("Polygon", 0)),
        ("geometry( LineStringZM , 2263 )", ("LineStringZM", 2263)),
        ("geometry", ("Geometry", 0)),
        ("extensions.geography", ("Geometry", 0)),
        ("geometry(Point,4326)[]", ("Geometry", 0)),  # only the type modifier at the very end counts
    ],
)
def test_geometry_typmod(formatted, expected):
    assert _geometry_typmod(formatted) == expected


def test_resolve_type_follows_stacked_domains():
    types = {
        1: {"typname": "outer", "typtype": "d", "typbasetype": 2},
        2: {"typname": "inner", "typtype": "d", "typbasetype": 3},
        3: {"typname": "int4", "typtype": "b", "typbasetype": 0},
        4: {"typname": "dangling", "typtype": "d", "typbasetype": 99},
        5: {"typname": "loop", "typtype": "d", "typbasetype": 5},
    }
    assert _resolve_type(types, 1)["typname"] == "int4"
    assert _resolve_type(types, 3)["typname"] == "int4"
    assert _resolve_type(types, 4) is UNKNOWN_TYPE
    assert _resolve_type(types, 42) is UNKNOWN_TYPE
    assert _resolve_type(types, 5)["typname"] == "loop"  # bounded: a cycle never hangs


# -- fingerprint and change probe ----------------------------------------------------------------


@pytest.mark.db
def test_fingerprint_and_probe_are_stable_without_changes():
    assert current_fingerprint() == current_fingerprint()
    assert current_probe() == current_probe()


def test_fingerprint_follows_comments_not_data(superuser_conn):
    superuser_conn.at_teardown("DROP TABLE IF EXISTS public.unit_fingerprint")
    superuser_conn.execute("CREATE TABLE public.unit_fingerprint (id int PRIMARY KEY, a text)")
    before, before_sales = current_fingerprint(), current_fingerprint(["sales"])

    superuser_conn.execute("INSERT INTO public.unit_fingerprint SELECT g, 'x' FROM generate_series(1, 100) g")
    superuser_conn.execute("ANALYZE public.unit_fingerprint")
    assert current_fingerprint() == before, "data and statistics are not part of the fingerprint"

    superuser_conn.execute("COMMENT ON TABLE public.unit_fingerprint IS 'first'")
    commented = current_fingerprint()
    assert commented != before
    assert current_fingerprint(["sales"]) == before_sales, "a change outside the schemas does not count"

    probe = current_probe()
    superuser_conn.execute("COMMENT ON TABLE public.unit_fingerprint IS 'first'")  # same text again
    assert current_fingerprint() == commented
    assert current_probe() != probe, "the probe moves on any catalog write"

    superuser_conn.execute("COMMENT ON COLUMN public.unit_fingerprint.a IS 'column comment'")
    assert current_fingerprint() not in (before, commented)

    superuser_conn.execute("COMMENT ON COLUMN public.unit_fingerprint.a IS NULL")
    superuser_conn.execute("COMMENT ON TABLE public.unit_fingerprint IS NULL")
    assert current_fingerprint() == before, "the fingerprint is a function of the catalog's content"


@pytest.mark.parametrize(
    "ddl",
    [
        "CREATE TABLE public.unit_probe_new (id int)",
        "ALTER TABLE public.unit_probe ADD COLUMN b int",
        "ALTER TABLE public.unit_probe DROP COLUMN a",
        "ALTER TABLE public.unit_probe ADD CONSTRAINT unit_probe_a_key UNIQUE (a)",
        "CREATE INDEX unit_probe_a ON public.unit_probe (a)",
        "GRANT SELECT ON public.unit_probe TO PUBLIC",
        "COMMENT ON TABLE public.unit_probe IS 'probe'",
        "CREATE TYPE public.unit_probe_enum AS ENUM ('x')",
        "ALTER TABLE public.unit_probe ALTER COLUMN a SET DEFAULT 1",
        "DROP TABLE public.unit_probe",
    ],
)
def test_change_probe_moves_on_ddl(superuser_conn, ddl):
    superuser_conn.at_teardown("DROP TABLE IF EXISTS public.unit_probe")
    superuser_conn.at_teardown("DROP TABLE IF EXISTS public.unit_probe_new")
    superuser_conn.at_teardown("DROP TYPE IF EXISTS public.unit_probe_enum")
    superuser_conn.execute("CREATE TABLE public.unit_probe (id int PRIMARY KEY, a int)")
    before = current_probe()
    superuser_conn.execute(ddl)
    assert current_probe() != before


def test_new_table_shows_in_a_new_snapshot(superuser_conn):
    superuser_conn.at_teardown('DROP TABLE IF EXISTS public."unit new ~ table"')
    superuser_conn.execute('CREATE TABLE public."unit new ~ table" (id int PRIMARY KEY, "Ü" text NOT NULL)')
    snapshot = read(["public"])
    created = rel(snapshot, "unit new ~ table")
    assert [(c.name, c.nullable) for c in created.columns] == [("id", False), ("Ü", False)]
    assert created.key.columns == ("id",)
    assert snapshot.version == current_fingerprint(["public"])
