"""OGC API Features at /ogc/: the documents' shapes, items equal to the API's GeoJSON for the same
selection, paging through ``next`` links, single features, HTML, and every misuse a 4xx in OGC's
error shape. (Selections against SQL: test_ogc_filters.py; GDAL's client: tests/production.)"""

from __future__ import annotations

import json

import pytest

from autoapi.ogc.ids import collection_id, collections
from autoapi.public import get_snapshot
from tests.autoapi.helpers import body, openapi_parameters, readable
from tests.autoapi.helpers import url as api_url
from tests.conftest import has_postgis

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
LATLON = "/ogc/collections/public.places_latlon"


def ogc(client, path: str, status: int = 200, **params):
    response = client.get(path, params)
    assert response.status_code == status, (path, params, response.content[:500])
    return response


def rels(document) -> dict[str, str]:
    """rel -> href of the JSON (or GeoJSON) link of each relation type."""
    return {
        link["rel"]: link["href"]
        for link in document["links"]
        if link["type"] != "text/html" or link["rel"] == "alternate"
    }


def test_landing_page_links_to_the_rest(client):
    for path in ("/ogc", "/ogc/"):
        response = ogc(client, path)
        assert response["Content-Type"].startswith("application/json")
        links = rels(response.json())
        assert links["service-desc"] == "http://testserver/api/schema/"
        assert links["conformance"] == "http://testserver/ogc/conformance"
        assert links["data"] == "http://testserver/ogc/collections"
        assert links["self"].startswith(f"http://testserver{path}")


def test_conformance_declares_core_geojson_html_and_cql2(client):
    declared = set(ogc(client, "/ogc/conformance").json()["conformsTo"])
    for part in (
        "ogcapi-features-1/1.0/conf/core",
        "ogcapi-features-1/1.0/conf/geojson",
        "ogcapi-features-1/1.0/conf/html",
        "ogcapi-features-3/1.0/conf/filter",
        "ogcapi-features-3/1.0/conf/features-filter",
        "cql2/1.0/conf/cql2-text",
        "cql2/1.0/conf/cql2-json",
    ):
        assert f"http://www.opengis.net/spec/{part}" in declared


def test_collections_are_the_relations_with_a_location(client):
    listed = {c["id"]: c for c in ogc(client, "/ogc/collections").json()["collections"]}
    assert "public.places_latlon" in listed and "public.agg_sales" not in listed
    assert set(listed) == {collection_id(r) for r in collections(get_snapshot())}
    if has_postgis():
        assert {
            "public.geo_points",
            "public.geo_polygons_2263",
            "public.geo_multipolygons_3857",
            "public.geog_points",
            "public.geom_mixed",
        } <= set(listed)
    for document in listed.values():
        assert document["itemType"] == "feature" and document["crs"] == [CRS84]
        assert rels(document)["items"].endswith(f"/ogc/collections/{document['id']}/items")
    geo = listed.get("public.geo_points")
    assert geo is None or geo["description"] == "Points in WGS 84 (EPSG:4326)"
    assert "extent" not in listed["public.places_latlon"]  # no PostGIS statistics to read


def test_one_collection_and_unknown_ones(client):
    document = ogc(client, LATLON).json()
    assert document["id"] == "public.places_latlon" and rels(document)["self"] == f"http://testserver{LATLON}"
    for missing in ("public.agg_sales", "public.nope", "nodot", "pub~ZZlic.x", "public.places~2Elatlon"):
        error = ogc(client, f"/ogc/collections/{missing}", 404).json()
        assert error["code"] == "NotFound" and error["description"]


def test_extent_from_postgis_statistics(requires_postgis, client, superuser_conn):
    superuser_conn.execute("ANALYZE public.geo_points, public.geo_polygons_2263")
    points = ogc(client, "/ogc/collections/public.geo_points").json()["extent"]["spatial"]
    west, south, east, north = points["bbox"][0]
    # An estimate from the statistics' histogram: at least the points' box, in degrees.
    assert west <= -73.98 and south <= -33.85 and east >= 151.2 and north >= 40.74 and points["crs"] == CRS84
    west, south, east, north = ogc(client, "/ogc/collections/public.geo_polygons_2263").json()["extent"]["spatial"][
        "bbox"
    ][0]
    assert -75 < west < east < -73 and 40 < south < north < 41.5  # State Plane feet became degrees


def features(document) -> list[str]:
    return sorted(json.dumps(f, sort_keys=True) for f in document["features"])


def test_items_equal_the_api_geojson(client):
    for relation in collections(get_snapshot()):
        if not readable(relation):
            continue
        path = f"/ogc/collections/{collection_id(relation)}/items"
        response = ogc(client, path, limit="1000")
        assert response["Content-Type"].startswith("application/geo+json")
        page = response.json()
        api = json.loads(body(client.get(api_url(relation, "format=geojson&limit=1000"))))
        assert page["type"] == "FeatureCollection" and page["numberMatched"] == api["numberMatched"], path
        assert page["numberReturned"] == len(page["features"]) and page["timeStamp"].endswith("Z")
        assert features(page) == features(api), path
        assert rels(page)["collection"] == f"http://testserver/ogc/collections/{collection_id(relation)}"


def walk(client, path: str, **params) -> tuple[list, int]:
    """Every feature reached from the first page by following ``next``; and the pages read."""
    seen, pages, response = [], 0, ogc(client, path, **params)
    while True:
        page = response.json()
        pages += 1
        seen += page["features"]
        nxt = rels(page).get("next")
        if nxt is None:
            return seen, pages
        response = ogc(client, nxt.removeprefix("http://testserver"))


@pytest.mark.parametrize("extra", [{}, {"offset": "0"}])
def test_next_links_cover_every_row_once(client, reader_conn, extra):
    with reader_conn.cursor() as cursor:
        cursor.execute("SELECT id FROM public.places_latlon ORDER BY id")
        expected = [row[0] for row in cursor.fetchall()]
    seen, pages = walk(client, LATLON + "/items", limit="2", **extra)
    assert [f["id"] for f in seen] == expected and pages == 3
    last = ogc(client, LATLON + "/items", limit="2", offset="4").json()
    assert "next" not in rels(last) and rels(last)["prev"].endswith("offset=2")


def test_paging_a_postgis_collection(requires_postgis, client):
    seen, pages = walk(client, "/ogc/collections/public.geom_mixed/items", limit="3")
    assert sorted(f["id"] for f in seen) == list(range(1, 8)) and pages == 3


def test_an_estimated_count_is_never_called_number_matched(client, settings):
    """OGC API Features wants numberMatched exact when present (GDAL reports it as the count)."""
    settings.PORTAL = {**settings.PORTAL, "EXACT_COUNT_THRESHOLD": 2}
    page = ogc(client, LATLON + "/items", limit="2").json()
    assert "numberMatched" not in page and page["numberMatchedEstimate"] >= 3
    assert page["numberReturned"] == 2 and "next" in rels(page)
    settings.PORTAL = {**settings.PORTAL, "EXACT_COUNT_THRESHOLD": 10000}
    assert ogc(client, LATLON + "/items", limit="3").json()["numberMatched"] == 5


def test_limit_is_capped_not_refused(client, settings):
    page = ogc(client, LATLON + "/items", limit="100000").json()
    assert page["numberReturned"] == 5
    assert "next" not in rels(page)


def test_single_feature(client):
    feature = ogc(client, LATLON + "/items/3").json()
    api = json.loads(body(client.get("/api/public/places_latlon/?format=geojson&id=3")))["features"][0]
    assert {k: v for k, v in feature.items() if k != "links"} == api
    assert rels(feature)["self"] == f"http://testserver{LATLON}/items/3"
    assert rels(feature)["collection"] == f"http://testserver{LATLON}"
    assert ogc(client, LATLON + "/items/3")["Content-Type"].startswith("application/geo+json")
    for missing in ("999", "abc", "1.5", "", "3/x"):
        assert ogc(client, f"{LATLON}/items/{missing}", 404).json()["code"] == "NotFound"


def test_html_pages_carry_every_link(client):
    for path in (
        "/ogc/",
        "/ogc/conformance",
        "/ogc/collections",
        LATLON,
        LATLON + "/items",
        LATLON + "/items/1",
        LATLON + "/queryables",
    ):
        document = ogc(client, path).json()
        page = ogc(client, path, f="html")
        assert page["Content-Type"].startswith("text/html")
        text = page.content.decode()
        for link in document.get("links", []):
            assert f'href="{link["href"].split("?")[0]}' in text, (path, link)
    browser = client.get("/ogc/collections", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert browser["Content-Type"].startswith("text/html")
    assert client.get("/ogc/collections", HTTP_ACCEPT="*/*")["Content-Type"].startswith("application/json")


MISUSES = [
    (LATLON + "/items", {"nope": "1"}, 400),
    (LATLON + "/items", {"format": "csv"}, 400),  # the API's own parameters are not OGC's
    (LATLON + "/items", {"ordering": "name"}, 400),
    (LATLON + "/items", {"name__zz": "1"}, 400),
    (LATLON + "/items", {"limit": "0"}, 400),
    (LATLON + "/items", {"limit": "ten"}, 400),
    (LATLON + "/items", {"offset": "-1"}, 400),
    (LATLON + "/items", {"cursor": "garbage"}, 400),
    (LATLON + "/items", {"bbox": "1,2,3"}, 400),
    (LATLON + "/items", {"bbox": "0,0,0,1,1,1"}, 400),
    (LATLON + "/items", {"bbox": "a,b,c,d"}, 400),
    (LATLON + "/items", {"bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/3857", "bbox": "0,0,1,1"}, 400),
    (LATLON + "/items", {"datetime": "2020-01-01"}, 400),  # no date column
    (LATLON + "/items", {"id": "x"}, 400),
    (LATLON + "/items", {"filter": "name = "}, 400),
    (LATLON + "/items", {"filter": "nope = 1"}, 400),
    (LATLON + "/items", {"filter": "name = 1"}, 400),
    (LATLON + "/items", {"filter": "{", "filter-lang": "cql2-json"}, 400),
    (LATLON + "/items", {"filter": "id = 1", "filter-lang": "sql"}, 400),
    (LATLON + "/items", {"f": "xml"}, 400),
    (LATLON, {"limit": "1"}, 400),
    ("/ogc/collections", {"bbox": "0,0,1,1"}, 400),
    ("/ogc/conformance", {"x": "1"}, 400),
    (LATLON + "/items/1", {"limit": "1"}, 400),
    ("/ogc/nothing/here", {}, 404),
    ("/ogc/collections/public.agg_sales/items", {}, 404),
]


@pytest.mark.parametrize(("path", "params", "status"), MISUSES)
def test_misuse_is_a_4xx_in_ogc_shape(client, path, params, status):
    response = ogc(client, path, status, **params)
    error = response.json()
    assert response["Content-Type"].startswith("application/json")
    assert set(error) >= {"code", "description"} and error["description"]


def test_a_request_that_raced_a_schema_change_runs_again_on_the_new_snapshot(client, superuser_conn, monkeypatch):
    """The first try reads a snapshot from before a rename (its SQL names a column that is gone);
    the portal catches up and answers from the new one, as the API does, rather than a 404."""
    from autoapi.web.registry import Registry, registry

    superuser_conn.at_teardown("DROP TABLE IF EXISTS public.ogc_race")
    superuser_conn.execute(
        "CREATE TABLE public.ogc_race (id int PRIMARY KEY, name text, latitude float8, longitude float8)"
    )
    superuser_conn.execute("INSERT INTO public.ogc_race VALUES (1, 'here', 40.7, -74.0)")
    superuser_conn.execute("GRANT SELECT ON public.ogc_race TO portal_reader")
    registry.refresh_now()
    stale = registry.current()
    superuser_conn.execute("ALTER TABLE public.ogc_race RENAME COLUMN name TO title")
    caught_up = []
    real_catch_up = registry.catch_up_after_race
    monkeypatch.setattr(registry, "catch_up_after_race", lambda: caught_up.append(True) or real_catch_up())
    monkeypatch.setattr(registry, "current", lambda: Registry.current(registry) if caught_up else stale)
    page = ogc(client, "/ogc/collections/public.ogc_race/items").json()
    assert caught_up == [True]
    assert [f["properties"]["title"] for f in page["features"]] == ["here"]


def test_other_methods_are_refused(client):
    response = client.post(LATLON + "/items")
    assert response.status_code == 405 and response.json()["code"] == "MethodNotAllowed"


def test_the_openapi_document_describes_ogc(client):
    document = client.get("/api/schema/").json()
    items = document["paths"]["/ogc/collections/{collectionId}/items"]["get"]
    assert {p["name"] for p in openapi_parameters(document, items)} >= {
        "collectionId",
        "limit",
        "bbox",
        "datetime",
        "filter",
        "f",
    }
    assert "/ogc/conformance" in document["paths"] and "OGCError" in document["components"]["schemas"]
