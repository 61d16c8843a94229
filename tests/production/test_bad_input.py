"""Bad input, case by case (docs/operations.md, "Bad input"): the 500s the security review and the fuzzer
(test_fuzz.py) found, the fan-out limits and their settings, and the status table for what
PostgreSQL refuses. Each is a 400 naming the parameter, in the surface's own form."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, quote, urlsplit

import psycopg2
import pytest


def cursor_of(payload_text: str) -> str:
    return base64.urlsafe_b64encode(payload_text.encode()).decode().rstrip("=")


def api_400(client, url: str, parameter: str | None = None) -> dict:
    response = client.get(url)
    assert response.status_code == 400, (url[:200], response.status_code, response.content[:300])
    body = response.json()
    if parameter is not None:
        assert body.get("parameter") == parameter or parameter in body.get("parameters", []), body
    return body


# -- the 500s of the security review -------------------------------------------------------------------


def test_a_nul_escaped_in_cql2_json_is_a_400(client):
    document = json.dumps({"op": "=", "args": [{"property": "t"}, "a\x00b"]})
    assert "\\u0000" in document
    body = api_400(client, "/api/public/types_text/?filter-lang=cql2-json&filter=" + quote(document), "filter")
    assert "NUL" in body["detail"]


@pytest.mark.parametrize(
    "values", ["[Infinity]", "[-Infinity]", "[NaN]", '["a\\u0000"]', "[[1]]", '[{"a": 1}]', "[" * 50000 + "]" * 50000]
)
def test_a_cursor_holding_no_value_of_a_column_is_a_400(client, values):
    api_400(client, "/api/public/big_2500/?cursor=" + cursor_of('{"o":"id","v":' + values + "}"), "cursor")


def test_a_cursor_with_a_nul_string_on_a_text_ordering_is_a_400(client):
    api_400(
        client,
        "/api/public/big_2500/?ordering=label&cursor=" + cursor_of('{"o":"label,id","v":["a\\u0000",1]}'),
        "cursor",
    )


def test_an_unreadable_timestamp_in_a_cursor_is_a_400_naming_the_cursor(client):
    page = client.get("/api/public/types_datetime/?ordering=ts&limit=2").json()
    real = parse_qs(urlsplit(page["next"]).query)["cursor"][0]
    signature = json.loads(base64.urlsafe_b64decode(real + "==="))["o"]
    body = api_400(
        client,
        "/api/public/types_datetime/?ordering=ts&cursor="
        + cursor_of(json.dumps({"o": signature, "v": ["not a time", 1]})),
        "cursor",
    )
    assert "timestamp" in body["detail"]


def test_an_offset_beyond_bigint_is_a_400_naming_it(client):
    api_400(client, "/api/public/big_2500/?offset=99999999999999999999", "offset")
    assert client.get("/api/public/big_2500/?offset=9223372036854775807").status_code == 200


@pytest.mark.parametrize(
    "cql", ["NOT (" * 700 + "id = 1" + ")" * 700, "CASEI(" * 2000 + "label" + ")" * 2000 + " = 'a'"]
)
def test_a_deep_filter_is_a_400_page_in_the_catalog_and_json_in_the_api(client, cql):
    page = client.get("/catalog/public/big_2500/?filter=" + quote(cql))
    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")
    assert b"levels deep" in page.content
    assert "levels deep" in api_400(client, "/api/public/big_2500/?filter=" + quote(cql), "filter")["detail"]
    ogc = client.get("/ogc/collections/public.places_latlon/items?filter=" + quote(cql.replace("label", "name")))
    assert ogc.status_code == 400 and {"code", "description"} <= set(ogc.json())


def test_casei_nesting_counts_as_depth(client):
    assert client.get("/api/public/big_2500/?filter=" + quote("CASEI(label) = 'ROW 0001'")).status_code == 200
    body = api_400(
        client, "/api/public/big_2500/?filter=" + quote("CASEI(" * 21 + "label" + ")" * 21 + " = 'a'"), "filter"
    )
    assert "nested 21 levels deep" in body["detail"]  # counted at parse time, before any walk over it


def test_columns_of_one_kind_without_a_common_operator_are_a_400(client):
    """inet and macaddr are both "text form" columns, but PostgreSQL has no inet = macaddr: that was a
    42883, read as "schema changed" (a 404, and a snapshot refresh per request)."""
    api_400(client, "/api/public/types_network_bits/?filter=" + quote("ip = mac"), "filter")
    assert client.get("/api/public/types_network_bits/?filter=" + quote("ip = net")).status_code == 200


# -- the status table ---------------------------------------------------------------------------------


def test_the_status_table_reads_client_caused_errors_as_400(reader_conn):
    """errors.py on real PostgreSQL errors: with values from the client, 42883 (no operator), class 22
    and class 54 are the client's 400 naming the parameters; without, a 404 "schema changed" (a race
    with DDL) and a 409 (a view that cannot be read), as before."""
    from autoapi.errors import RelationUnreadable, SchemaChanged, translate_database_error

    def error_of(sql):
        with reader_conn.cursor() as cursor:
            try:
                cursor.execute(sql)
            except psycopg2.Error as exc:
                return exc
        raise AssertionError(f"{sql} raised nothing")

    undefined = error_of("SELECT '1.1.1.1'::inet = '08:00:2b:01:02:03'::macaddr")
    out_of_range = error_of("SELECT 1 OFFSET 99999999999999999999")
    too_much = error_of("SELECT repeat('x', 1100000000)")  # a program limit, as 54001 from a LIKE's stack depth is
    assert (undefined.pgcode, out_of_range.pgcode, too_much.pgcode[:2]) == ("42883", "22003", "54")
    for exc in (undefined, out_of_range, too_much):
        error = translate_database_error(exc, filtered=True, inputs=("filter",))
        assert error.status_code == 400 and error.as_dict()["parameter"] == "filter", (exc.pgcode, error.as_dict())
        error = translate_database_error(exc, filtered=False, inputs=("offset", "cursor"))
        assert error.status_code == 400 and error.as_dict()["parameters"] == ["offset", "cursor"]
    assert isinstance(translate_database_error(undefined, filtered=False), SchemaChanged)
    assert isinstance(translate_database_error(out_of_range, filtered=False), RelationUnreadable)


def test_a_view_that_fails_by_itself_is_still_a_409(client):
    response = client.get("/api/public/v_errors/")
    assert response.status_code == 409, response.content
    # Filtered or grouped too: no value of the client's divides (CQL2 has no arithmetic here), so the division
    # by zero is the view's own, not "an invalid filter value" (schemathesis found the 400).
    for query in ("x__gte=1", "x=1&filter=x > 0", "ratio__isnull=false", "ratio__isnull=false&group_by=ratio"):
        path = "/api/public/v_errors_late/" if query.startswith("ratio") else "/api/public/v_errors/"
        response = client.get(f"{path}?{query}")
        assert response.status_code == 409, (query, response.content)


# -- bounded fan-out ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, parameter, words",
    [
        ("/api/public/big_2500/?search=" + quote(" ".join(["row"] * 9)), "search", "at most 8 words"),
        ("/api/public/big_2500/?id__in=" + ",".join(["1"] * 1001), "id__in", "at most 1000 values"),
        ("/api/public/big_2500/?id__in!=" + ",".join(["1"] * 1001), "id__in!", "at most 1000 values"),
        ("/api/public/big_2500/?filter=" + quote("id IN (" + ",".join(["1"] * 1001) + ")"), "filter", "at most 1000"),
        ("/api/public/big_2500/?filter=" + quote("label LIKE '" + "%" * 11 + "'"), "filter", "at most 10"),
        ("/api/public/big_2500/?filter=" + quote(" OR ".join(["id = 1"] * 251)), "filter", "at most 250"),
        (
            "/api/public/big_2500/?filter-lang=cql2-json&filter="
            + quote(json.dumps({"op": "in", "args": [{"property": "id"}, list(range(1001))]})),
            "filter",
            "at most 1000",
        ),
    ],
)
def test_fan_out_beyond_the_limits_is_a_400_naming_the_parameter(client, url, parameter, words):
    assert words in api_400(client, url, parameter)["detail"]


def test_fan_out_within_the_limits_is_served(client):
    for url in [
        "/api/public/big_2500/?search=" + quote(" ".join(["row"] * 8)),
        "/api/public/big_2500/?id__in=" + ",".join(map(str, range(1, 1001))),
        "/api/public/big_2500/?filter=" + quote("label LIKE '" + "%" * 10 + "'"),
        "/api/public/big_2500/?filter=" + quote(" OR ".join(f"id = {i}" for i in range(250))),
    ]:
        assert client.get(url).status_code == 200, url[:100]


def test_the_limits_follow_their_settings(client, settings):
    settings.PORTAL = {
        **settings.PORTAL,
        "SEARCH_MAX_WORDS": 2,
        "FILTER_MAX_LIST": 3,
        "LIKE_MAX_WILDCARDS": 1,
        "FILTER_MAX_CONDITIONS": 2,
        "FILTER_MAX_DEPTH": 1,
    }
    api_400(client, "/api/public/big_2500/?search=row+0+1", "search")
    assert client.get("/api/public/big_2500/?search=row+1").status_code == 200
    api_400(client, "/api/public/big_2500/?grp__in=1,2,3,4", "grp__in")
    api_400(client, "/api/public/big_2500/?filter=" + quote("label LIKE '%a%'"), "filter")
    api_400(client, "/api/public/big_2500/?filter=" + quote("id = 1 OR id = 2 OR id = 3"), "filter")
    api_400(client, "/api/public/big_2500/?filter=" + quote("NOT (NOT (id = 1))"), "filter")
    assert client.get("/api/public/big_2500/?filter=" + quote("NOT (id = 1)")).status_code == 200


def test_a_search_beyond_the_limit_is_a_400_page_in_the_catalog(client):
    page = client.get("/catalog/public/big_2500/?search=" + quote(" ".join(["row"] * 9)))
    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")
    assert b"at most 8 words" in page.content


# -- headers -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/public/single_pk/", "/ogc/collections/public.places_latlon/items", "/catalog/public/single_pk/"]
)
@pytest.mark.parametrize(
    "header, value",
    [
        ("Range", "bytes=0-1\x00"),
        ("If-None-Match", '"a\x01b"'),
        ("Accept-Encoding", "gzip" + " " * 9000),
        ("X-API-Key", "k\x7f"),
    ],
)
def test_a_read_header_with_control_characters_or_too_long_is_a_400_naming_it(client, path, header, value):
    """gunicorn refuses the same (RFC 9110, 5.5; limit_request_field_size): the bound holds whatever serves."""
    response = client.get(path, headers={header: value})
    assert response.status_code == 400
    assert header.encode() in response.content


def _alternating(depth: int) -> str:
    text = "id = 1"
    for level in range(depth - 1):
        text = f"(id = 2 {'AND' if level % 2 else 'OR'} {text})"
    return text


@pytest.mark.parametrize(
    "cql",
    [
        "NOT (" * 30 + "id = 1" + ")" * 30,
        _alternating(31),
        "NOT (" * 29 + "(id = 1 OR id IN (" + ",".join(["2"] * 1000) + "))" + ")" * 29,
        "NOT (" * 31 + "id = 1" + ")" * 31,
    ],
)
@pytest.mark.parametrize(
    "surface",
    [
        "/api/public/big_2500/",
        "/api/public/big_2500/?group_by=grp&",
        "/api/public/big_2500/?limit=all&format=csv&",
        "/catalog/public/big_2500/",
        "/catalog/public/big_2500/-/facets",
        "/ogc/collections/public.places_latlon/items",
        "/api/public/places_latlon/tiles/2/1/1.mvt",
    ],
)
def test_the_depth_ceiling_is_within_what_every_walk_can_take(client, settings, pg_info, cql, surface):
    """FILTER_MAX_DEPTH is capped at 30 whatever the setting: every walk over a filter that deep (to
    SQL, to words, to the page) still runs (at 50, Django's SQL compiler ran out of stack); one level
    more is a 400."""
    if "/tiles/" in surface and not pg_info["has_postgis"]:
        pytest.skip("vector tiles need PostGIS (without it every tile is a 400 saying so)")
    settings.PORTAL = {**settings.PORTAL, "FILTER_MAX_DEPTH": 1000000}
    response = client.get(surface + ("" if surface.endswith("&") else "?") + "filter=" + quote(cql))
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code in ((400,) if cql.count("NOT") == 31 else (200, 204)), body[:300]


def test_escaped_percent_signs_are_no_wildcards(client):
    literal = "label LIKE '" + "\\%" * 20 + "%'"  # twenty literal % and one wildcard
    assert client.get("/api/public/big_2500/?filter=" + quote(literal)).status_code == 200


@pytest.mark.parametrize("value", ["5.0", "\u0665", "1e3"])
def test_an_integer_filter_takes_digits_only_as_documented(client, value):
    # The OpenAPI types these as integers; Django's IntegerField would have read "5.0" as 5.
    response = client.get("/api/public/big_2500/", {"id__gt": value})
    assert response.status_code == 400, response.content
    assert client.get("/api/public/big_2500/", {"id__gt": " +5 "}).status_code == 200
