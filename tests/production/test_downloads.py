"""Downloads people can manage: every format's file name (``Content-Disposition``, hostile relation
names included), the catalog's download buttons with estimated rows and size, and a stream cut by
a database error that clients can tell from a complete one (a real gunicorn, raw HTTP)."""

from __future__ import annotations

import http.client
import re
import time
import zlib
from urllib.parse import unquote, urlsplit

import pytest

EXTENSIONS = {"json": "json", "csv": "csv", "ndjson": "ndjson", "geojson": "geojson"}
ASCII_NAME = re.compile(r'(attachment|inline); filename="([A-Za-z0-9._-]+)"(; filename\*=UTF-8\'\'([^;"\s]+))?')


def disposition(response) -> tuple[str, str, str | None]:
    """(type, ASCII file name, exact file name or None) of a Content-Disposition header."""
    match = ASCII_NAME.fullmatch(response["Content-Disposition"])
    assert match, response["Content-Disposition"]
    exact = unquote(match.group(4), errors="strict") if match.group(4) else None
    return match.group(1), match.group(2), exact


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# -- file names ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "csv", "ndjson"])
def test_every_download_is_an_attachment_named_after_the_relation(client, fmt):
    whole = client.get(f"/api/public/single_pk/?format={fmt}&limit=all")
    body(whole)
    assert disposition(whole) == ("attachment", f"public.single_pk.{EXTENSIONS[fmt]}", None)
    page = client.get(f"/api/public/single_pk/?format={fmt}")
    assert disposition(page) == ("inline", f"public.single_pk.{EXTENSIONS[fmt]}", None)


@pytest.mark.spatial
def test_geojson_downloads_are_named_geojson(client):
    whole = client.get("/api/public/geo_points/?format=geojson&limit=all")
    body(whole)
    assert disposition(whole) == ("attachment", "public.geo_points.geojson", None)


def test_the_accept_header_names_the_file_as_format_does(client):
    whole = client.get("/api/public/single_pk/?limit=all", HTTP_ACCEPT="application/x-ndjson")
    body(whole)
    assert disposition(whole)[:2] == ("attachment", "public.single_pk.ndjson")


@pytest.mark.parametrize(
    "name, ascii_name, exact",
    [
        ("table with spaces", "public.table_with_spaces.csv", "public.table with spaces.csv"),
        ('quote"d', "public.quote_d.csv", "public.quote_d.csv"),
        ("slash/ed", "public.slash_ed.csv", "public.slash_ed.csv"),
        ("back\\slash", "public.back_slash.csv", "public.back_slash.csv"),
        ("dot.ted", "public.dot_ted.csv", "public.dot_ted.csv"),
        ("sales.orders", "public.sales_orders.csv", "public.sales_orders.csv"),
        ("📈 emoji", "public.__emoji.csv", "public.📈 emoji.csv"),
        ("Café_données", "public.Caf__donn_es.csv", "public.Café_données.csv"),
        ("<i>html</i>", "public._i_html__i_.csv", "public._i_html__i_.csv"),
    ],
)
def test_hostile_names_give_a_safe_ascii_name_and_the_exact_one(client, name, ascii_name, exact):
    from autoapi.public import encode_segment

    response = client.get(f"/api/public/{encode_segment(name)}/?format=csv&limit=all")
    assert response.status_code == 200
    body(response)
    kind, fallback, precise = disposition(response)
    assert (kind, fallback) == ("attachment", ascii_name)
    assert (precise or fallback) == exact
    for bad in ("/", "\\", '"', "\x00"):
        assert bad not in (precise or "")


def test_the_catalog_curl_example_uses_the_same_file_name(client):
    page = client.get("/catalog/public/single_pk/").content.decode()
    assert "curl -o public.single_pk.csv " in page


# -- the catalog's download buttons ----------------------------------------------------------------


def test_download_buttons_show_estimated_rows_and_size(client, settings):
    # Estimates: nothing stored (a stored download shows its exact size, tests/catalog/test_data_changes.py).
    settings.PORTAL = {**settings.PORTAL, "EXPORT_CACHE_MB": 0}
    page = client.get("/catalog/public/big_2500/").content.decode()
    section = page[page.index('id="downloads"') :]
    section = section[: section.index("</section>")]
    for label in ("JSON", "CSV", "NDJSON"):
        assert re.search(rf">{label}<.*?2,500 rows", section, re.S), label
    assert re.search(r"about \d+(\.\d)? (kB|MB)", section)


def test_filtered_download_buttons_count_the_matching_rows(client):
    page = client.get("/catalog/public/big_2500/?grp=3").content.decode()
    section = page[page.index('id="downloads"') :]
    assert "357 rows" in section[: section.index("</section>")]


# -- a stream cut by the database -------------------------------------------------------------------

# Fails with division by zero at row 60,000, after some 6 MB of CSV have been sent.
FAILING_VIEW = (
    "CREATE VIEW public.fails_midway AS SELECT g AS id, repeat('x', 100) AS pad, 1 / (60000 - g) AS boom "
    "FROM generate_series(1, 100000) AS g"
)


def raw_get(base_url: str, path: str, **headers) -> tuple[http.client.HTTPResponse, bytes, bool]:
    """GET over HTTP/1.1 with http.client: (response, body as received, whether it ended cleanly)."""
    address = urlsplit(base_url)
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        try:
            return response, response.read(), True
        except http.client.IncompleteRead as cut:
            return response, cut.partial, False
    finally:
        conn.close()


@pytest.fixture
def failing_view(superuser_conn, live_server_url) -> str:
    superuser_conn.execute(FAILING_VIEW)
    superuser_conn.at_teardown("DROP VIEW IF EXISTS public.fails_midway")
    superuser_conn.execute("GRANT SELECT ON public.fails_midway TO portal_reader")
    path = "/api/public/fails_midway/"
    seen = 0
    for _ in range(300):  # every worker keeps its own snapshot: wait until each serves the view
        seen = seen + 1 if raw_get(live_server_url, path + "?limit=1")[0].status == 200 else 0
        if seen >= 10:
            return path
        time.sleep(0.05)
    pytest.fail("the live server did not publish public.fails_midway")


@pytest.mark.parametrize("coding", ["identity", "gzip"])
@pytest.mark.parametrize("fmt", ["csv", "ndjson", "json"])
def test_a_stream_cut_by_a_database_error_never_ends_cleanly(live_server_url, failing_view, fmt, coding):
    response, received, complete = raw_get(
        live_server_url, f"{failing_view}?format={fmt}&limit=all", **{"Accept-Encoding": coding}
    )
    assert response.status == 200 and response.getheader("Transfer-Encoding") == "chunked"
    assert not complete  # the connection closed without the final zero-length chunk
    if coding == "gzip":
        assert response.getheader("Content-Encoding") == "gzip"
        engine = zlib.decompressobj(31)
        received = engine.decompress(received)
        assert not engine.eof  # nor did the gzip member end: no CRC, no length
    assert len(received) > 500_000  # rows did arrive before the error


@pytest.mark.parametrize("coding", ["identity", "gzip"])
@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_a_complete_stream_ends_cleanly(live_server_url, fmt, coding):
    # A filter, however loose, makes it a live stream (the whole relation may come stored).
    response, received, complete = raw_get(
        live_server_url, f"/api/public/big_2500/?format={fmt}&limit=all&id__gte=0", **{"Accept-Encoding": coding}
    )
    assert response.status == 200 and complete
    if coding == "gzip":
        engine = zlib.decompressobj(31)
        received = engine.decompress(received)
        assert engine.eof and not engine.unused_data
    assert received.count(b"\n") == 2500 + (fmt == "csv")
