"""Compression (autoapi/web/compression.py): pages and streams in zstd, brotli and gzip decode to the
very bytes of the uncompressed answer; streams stay streams, flushed chunk by chunk; ETags, 304s
and Accept-Encoding q-values behave. In-process, with Django's test client."""

from __future__ import annotations

import re
import zlib

import brotli
import pytest

from autoapi.formats import exports
from autoapi.web.compression import MIN_SIZE, choose_coding, zstd

CODINGS = ("gzip", "br", "zstd")
LIST = "/api/public/big_2500/"


@pytest.fixture(autouse=True)
def _live_streams(settings):
    """Whole-relation downloads compressed on the fly: the export cache off (a stored download is
    sent as stored, with byte ranges: tests/autoapi/test_export_cache.py)."""
    settings.PORTAL = {**settings.PORTAL, "EXPORT_CACHE_MB": 0}


PAGES = [
    LIST,
    LIST + "?format=csv&limit=1000",
    LIST + "?format=ndjson&ordering=-id",
    "/api/public/single_pk/?format=json",
    "/api/",
    "/api/schema/",
]
STREAM_FORMATS = ("json", "csv", "ndjson")


def decompressor(coding: str):
    """A function fed compressed chunks in order, returning what each makes decodable."""
    if coding == "gzip":
        return zlib.decompressobj(31).decompress
    if coding == "br":
        return brotli.Decompressor().process
    return zstd.ZstdDecompressor().decompress


def decode(coding: str, data: bytes) -> bytes:
    return decompressor(coding)(data)


def _without_clock(html: bytes) -> bytes:
    # The catalog's pages say when the schema was last checked, to the second.
    return re.sub(rb"<time[^>]*>[^<]*</time>", b"", html)


# -- pages -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("coding", CODINGS)
@pytest.mark.parametrize("url", PAGES)
def test_a_compressed_page_decodes_to_the_uncompressed_bytes(client, url, coding):
    plain = client.get(url)
    packed = client.get(url, HTTP_ACCEPT_ENCODING=coding)
    assert plain.status_code == packed.status_code == 200
    assert "Content-Encoding" not in plain
    assert packed["Content-Encoding"] == coding
    assert "Accept-Encoding" in packed["Vary"] and "Accept-Encoding" in plain["Vary"]
    assert int(packed["Content-Length"]) == len(packed.content) < len(plain.content)
    assert decode(coding, packed.content) == plain.content


@pytest.mark.parametrize("coding", CODINGS)
@pytest.mark.parametrize("url", ["/", "/catalog/public/big_2500/?grp=3"])
def test_a_compressed_catalog_page_decodes_to_the_same_page(client, url, coding):
    plain = client.get(url)
    packed = client.get(url, HTTP_ACCEPT_ENCODING=coding)
    assert packed["Content-Encoding"] == coding
    assert _without_clock(decode(coding, packed.content)) == _without_clock(plain.content)


@pytest.mark.spatial
@pytest.mark.parametrize("coding", CODINGS)
def test_a_geojson_page_and_stream_decode_to_the_same_bytes(client, coding):
    for url in ("/api/public/geo_points/?format=geojson", "/api/public/geo_points/?format=geojson&limit=all"):
        plain, packed = client.get(url), client.get(url, HTTP_ACCEPT_ENCODING=coding)
        plain_body = b"".join(plain.streaming_content) if plain.streaming else plain.content
        packed_body = b"".join(packed.streaming_content) if packed.streaming else packed.content
        assert packed["Content-Encoding"] == coding
        assert decode(coding, packed_body) == plain_body


def test_small_bodies_and_identity_requests_are_sent_as_they_are(client):
    tiny = client.get("/healthz", HTTP_ACCEPT_ENCODING="gzip")
    assert len(tiny.content) < MIN_SIZE and "Content-Encoding" not in tiny
    for header in ("identity", "gzip;q=0, br;q=0, zstd;q=0", "*;q=0", "deflate, compress"):
        response = client.get(LIST, HTTP_ACCEPT_ENCODING=header)
        assert "Content-Encoding" not in response, header
        assert response.content.startswith(b'{"count":2500')


def test_each_coding_has_its_own_etag_and_its_own_304(client):
    plain = client.get(LIST)
    packed = {coding: client.get(LIST, HTTP_ACCEPT_ENCODING=coding) for coding in CODINGS}
    etags = {plain["ETag"], *(r["ETag"] for r in packed.values())}
    assert len(etags) == 4  # one per representation
    for coding, response in packed.items():
        again = client.get(LIST, HTTP_ACCEPT_ENCODING=coding, HTTP_IF_NONE_MATCH=response["ETag"])
        assert again.status_code == 304 and again.content == b""
        assert again["ETag"] == response["ETag"]
        assert "Accept-Encoding" in again["Vary"]
        # The same validator from a client that now wants another coding: the full answer.
        other = client.get(LIST, HTTP_IF_NONE_MATCH=response["ETag"])
        assert other.status_code == 200 and "Content-Encoding" not in other


@pytest.mark.parametrize(
    "header, expected",
    [
        ("gzip, deflate", "gzip"),
        ("gzip, deflate, br", "br"),
        ("gzip, deflate, br, zstd", "zstd"),
        ("br;q=0.5, gzip", "gzip"),
        ("zstd;q=0, gzip;q=0.2", "gzip"),
        ("GZip", "gzip"),
        ("x-gzip", "gzip"),
        ("*", "zstd"),
        ("br;q=0.8, *;q=0.9", "zstd"),
        ("*;q=0", "identity"),
        ("identity;q=0, *;q=0", "identity"),
        ("identity;q=0, gzip;q=0.1", "gzip"),
        ("identity", "identity"),
        ("gzip;q=0.5, identity", "identity"),
        ("gzip, identity;q=0.5", "gzip"),
        ("", "identity"),
        (None, "identity"),
        ("gzip;q=nonsense", "identity"),
        ("gzip;q=2", "identity"),
        ("deflate", "identity"),
        ("gzip," * 400, "identity"),  # longer than anyone needs: not parsed
    ],
)
def test_q_values_choose_the_coding(header, expected):
    assert choose_coding(header) == expected


# -- streams ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("coding", CODINGS)
@pytest.mark.parametrize("fmt", STREAM_FORMATS)
def test_a_compressed_stream_is_streamed_flushed_and_decodes_to_the_same_bytes(client, monkeypatch, fmt, coding):
    monkeypatch.setattr(exports, "COPY_BATCH_BYTES", 8 * 1024)  # several CSV chunks from 2,500 rows
    url = f"{LIST}?format={fmt}&limit=all"
    plain = client.get(url)
    plain_body = b"".join(plain.streaming_content)
    packed = client.get(url, HTTP_ACCEPT_ENCODING=coding)
    assert packed.streaming and packed["Content-Encoding"] == coding
    # No length; a data-version ETag (autoapi/web/validators.py) may name it, weak and per coding.
    assert "Content-Length" not in packed and packed.get("ETag", 'W/"dv-').startswith('W/"dv-')
    assert packed.get("ETag") is None or packed["ETag"] != plain.get("ETag")
    feed = decompressor(coding)
    decoded = [feed(chunk) for chunk in packed.streaming_content]
    assert len(decoded) >= 5
    assert all(decoded[:-1])  # flushed: each chunk decodes at once to the rows it carries
    assert b"".join(decoded) == plain_body


def test_the_stream_compressor_never_finishes_a_failed_stream():
    from autoapi.web.compression import compress_stream

    def failing():
        yield b"id,label\n" * 100
        raise RuntimeError("the database went away")

    for coding in CODINGS:
        produced = []
        with pytest.raises(RuntimeError):
            for chunk in compress_stream(coding, failing()):
                produced.append(chunk)
        body = b"".join(produced)
        if coding == "gzip":
            engine = zlib.decompressobj(31)
            assert engine.decompress(body) == b"id,label\n" * 100 and not engine.eof
        elif coding == "br":
            engine = brotli.Decompressor()
            assert engine.process(body) == b"id,label\n" * 100 and not engine.is_finished()
        else:
            engine = zstd.ZstdDecompressor()
            assert engine.decompress(body) == b"id,label\n" * 100 and not engine.eof


# -- static files -----------------------------------------------------------------------------------


def _static_links(client) -> list[str]:
    page = client.get("/catalog/public/geo_points/").content.decode() + client.get("/api/docs/").content.decode()
    return sorted(set(re.findall(r'(?:src|href)="(/static/[^"]+)"', page)))


def test_pages_link_to_content_hashed_static_files(client):
    links = _static_links(client)
    assert any(link.startswith("/static/portal.") for link in links)
    assert any("swagger-ui-bundle" in link for link in links)
    for link in links:
        assert re.search(r"\.[0-9a-f]{12}\.(css|js)$", link), link


def test_hashed_static_files_are_cached_for_ever_and_served_precompressed(client):
    for link in _static_links(client):
        plain = client.get(link)
        plain_body = b"".join(plain.streaming_content)
        assert plain.status_code == 200, link
        cache = plain["Cache-Control"]
        assert "immutable" in cache and int(re.search(r"max-age=(\d+)", cache).group(1)) >= 31536000, cache
        for coding in ("br", "gzip"):
            packed = client.get(link, HTTP_ACCEPT_ENCODING=coding)
            packed_body = b"".join(packed.streaming_content)
            if len(plain_body) < 1000:
                continue  # whitenoise keeps no compressed copy that saves too little
            assert packed["Content-Encoding"] == coding, link
            assert int(packed["Content-Length"]) == len(packed_body) < len(plain_body)
            assert decode(coding, packed_body) == plain_body
            assert "Accept-Encoding" in packed["Vary"]


def test_unhashed_static_names_are_not_served(client, settings):
    # As settings.py decides once collected: this process may have read settings before the
    # suite's set-up collected (a fresh checkout), when the sources are served (test_newcomer.py).
    settings.WHITENOISE_USE_FINDERS = False
    assert client.get("/static/portal.css").status_code == 404


@pytest.mark.db
def test_a_missing_manifest_is_a_check_warning(settings, tmp_path):
    from portal.staticfiles import check_collected

    assert check_collected() == []  # the tests' set-up collected them
    settings.STATIC_ROOT = str(tmp_path)
    assert [m.id for m in check_collected()] == ["portal.W001"]
