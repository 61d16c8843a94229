"""The OpenAPI document: valid OpenAPI 3.1, complete, live; and a seeded fuzz of every parameter."""

from __future__ import annotations

import json
import re
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate

from autoapi.public import api_url
from tests.autoapi.helpers import openapi_parameters, published_relations


def document(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    return json.loads(response.content)


def test_document_is_valid_openapi_31(client):
    validate(document(client))


def test_document_lists_every_relation_with_typed_columns(client):
    doc = document(client)
    for relation in published_relations():
        operation = doc["paths"][api_url(relation)]["get"]
        names = {p["name"] for p in openapi_parameters(doc, operation)}
        assert {"format", "limit", "ordering"} <= names
        assert ("fields" in names) == bool(relation.columns)  # a relation of no column takes no fields value
        schema_name = operation["operationId"].removeprefix("list_")
        properties = doc["components"]["schemas"][schema_name]["properties"]
        assert list(properties) == [c.name for c in relation.columns]
        if relation.key:
            assert api_url(relation) + "{key}/" in doc["paths"]
    numeric = next(r for r in published_relations() if r.name == "types_numeric")
    operation = doc["paths"][api_url(numeric)]["get"]
    i8 = doc["components"]["schemas"][operation["operationId"].removeprefix("list_")]["properties"]["i8"]
    assert {"type": "integer"} in i8["anyOf"] and "bigint" in i8["description"]
    assert any(
        p["name"] == "i8__gte" and p["schema"] == {"type": "integer"} for p in openapi_parameters(doc, operation)
    )


def test_document_follows_the_schema(client, superuser_conn):
    superuser_conn.at_teardown("DROP TABLE IF EXISTS public.openapi_probe")
    superuser_conn.execute("CREATE TABLE public.openapi_probe (id int PRIMARY KEY)")
    deadline = time.monotonic() + 10
    while "/api/public/openapi_probe/" not in document(client)["paths"]:
        assert time.monotonic() < deadline, "new table never reached the OpenAPI document"
        time.sleep(0.1)
    superuser_conn.execute("DROP TABLE public.openapi_probe")
    while "/api/public/openapi_probe/" in document(client)["paths"]:
        assert time.monotonic() < deadline + 10, "dropped table stayed in the OpenAPI document"
        time.sleep(0.1)


def test_interactive_docs_are_served_from_static_files(client):
    page = client.get("/api/docs/").content.decode()
    assert "/api/schema/" in page and "cdn" not in page.lower() and "https://" not in page
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "autoapi/docs.js"):
        # Content-hashed by collectstatic: swagger-ui.css is linked as swagger-ui.<hash>.css.
        stem, ext = asset.rsplit(".", 1)
        src = next(
            part.split('"')[0]
            for part in page.split('="')
            if re.search(rf"/{re.escape(stem)}\.[0-9a-f]{{12}}\.{ext}$", part.split('"')[0])
        )
        assert b"".join(client.get(src).streaming_content), src


JUNK = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "null",
            "NaN",
            "-1",
            "0",
            "1e309",
            "9" * 40,
            "'; DROP TABLE x; --",
            "\\",
            "%",
            "~",
            ",",
            "a,b",
            "[1,2]",
            '{"a":1}',
            "true",
            "2024-02-30",
            "1,2,3,4",
            "-180,-90,180,90",
            "all",
            "-id",
            # grouping: valid and nearly valid terms
            "count",
            "-count",
            "id",
            "id__month",
            "count__gt:1",
            "count__gt:x",
            "sum:id",
            "avg:id,max:id",
            "median:id",
            "count_distinct:id",
            "min:nope",
            "sum:",
            # CQL2 (filter, filter-lang): valid, hostile and malformed
            "id = 1",
            "id > 1 OR id IS NULL",
            "NOT (id = 1 AND id < 5)",
            "cql2-json",
            "cql2-text",
            "id = 1; DROP TABLE x",
            "id = '1'' OR ''1''=''1'",
            '"id" = 1) OR (1 = 1',
            "id IN (" + ",".join(["1"] * 300) + ")",
            "(" * 500 + "id = 1" + ")" * 500,
            "NOT " * 50 + "id = 1",
            "S_INTERSECTS(geom, POLYGON((0 0, 1 0)))",
            "S_INTERSECTS(geometry, BBOX(0,0,1,1))",
            "id LIKE '%'",
            "T_BEFORE(id, DATE('2024-02-30'))",
            '{"op":"=","args":[{"property":"id"},1]}',
            '{"op":"not","args":[' * 40 + "true" + "]}" * 40,
        ]
    ),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)


@settings(
    max_examples=400,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_fuzz_every_documented_parameter_never_5xx(client, data):
    doc = _cached_document(client)
    path = data.draw(st.sampled_from(sorted(doc["paths"])), label="path")
    operation = doc["paths"][path]["get"]
    query = {}
    for parameter in data.draw(
        st.lists(
            st.sampled_from(openapi_parameters(doc, operation) or [{"name": "x", "in": "query"}]),
            max_size=3,
            unique_by=lambda p: p["name"],
        ),
        label="parameters",
    ):
        value = data.draw(JUNK, label=parameter["name"])
        if parameter["in"] == "path" and parameter["name"] != "collectionId":
            segment = value.replace("/", "~2F").replace("?", "~3F").replace("#", "~23") or "~"
            path = path.replace("{key}", segment).replace("{featureId}", segment)
        elif parameter["in"] != "path":
            query[parameter["name"]] = value
    # /ogc/'s paths on a real collection, so the junk reaches its parameters; tiles on a small one.
    path = path.replace("{key}", "1").replace("{featureId}", "1").replace("{collectionId}", "public.places_latlon")
    path = path.replace("{z}", "1").replace("{x}", "0").replace("{y}", "1")
    response = client.get(path, query)
    assert response.status_code < 500, (path, query, response.content[:300])
    if response.streaming:
        b"".join(response.streaming_content)


_DOCUMENT = {}


def _cached_document(client):
    if "doc" not in _DOCUMENT:
        _DOCUMENT["doc"] = document(client)
    return _DOCUMENT["doc"]
