"""Parquet files from PostgreSQL's CSV, in row groups, with bounded memory (README, "Parquet").

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

from autoapi.geoparquet import geo_metadata
from autoapi.naming import quote_identifier
from autoapi.outputs import Output
from autoapi.parquet_types import ArrowColumn, arrow_column

ROW_GROUP_ROWS = 65_536
ROW_GROUP_BYTES = 32 * 1024 * 1024
READ_BLOCK = 1024 * 1024  # bytes of CSV per record batch
COMPRESSION = "zstd"  # read by every current Parquet reader; smaller than snappy for the same time


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
            cell = f"CASE WHEN {output.read} IS NULL THEN NULL ELSE {cell} END"
        cells.append(f"{cell} AS {quote_identifier(f'c{i}')}")
    return ", ".join(cells)


def _csv_options(lay: Layout) -> dict:
    return {
        "read_options": pcsv.ReadOptions(column_names=lay.names, block_size=READ_BLOCK, use_threads=False),
        "parse_options": pcsv.ParseOptions(newlines_in_values=True),
        # COPY writes NULL as an empty unquoted cell and the empty string as "": only the former is
        # null, and no other spelling ("NULL", "NaN", "N/A" are values).
        "convert_options": pcsv.ConvertOptions(
            column_types=dict(zip(lay.names, (c.read_type for c in lay.columns))), null_values=[""],
            strings_can_be_null=True, quoted_strings_can_be_null=False, true_values=["t"], false_values=["f"]),
    }


def _typed(batch: pa.RecordBatch, lay: Layout) -> pa.RecordBatch:
    arrays = [c.convert(array) if c.convert else array for c, array in zip(lay.columns, batch.columns)]
    return pa.RecordBatch.from_arrays(arrays, schema=lay.schema)


class _Chunks(io.RawIOBase):
    """A readable file over an iterator of bytes (COPY's chunks), for Arrow's CSV reader."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._buffer = bytearray()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        size = len(self._buffer) if size < 0 else size
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


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


def stream_file(chunks: Iterator[bytes], lay: Layout) -> Iterator[bytes]:
    """The Parquet file of COPY's CSV ``chunks``, yielded a row group at a time."""
    first = next(chunks, b"")
    sink = _Sink()
    with pq.ParquetWriter(sink, lay.schema, compression=COMPRESSION) as writer:
        if first:
            for table in _row_groups(pcsv.open_csv(_Chunks(_prepend(first, chunks)), **_csv_options(lay)), lay):
                writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
                yield sink.drain()
        else:
            writer.write_table(lay.schema.empty_table())
    yield sink.drain()


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _row_groups(reader, lay: Layout) -> Iterator[pa.Table]:
    pending: list[pa.RecordBatch] = []
    rows = size = 0
    for batch in reader:
        typed = _typed(batch, lay)
        pending.append(typed)
        rows, size = rows + typed.num_rows, size + typed.nbytes
        if rows >= ROW_GROUP_ROWS or size >= ROW_GROUP_BYTES:
            yield pa.Table.from_batches(pending, lay.schema)
            pending, rows, size = [], 0, 0
    if pending:
        yield pa.Table.from_batches(pending, lay.schema)


def page_file(chunks: list[bytes], lay: Layout) -> tuple[bytes, int]:
    """A page (at most MAX_PAGE_SIZE rows) as one Parquet file, and its number of rows."""
    data = b"".join(chunks)
    table = lay.schema.empty_table()
    if data:
        parsed = pcsv.read_csv(io.BytesIO(data), **_csv_options(lay))
        table = pa.Table.from_batches([_typed(b, lay) for b in parsed.to_batches()], lay.schema)
    out = io.BytesIO()
    pq.write_table(table, out, compression=COMPRESSION)
    return out.getvalue(), table.num_rows
