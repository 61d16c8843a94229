"""One renderer per output format, and the registry of them (``ROW_RENDERERS``).

Each renderer is a row source (``rowsources.py``: how PostgreSQL writes its rows, how a page is
read and everything streamed) plus its framing: it sees plain data, rows PostgreSQL already wrote
as JSON text (or CSV bytes from COPY) and a small envelope dict (count, next and previous links).
A page is joined in memory (it is at most MAX_PAGE_SIZE rows), a whole relation (``?limit=all``)
is streamed. Adding a format is one class here, with its record (``records.py``: media type,
names, extension, row cap, size estimate), and its place in ``ROW_RENDERERS``: the viewset, the
API index, the catalog's downloads, ``/data.json`` and the OpenAPI document read the registry.

DRF's content negotiation picks the renderer from ``?format=`` or the Accept header.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from rest_framework import renderers

from autoapi.formats import records
from autoapi.formats.filerows import ParquetRows, SheetRows
from autoapi.formats.rowsources import CopyRows, FeatureRows, JSONRows
from autoapi.schema.snapshot import Relation

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


class PortalJSONRenderer(JSONRows, renderers.JSONRenderer):
    """JSON: a page is ``{"count", "next", "previous", "results": [...]}``; a stream is an array."""

    record = records.JSON  # its openapi_body is None: the OpenAPI document describes the page envelope
    media_type, format, label = record.media_type, record.key, record.label
    ensure_ascii = False
    compact = True

    def page_body(self, rows: list[str], envelope: dict) -> bytes:
        head = _dumps(envelope)[:-1]  # drop the closing brace, then append the results
        sep = "," if envelope else ""
        return f'{head}{sep}"results":[{",".join(rows)}]}}'.encode()

    def stream_body(self, rows: Iterator[str]) -> Iterator[bytes]:
        yield b"["
        yield from _batched(rows, ",")
        yield b"]\n"


class PlainDataRenderer(renderers.BaseRenderer):
    """DRF's ``render()`` for what is not rows (an error's ``{"detail": ...}``): compact JSON."""

    charset = "utf-8"
    render_suffix = ""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return (_dumps(data) + self.render_suffix).encode("utf-8")


class NDJSONRenderer(JSONRows, PlainDataRenderer):
    """Newline-delimited JSON: one row object per line, for pages and streams alike."""

    record = records.NDJSON
    media_type, format, label = record.media_type, record.key, record.label
    render_suffix = "\n"

    def page_body(self, rows: list[str], envelope: dict) -> bytes:
        return "".join(row + "\n" for row in rows).encode("utf-8")

    def stream_body(self, rows: Iterator[str]) -> Iterator[bytes]:
        # Every row ends its line; _batched's leading separator would leave an empty line
        # between two chunks, which is not a JSON text (NDJSON readers may reject it).
        for chunk in _batched(rows, "\n"):
            yield chunk.removeprefix(b"\n") + b"\n"


class GeoJSONRenderer(FeatureRows, PlainDataRenderer):
    """RFC 7946 FeatureCollection; PostgreSQL writes each Feature (geometry in WGS 84)."""

    record = records.GEOJSON
    media_type, format, label = record.media_type, record.key, record.label

    def page_body(self, rows: list[str], envelope: dict) -> bytes:
        head = {"type": "FeatureCollection"}
        if envelope.get("count") is not None:
            head["numberMatched"] = envelope["count"]
            if envelope.get("count_is_estimate"):
                head["numberMatchedIsEstimate"] = True
        head["numberReturned"] = len(rows)
        links = [
            {"rel": rel, "href": envelope[rel], "type": self.media_type}
            for rel in ("next", "previous")
            if envelope.get(rel)
        ]
        if links:
            head["links"] = links
        return f'{_dumps(head)[:-1]},"features":[{",".join(rows)}]}}'.encode()

    def stream_body(self, rows: Iterator[str]) -> Iterator[bytes]:
        yield b'{"type":"FeatureCollection","features":['
        yield from _batched(rows, ",")
        yield b"]}\n"


class PortalCSVRenderer(CopyRows, PlainDataRenderer):
    """CSV exactly as PostgreSQL's ``COPY ... TO STDOUT WITH (FORMAT csv, HEADER)`` writes it: the
    rows never pass through Python. (djangorestframework-csv renders the plain data of the API
    index instead: ``views_index.py``.)"""

    record = records.CSV
    media_type, format, label = record.media_type, record.key, record.label

    def page_body(self, chunks: list[bytes], envelope: dict) -> bytes:
        return b"".join(chunks)

    def stream_body(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        yield from chunks


class _FileRenderer(PlainDataRenderer):
    """A binary file built by its row source: a page is the file of its rows, a stream the file
    as it is written; the envelope's links travel in the ``Link`` header only."""

    binary = True  # no charset parameter on the Content-Type (views.py)

    def page_body(self, files: list[bytes], envelope: dict) -> bytes:
        return b"".join(files)

    def stream_body(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        yield from chunks


class ParquetRenderer(ParquetRows, _FileRenderer):
    """Apache Parquet typed from the snapshot, GeoParquet 1.1 with geometry (``parquet.py``)."""

    record = records.PARQUET
    media_type, format, label = record.media_type, record.key, record.label


class XLSXRenderer(SheetRows, _FileRenderer):
    """An Excel workbook of one sheet, PostgreSQL writing its rows (``xlsx.py``)."""

    record = records.XLSX
    media_type, format, label = record.media_type, record.key, record.label


# The registry of row formats, in the order they are offered; the first is the default.
ROW_RENDERERS = (PortalJSONRenderer, PortalCSVRenderer, NDJSONRenderer, GeoJSONRenderer, ParquetRenderer, XLSXRenderer)


def formats_for(relation: Relation) -> tuple[str, ...]:
    """The formats this relation is served in (GeoJSON only with a geometry or lat/lon pair)."""
    return tuple(r.format for r in ROW_RENDERERS if r.available_for(relation))


def records_for(relation: Relation) -> tuple[records.Format, ...]:
    """The records of the formats this relation is served in, in the registry's order."""
    return tuple(r.record for r in ROW_RENDERERS if r.available_for(relation))


def record_of(fmt: str) -> records.Format | None:
    """The record of the format ``?format=fmt`` names, or None when the registry has none."""
    return next((r.record for r in ROW_RENDERERS if r.format == fmt), None)


def format_label(fmt: str) -> str:
    """How people call a format: "GeoJSON" for ``geojson``."""
    record = record_of(fmt)
    return record.label if record is not None else fmt.upper()
