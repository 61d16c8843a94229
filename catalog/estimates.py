"""How many rows and about how many bytes each download button of a relation page will give.

Called by ``catalog.views.relation`` once the preview has its count (exact up to
``EXACT_COUNT_THRESHOLD``, else the planner's estimate: the same count the API gives). The size
comes from the planner's statistics the page has already read (``pg_stats.avg_width`` of each
column, its share of NULLs), so nothing is scanned: a relation never analysed, and a view, get
the rows only. It is an estimate for people ("about 31 MB"), not a promise.
"""

from __future__ import annotations

from autoapi.public import ColumnWidth, Relation, format_record, stored_download_size

# Text widths of types whose binary width (what avg_width measures) is far from how PostgreSQL
# prints them: timestamps are 8 bytes stored, 22 printed.
TEXT_WIDTHS = {
    "timestamptz": 22,
    "timestamp": 19,
    "date": 10,
    "time": 8,
    "timetz": 11,
    "bool": 4,
    "int2": 3,
    "int4": 5,
    "int8": 7,
    "float4": 8,
    "float8": 12,
}
UNKNOWN_WIDTH = 8  # a column without statistics (dropped since ANALYZE, or a new one)


def column_widths(relation: Relation, statistics: dict) -> list[ColumnWidth]:
    """Each column's printed width and share of non-NULL values, from the planner's statistics;
    each format's record (``autoapi/formats/records.py``) turns them into bytes per row."""
    widths = []
    for column in relation.columns:
        stats = statistics.get(column.name)
        if stats:
            width = max(stats["average_width"] or 0, TEXT_WIDTHS.get(column.base_type, 0))
            widths.append(ColumnWidth(column.name, width, 1 - (stats["null_fraction"] or 0)))
        else:
            widths.append(ColumnWidth(column.name, UNKNOWN_WIDTH))
    return widths


def size_text(size: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            value = size / scale
            return f"about {value:.1f} {unit}" if value < 10 else f"about {value:,.0f} {unit}"
    return "under 1 kB"


def rows_text(count: int, is_estimate: bool) -> str:
    noun = "row" if count == 1 else "rows"
    return f"about {count:,} {noun}" if is_estimate else f"{count:,} {noun}"


def annotate(buttons: list[dict], relation: Relation, statistics: dict, count: int, is_estimate: bool) -> None:
    """Add ``rows`` and ``size`` (text, or None when unknown) to each download button dict, and
    ``too_many`` to one whose format cannot hold the rows (an Excel sheet's: the API's answer
    would be a 400): the page says so instead of offering it. Compressed files (Parquet, XLSX)
    get no size: it depends on how the data compresses."""
    widths = column_widths(relation, statistics) if statistics else None
    for button in buttons:
        button["rows"] = rows_text(count, is_estimate)
        record = format_record(button["format"])
        if record is not None and not record.holds(count):
            button["too_many"] = (
                f"more rows than an {record.label} sheet holds ({record.row_cap:,}): download CSV or Parquet"
            )
        size = record.estimated_bytes(count, widths) if record is not None and widths else None
        button["size"] = size_text(size) if size is not None else None


def exact_size_text(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def annotate_stored(request, relation: Relation, buttons: list[dict], whole: bool) -> None:
    """Add ``stored`` (the exact size as text, or None) to each button whose whole-relation
    download is stored for the current data (``autoapi/freshness/exportcache.py``): it starts at once,
    has a length and can be resumed."""
    for button in buttons:
        size = stored_download_size(request, relation, button["format"]) if whole else None
        button["stored"] = exact_size_text(size) if size is not None else None
