"""HTTP behaviour for the public internet: caching headers and 304s, CORS, request ids, JSON logs,
read-only methods everywhere. In-process (Django's test client), plus one real gunicorn run."""

from __future__ import annotations

import json
import logging
import re
import time

import pytest
import requests
from django.test import Client

from portal.logs import JSONFormatter
from tests.production.support import portal_server

LIST = "/api/public/single_pk/"
DETAIL = "/api/public/single_pk/1/"
CATALOG = "/catalog/public/single_pk/"


def wait_for(predicate, what: str, seconds: float = 10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"not seen within {seconds} s: {what}")


# -- Cache-Control and conditional GET -------------------------------------------------------------


@pytest.mark.parametrize("url", [LIST, DETAIL, "/api/", LIST + "?format=csv", LIST + "?format=ndjson", CATALOG, "/"])
def test_successful_reads_are_publicly_cacheable_with_an_etag(client, url):
    response = client.get(url)
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=60"
    assert re.fullmatch(r'(W/)?"[^"]+"', response["ETag"])


@pytest.mark.parametrize("url", [LIST, DETAIL, "/api/", LIST + "?format=csv&ordering=-id"])
def test_if_none_match_gives_an_empty_304_with_the_same_headers(client, url):
    first = client.get(url)
    again = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == first["ETag"]
    assert again["Cache-Control"] == "public, max-age=60"
    assert again["Access-Control-Allow-Origin"] == "*"
    assert "Accept" in again["Vary"]
    # A different ETag is a full answer.
    assert client.get(url, HTTP_IF_NONE_MATCH='"something-else"').status_code == 200


def test_each_format_has_its_own_etag_and_api_answers_vary_on_accept(client):
    as_json = client.get(LIST)
    as_csv = client.get(LIST, HTTP_ACCEPT="text/csv")
    assert as_csv["Content-Type"].startswith("text/csv")
    assert as_json["ETag"] != as_csv["ETag"]
    for response in (as_json, as_csv):
        assert "Accept" in [v.strip() for v in response["Vary"].split(",")]
    catalog_vary = client.get(CATALOG).get("Vary", "")
    assert "Accept" not in [v.strip() for v in catalog_vary.split(",")]  # Accept-Encoding, yes


@pytest.mark.db
def test_max_age_follows_the_setting(settings):
    settings.PORTAL = {**settings.PORTAL, "CACHE_MAX_AGE": 5}
    assert Client().get(LIST)["Cache-Control"] == "public, max-age=5"
    settings.PORTAL = {**settings.PORTAL, "CACHE_MAX_AGE": 0}
    response = Client().get(LIST)
    assert response["Cache-Control"] == "no-cache"
    assert "ETag" in response  # revalidated every time, still cheap to answer with a 304


@pytest.mark.parametrize(
    "url, status",
    [
        ("/api/public/no_such_table/", 404),
        (LIST + "?no_such_column=1", 400),
        ("/api/public/single_pk/999999/", 404),
        ("/catalog/public/no_such_table/", 404),
        ("/api/public/v_errors/", 409),
    ],
)
def test_errors_are_never_stored(client, url, status):
    response = client.get(url)
    assert response.status_code == status
    assert response["Cache-Control"] == "no-store"
    assert "ETag" not in response


@pytest.mark.parametrize("url", ["/healthz", "/readyz"])
def test_health_is_never_cached(client, url):
    response = client.get(url)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert "ETag" not in response


def test_streams_are_cacheable_and_carry_only_a_data_version_etag(client, settings):
    """A stream's body cannot be hashed before it is sent: its ETag, if any, is the data
    version's (autoapi/web/validators.py); a relation whose version is unknown has none."""
    settings.PORTAL = {**settings.PORTAL, "EXPORT_CACHE_MB": 0}
    response = client.get("/api/public/big_2500/?limit=all&format=csv&id__lt=100")
    assert response.streaming
    b"".join(response.streaming_content)
    assert response["Cache-Control"] == "public, max-age=60"
    assert response.get("ETag", 'W/"dv-').startswith('W/"dv-')
    foreign = client.get("/api/public/v_errors_late/?limit=all&format=csv&id__lt=3")
    b"".join(foreign.streaming_content)
    assert "ETag" not in foreign or foreign["ETag"].startswith('W/"dv-')


def test_the_index_etag_changes_with_the_schema(client, superuser_conn):
    before = client.get("/api/")["ETag"]
    superuser_conn.at_teardown("DROP TABLE IF EXISTS public.etag_probe")
    superuser_conn.execute("CREATE TABLE public.etag_probe (id int PRIMARY KEY)")

    def listed():
        return any(r["name"] == "etag_probe" for r in client.get("/api/").json()["relations"])

    wait_for(listed, "the new table in /api/")
    after = client.get("/api/")
    assert after["ETag"] != before
    assert client.get("/api/", HTTP_IF_NONE_MATCH=before).status_code == 200
    superuser_conn.execute("DROP TABLE public.etag_probe")
    wait_for(lambda: not listed(), "the table gone from /api/")


# -- CORS -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [LIST, DETAIL, "/api/", "/api/public/no_such_table/", LIST + "?bad=1"])
def test_api_answers_may_be_read_by_any_origin(client, url):
    response = client.get(url, HTTP_ORIGIN="https://example.org")
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response
    exposed = [h.strip() for h in response["Access-Control-Expose-Headers"].split(",")]
    assert {"ETag", "Link", "X-Request-ID", "Retry-After", "X-Tile-Truncated"} <= set(exposed)


def test_preflight_is_answered_without_reaching_a_view(client):
    response = client.options(
        "/api/public/no_such_table/",
        HTTP_ORIGIN="https://example.org",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="x-requested-with, if-none-match",
    )
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
    assert response["Access-Control-Allow-Headers"] == "x-requested-with, if-none-match"
    assert int(response["Access-Control-Max-Age"]) > 0
    assert "Access-Control-Allow-Credentials" not in response
    # A header list that is not a list of header names is not echoed.
    odd = client.options(LIST, HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET", HTTP_ACCESS_CONTROL_REQUEST_HEADERS="a b\r\nc")
    assert "\n" not in odd["Access-Control-Allow-Headers"] and "a b" not in odd["Access-Control-Allow-Headers"]


def test_the_catalog_is_not_opened_to_other_origins(client):
    assert "Access-Control-Allow-Origin" not in client.get("/", HTTP_ORIGIN="https://example.org")
    assert "Access-Control-Allow-Origin" not in client.get(CATALOG, HTTP_ORIGIN="https://example.org")


# -- read-only everywhere ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("url", ["/", CATALOG, "/healthz", "/readyz", "/api/", LIST, DETAIL, "/no/such/page/"])
def test_only_get_head_and_options_exist(client, method, url):
    response = getattr(client, method)(url)
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, OPTIONS"


# -- request ids and JSON logs ---------------------------------------------------------------------


def test_a_sane_request_id_is_echoed_and_an_odd_one_replaced(client):
    assert client.get(LIST, HTTP_X_REQUEST_ID="abc-123_x.y")["X-Request-ID"] == "abc-123_x.y"
    for odd in ("", "has space", "x" * 200, "<script>", "é"):
        generated = client.get(LIST, HTTP_X_REQUEST_ID=odd)["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", generated), (odd, generated)
    first, second = client.get(LIST)["X-Request-ID"], client.get(LIST)["X-Request-ID"]
    assert first != second


def _request_records(caplog):
    return [r for r in caplog.records if r.name == "portal.request"]


def test_one_log_record_per_request_with_relation_status_and_duration(client, caplog):
    caplog.set_level(logging.INFO, logger="portal.request")
    client.get("/api/Odd~20Schema/Mixed~20Case~20Table/?limit=2", HTTP_X_REQUEST_ID="req-1")
    client.get("/api/public/no_such_table/", HTTP_X_REQUEST_ID="req-2")
    client.get("/catalog/public/single_pk/", HTTP_X_REQUEST_ID="req-3")
    stream = client.get("/api/public/big_2500/?limit=all", HTTP_X_REQUEST_ID="req-4")
    b"".join(stream.streaming_content)  # the test client closes a stream once it is consumed
    records = {r.request_id: r for r in _request_records(caplog)}
    assert set(records) >= {"req-1", "req-2", "req-3", "req-4"}
    assert len([r for r in _request_records(caplog) if r.request_id == "req-1"]) == 1
    one = records["req-1"]
    assert (one.method, one.path, one.relation, one.status) == (
        "GET",
        "/api/Odd~20Schema/Mixed~20Case~20Table/",
        "Odd Schema.Mixed Case Table",
        200,
    )
    assert one.duration_ms >= 0 and one.bytes > 0
    assert (records["req-2"].status, records["req-2"].relation) == (404, "public.no_such_table")
    assert records["req-3"].relation == "public.single_pk"
    assert records["req-4"].status == 200 and not hasattr(records["req-4"], "bytes")

    line = JSONFormatter().format(one)
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["request_id"] == "req-1" and entry["relation"] == "Odd Schema.Mixed Case Table"
    assert entry["status"] == 200 and entry["logger"] == "portal.request" and entry["level"] == "INFO"
    assert "?" not in entry["path"]  # the query string is not logged


def test_the_formatter_survives_odd_records():
    logger = logging.getLogger("test.odd")
    try:
        raise ValueError("boom\nwith a second line")
    except ValueError:
        record = logger.makeRecord(
            "test.odd",
            logging.ERROR,
            __file__,
            1,
            "msg %s",
            ("é",),
            exc_info=True,
            extra={"obj": object(), "nested": {"a": (1, 2)}},
        )
        import sys

        record.exc_info = sys.exc_info()
    entry = json.loads(JSONFormatter().format(record))
    assert entry["message"] == "msg é"
    assert "ValueError: boom" in entry["exc_info"]
    assert entry["nested"] == {"a": [1, 2]}


@pytest.mark.db
def test_a_real_server_logs_json_lines(tmp_path):
    """gunicorn with portal/gunicorn.conf.py: JSON lines on its output, one per request, HEAD ok."""
    with portal_server(tmp_path, GUNICORN_WORKERS="1") as server:
        base = server.base_url
        got = requests.get(base + LIST, headers={"X-Request-ID": "real-1"}, timeout=10)
        assert got.status_code == 200 and got.headers["X-Request-ID"] == "real-1"
        head = requests.head(base + LIST, timeout=10)
        assert head.status_code == 200 and head.content == b""
        etag = got.headers["ETag"]
        assert requests.get(base + LIST, headers={"If-None-Match": etag}, timeout=10).status_code == 304
        requests.get(
            base + "/api/public/big_2500/?limit=all&format=csv", headers={"X-Request-ID": "real-2"}, timeout=10
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
            requests_logged = {e.get("request_id"): e for e in lines if e.get("logger") == "portal.request"}
            if {"real-1", "real-2"} <= set(requests_logged):
                break
            time.sleep(0.1)
        else:
            raise AssertionError("request lines missing from the server's output:\n" + server.tail())
        assert requests_logged["real-1"]["relation"] == "public.single_pk"
        assert requests_logged["real-2"]["relation"] == "public.big_2500"
        # Every line gunicorn or the app wrote is JSON (gunicorn's own messages included).
        others = [line for line in server.log().splitlines() if line.strip() and not line.startswith("{")]
        assert not others, others[:5]


def test_healthz_is_answered_before_django_by_the_wsgi_entry_point():
    from portal.wsgi import application

    def call(method, path="/healthz", query=""):
        seen = {}

        def start_response(status, headers):
            seen.update(status=status, headers=dict(headers))

        body = b"".join(
            application(
                {
                    "REQUEST_METHOD": method,
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "SERVER_NAME": "127.0.0.1",
                    "SERVER_PORT": "80",
                    "wsgi.url_scheme": "http",
                    "wsgi.input": __import__("io").BytesIO(),
                },
                start_response,
            )
        )
        return seen, body

    seen, body = call("GET")
    assert seen["status"] == "200 OK" and body == b'{"status": "ok"}'
    assert seen["headers"]["Cache-Control"] == "no-store"
    seen, body = call("HEAD")
    assert seen["status"] == "200 OK" and body == b""
    seen, _ = call("POST")  # everything else is Django's: still read-only
    assert seen["status"].startswith("405")
