"""One renderer per output format.

A renderer sees plain data: rows PostgreSQL already wrote as JSON text (or CSV bytes from COPY)
and a small envelope dict (count, next and previous links). It only frames them: a page is joined
in memory (it is at most MAX_PAGE_SIZE rows), a whole relation (``?limit=all``) is streamed.

DRF's content negotiation picks the renderer from ``?format=`` or the Accept header.
"""
from __future__ import annotations

import json
from collections.abc import Iterator

from rest_framework import renderers
from rest_framework_csv.renderers import CSVStreamingRenderer

# How the view must ask PostgreSQL for the rows of each format.
ROWS_AS_JSON = "json"
ROWS_AS_FEATURES = "features"
ROWS_AS_CSV = "csv"

STREAM_BATCH = 500  # rows joined into one chunk of a streamed response


def _dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _batched(rows: Iterator[str], separator: str, first_prefix: str = "") -> Iterator[bytes]:
    batch: list[str] = []
    started = False
    for row in rows:
        batch.append(row)
        if len(batch) >= STREAM_BATCH:
            yield ((separator if started else first_prefix) + separator.join(batch)).encode("utf-8")
            started, batch = True, []
    if batch:
        yield ((separator if started else first_prefix) + separator.join(batch)).encode("utf-8")


class PortalJSONRenderer(renderers.JSONRenderer):
    """JSON: a page is ``{"count", "next", "previous", "results": [...]}``; a stream is an array."""

    rows_as = ROWS_AS_JSON
    ensure_ascii = False
    compact = True

    def page_body(self, rows: list[str], envelope: dict) -> bytes:
        head = _dumps(envelope)[:-1]  # drop the closing brace, then append the results
        sep = "," if envelope else ""
        return f"{head}{sep}\"results\":[{','.join(rows)}]}}".encode("utf-8")

    def stream_body(self, rows: Iterator[str]) -> Iterator[bytes]:
        yield b"["
        yield from _batched(rows, ",")
        yield b"]\n"


class NDJSONRenderer(renderers.BaseRenderer):
    """Newline-delimited JSON: one row object per line, for pages and streams alike."""

    media_type = "application/x-ndjson"
    format = "ndjson"
    charset = "utf-8"
    rows_as = ROWS_AS_JSON

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return (_dumps(data) + "\n").encode("utf-8")

    def page_body(self, rows: list[str], envelope: dict) -> bytes:
        return "".join(row + "\n" for row in rows).encode("utf-8")

    def stream_body(self, rows: Iterator[str]) -> Iterator[bytes]:
        # Every row ends its line; _batched's leading separator would leave an empty line
        # between two chunks, which is not a JSON text (NDJSON readers may reject it).
        for chunk in _batched(rows, "\n"):
            yield chunk.removeprefix(b"\n") + b"\n"


class GeoJSONRenderer(renderers.BaseRenderer):
    """RFC 7946 FeatureCollection; PostgreSQL writes each Feature (geometry in WGS 84)."""

    media_type = "application/geo+json"
    format = "geojson"
    charset = "utf-8"
    rows_as = ROWS_AS_FEATURES

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return _dumps(data).encode("utf-8")

    def page_body(self, rows: list[str], envelope: dict) -> bytes:
        head = {"type": "FeatureCollection"}
        if envelope.get("count") is not None:
            head["numberMatched"] = envelope["count"]
            if envelope.get("count_is_estimate"):
                head["numberMatchedIsEstimate"] = True
        head["numberReturned"] = len(rows)
        links = [{"rel": rel, "href": envelope[rel], "type": self.media_type} for rel in ("next", "previous") if envelope.get(rel)]
        if links:
            head["links"] = links
        return f"{_dumps(head)[:-1]},\"features\":[{','.join(rows)}]}}".encode("utf-8")

    def stream_body(self, rows: Iterator[str]) -> Iterator[bytes]:
        yield b'{"type":"FeatureCollection","features":['
        yield from _batched(rows, ",")
        yield b"]}\n"


class PortalCSVRenderer(CSVStreamingRenderer):
    """CSV exactly as PostgreSQL's ``COPY ... TO STDOUT WITH (FORMAT csv, HEADER)`` writes it.

    Based on djangorestframework-csv's renderer for its media type and its ``render()`` of plain
    lists (the API index); the rows themselves come straight from COPY, never through Python.
    """

    format = "csv"
    media_type = "text/csv"
    charset = "utf-8"
    rows_as = ROWS_AS_CSV

    def page_body(self, chunks: list[bytes], envelope: dict) -> bytes:
        return b"".join(chunks)

    def stream_body(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        yield from chunks


ROW_RENDERERS = (PortalJSONRenderer, GeoJSONRenderer, PortalCSVRenderer, NDJSONRenderer)
