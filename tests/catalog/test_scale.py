"""The portal with 1,000 more relations (issue 23 at a smaller size): the whole-catalog documents
are built once per version and shared (single flight, over real HTTP against gunicorn), the
OpenAPI stays small with each relation's document one ``service-desc`` link away, the catalog
pages by schema, the sitemap becomes an index, and per-relation memory stays small. Figures at
10,000 relations are the bench's (``bench/wide10k.py``), never asserted here as wall-clock."""

from __future__ import annotations

import concurrent.futures
import re
import time
import tracemalloc
import xml.etree.ElementTree as ET

import pytest
import requests
from django.db import connections

from autoapi.conf import DATABASE_ALIAS, portal_setting
from autoapi.public import get_snapshot
from autoapi.schema.introspect import read_snapshot
from autoapi.web.api import PublishedAPI
from tests.conftest import running_server

SCHEMA = "catalog_scale_1000"
RELATIONS = 1000
SITEMAP = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}


@pytest.fixture(scope="module")
def thousand(pg_cluster):
    """1,000 small tables in one schema, readable by the portal's role (dropped at the end)."""
    import psycopg2

    from tests.conftest import superuser_url

    conn = psycopg2.connect(superuser_url())
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        cursor.execute(f"CREATE SCHEMA {SCHEMA}")
        cursor.execute(f"""
            DO $$
            BEGIN
                FOR i IN 1..{RELATIONS} LOOP
                    EXECUTE format('CREATE TABLE {SCHEMA}.t%s (id integer PRIMARY KEY, label text, amount numeric)', i);
                    EXECUTE format('COMMENT ON TABLE {SCHEMA}.t%s IS %L', i, 'Small table number ' || i);
                END LOOP;
            END $$""")
        cursor.execute(f"INSERT INTO {SCHEMA}.t1 VALUES (1, 'one', 1)")
        cursor.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO portal_reader")
        cursor.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {SCHEMA} TO portal_reader")
    yield SCHEMA
    with conn.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    conn.close()


def _wait_for_relations(get):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if get() >= RELATIONS:
            return
        time.sleep(0.5)
    pytest.fail("the tables never reached the snapshot")


@pytest.fixture(scope="module")
def server(thousand, tmp_path_factory):
    folder = tmp_path_factory.mktemp("scale")
    env = {
        "PORTAL_EXPORT_CACHE_DIR": str(folder / "stored"),
        "PORTAL_SITEMAP_MAX_URLS": "400",
        "PORTAL_RATE_LIMIT": "0",
        "PORTAL_CLIENT_REQUESTS": "0",
        "PORTAL_CATALOG_CACHE_SECONDS": "30",
    }
    with running_server(folder, env_overrides=env, workers=1, threads=24) as base:
        _wait_for_relations(
            lambda: sum(r["schema"] == SCHEMA for r in requests.get(base + "/api/", timeout=60).json()["relations"])
        )
        yield base


def _all_at_once(url: str, count: int) -> list[requests.Response]:
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: requests.get(url, timeout=120), range(count)))


def test_documents_are_built_once_and_shared(server):
    for path in (
        "/data.json",
        "/api/schema/",
        "/sitemap.xml",
        "/",
        "/api/?format=csv",
    ):  # (/api/ warmed by the fixture)
        answers = _all_at_once(server + path, 12)
        assert [a.status_code for a in answers] == [200] * 12, path
        how = sorted(a.headers["X-Portal-Document"] for a in answers)
        assert how.count("built") + how.count("stored") == 1, (path, how)  # one build, the others waited
        assert set(how) <= {"built", "stored", "shared", "stale", "memory"}, (path, how)
        assert len({a.content for a in answers}) == 1, path
        again = requests.get(server + path, headers={"If-None-Match": answers[0].headers["ETag"]}, timeout=30)
        assert again.status_code == 304 and again.headers["X-Portal-Document"] == "memory", (
            path,
            answers[0].headers,
            again.headers,
        )


def test_openapi_root_stays_small_and_each_relation_is_one_link_away(server):
    root = requests.get(server + "/api/schema/", timeout=60)
    document = root.json()
    listing = document["x-relation-documents"][SCHEMA]
    assert len(listing) == RELATIONS
    assert not any(path.startswith(f"/api/{SCHEMA}/") for path in document["paths"])
    assert len(root.content) < 200 * (RELATIONS + 100), "the root grows by more than 200 bytes a relation"
    assert "responses" in document["components"]

    answer = requests.get(server + f"/api/{SCHEMA}/t7/", timeout=30)
    assert answer.status_code == 200
    link = requests.utils.parse_header_links(answer.headers["Link"])
    (desc,) = [entry for entry in link if entry.get("rel") == "service-desc"]
    assert desc["url"] == listing["t7"] and desc["type"] == "application/vnd.oai.openapi+json"
    own = requests.get(server + desc["url"], timeout=30)
    assert own.status_code == 200 and own.headers["Content-Type"].startswith("application/vnd.oai.openapi+json")
    paths = own.json()["paths"]
    assert f"/api/{SCHEMA}/t7/" in paths and f"/api/{SCHEMA}/t7/{{key}}/" in paths and len(paths) == 2
    shared = own.json()["components"]["parameters"]
    parameters = {
        (shared[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p)["name"]
        for p in paths[f"/api/{SCHEMA}/t7/"]["get"]["parameters"]
    }
    assert {"limit", "label", "amount__gte"} <= parameters
    assert requests.get(server + f"/api/schema/{SCHEMA}/nope/openapi.json", timeout=30).status_code == 404


def test_the_catalog_pages_by_schema(server):
    home = requests.get(server + "/", timeout=60)
    assert home.status_code == 200
    assert len(re.findall(rf'href="/catalog/{SCHEMA}/t\d+/"', home.text)) == 20  # HOME_RELATIONS
    assert "and 980 more" in home.text and f'href="/catalog/{SCHEMA}/"' in home.text

    first = requests.get(server + f"/catalog/{SCHEMA}/", timeout=30)
    assert first.status_code == 200 and "1 to 100 of 1,000" in first.text and "page 1 of 10" in first.text
    assert first.headers["Content-Security-Policy"].startswith("default-src 'self'")
    seen = set()
    for page in range(1, 11):
        body = requests.get(server + f"/catalog/{SCHEMA}/", params={"page": page}, timeout=30).text
        seen |= set(re.findall(rf'href="/catalog/{SCHEMA}/(t\d+)/"', body))
    assert len(seen) == RELATIONS  # every relation reachable by links

    found = requests.get(server + f"/catalog/{SCHEMA}/", params={"q": "number 99"}, timeout=30)
    assert found.status_code == 200 and "of 11 matching" in found.text  # 99 and 990..999

    for bad, status in (("0", 400), ("abc", 400), ("-1", 400), ("1e3", 400), ("11", 404), ("99999999999", 400)):
        answer = requests.get(server + f"/catalog/{SCHEMA}/", params={"page": bad}, timeout=30)
        assert answer.status_code == status, bad
        assert "<html" in answer.text
    assert requests.get(server + f"/catalog/{SCHEMA}/", params={"q": "x" * 201}, timeout=30).status_code == 400
    assert requests.get(server + "/catalog/no_such_schema/", timeout=30).status_code == 404


def test_the_sitemap_becomes_an_index(server):
    index = ET.fromstring(requests.get(server + "/sitemap.xml", timeout=60).content)
    assert index.tag.endswith("sitemapindex")
    locations = set()
    for sitemap in index.findall("s:sitemap/s:loc", SITEMAP):
        part = requests.get(sitemap.text, timeout=60)
        assert part.status_code == 200
        urls = [loc.text for loc in ET.fromstring(part.content).findall("s:url/s:loc", SITEMAP)]
        assert len(urls) <= 400
        locations |= set(urls)
    for i in (1, 500, 1000):
        assert f"{server}/catalog/{SCHEMA}/t{i}/" in locations
    assert sum(f"/catalog/{SCHEMA}/t" in url for url in locations) == RELATIONS
    assert requests.get(server + f"/sitemaps/{SCHEMA}/99.xml", timeout=30).status_code == 404


def test_memory_per_relation_stays_small(thousand):
    _wait_for_relations(lambda: sum(r.schema == SCHEMA for r in get_snapshot().relations))
    with connections[DATABASE_ALIAS].cursor() as cursor:
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            snapshot = read_snapshot(cursor, portal_setting("SCHEMAS"))
            published = PublishedAPI(snapshot)
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    per_relation = grown / len(published.snapshot.relations)
    print(f"snapshot: {per_relation:.0f} bytes per relation ({len(published.snapshot.relations)} relations)")
    assert per_relation < 16 * 1024
