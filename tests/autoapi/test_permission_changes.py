"""Permissions are part of every version (docs/operations.md, "Permissions and versions").

Each test builds its own schema, tables and views as the superuser, grants them to the reader,
warms every cache the portal has (API pages with the page cache on, the stored ``?limit=all``
CSV, Parquet and XLSX downloads, validators), then changes who may see what, as a publisher would:
a view redefined with the same columns, row security turned on with a policy, a policy changed,
``security_invoker`` toggled, a column grant revoked, a group membership revoked. Within the live
schema bound, no answer holds what the role may no longer see: pages, stored downloads (whose old
files are never served again), OGC items; and the old ``ETag`` and ``Last-Modified`` no longer get
a ``304``. Then the statistics of a relation under row security: exact counts, no ``pg_stat``
counters, no estimated extent, no default naming what the role may not read.
"""

from __future__ import annotations

import io
import json
import time
import uuid

import openpyxl
import psycopg2
import pyarrow.parquet as pq
import pytest
import requests

from autoapi.web.registry import registry
from tests.autoapi.helpers import body
from tests.conftest import running_server, superuser_url

BOUND = 10  # seconds to wait for a change: far above the harness's REFRESH_INTERVAL (0.2 s)
FORMATS = ("csv", "parquet", "xlsx")
READER = "portal_reader"


def wait_for(predicate, what: str, seconds: float = BOUND) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        registry.current()  # starts this process's watcher if needed
        if predicate():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not seen within {seconds} s: {what}")


@pytest.fixture
def schema(superuser_conn, settings, tmp_path):
    """A schema of the test's own, readable by the reader; the page caches on, for long."""
    settings.PORTAL = {
        **settings.PORTAL,
        "EXPORT_CACHE_DIR": str(tmp_path / "exports"),
        "API_CACHE_SECONDS": 60,
        "CATALOG_CACHE_SECONDS": 60,
    }
    name = f"perm_{uuid.uuid4().hex[:8]}"
    superuser_conn.at_teardown(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    superuser_conn.execute(f"CREATE SCHEMA {name}")
    superuser_conn.execute(f"GRANT USAGE ON SCHEMA {name} TO {READER}")
    return name


def make_flights(db, table: str, grant: bool = True) -> None:
    """Four rows, two from JFK and two from LGA, each with a secret and a place (OGC items).

    Written in a session of its own that ends at once, and waited for until PostgreSQL's
    statistics count the rows: so that no later statement of ``db`` flushes these counters (which
    would move the data version by itself and hide what the permission change did)."""
    apart = psycopg2.connect(superuser_url())
    apart.autocommit = True
    with apart.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, origin text, secret text, lat float8, lon float8)")
        cursor.execute(f"""INSERT INTO {table} VALUES (1, 'JFK', 'hush-jfk-1', 40.6, -73.8), (2, 'JFK', 'hush-jfk-2', 40.6, -73.7),
                                             (3, 'LGA', 'hush-lga-3', 40.7, -73.9), (4, 'LGA', 'hush-lga-4', 40.8, -73.9)""")
    apart.close()
    wait_for(
        lambda: db.execute(f"SELECT pg_stat_get_tuples_inserted('{table}'::regclass)")[0][0] == 4,
        f"the statistics count {table}'s rows",
    )
    if grant:
        db.execute(f"GRANT SELECT ON {table} TO {READER}")


def relation(schema: str, name: str):
    return registry.current().snapshot.get(schema, name)


def data_tag(schema: str, name: str) -> str | None:
    found = relation(schema, name)
    return registry.data_version(found).tag if found is not None else None


class Published:
    """One relation as the reader's client sees it, and what a client kept of it."""

    def __init__(self, client, schema: str, name: str):
        self.client, self.schema, self.name = client, schema, name
        self.page_url = f"/api/{schema}/{name}/?limit=10"
        self.kept: dict[str, tuple[str, str | None]] = {}  # url -> (ETag, Last-Modified)

    def download_url(self, fmt: str) -> str:
        return f"/api/{self.schema}/{self.name}/?format={fmt}&limit=all"

    def warm(self) -> None:
        """Every answer seen once and kept: the page (now in the page cache), and each format's
        whole download, stored on disk (the second request is served from the file)."""
        wait_for(lambda: data_tag(self.schema, self.name) is not None, f"{self.name} has a data version")
        for url in (self.page_url, *(self.download_url(f) for f in FORMATS)):
            first = self.client.get(url)
            assert first.status_code == 200, (url, first.status_code)
            body(first)
            again = self.client.get(url)
            body(again)
            if url != self.page_url:
                assert not again["ETag"].startswith("W/"), f"{url} is served from its stored file"
            self.kept[url] = (again["ETag"], again.get("Last-Modified"))
        self.tag = data_tag(self.schema, self.name)

    def texts(self) -> dict[str, str]:
        """What every surface answers now, as text (page, each download, OGC items, catalog page)."""
        found = {"page": body(self.client.get(self.page_url)).decode()}
        for fmt in FORMATS:
            response = self.client.get(self.download_url(fmt))
            if response.status_code != 200:
                found[fmt] = f"status {response.status_code}"
                continue
            found[fmt] = file_text(fmt, body(response))
        items = self.client.get(f"/ogc/collections/{self.schema}.{self.name}/items?limit=100")
        found["ogc"] = body(items).decode() if items.status_code == 200 else f"status {items.status_code}"
        catalog = self.client.get(f"/catalog/{self.schema}/{self.name}/")  # its preview, page-cached
        found["catalog"] = body(catalog).decode() if catalog.status_code == 200 else f"status {catalog.status_code}"
        return found

    def changed(self, gone: str) -> float:
        """Wait until the page no longer shows ``gone`` and the data version moved; the seconds."""
        waited = wait_for(
            lambda: (
                gone not in body(self.client.get(self.page_url)).decode()
                and data_tag(self.schema, self.name) != self.tag
            ),
            f"{gone!r} gone from {self.name}",
        )
        return waited

    def assert_nowhere(self, *gone: str) -> None:
        for surface, text in self.texts().items():
            for value in gone:
                assert value not in text, f"{value!r} still served in the {surface} of {self.name}"

    def assert_no_304(self) -> None:
        """The validators a client kept no longer match: no 304 by ETag nor by date."""
        for url, (etag, modified) in self.kept.items():
            by_tag = self.client.get(url, HTTP_IF_NONE_MATCH=etag)
            assert by_tag.status_code != 304, f"{url}: the old ETag still matches"
            body(by_tag)
            if modified:
                by_date = self.client.get(url, HTTP_IF_MODIFIED_SINCE=modified)
                assert by_date.status_code != 304, f"{url}: the old Last-Modified still matches"
                body(by_date)


def file_text(fmt: str, data: bytes) -> str:
    if fmt == "csv":
        return data.decode()
    if fmt == "parquet":
        return json.dumps(pq.read_table(io.BytesIO(data)).to_pylist(), default=str)
    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).active
    return json.dumps([list(row) for row in sheet.iter_rows(values_only=True)], default=str)


def check(published: Published, change, *gone: str) -> float:
    published.warm()
    for value in gone:  # each value was served before the change
        assert all(value in text for text in published.texts().values()), value
    change()
    waited = published.changed(gone[0])
    print(f"{published.name}: the change served after {waited:.2f} s")  # -s shows it (the figure in docs/operations.md)
    published.assert_nowhere(*gone)
    published.assert_no_304()
    return waited


def test_a_redefined_view_with_the_same_columns(client, schema, superuser_conn):
    db = superuser_conn
    make_flights(db, f"{schema}.flights", grant=False)
    db.execute(f"CREATE VIEW {schema}.v AS SELECT id, origin, secret, lat, lon FROM {schema}.flights")
    db.execute(f"GRANT SELECT ON {schema}.v TO {READER}")
    published = Published(client, schema, "v")
    check(
        published,
        lambda: db.execute(
            f"CREATE OR REPLACE VIEW {schema}.v AS SELECT id, origin, 'REDACTED'::text AS secret, lat, lon "
            f"FROM {schema}.flights"
        ),
        "hush-jfk-1",
        "hush-lga-4",
    )
    assert "REDACTED" in published.texts()["csv"]


def test_row_security_turned_on_with_a_policy(client, schema, superuser_conn):
    db = superuser_conn
    make_flights(db, f"{schema}.flights")
    published = Published(client, schema, "flights")

    def change():
        db.execute(f"ALTER TABLE {schema}.flights ENABLE ROW LEVEL SECURITY")
        db.execute(f"CREATE POLICY jfk ON {schema}.flights FOR SELECT TO {READER} USING (origin = 'JFK')")

    check(published, change, "hush-lga-3", "hush-lga-4")
    assert "hush-jfk-1" in published.texts()["parquet"]


def test_a_changed_policy(client, schema, superuser_conn):
    db = superuser_conn
    make_flights(db, f"{schema}.flights")
    db.execute(f"ALTER TABLE {schema}.flights ENABLE ROW LEVEL SECURITY")
    db.execute(f"CREATE POLICY nyc ON {schema}.flights FOR SELECT TO {READER} USING (origin IN ('JFK', 'LGA'))")
    published = Published(client, schema, "flights")
    check(
        published,
        lambda: db.execute(f"ALTER POLICY nyc ON {schema}.flights USING (origin = 'JFK')"),
        "hush-lga-3",
        "hush-lga-4",
    )
    assert "hush-jfk-2" in published.texts()["xlsx"]


def test_security_invoker_turned_on(client, schema, superuser_conn):
    """The view's owner (a superuser) bypasses the table's policy; its invoker, the reader, does not."""
    db = superuser_conn
    make_flights(db, f"{schema}.flights")
    db.execute(f"ALTER TABLE {schema}.flights ENABLE ROW LEVEL SECURITY")
    db.execute(f"CREATE POLICY jfk ON {schema}.flights FOR SELECT TO {READER} USING (origin = 'JFK')")
    db.execute(f"CREATE VIEW {schema}.v AS SELECT * FROM {schema}.flights")
    db.execute(f"GRANT SELECT ON {schema}.v TO {READER}")
    published = Published(client, schema, "v")
    check(
        published,
        lambda: db.execute(f"ALTER VIEW {schema}.v SET (security_invoker = true)"),
        "hush-lga-3",
        "hush-lga-4",
    )
    assert "hush-jfk-1" in published.texts()["csv"]


def test_a_revoked_column(client, schema, superuser_conn):
    db = superuser_conn
    make_flights(db, f"{schema}.flights", grant=False)
    db.execute(f"GRANT SELECT (id, origin, secret, lat, lon) ON {schema}.flights TO {READER}")
    published = Published(client, schema, "flights")
    check(
        published,
        lambda: db.execute(f"REVOKE SELECT (secret) ON {schema}.flights FROM {READER}"),
        "hush-jfk-1",
        "hush-lga-4",
    )
    assert "JFK" in published.texts()["csv"]


def test_a_revoked_membership(client, schema, superuser_conn):
    """Rows seen through a group's policy, then a relation readable only through a group: once the
    reader leaves the group, neither is served, from any cache."""
    db = superuser_conn
    policy_group, grant_group = f"{schema}_all_rows", f"{schema}_readers"
    for group in (policy_group, grant_group):
        db.at_teardown(f"DROP ROLE IF EXISTS {group}")
        db.at_teardown(f"DROP OWNED BY {group}")
        db.execute(f"CREATE ROLE {group} NOLOGIN")
    make_flights(db, f"{schema}.flights")
    db.execute(f"ALTER TABLE {schema}.flights ENABLE ROW LEVEL SECURITY")
    db.execute(f"CREATE POLICY jfk ON {schema}.flights FOR SELECT TO {READER} USING (origin = 'JFK')")
    db.execute(f"CREATE POLICY everything ON {schema}.flights FOR SELECT TO {policy_group} USING (true)")
    db.execute(f"GRANT {policy_group} TO {READER}")
    through_policy = Published(client, schema, "flights")
    check(through_policy, lambda: db.execute(f"REVOKE {policy_group} FROM {READER}"), "hush-lga-3", "hush-lga-4")
    assert "hush-jfk-1" in through_policy.texts()["parquet"]

    make_flights(db, f"{schema}.group_only", grant=False)
    db.execute(f"GRANT SELECT ON {schema}.group_only TO {grant_group}")
    db.execute(f"GRANT {grant_group} TO {READER}")
    through_grant = Published(client, schema, "group_only")
    wait_for(lambda: relation(schema, "group_only") is not None, "readable through the group")
    through_grant.warm()
    db.execute(f"REVOKE {grant_group} FROM {READER}")
    wait_for(lambda: client.get(through_grant.page_url).status_code == 404, "gone with the membership")
    for url, (etag, _modified) in through_grant.kept.items():
        assert client.get(url).status_code == 404
        assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 404


def test_bypassrls_taken_from_the_reader(client, schema, superuser_conn):
    """A role attribute (pg_authid, which the reader cannot read): without BYPASSRLS the policy
    applies to it again."""
    db = superuser_conn
    db.at_teardown(f"ALTER ROLE {READER} NOBYPASSRLS")
    make_flights(db, f"{schema}.flights")
    db.execute(f"ALTER TABLE {schema}.flights ENABLE ROW LEVEL SECURITY")
    db.execute(f"CREATE POLICY jfk ON {schema}.flights FOR SELECT TO {READER} USING (origin = 'JFK')")
    db.execute(f"ALTER ROLE {READER} BYPASSRLS")
    published = Published(client, schema, "flights")
    wait_for(
        lambda: relation(schema, "flights") is not None and not relation(schema, "flights").row_security,
        "the reader bypasses row security",
    )
    check(published, lambda: db.execute(f"ALTER ROLE {READER} NOBYPASSRLS"), "hush-lga-3", "hush-lga-4")
    assert relation(schema, "flights").row_security


def test_row_security_forced_on_a_table_the_reader_cannot_name(client, schema, superuser_conn):
    """A view whose owner also owns its table, in a schema the reader may not use: the owner
    bypasses the table's policy until FORCE ROW LEVEL SECURITY. The table is nowhere in what the
    reader may list, only in what the view reads (the fingerprint's closure)."""
    db = superuser_conn
    owner, private = f"{schema}_owner", f"{schema}_private"
    db.at_teardown(f"DROP ROLE IF EXISTS {owner}")
    db.at_teardown(f"DROP OWNED BY {owner}")
    db.at_teardown(f"DROP SCHEMA IF EXISTS {private} CASCADE")
    db.execute(f"CREATE ROLE {owner} NOLOGIN")
    db.execute(f"CREATE SCHEMA {private}")
    db.execute(f"GRANT USAGE ON SCHEMA {private} TO {owner}")
    db.execute(f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {owner}")
    make_flights(db, f"{private}.flights", grant=False)
    db.execute(f"ALTER TABLE {private}.flights OWNER TO {owner}")
    db.execute(f"ALTER TABLE {private}.flights ENABLE ROW LEVEL SECURITY")
    db.execute(f"CREATE POLICY jfk ON {private}.flights FOR SELECT TO {owner} USING (origin = 'JFK')")
    db.execute(f"CREATE VIEW {schema}.v AS SELECT * FROM {private}.flights")
    db.execute(f"ALTER VIEW {schema}.v OWNER TO {owner}")
    db.execute(f"GRANT SELECT ON {schema}.v TO {READER}")
    published = Published(client, schema, "v")
    check(
        published,
        lambda: db.execute(f"ALTER TABLE {private}.flights FORCE ROW LEVEL SECURITY"),
        "hush-lga-3",
        "hush-lga-4",
    )
    assert "hush-jfk-1" in published.texts()["csv"]


def test_through_gunicorn_no_worker_serves_the_old_file(schema, superuser_conn, tmp_path):
    """Every worker of a real server: the redefined view's stored CSV is never served again."""
    db = superuser_conn
    make_flights(db, f"{schema}.flights", grant=False)
    db.execute(f"CREATE VIEW {schema}.v AS SELECT id, origin, secret, lat, lon FROM {schema}.flights")
    db.execute(f"GRANT SELECT ON {schema}.v TO {READER}")
    overrides = {"PORTAL_EXPORT_CACHE_DIR": str(tmp_path / "exports"), "PORTAL_API_CACHE_SECONDS": "60"}
    with running_server(tmp_path, overrides, workers=2, threads=2) as base:
        csv = f"{base}/api/{schema}/v/?format=csv&limit=all"
        page = f"{base}/api/{schema}/v/?limit=10"
        wait_for(lambda: requests.get(page, timeout=5).status_code == 200, "the view published")
        stored = None
        for _ in range(20):  # enough requests for both workers to serve the stored file
            response = requests.get(csv, timeout=5)
            assert "hush-lga-4" in response.text
            if not response.headers["ETag"].startswith("W/"):
                stored = response.headers["ETag"]
        assert stored is not None, "the download was stored"
        db.execute(
            f"CREATE OR REPLACE VIEW {schema}.v AS SELECT id, origin, 'REDACTED'::text AS secret, lat, lon "
            f"FROM {schema}.flights"
        )
        wait_for(lambda: "hush-lga-4" not in requests.get(csv, timeout=5).text, "the redefinition through HTTP")
        time.sleep(1)  # five REFRESH_INTERVALs: every worker's watcher has looked
        for _ in range(20):
            assert "hush" not in requests.get(csv, timeout=5).text
            assert "hush" not in requests.get(page, timeout=5).text
            assert requests.get(csv, headers={"If-None-Match": stored}, timeout=5).status_code == 200


# --- statistics under row security -----------------------------------------------------------


@pytest.fixture
def secured(schema, superuser_conn):
    """A table of 5,000 rows of which the reader may see 10, analysed; a view over it."""
    db = superuser_conn
    db.execute(f"CREATE TABLE {schema}.big (id int PRIMARY KEY, visible bool, lat float8, lon float8)")
    db.execute(
        f"INSERT INTO {schema}.big SELECT g, g <= 10, 40 + g / 1000.0, -70 - g / 1000.0 FROM generate_series(1, 5000) g"
    )
    db.execute(f"ALTER TABLE {schema}.big ENABLE ROW LEVEL SECURITY")
    db.execute(f"CREATE POLICY few ON {schema}.big FOR SELECT TO {READER} USING (visible)")
    db.execute(f"GRANT SELECT ON {schema}.big TO {READER}")
    db.execute(f"CREATE VIEW {schema}.big_view WITH (security_invoker = true) AS SELECT * FROM {schema}.big")
    db.execute(f"GRANT SELECT ON {schema}.big_view TO {READER}")
    db.execute(f"ANALYZE {schema}.big")
    registry.refresh_now(force_fingerprint=True)
    wait_for(lambda: relation(schema, "big_view") is not None, "published")
    return schema


def test_counts_under_row_security_are_exact(client, settings, secured):
    settings.PORTAL = {**settings.PORTAL, "EXACT_COUNT_THRESHOLD": 3}  # an estimate would be used
    for name in ("big", "big_view"):
        assert relation(secured, name).row_security and relation(secured, name).estimated_rows is None
        for query in ("?limit=2", "?limit=2&id__gt=0", "?limit=2&visible=true", "?limit=2&group_by=id&aggregate=count"):
            page = client.get(f"/api/{secured}/{name}/{query}")
            assert page.status_code == 200, (query, page.content[:300])
            envelope = json.loads(body(page))
            assert envelope["count"] == 10 and "count_is_estimate" not in envelope, (name, query, envelope)
        items = json.loads(body(client.get(f"/ogc/collections/{secured}.{name}/items?limit=2")))
        assert items.get("numberMatched") == 10 and "numberMatchedEstimate" not in items


def test_no_statistics_under_row_security(client, secured, requires_postgis, superuser_conn):
    from autoapi.public import column_statistics, relation_activity

    found = relation(secured, "big")
    assert column_statistics(found) == {}
    assert relation_activity([found]) == {}
    page = body(client.get(f"/catalog/{secured}/big/")).decode()
    assert "5,000" not in page and "4,990" not in page
    superuser_conn.execute(f"ALTER TABLE {secured}.big ADD COLUMN geom extensions.geometry(Point, 4326)")
    superuser_conn.execute(f"UPDATE {secured}.big SET geom = extensions.ST_MakePoint(lon, lat)")
    superuser_conn.execute(f"ANALYZE {secured}.big")
    wait_for(lambda: relation(secured, "big").geometry_columns, "the geometry column")
    collection = json.loads(body(client.get(f"/ogc/collections/{secured}.big")))
    assert "spatial" not in collection.get("extent", {}), collection.get("extent")


def test_defaults_naming_what_the_role_cannot_read_are_not_shown(client, schema, superuser_conn):
    db = superuser_conn
    private = f"{schema}_private"
    db.at_teardown(f"DROP SCHEMA IF EXISTS {private} CASCADE")
    db.execute(f"CREATE SCHEMA {private}")
    db.execute(f"CREATE FUNCTION {private}.salary_code() RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$")
    db.execute(f"CREATE SEQUENCE {private}.hidden_seq")
    db.execute(f"""CREATE TABLE {schema}.d (
        id int PRIMARY KEY DEFAULT nextval('{private}.hidden_seq'),
        code text DEFAULT {private}.salary_code(),
        plain int DEFAULT 42,
        shown text DEFAULT upper('a'),
        salary int,
        twice int GENERATED ALWAYS AS (salary * 2) STORED)""")
    db.execute(f"GRANT SELECT (id, code, plain, shown, twice) ON {schema}.d TO {READER}")
    wait_for(lambda: relation(schema, "d") is not None, "published")
    defaults = {c.name: c.default for c in relation(schema, "d").columns}
    assert defaults == {"id": None, "code": None, "plain": "42", "shown": "upper('a'::text)", "twice": None}
    page = body(client.get(f"/catalog/{schema}/d/")).decode()
    for name in ("hidden_seq", "salary_code", "salary"):
        assert name not in page
    # Granted what the default names, the role sees it (and the snapshot follows the grant).
    db.execute(f"GRANT USAGE ON SCHEMA {private} TO {READER}")
    db.execute(f"GRANT SELECT ON SEQUENCE {private}.hidden_seq TO {READER}")
    wait_for(lambda: relation(schema, "d").column("id").default is not None, "the sequence default shown")
    assert "hidden_seq" in relation(schema, "d").column("id").default
