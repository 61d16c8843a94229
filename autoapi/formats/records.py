"""What each output format is, as one frozen record: its media type, names, file extension, row
cap, whether it compresses itself, and how big a row of it is about to be.

The renderers (``renderers.py``) carry their record (``record = CSV``) and take their DRF
``media_type``, ``format`` and ``label`` from it; ``renderers.ROW_RENDERERS`` stays the one
registry of formats (``renderers.record_of``, ``records_for``). Everything else that needs a fact
about a format reads it here rather than branching on its name: the download file names
(``filenames.py``), the XLSX row check (``filerows.py``), the OpenAPI document (``web/openapi.py``)
and, through ``autoapi.public``, the catalog's download sizes (``catalog/estimates.py``) and
``/data.json`` (``catalog/opendata.py``).

This module imports nothing of Django nor of the database: its facts can be tested alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

EXCEL_SHEET_ROWS = 1_048_576  # Excel's rows per sheet, the header row included
GEOJSON_FEATURE_BYTES = 45  # {"type":"Feature","geometry":...,"properties":{...}} around each row


@dataclass(frozen=True)
class ColumnWidth:
    """What a size estimate knows of one column: its name, about how many bytes a value prints
    as, and the share of its values that are not NULL (from PostgreSQL's statistics)."""

    name: str
    width: float
    present: float = 1.0


def csv_row_bytes(columns: Sequence[ColumnWidth]) -> float:
    """A CSV line: each value, then a comma or the line end."""
    return sum(c.width * c.present + 1 for c in columns)


def json_row_bytes(columns: Sequence[ColumnWidth]) -> float:
    """A JSON object: ``"name":value,`` per column (``null`` for a NULL), its braces."""
    return sum(c.width * c.present + 4 * (1 - c.present) + len(c.name.encode()) + 4 for c in columns) + 2


def feature_row_bytes(columns: Sequence[ColumnWidth]) -> float:
    """A GeoJSON Feature: the properties object, and the Feature around it."""
    return json_row_bytes(columns) + GEOJSON_FEATURE_BYTES


@dataclass(frozen=True)
class Format:
    """One output format. ``key`` is its ``?format=`` value."""

    key: str
    media_type: str
    label: str  # what people call it on a download button: "Excel"
    format_name: str  # the file format's own name, as metadata catalogues list it (DCAT): "XLSX"
    extension: str  # of a downloaded file, without the dot
    # About how many bytes one row takes, from its columns' widths; None when unknowable.
    row_bytes: Callable[[Sequence[ColumnWidth]], float] | None = field(default=None, compare=False)
    # The OpenAPI schema of a 200 answer in this format; None: the JSON page envelope.
    openapi_body: dict | None = field(default=None, compare=False, hash=False)
    # The most rows one answer may hold (below a header), or None without a limit; past it the
    # API answers 400 and the catalog and /data.json offer no such download.
    row_cap: int | None = None
    # The file compresses itself (Parquet's pages, XLSX's zip): HTTP compression gains nothing and
    # its size depends on the data, so no size is guessed (``row_bytes`` is then None).
    compressed: bool = False

    def holds(self, rows: int) -> bool:
        """Whether one answer in this format may hold ``rows`` rows."""
        return self.row_cap is None or rows <= self.row_cap

    def estimated_bytes(self, rows: float, columns: Sequence[ColumnWidth]) -> float | None:
        """About how many bytes ``rows`` rows take in this format, or None when it cannot be told."""
        if self.compressed or self.row_bytes is None:
            return None
        return rows * self.row_bytes(columns)


def _described(description: str, **schema) -> dict:
    return {"type": "string", **schema, "description": description}


_PARQUET_TYPE = "application/vnd.apache.parquet"
_XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_CSV_BODY = _described("PostgreSQL's COPY CSV, with a header line")
_NDJSON_BODY = _described("one JSON object per line")
_GEOJSON_BODY = _described("an RFC 7946 FeatureCollection in WGS 84", type="object")
_PARQUET_BODY = _described(
    "an Apache Parquet file (GeoParquet 1.1 with geometry), typed from the column types", format="binary"
)
_XLSX_BODY = _described(
    f"an Excel workbook (XLSX), a header row then one row per result row; at most {EXCEL_SHEET_ROWS - 1:,} rows",
    format="binary",
)

# key, media type, label, format name, extension, row bytes, OpenAPI body[, row cap][, compressed]
# (in renderers.ROW_RENDERERS' order; JSON has no body of its own: the OpenAPI page envelope).
JSON = Format("json", "application/json", "JSON", "JSON", "json", json_row_bytes)
CSV = Format("csv", "text/csv", "CSV", "CSV", "csv", csv_row_bytes, _CSV_BODY)
NDJSON = Format("ndjson", "application/x-ndjson", "NDJSON", "NDJSON", "ndjson", json_row_bytes, _NDJSON_BODY)
GEOJSON = Format("geojson", "application/geo+json", "GeoJSON", "GeoJSON", "geojson", feature_row_bytes, _GEOJSON_BODY)
PARQUET = Format("parquet", _PARQUET_TYPE, "Parquet", "Parquet", "parquet", None, _PARQUET_BODY, compressed=True)
XLSX = Format("xlsx", _XLSX_TYPE, "Excel", "XLSX", "xlsx", None, _XLSX_BODY, EXCEL_SHEET_ROWS - 1, compressed=True)
