"""The bad-input guarantee, proved by a property-based fuzzer (docs/operations.md, "Bad input").

Hostile values are derived from what the portal itself publishes: every parameter of every path
of the OpenAPI document (``/api/schema/``, the API's lists, rows, tiles and OGC API Features), real
``next`` cursors taken from real pages and then mutated, real CQL2 filters (text and JSON) mutated
token by token, the catalog's pages and fragments, and the request headers the portal reads
(``Range``, ``If-None-Match``, ``If-Modified-Since``, ``Accept``, ``Accept-Encoding``, API keys).
The values: NUL and control characters, non-finite and huge numbers, deep nesting, huge lists,
wrong types, invalid dates and geometries, unknown columns and functions.

The property, on every surface: never a 5xx, never a traceback in the body, and a 400 in the
surface's own form (JSON ``{"detail"}`` on ``/api/``, OGC's ``{"code", "description"}`` on
``/ogc/``, an HTML page in the catalog).

Runs are reproducible: ``derandomize=True`` and no example database (tests/conftest.py's profile),
with a bounded number of examples per surface (about a minute in all on two CPUs). Django's test
client re-raises a view's exception, so a 500 fails with its traceback and hypothesis shrinks it;
one pass goes over real HTTP to gunicorn. Each 500 the fuzzer found is kept as an ``@example``.
"""

from __future__ import annotations

import base64
import collections
import http.client
import json
import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.autoapi.helpers import openapi_parameters
from tests.conftest import has_postgis
from tests.production.support import portal_server


def examples(count: int) -> int:
    """``count`` times PORTAL_FUZZ_SCALE (default 1): a longer hunt, e.g. PORTAL_FUZZ_SCALE=10; with
    PORTAL_FUZZ_RANDOM=1 it draws other examples than the suite's (pytest's --hypothesis-seed=N replays)."""
    return max(1, int(count * float(os.environ.get("PORTAL_FUZZ_SCALE", "1"))))


FUZZ = settings(
    deadline=None,
    derandomize="PORTAL_FUZZ_RANDOM" not in os.environ,
    database=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)

# -- hostile values --------------------------------------------------------------------------------

CONTROL = st.text(st.characters(codec="utf-8", max_codepoint=0x9F, categories=["Cc"]), min_size=1, max_size=4)
NUMBERS = st.one_of(
    st.sampled_from(
        [
            "NaN",
            "Infinity",
            "-Infinity",
            "inf",
            "1e309",
            "-1e309",
            "1e-400",
            "9" * 400,
            "-" + "9" * 400,
            "9223372036854775808",
            "-9223372036854775809",
            "0x10",
            "1_000",
            "+1",
            "-0",
            "1.5e3000",
            "١٢٣",
        ]
    ),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
DATES = st.sampled_from(
    [
        "2024-02-30",
        "0000-00-00",
        "99999-01-01",
        "2024-13-01",
        "infinity",
        "-infinity",
        "epoch",
        "2024-01-01T25:00:00Z",
        "2024-01-01T00:00:00+99:00",
        "4713-01-01 BC",
        "now",
        "allballs",
        "1970-01-01/..",
        "../..",
        "2024-01-01/2023-01-01",
        "2024-01-01T00:00:00Z/",
        "/",
    ]
)
GEOMETRIES = st.sampled_from(
    [
        "POLYGON((0 0, 1 0))",
        "POINT(nan nan)",
        "POINT(1e400 0)",
        "POINT(1)",
        "LINESTRING EMPTY",
        "POLYGON((0 0,1 0,1 1,0 0)",
        "GEOMETRYCOLLECTION(" * 30,
        "-181,-91,181,91",
        "10,10,0,0",
        "0,0,1",
        "0,0,1,1,2,2,3",
        "nan,nan,nan,nan",
        "1e400,0,1,1",
        "-180,-90,180,90",
        '{"type":"Point","coordinates":[]}',
        '{"type":"Polygon","coordinates":[[["a","b"]]]}',
    ]
)
UNKNOWN = st.sampled_from(
    [
        "no_such_column",
        "pg_sleep(1)",
        "lower(id)",
        "FOO(id)",
        "id::text",
        "pg_catalog.now()",
        "__proto__",
        "id__nope",
        "-no_such_column",
        "count:nope",
        "sum:",
        "max:label",
        "id__hour",
    ]
)
WRONG_TYPES = st.sampled_from(
    [
        "true",
        "[]",
        "{}",
        "null",
        "[1,[2,[3]]]",
        '{"a":',
        "abc",
        "1,2",
        ",,,",
        "",
        " ",
        "'",
        '"',
        "\\",
        "%",
        "_",
        "~",
        "~00",
        "~ZZ",
        "all",
        "ALL",
        "-",
        "*",
    ]
)
DEEP = st.integers(min_value=30, max_value=3000).flatmap(
    lambda n: st.sampled_from(
        [
            "NOT " * n + "id = 1",
            "(" * n + "id = 1" + ")" * n,
            "CASEI(" * n + "label" + ")" * n + " = 'a'",
            "[" * n + "]" * n,
            '{"op":"not","args":[' * n + "true" + "]}" * n,
            "{" * n,
            "a," * n,
            "~2C" * n,
        ]
    )
)
HUGE_LISTS = st.integers(min_value=500, max_value=5000).flatmap(
    lambda n: st.sampled_from(
        [
            ",".join(["1"] * n),
            ",".join(["a"] * n),
            "id IN (" + ",".join(["1"] * n) + ")",
            "a " * n,
            "label LIKE '" + "%" * n + "'",
            " OR ".join(["id = 1"] * min(n, 600)),
        ]
    )
)
HOSTILE = st.one_of(
    CONTROL,
    CONTROL.map(lambda c: "a" + c + "b"),
    NUMBERS,
    DATES,
    GEOMETRIES,
    UNKNOWN,
    WRONG_TYPES,
    DEEP,
    HUGE_LISTS,
    st.text(max_size=30),
    st.just("\x00"),
    st.just("a\x00b"),
)

# JSON values for cursors and CQL2-JSON: the non-finite constants Python's json writes, NUL strings,
# deep lists, huge numbers and strings, objects where scalars go.
JSON_VALUES = st.one_of(
    st.sampled_from(
        [
            float("inf"),
            float("-inf"),
            float("nan"),
            "\x00",
            "a\x00b",
            10**40,
            -(10**40),
            1e308,
            True,
            None,
            "",
            "x" * 10000,
            {"a": 1},
            [],
            [[[[[]]]]],
            "not a time",
            "2024-02-30",
            "infinity",
            "NaN",
            1.5,
        ]
    ),
    st.integers(min_value=20, max_value=5000).map(lambda n: json.loads("[" * n + "]" * n) if n < 900 else "[" * n),
    st.text(max_size=20),
    st.integers(),
    st.floats(),
)

# -- the surfaces ----------------------------------------------------------------------------------

CURSOR_SOURCES = [  # (list URL, ordering): real pages whose ``next`` cursor is mutated
    ("/api/public/big_2500/", "id"),
    ("/api/public/big_2500/", "amount"),
    ("/api/public/big_2500/", "-created,label"),
    ("/api/public/types_datetime/", "ts"),
    ("/api/public/types_datetime/", "-d"),
    ("/api/public/types_numeric/", "f8"),
    ("/api/public/types_numeric/", "n_big"),
    ("/api/public/text_pk/", "code"),
    ("/api/public/composite_pk/", ""),
    ("/api/public/places_latlon/", ""),
    ("/api/public/places_latlon/", "-latitude"),
]
CQL2_TEXT = {  # relation -> real filters, mutated token by token
    "/api/public/big_2500/": [
        "id > 10 AND grp IN (1, 2, 3)",
        "label LIKE 'row 00%' OR amount IS NULL",
        "created BETWEEN DATE('2020-01-01') AND DATE('2020-02-01')",
        "NOT (grp = 3)",
        "CASEI(label) = 'ROW 0001'",
        "T_AFTER(created, DATE('2020-01-05'))",
        "amount < id",
    ],
    "/api/public/types_text/": ["t LIKE '%a%'", "vc IN ('short', '0')", "c = 'ab'", "CASEI(nm) LIKE 'a%'"],
    "/api/public/types_numeric/": ["n_big > 0.1", "f8 < 1e308", "i8 BETWEEN -1 AND 9007199254740993", "r4 = f8"],
    "/api/public/types_datetime/": [
        "ts > TIMESTAMP('2024-01-01T00:00:00Z')",
        "T_DURING(tstz, INTERVAL('2000-01-01', '..'))",
        "d = ts",
        "iv IS NOT NULL",
    ],
    "/api/public/types_network_bits/": ["id = 1", "id IS NULL"],
    "/api/public/places_latlon/": [
        "name LIKE 'E%'",
        "S_INTERSECTS(geometry, BBOX(-80, 30, -70, 50))",
        "latitude > 10 AND longitude < 0",
        "S_WITHIN(geometry, POLYGON((0 0, 1 0, 1 1, 0 0)))",
    ],
}
SPATIAL_CQL2_TEXT = {  # with PostGIS (known once the cluster runs: the strategies read it when they draw)
    "/api/public/geo_points/": [
        "S_INTERSECTS(geom, BBOX(0, 0, 10, 10))",
        "S_WITHIN(geom, POLYGON((0 0, 10 0, 10 10, 0 10, 0 0)))",
    ],
}


def cql2_text() -> dict[str, list[str]]:
    return {**CQL2_TEXT, **SPATIAL_CQL2_TEXT} if has_postgis() else CQL2_TEXT


CQL2_JSON = [
    {
        "op": "and",
        "args": [{"op": ">", "args": [{"property": "id"}, 10]}, {"op": "in", "args": [{"property": "grp"}, [1, 2, 3]]}],
    },
    {"op": "like", "args": [{"op": "casei", "args": [{"property": "label"}]}, "row%"]},
    {"op": "t_after", "args": [{"property": "created"}, {"date": "2020-01-05"}]},
    {"op": "not", "args": [{"op": "isNull", "args": [{"property": "amount"}]}]},
    {"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": [0, 0, 1, 1]}]},
]
CATALOG_PAGES = [
    "/",
    "/catalog/public/big_2500/",
    "/catalog/public/big_2500/-/filter",
    "/catalog/public/big_2500/-/facets",
    "/catalog/public/big_2500/1/",
    "/catalog/public/types_datetime/",
    "/catalog/public/types_text/-/facets",
    "/data.json",
    "/sitemap.xml",
    # issue 23's paged lists and sitemaps, issue 24's feeds and the DCAT-US 1.1 catalog
    "/catalog/public/",
    "/sitemaps/public/1.xml",
    "/changes/",
    "/changes.atom",
    "/changes.json",
    "/data-1.1.json",
]
CATALOG_PARAMETERS = [
    "page",
    "before",
    "q",
    "limit",
    "offset",
    "ordering",
    "filter",
    "filter-lang",
    "search",
    "_facet",
    "column",
    "lookup",
    "value",
    "negate",
    "or",
    "id",
    "id__gt",
    "label__in",
    "created__year",
    "format",
    "fields",
    "cursor",
]
OGC_COLLECTIONS = ["public.places_latlon"]
SPATIAL_OGC_COLLECTIONS = ["public.geo_points", "public.geo_polygons_2263"]


def ogc_paths() -> list[str]:
    names = OGC_COLLECTIONS + (SPATIAL_OGC_COLLECTIONS if has_postgis() else [])
    return [
        f"/ogc/collections/{collection}{rest}"
        for collection in names
        for rest in ("/items", "/items", "/items/1", "", "/queryables")
    ] + ["/ogc/collections", "/ogc/conformance", "/ogc/"]


OGC_PARAMETERS = [
    "limit",
    "offset",
    "cursor",
    "bbox",
    "bbox-crs",
    "datetime",
    "filter",
    "filter-lang",
    "filter-crs",
    "f",
    "id",
    "name",
    "name__in",
    "latitude__gt",
    "properties",
    "crs",
    "sortby",
]
HEADERS = [
    "Range",
    "If-None-Match",
    "If-Modified-Since",
    "If-Range",
    "Accept",
    "Accept-Encoding",
    "X-API-Key",
    "Authorization",
    "X-Forwarded-For",
    "X-Request-ID",
]
HEADER_VALUES = st.one_of(
    HOSTILE,
    st.sampled_from(
        [
            "bytes=0-0",
            "bytes=-1",
            "bytes=999999999999999999999-",
            "bytes=5-1",
            "bytes=0-1,2-3,4-5",
            "bytes=a-b",
            "bytes=",
            "items=0-1",
            '"abc"',
            'W/"x"',
            "*",
            '"' + "a" * 5000 + '"',
            ", ," * 500,
            "Mon, 32 Foo 2024 25:61:61 GMT",
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "-1",
            "text/csv;q=NaN",
            "*/*;q=1e400",
            "application/json;q=0, text/html;q=0",
            "application/" + "x" * 3000,
            "zstd;q=-1, br;q=2, gzip;q=abc",
            "identity;q=0, *;q=0",
            "Bearer " + "A" * 4000,
            "Bearer",
            "Basic Og==",
            "Key ",
            "k" * 10,
        ]
    ),
)
DOWNLOADS = [
    "/api/public/single_pk/?limit=all&format=csv",
    "/api/public/single_pk/?limit=all&format=parquet",
    "/api/public/single_pk/?limit=all&format=xlsx",
    "/api/public/big_2500/?limit=all&format=json",
    "/api/public/types_text/?limit=all&format=ndjson",
]

# -- the property ----------------------------------------------------------------------------------


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


STATUSES: collections.Counter = collections.Counter()  # (surface, status): printed with -s, to see what was reached


@pytest.fixture(scope="module", autouse=True)
def _print_statuses():
    yield
    print("\nstatuses by surface:", dict(sorted(STATUSES.items())))


def check(path: str, response, what=None) -> None:
    """Never a 5xx, never a traceback; a 400 in its surface's form (naming what was wrong, on the API)."""
    body = _body(response)
    status = response.status_code
    STATUSES[("/".join(path.split("/")[:2]) + ("/tiles" if "/tiles/" in path else ""), status)] += 1
    assert status < 500, (status, path, what, body[:500])
    assert b"Traceback" not in body, (path, what, body[:500])
    if status != 400:
        return
    content_type = response.get("Content-Type", "")
    if path.startswith("/api/"):
        document = json.loads(body)
        assert "detail" in document, (path, what, body[:300])
        # ... naming what was wrong: a parameter, a header, the key or the path.
        assert {"parameter", "parameters", "header", "errors"} & set(document), (path, what, body[:300])
    elif path.startswith("/ogc"):
        document = json.loads(body)
        assert "code" in document and "description" in document, (path, what, body[:300])
    else:
        assert content_type.startswith("text/html"), (path, what, content_type, body[:300])


def get(client, path: str, query: dict | list | None = None, headers: dict | None = None):
    query_string = urlencode(query or {}, doseq=True, quote_via=quote)
    url = f"{path}?{query_string}" if query_string else path
    response = client.get(url, headers=headers or {})
    check(path, response, (query, headers))
    return response


# -- the OpenAPI document: every parameter of every path -----------------------------------------

_CACHE: dict = {}


def openapi_operations(client) -> list[tuple[str, list[dict]]]:
    if "operations" not in _CACHE:
        document = json.loads(client.get("/api/schema/").content)
        _CACHE["operations"] = sorted(
            (path, openapi_parameters(document, item["get"]))  # the shared ($ref) ones resolved
            for path, item in document["paths"].items()
            if "get" in item
        )
    return _CACHE["operations"]


def concrete(path: str, segment: str = "1") -> str:
    return (
        path.replace("{key}", segment)
        .replace("{featureId}", segment)
        .replace("{collectionId}", "public.places_latlon")
        .replace("{z}", "2")
        .replace("{x}", "1")
        .replace("{y}", "1")
    )


@settings(FUZZ, max_examples=examples(1000))
@given(data=st.data())
def test_every_documented_parameter(client, data):
    path, parameters = data.draw(st.sampled_from(openapi_operations(client)), label="path")
    query, segment = {}, "1"
    for parameter in data.draw(
        st.lists(
            st.sampled_from(parameters or [{"name": "x", "in": "query"}]), max_size=3, unique_by=lambda p: p["name"]
        ),
        label="parameters",
    ):
        if parameter["in"] == "path" and parameter["name"] in ("z", "x", "y"):  # tile coordinates: <int:> in the URL
            path = path.replace(
                "{" + parameter["name"] + "}",
                str(data.draw(st.one_of(st.integers(0, 40), st.integers(0, 2**70)), label=parameter["name"])),
            )
            continue
        value = data.draw(HOSTILE, label=parameter["name"])
        if parameter["in"] == "path":
            segment = quote(value, safe="") or "~"
        else:
            query[parameter["name"]] = value
    get(client, concrete(path, segment), query)


# -- real cursors, mutated -------------------------------------------------------------------------


def real_cursor(client, url: str, ordering: str) -> dict:
    key = (url, ordering)
    if key not in _CACHE:
        query = {"limit": "2", **({"ordering": ordering} if ordering else {})}
        page = json.loads(client.get(url, query).content)
        cursor = parse_qs(urlsplit(page["next"]).query)["cursor"][0]
        _CACHE[key] = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    return _CACHE[key]


def encode_cursor(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@dataclass(frozen=True)
class CursorMutation:
    """A real ``next`` cursor of ``url`` in ``ordering``, changed ``how`` (the test fetches it)."""

    url: str
    ordering: str
    how: str
    index: int = 0
    value: object = None

    def cursor(self, client) -> str:
        payload = json.loads(json.dumps(real_cursor(client, self.url, self.ordering)))
        if self.how == "value" and payload["v"]:
            payload["v"][self.index % len(payload["v"])] = self.value
        elif self.how == "append":
            payload["v"].append(self.value)
        elif self.how == "signature":
            payload["o"] = self.value
        elif self.how == "shape":
            payload = self.value
        cursor = encode_cursor(payload)  # json.dumps writes NaN and Infinity, as a hostile client may
        if self.how == "bytes":
            position = self.index % (len(cursor) + 1)
            cursor = cursor[:position] + str(self.value) + cursor[position + 1 :]
        return cursor


@dataclass(frozen=True)
class RawCursor:
    """A cursor written by hand (a regression found by the fuzzer)."""

    url: str
    ordering: str
    raw: str

    def cursor(self, client) -> str:
        return self.raw


CURSOR_MUTATIONS = st.builds(
    CursorMutation,
    st.sampled_from(CURSOR_SOURCES).map(lambda source: source[0]),
    st.just(""),
    st.sampled_from(["value", "value", "append", "signature", "shape", "bytes"]),
    st.integers(0, 40),
    st.one_of(
        JSON_VALUES,
        st.sampled_from(["", "=", "%", "!", "A" * 5000, "\x00", "~"]),
        st.sampled_from([{}, [], "x", None, {"v": [1]}, {"o": "id"}]),
    ),
).flatmap(
    lambda m: st.sampled_from([o for u, o in CURSOR_SOURCES if u == m.url]).map(
        lambda ordering: CursorMutation(m.url, ordering, m.how, m.index, m.value)
    )
)


def _raw(payload_text: str) -> str:
    return base64.urlsafe_b64encode(payload_text.encode()).decode().rstrip("=")


@settings(FUZZ, max_examples=examples(500))
@example(case=RawCursor("/api/public/big_2500/", "amount", _raw('{"o":"amount,id","v":[Infinity,5]}')), surface="api")
@example(case=RawCursor("/api/public/big_2500/", "", _raw('{"o":"id","v":[-Infinity]}')), surface="api")
@example(case=RawCursor("/api/public/big_2500/", "", _raw('{"o":"id","v":[Infinity]}')), surface="ogc")
@example(case=RawCursor("/api/public/big_2500/", "amount", _raw('{"o":"amount,id","v":["a\\u0000",5]}')), surface="api")
@example(
    case=RawCursor("/api/public/big_2500/", "", _raw('{"o":"id","v":' + "[" * 50000 + "]" * 50000 + "}")), surface="api"
)
@example(case=RawCursor("/api/public/types_datetime/", "ts", _raw('{"o":"ts,id","v":["not a time",1]}')), surface="api")
@given(case=CURSOR_MUTATIONS, surface=st.sampled_from(["api", "api", "csv", "ogc", "catalog"]))
def test_real_cursors_mutated(client, case, surface):
    cursor = case.cursor(client)
    query = {"cursor": cursor, "limit": "2", **({"ordering": case.ordering} if case.ordering else {})}
    if surface == "ogc":
        get(client, "/ogc/collections/public." + case.url.split("/")[3] + "/items", {"cursor": cursor, "limit": "2"})
    elif surface == "catalog":
        get(client, case.url.replace("/api/", "/catalog/"), query)
    else:
        get(client, case.url, {**query, **({"format": "csv"} if surface == "csv" else {})})


# -- real CQL2 filters, mutated ---------------------------------------------------------------------

TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[A-Za-z_][\w.:]*|[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\S")
REPLACEMENTS = st.one_of(
    HOSTILE.map(lambda v: "'" + v.replace("'", "''") + "'"),
    NUMBERS,
    UNKNOWN,
    GEOMETRIES.map(lambda g: g.split(",")[0]),
    st.sampled_from(
        [
            "NOT",
            "AND",
            "OR",
            "(",
            ")",
            "CASEI(",
            "DATE('2024-02-30')",
            "TIMESTAMP('x')",
            "INTERVAL('..','..')",
            "S_INTERSECTS(",
            "BBOX(1,1,0,0)",
            "ACCENTI(",
            "IN (" + ",".join(["1"] * 2000) + ")",
            "LIKE",
            "'" + "%" * 3000 + "'",
            "'\x01\x7f'",
            "FOO(",
            '""',
            '"x""y"',
            "T_DURING(",
            "POINT(1e400 1)",
        ]
    ),
    DEEP,
)


@st.composite
def mutated_text_filters(draw):
    filters = cql2_text()
    url = draw(st.sampled_from(sorted(filters)))
    tokens = TOKEN.findall(draw(st.sampled_from(filters[url])))
    for _ in range(draw(st.sampled_from([1, 1, 2, 3]))):
        position = draw(st.integers(0, len(tokens)))
        how = draw(
            st.sampled_from(["wrap", "casei", "replace", "replace", "wrap", "casei", "insert", "delete", "repeat"])
        )
        if how == "replace" and position < len(tokens):
            tokens[position] = draw(REPLACEMENTS)
        elif how == "insert":
            tokens.insert(position, draw(REPLACEMENTS))
        elif how == "delete" and position < len(tokens):
            del tokens[position]
        elif how == "wrap":
            depth = draw(st.sampled_from([2, 21, 40, 200, 700, 2000]))
            tokens = [draw(st.sampled_from(["NOT (", "(", "NOT NOT ("]))] * depth + tokens + [")"] * depth
        elif how == "casei" and position < len(tokens) and re.fullmatch(r"[A-Za-z_]\w*", tokens[position]):
            depth = draw(st.sampled_from([1, 2, 21, 300, 2000]))
            tokens[position] = "CASEI(" * depth + tokens[position] + ")" * depth
        elif how == "repeat":
            tokens = (tokens + ["OR"]) * draw(st.integers(2, 400)) + tokens
    return url, " ".join(tokens)


JSON_REPLACEMENTS = st.one_of(
    JSON_VALUES,
    st.sampled_from(
        [
            {"op": "casei", "args": [{"op": "casei", "args": [{"property": "label"}]}]},
            {"property": "no_such_column"},
            {"op": "foo", "args": []},
            {"op": "=", "args": [{"property": "id"}]},
            {"property": ["id"]},
            {"op": "in", "args": [{"property": "id"}, list(range(3000))]},
            {"op": "like", "args": [{"property": "label"}, "%" * 3000]},
            {"bbox": [1e400, 0, 1, 1]},
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0]]]},
            {"date": "2024-02-30"},
            {"timestamp": 5},
            {"interval": ["..", ".."]},
            {"op": "accenti", "args": ["a"]},
        ]
    ),
    st.sampled_from([30, 200, 300]).map(
        lambda n: json.loads('{"op":"casei","args":[' * n + '{"property":"label"}' + "]}" * n)
    ),
    st.sampled_from([30, 200, 300]).map(lambda n: json.loads('{"op":"not","args":[' * n + "true" + "]}" * n)),
)


def _paths(node, prefix=()):
    yield prefix
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield from _paths(value, (*prefix, key))


def _replaced(node, path, value):
    if not path:
        return value
    copy = dict(node) if isinstance(node, dict) else list(node)
    copy[path[0]] = _replaced(node[path[0]], path[1:], value)
    return copy


@st.composite
def mutated_json_filters(draw):
    """A real CQL2-JSON filter with one or two of its values (or sub-trees) replaced: otherwise valid,
    so the hostile value reaches as far as it can."""
    document = draw(st.sampled_from(CQL2_JSON))
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(list(_paths(document))))
        document = _replaced(document, path, draw(JSON_REPLACEMENTS))
    return json.dumps(document)  # NaN and Infinity written as a client may write them


CQL2_SURFACES = st.sampled_from(["api", "api", "ogc", "catalog", "facets", "group", "tiles"])


def get_filtered(client, url: str, surface: str, query: dict):
    relation = url.split("/")[3]
    if surface == "ogc":
        return get(client, f"/ogc/collections/public.{relation}/items", query)
    if surface == "catalog":
        return get(client, url.replace("/api/", "/catalog/"), query)
    if surface == "facets":
        return get(client, url.replace("/api/", "/catalog/") + "-/facets", query)
    if surface == "group":
        return get(client, url, {**query, "group_by": "id", "aggregate": "count"})
    if surface == "tiles":
        return get(client, url + "tiles/2/1/1.mvt", query)
    return get(client, url, query)


@settings(FUZZ, max_examples=examples(600))
@example(case=("/api/public/types_text/", '{"op":"=","args":[{"property":"t"},"a\\u0000b"]}', "cql2-json", "api"))
@example(case=("/api/public/big_2500/", "NOT (" * 700 + "id = 1" + ")" * 700, "cql2-text", "catalog"))
@example(case=("/api/public/types_text/", "CASEI(" * 2000 + "t" + ")" * 2000 + " = 'a'", "cql2-text", "catalog"))
@example(case=("/api/public/types_text/", "CASEI(" * 2000 + "t" + ")" * 2000 + " = 'a'", "cql2-text", "api"))
@example(case=("/api/public/types_text/", "t LIKE '" + "%a" * 5000 + "'", "cql2-text", "api"))
@example(case=("/api/public/big_2500/", '{"op":"=","args":[{"property":"id"},Infinity]}', "cql2-json", "ogc"))
@given(
    case=st.one_of(
        st.tuples(mutated_text_filters(), CQL2_SURFACES).map(lambda t: (t[0][0], t[0][1], "cql2-text", t[1])),
        st.tuples(
            mutated_json_filters(), st.sampled_from(["/api/public/big_2500/", "/api/public/types_text/"]), CQL2_SURFACES
        ).map(lambda t: (t[1], t[0], "cql2-json", t[2])),
    )
)
def test_real_filters_mutated(client, case):
    url, text, language, surface = case
    get_filtered(client, url, surface, {"filter": text, "filter-lang": language})


# -- the catalog, OGC, downloads and headers ------------------------------------------------------


@settings(FUZZ, max_examples=examples(300))
@given(
    path=st.sampled_from(CATALOG_PAGES), query=st.dictionaries(st.sampled_from(CATALOG_PARAMETERS), HOSTILE, max_size=3)
)
def test_catalog_pages_and_fragments(client, path, query):
    get(client, path, query)


# Facets out of time are estimated from a sample (catalog/facet_estimates.py): the sampled query
# carries the page's filters, so hostile ones go through TABLESAMPLE too. On a copy of big_2500 30
# times over (75,000 rows), no facet is counted within 1 ms: every one goes to its sample, 5,000 rows.
SAMPLED = {"FACET_TIME_LIMIT_MS": 1, "FACET_SAMPLE_ROWS": 5000}


@settings(FUZZ, max_examples=examples(150))
@given(
    case=st.one_of(
        st.dictionaries(st.sampled_from(CATALOG_PARAMETERS), HOSTILE, max_size=3),
        mutated_text_filters()
        .filter(lambda t: t[0] == "/api/public/big_2500/")
        .map(lambda t: {"filter": t[1], "filter-lang": "cql2-text"}),
    )
)
def test_facets_estimated_from_samples(client, sampled_copy, case):
    from django.conf import settings as django_settings
    from django.test import override_settings

    with override_settings(PORTAL={**django_settings.PORTAL, **SAMPLED}):
        get(client, f"/catalog/public/{sampled_copy}/-/facets", case)


@pytest.fixture
def sampled_copy(client, superuser_conn):
    from tests.catalog.helpers import wait_for_relation

    name = "fuzz_sampled_big"
    superuser_conn.at_teardown(f"DROP TABLE IF EXISTS public.{name}")
    superuser_conn.execute(
        f"CREATE TABLE public.{name} AS SELECT b.* FROM public.big_2500 AS b CROSS JOIN generate_series(1, 30)"
    )
    superuser_conn.execute(f"ANALYZE public.{name}")
    superuser_conn.execute(f"GRANT SELECT ON public.{name} TO portal_reader")
    wait_for_relation(client, "public", name)
    return name


@settings(FUZZ, max_examples=examples(200))
@given(
    column=st.sampled_from(["id", "label", "grp", "amount", "created", "nope", ""]),
    lookup=st.sampled_from(["exact", "in", "range", "icontains", "isnull", "gt", "year", "regex", "nope", ""]),
    value=HOSTILE,
    negate=st.sampled_from(["", "1"]),
    grouped=st.sampled_from(["", "1"]),
    query=st.dictionaries(
        st.sampled_from(["filter", "id", "label", "id__in", "label__icontains!", "offset"]),
        st.one_of(HOSTILE, mutated_text_filters().map(lambda case: case[1])),
        max_size=2,
    ),
)
def test_catalog_add_filter_form(client, column, lookup, value, negate, grouped, query):
    """The add-a-filter form: a column, a condition, a value, and the page's other parameters (``query``),
    which an OR group merges with the new filter into CQL2."""
    get(
        client,
        "/catalog/public/big_2500/-/filter",
        {
            "column": column,
            "lookup": lookup,
            "value": value,
            "negate": negate,
            "or": grouped,
            "query": urlencode(query, quote_via=quote),
        },
    )


@settings(FUZZ, max_examples=examples(400))
@given(
    path=st.deferred(lambda: st.sampled_from(ogc_paths())),
    query=st.dictionaries(st.sampled_from(OGC_PARAMETERS), st.one_of(HOSTILE, GEOMETRIES, DATES), max_size=3),
)
def test_ogc_parameters(client, path, query):
    get(client, path, query)


@settings(FUZZ, max_examples=examples(250))
@given(
    path=st.sampled_from(DOWNLOADS),
    query=st.dictionaries(
        st.sampled_from(
            [
                "filter",
                "search",
                "id",
                "id__in",
                "label",
                "offset",
                "cursor",
                "fields",
                "ordering",
                "expand",
                "format",
                "filter-lang",
            ]
        ),
        HOSTILE,
        max_size=2,
    ),
)
def test_downloads(client, path, query):
    """Whole-relation downloads (streamed, or stored once per data version) with hostile parameters."""
    path, _, fixed = path.partition("?")
    get(client, path, {**dict(parse_qs(fixed)), **query})


@settings(FUZZ, max_examples=examples(500))
@given(
    path=st.sampled_from(
        DOWNLOADS
        + [
            "/api/public/big_2500/",
            "/api/public/single_pk/1/",
            "/catalog/public/big_2500/",
            "/ogc/collections/public.places_latlon/items",
            "/api/public/places_latlon/tiles/2/1/1.mvt",
            "/api/public/big_2500/?group_by=grp",
            "/api/",
        ]
    ),
    headers=st.dictionaries(st.sampled_from(HEADERS), HEADER_VALUES, min_size=1, max_size=3),
)
def test_request_headers(client, path, headers):
    path, _, query = path.partition("?")
    get(client, path, dict(parse_qs(query)), headers=headers)


# -- one pass over real HTTP ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_server(tmp_path_factory):
    with portal_server(tmp_path_factory.mktemp("fuzz"), GUNICORN_WORKERS="1", GUNICORN_THREADS="4") as server:
        yield server


@settings(FUZZ, max_examples=examples(200))
@given(data=st.data())
def test_over_real_http(real_server, client, data):
    """The same hostile values byte for byte through gunicorn: what the server and the WSGI layer
    make of them (a header gunicorn itself refuses is its 400, which is fine)."""
    kind = data.draw(st.sampled_from(["parameter", "cursor", "filter", "header"]), label="kind")
    headers = {}
    if kind == "parameter":
        path, parameters = data.draw(st.sampled_from(openapi_operations(client)), label="path")
        names = [p["name"] for p in parameters if p["in"] == "query"] or ["x"]
        path, query = concrete(path), {data.draw(st.sampled_from(names)): data.draw(HOSTILE)}
    elif kind == "cursor":
        case = data.draw(CURSOR_MUTATIONS)
        path, query = (
            case.url,
            {"cursor": case.cursor(client), **({"ordering": case.ordering} if case.ordering else {})},
        )
    elif kind == "filter":
        (url, text) = data.draw(mutated_text_filters())
        path, query = data.draw(st.sampled_from([url, url.replace("/api/", "/catalog/")])), {"filter": text}
    else:
        path, query = data.draw(st.sampled_from(DOWNLOADS)), {}
        headers = data.draw(
            st.dictionaries(st.sampled_from(HEADERS), HEADER_VALUES.filter(_sendable), min_size=1, max_size=2)
        )
    target = path + ("&" if "?" in path else "?") + urlencode(query, quote_via=quote) if query else path
    host, port = urlsplit(real_server.base_url).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest("GET", target, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value.encode("utf-8"))
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status < 500, (response.status, target[:300], headers, body[:300])
    assert b"Traceback" not in body, (target[:300], body[:300])


def _sendable(value: str) -> bool:
    """http.client refuses CR, LF and NUL in a header value, as any client library would."""
    return not re.search(r"[\r\n\x00]", value) and len(value) < 8000
