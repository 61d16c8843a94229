"""The harness's fixture database loaded, and the reader role is as weak as it should be."""

import os

import psycopg2
import psycopg2.errors
import pytest

pytestmark = pytest.mark.db  # every test here reads the fixture database


def test_environment_from_harness(pg_info):
    assert os.environ["PORTAL_TEST_SERVER"] in ("debian", "embedded")
    assert os.environ["PORTAL_REFRESH_INTERVAL"] == "0.2"
    assert os.environ["PORTAL_TEST_HAS_POSTGIS"] in ("0", "1")
    expected = 150000 if pg_info["server"] == "debian" else 180000
    assert expected <= pg_info["version_num"] < expected + 10000


def test_fixture_relations_loaded(superuser_conn):
    rows = superuser_conn.execute(
        """
        SELECT n.nspname, c.relname, c.relkind
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p')
          AND n.nspname IN ('public', 'sales', 'Odd Schema', 'secret_schema')
        """
    )
    found = {(schema, name): kind for schema, name, kind in rows}
    for key, kind in {
        ("public", "Foo"): "r",
        ("public", "foo"): "r",
        ("public", 'quote"d'): "r",
        ("public", "📈 emoji"): "r",
        ("public", "this_relation_name_is_exactly_sixty_three_bytes_long_0123456789"): "r",
        ("public", "empty_cols"): "r",
        ("public", "measurements"): "p",
        ("public", "v_errors"): "v",
        ("public", "mv_populated"): "m",
        ("public", "mv_unpopulated"): "m",
        ("sales", "orders"): "r",
        ("Odd Schema", "Mixed Case Table"): "r",
        ("secret_schema", "hidden_things"): "r",
        ("public", "secret_table"): "r",
    }.items():
        assert found.get(key) == kind, key
    assert superuser_conn.execute("SELECT count(*) FROM public.big_2500")[0][0] == 2500
    assert (
        superuser_conn.execute(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.wide_120'::regclass AND attnum > 0"
        )[0][0]
        == 120
    )
    populated = dict(
        superuser_conn.execute(
            "SELECT relname, relispopulated FROM pg_class WHERE relname IN ('mv_populated', 'mv_unpopulated')"
        )
    )
    assert populated == {"mv_populated": True, "mv_unpopulated": False}
    has_postgis = bool(superuser_conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'postgis'")[0][0])
    assert has_postgis == (os.environ["PORTAL_TEST_HAS_POSTGIS"] == "1")


def test_reader_reads_exact_values(reader_conn):
    with reader_conn.cursor() as cur:
        cur.execute("SELECT current_user, current_setting('default_transaction_read_only')")
        assert cur.fetchone() == ("portal_reader", "on")
        cur.execute("SELECT n_free::text, i8::text FROM public.types_numeric WHERE id = 1")
        assert cur.fetchone() == ("12345678901234567890.123456789", "9007199254740993")
        cur.execute('SELECT "Label" FROM "Odd Schema"."Mixed Case Table" WHERE id = 1')
        assert cur.fetchone() == ("first",)
        cur.execute("SELECT id, visible FROM public.partial_columns ORDER BY id")
        assert cur.fetchall() == [(1, "visible one"), (2, "visible two")]
        cur.execute("SELECT count(*) FROM pg_stats WHERE tablename = 'big_2500'")
        assert cur.fetchone()[0] > 0  # ANALYZE ran
        cur.execute("SELECT to_regclass('public.foreign_csv') IS NOT NULL")
        if cur.fetchone()[0]:  # file_fdw was available
            cur.execute("SELECT id, label FROM public.foreign_csv ORDER BY id")
            assert cur.fetchall() == [(1, "alpha"), (2, 'beta, "quoted"'), (3, None)]


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO public.single_pk VALUES (99, 'nope')",
        "UPDATE public.single_pk SET name = 'nope'",
        "DELETE FROM public.single_pk",
        "CREATE TABLE public.reader_made (id integer)",
        "CREATE TEMP TABLE reader_temp (id integer)",
    ],
)
def test_reader_cannot_write(reader_conn, sql):
    with reader_conn.cursor() as cur, pytest.raises(psycopg2.Error) as err:
        cur.execute(sql)
    assert isinstance(err.value, (psycopg2.errors.ReadOnlySqlTransaction, psycopg2.errors.InsufficientPrivilege))


def test_reader_cannot_write_even_with_read_only_off(reader_conn):
    """default_transaction_read_only is a guard only; the missing grants are what enforces it."""
    with reader_conn.cursor() as cur:
        cur.execute("SET default_transaction_read_only = off")
        for sql in ("INSERT INTO public.single_pk VALUES (99, 'nope')", "CREATE TABLE public.reader_made (id integer)"):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(sql)


def test_reader_cannot_see_secrets(reader_conn):
    with reader_conn.cursor() as cur:
        cur.execute(
            """
            SELECT has_schema_privilege('secret_schema', 'USAGE'),
                   has_table_privilege('public.secret_table', 'SELECT'),
                   has_table_privilege('public.partial_columns', 'SELECT'),
                   has_column_privilege('public.partial_columns', 'secret_col', 'SELECT'),
                   has_column_privilege('public.partial_columns', 'visible', 'SELECT'),
                   has_table_privilege('public.refs_hidden', 'SELECT')
            """
        )
        assert cur.fetchone() == (False, False, False, False, True, True)
        for sql in (
            "SELECT * FROM public.secret_table",
            "SELECT secret_col FROM public.partial_columns",
            "SELECT * FROM public.partial_columns",
            "SELECT * FROM secret_schema.hidden_things",
        ):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(sql)
        # Statistics of unreadable columns are filtered out of pg_stats.
        cur.execute("SELECT count(*) FROM pg_stats WHERE attname = 'secret_col' OR tablename = 'secret_table'")
        assert cur.fetchone()[0] == 0


def test_default_privileges_cover_new_tables(superuser_conn, reader_conn):
    superuser_conn.at_teardown("DROP TABLE IF EXISTS sales.smoke_new_table")
    superuser_conn.execute("CREATE TABLE sales.smoke_new_table (id integer PRIMARY KEY)")
    superuser_conn.execute("INSERT INTO sales.smoke_new_table VALUES (1)")
    with reader_conn.cursor() as cur:
        cur.execute("SELECT id FROM sales.smoke_new_table")
        assert cur.fetchall() == [(1,)]


def test_django_published_alias_is_the_reader():
    from django.db import connections

    with connections["published"].cursor() as cur:
        cur.execute("SELECT current_user, current_database()")
        assert cur.fetchone() == ("portal_reader", "portal_fixture")


@pytest.mark.spatial
def test_spatial_fixture(reader_conn):
    with reader_conn.cursor() as cur:
        cur.execute(
            "SELECT f_table_name, type, srid FROM extensions.geometry_columns WHERE f_table_name IN "
            "('geo_points', 'geo_polygons_2263', 'geom_mixed') ORDER BY 1"
        )
        assert cur.fetchall() == [
            ("geo_points", "POINT", 4326),
            ("geo_polygons_2263", "POLYGON", 2263),
            ("geom_mixed", "GEOMETRY", 0),
        ]
        cur.execute("SELECT extensions.ST_AsGeoJSON(geom) FROM public.geo_points WHERE id = 2")
        assert cur.fetchone()[0] == '{"type":"Point","coordinates":[0,0]}'
