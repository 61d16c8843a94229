"""The one table from a PostgreSQL type to its Parquet column (docs/downloads.md, "Parquet").

PostgreSQL writes every value into CSV (``COPY``, the fastest way out of it) in a form Arrow's C++
CSV reader parses straight into the column's type: integers, floats, booleans and decimals as they
print; dates as days and timestamps and times as microseconds since the epoch (integers, so BC
dates and years past 9999 survive, which no date parser takes). Arrow then casts those integers to
dates and timestamps without copying. A few types need a step per value in Python (bytea, uuid,
geometry: hex into bytes; arrays: a JSON list of their elements' text); everything else is
PostgreSQL's own text, as in the CSV.

``arrow_column(column)`` gives the SQL of the CSV cell, the type the CSV reader parses and the
final type with its conversion. Called by ``parquet.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from autoapi.db.sql import compose
from autoapi.schema.snapshot import Column
from autoapi.schema.typemap import postgis_schema, wgs84_expression

INTEGERS = {"int2": pa.int16(), "int4": pa.int32(), "int8": pa.int64(), "oid": pa.int64()}
FLOATS = {"float4": pa.float32(), "float8": pa.float64()}
ELEMENTS = {**INTEGERS, **FLOATS, "bool": pa.bool_()}  # array elements that are not text
_NUMERIC = re.compile(r"numeric\((\d+),(\d+)\)$")
MAX_DECIMAL = 76  # decimal256's digits; wider numerics are text


@dataclass(frozen=True)
class ArrowColumn:
    cell: str  # SQL of the CSV cell, ``{v}`` standing for the value
    read_type: pa.DataType  # what the CSV reader parses
    final_type: pa.DataType
    convert: Callable[[pa.Array], pa.Array] | None = None


_HEX_DIGITS = np.zeros(256, np.uint8)
_HEX_DIGITS[np.frombuffer(b"0123456789abcdef", np.uint8)] = np.arange(16, dtype=np.uint8)


def hex_decoded(array: pa.Array, width: int | None = None) -> pa.Array:
    """Lower-case hex text (PostgreSQL's ``encode(..., 'hex')``) as bytes, for the whole batch at
    once with numpy: no Python object per value (GeoParquet of millions of rows). ``width``:
    fixed-size values (a uuid's 16 bytes), NULLs as zeros under the validity bitmap."""
    valid = pc.is_valid(array)
    if width is not None:
        array = pc.fill_null(array, "00" * width)
    offsets = np.frombuffer(array.buffers()[1], np.int32)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(array.buffers()[2], np.uint8) if array.buffers()[2] is not None else np.zeros(0, np.uint8)
    digits = _HEX_DIGITS[data[offsets[0] : offsets[-1]]]
    raw = pa.py_buffer(((digits[0::2] << 4) | digits[1::2]).tobytes())
    validity = valid.buffers()[1] if valid.false_count else None
    if width is not None:
        return pa.Array.from_buffers(pa.binary(width), len(array), [validity, raw])
    halved = pa.py_buffer(((offsets - offsets[0]) // 2).astype(np.int32).tobytes())
    return pa.Array.from_buffers(pa.binary(), len(array), [validity, halved, raw])


def _hex_to(width: int | None = None, extension: pa.DataType | None = None):
    def convert(array: pa.Array) -> pa.Array:
        values = hex_decoded(array, width)
        return pa.ExtensionArray.from_storage(extension, values) if extension is not None else values

    return convert


def _cast(final: pa.DataType):
    return lambda array: array.cast(final)


def _json(array: pa.Array) -> pa.Array:
    return pa.ExtensionArray.from_storage(pa.json_(), array)


def _elements(element: pa.DataType):
    def convert(array: pa.Array) -> pa.Array:
        lists = [None if s is None else json.loads(s) for s in array.to_pylist()]
        return pa.array(lists, pa.list_(pa.string())).cast(pa.list_(element))

    return convert


def decimal_type(column: Column) -> pa.DataType | None:
    """``numeric(p,s)`` as an exact decimal; None for an unconstrained or too wide numeric."""
    match = _NUMERIC.match(column.type.replace(" ", ""))
    if not match:
        return None
    precision, scale = int(match.group(1)), int(match.group(2))
    if not 0 < precision <= MAX_DECIMAL or scale > precision:
        return None
    return (pa.decimal128 if precision <= 38 else pa.decimal256)(precision, scale)


def _temporal(column: Column) -> ArrowColumn | None:
    base = column.base_type
    if base == "date":
        return ArrowColumn(
            "CASE WHEN isfinite({v}) THEN {v} - DATE '1970-01-01' END", pa.int32(), pa.date32(), _cast(pa.date32())
        )
    micros = "(extract(epoch FROM {v}) * 1000000)::int8"
    if base in ("timestamp", "timestamptz"):
        final = pa.timestamp("us", tz="UTC") if base == "timestamptz" else pa.timestamp("us")
        return ArrowColumn(compose("CASE WHEN isfinite({{v}}) THEN {} END", micros), pa.int64(), final, _cast(final))
    if base == "time":
        return ArrowColumn(micros, pa.int64(), pa.time64("us"), _cast(pa.time64("us")))
    return None


def _geometry(column: Column) -> ArrowColumn:
    postgis = postgis_schema(column)
    shape = "{v}" if column.is_geography or column.srid else wgs84_expression(column, "{v}")
    return ArrowColumn(
        compose("encode({}.ST_AsBinary({}), 'hex')", postgis, shape), pa.string(), pa.binary(), _hex_to()
    )


def arrow_column(column: Column) -> ArrowColumn:
    base = column.base_type
    if column.is_array:
        element = ELEMENTS.get(column.element_type, pa.string())
        cell = "array_to_json(ARRAY(SELECT e::text FROM unnest({v}) AS e))"  # flattened, PostgreSQL's text
        return ArrowColumn(cell, pa.string(), pa.list_(element), _elements(element))
    if column.is_geometry:
        return _geometry(column)
    if base in INTEGERS or base in FLOATS:
        return ArrowColumn("{v}", INTEGERS.get(base) or FLOATS[base], INTEGERS.get(base) or FLOATS[base])
    if base == "bool":
        return ArrowColumn("{v}", pa.bool_(), pa.bool_())
    if base == "numeric" and decimal_type(column) is not None:
        # NaN, which numeric(p,s) allows and no decimal holds, is written as NULL (docs/downloads.md).
        return ArrowColumn("NULLIF({v}, 'NaN')", decimal_type(column), decimal_type(column))
    temporal = _temporal(column)
    if temporal is not None:
        return temporal
    if base == "bytea":
        return ArrowColumn("encode({v}, 'hex')", pa.string(), pa.binary(), _hex_to())
    if base == "uuid":
        return ArrowColumn("replace({v}::text, '-', '')", pa.string(), pa.uuid(), _hex_to(16, pa.uuid()))
    if base in ("json", "jsonb"):
        return ArrowColumn("{v}", pa.string(), pa.json_(), _json)
    if base == "money":  # its text depends on lc_monetary; its numeric value does not
        return ArrowColumn("{v}::numeric", pa.string(), pa.string())
    return ArrowColumn("{v}", pa.string(), pa.string())  # PostgreSQL's own text, as COPY prints it
