"""Parquet files from PostgreSQL's CSV, in row groups, with bounded memory (docs/downloads.md, "Parquet").

PostgreSQL writes each row as CSV through ``COPY`` (the cells of ``parquet_types.arrow_column``),
Arrow's C++ CSV reader parses it into typed record batches as it arrives, and ``ParquetWriter``
encodes a row group every ``ROW_GROUP_ROWS`` rows (or ``ROW_GROUP_BYTES`` of Arrow data). The
writer's output goes to a sink drained after every row group, so a download holds at most one
row group in memory, however many rows it has; the footer comes last, as Parquet wants.

Called by ``filerows.ParquetRows``: ``cells_sql`` for the statement, ``stream_file`` for
``?limit=all`` and ``page_file`` for a page or one row.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from autoapi import boundedcache
from autoapi.db.sql import Identifier, compose, join
from autoapi.formats.geoparquet import geo_metadata
from autoapi.formats.outputs import Output
from autoapi.formats.parquet_types import ArrowColumn, arrow_column

ROW_GROUP_ROWS = 32_768
ROW_GROUP_BYTES = 16 * 1024 * 1024
PARSE_BYTES = 1024 * 1024  # CSV parsed at a time
# Snappy, pyarrow's own default and every reader's: writing flights' 337,000 rows took 0.13 s, where
# zstd took 0.21 s for a file 20% smaller (most of a download's time beyond PostgreSQL's own).
COMPRESSION = "snappy"


@dataclass(frozen=True)
class Layout:
    columns: tuple[ArrowColumn, ...]
    schema: pa.Schema

    @property
    def names(self) -> list[str]:
        return [f"c{i}" for i in range(len(self.columns))]


def layout(outputs: tuple[Output, ...]) -> Layout:
    columns = tuple(arrow_column(o.column) for o in outputs)
    schema = pa.schema([pa.field(o.name, c.final_type) for o, c in zip(outputs, columns)])
    geo = geo_metadata([(o.name, o.column) for o in outputs])
    return Layout(columns, schema.with_metadata({b"geo": geo}) if geo else schema)


def cells_sql(outputs: tuple[Output, ...]) -> str:
    """The SELECT list of the CSV ``COPY``: one cell per output, named c0, c1... (the reader
    names them so: real names may repeat after case folding or be anything at all)."""
    cells = []
    for i, (output, column) in enumerate(zip(outputs, layout(outputs).columns)):
        cell = column.cell.replace("{v}", output.read)
        if output.column.is_array:
            cell = compose("CASE WHEN {} IS NULL THEN NULL ELSE {} END", output.read, cell)
        cells.append(compose("{} AS {}", cell, Identifier(f"c{i}")))
    return join(", ", cells)


def _csv_options(lay: Layout) -> dict:
    return {
        "read_options": pcsv.ReadOptions(column_names=lay.names, use_threads=False),
        "parse_options": pcsv.ParseOptions(newlines_in_values=True),
        # COPY writes NULL as an empty unquoted cell and the empty string as "": only the former is
        # null, and no other spelling ("NULL", "NaN", "N/A" are values).
        "convert_options": pcsv.ConvertOptions(
            column_types=dict(zip(lay.names, (c.read_type for c in lay.columns))),
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    }


def _typed(batch: pa.RecordBatch, lay: Layout) -> pa.RecordBatch:
    arrays = [c.convert(array) if c.convert else array for c, array in zip(lay.columns, batch.columns)]
    return pa.RecordBatch.from_arrays(arrays, schema=lay.schema)


class _Sink(io.RawIOBase):
    """Where ParquetWriter writes; ``drain()`` hands over what it wrote since the last call."""

    def __init__(self):
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def drain(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def release_memory() -> None:
    """Give back what a row group used: Arrow's allocator keeps freed memory for reuse, and glibc's
    keeps the heap pages of freed buffers (the CSV chunks, numpy's hex decoding), so without this
    a long download's worker grows by tens of MB it no longer uses (``make bench`` measures it)."""
    pa.default_memory_pool().release_unused()
    boundedcache.release_memory()  # glibc's malloc_trim


def _parsed(chunk: bytes, lay: Layout) -> pa.Table:
    """Rows of CSV as a table of the final types. A chunk of ``exports.stream_copy`` holds whole
    rows (PostgreSQL sends one row per CopyData message, psycopg2 writes each as it comes), so each
    parses alone: no reader reading ahead, nothing held between chunks."""
    parsed = pcsv.read_csv(pa.py_buffer(chunk), **_csv_options(lay))
    return pa.Table.from_batches([_typed(b, lay) for b in parsed.to_batches()], lay.schema)


def _joined(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """COPY's chunks joined into about PARSE_BYTES each: a parse has a fixed cost, which 256 kB
    pieces pay four times as often."""
    pending: list[bytes] = []
    size = 0
    for chunk in chunks:
        pending.append(chunk)
        size += len(chunk)
        if size >= PARSE_BYTES:
            yield b"".join(pending)
            pending, size = [], 0
    if size:
        yield b"".join(pending)


def stream_file(chunks: Iterable[bytes], lay: Layout) -> Iterator[bytes]:
    """The Parquet file of COPY's CSV ``chunks``, yielded a row group at a time."""
    sink = _Sink()
    with pq.ParquetWriter(sink, lay.schema, compression=COMPRESSION) as writer:
        written = False
        for table in _row_groups((_parsed(c, lay) for c in _joined(chunks)), lay):
            writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            written = True
            del table
            release_memory()
            yield sink.drain()
        if not written:
            writer.write_table(lay.schema.empty_table())
    yield sink.drain()


def _row_groups(tables: Iterator[pa.Table], lay: Layout) -> Iterator[pa.Table]:
    pending: list[pa.Table] = []
    rows = size = 0
    for table in tables:
        pending.append(table)
        rows, size = rows + table.num_rows, size + table.nbytes
        if rows >= ROW_GROUP_ROWS or size >= ROW_GROUP_BYTES:
            yield pa.concat_tables(pending)
            pending, rows, size = [], 0, 0
    if pending:
        yield pa.concat_tables(pending)


def page_file(chunks: list[bytes], lay: Layout) -> tuple[bytes, int]:
    """A page (at most MAX_PAGE_SIZE rows) as one Parquet file, and its number of rows."""
    data = b"".join(chunks)
    table = _parsed(data, lay) if data else lay.schema.empty_table()
    out = io.BytesIO()
    pq.write_table(table, out, compression=COMPRESSION)
    return out.getvalue(), table.num_rows
