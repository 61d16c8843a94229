"""What PostgreSQL holds, in the forms the Parquet and XLSX tests compare with what their readers
(pyarrow, DuckDB, openpyxl) read back. The SQL here takes other routes than the portal's own
(Julian days rather than epoch arithmetic, psycopg2's own types), so a shared mistake would show."""

from __future__ import annotations

import math
from decimal import Decimal

from psycopg2 import sql

from autoapi.formats.parquet_types import ELEMENTS, decimal_type

SESSION = "SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; SET extra_float_digits = 1"
JULIAN_EPOCH = 2440588  # to_char(DATE '1970-01-01', 'J')


def parquet_expectation(column, quoted: sql.Composable) -> sql.Composable:
    """SQL of the value a Parquet reader should see, as psycopg2 returns it."""
    base = column.base_type
    c = quoted
    if column.is_geometry and not column.is_array:
        shape = (
            c
            if (column.srid or column.is_geography)
            else sql.SQL("CASE WHEN ST_SRID({c}) IN (0, 4326) THEN {c} ELSE ST_Transform({c}, 4326) END").format(c=c)
        )
        return sql.SQL("extensions.ST_AsBinary({})").format(shape)
    if column.is_array:
        return c if column.element_type in ELEMENTS else sql.SQL("{}::text[]").format(c)
    if base == "float4":
        return sql.SQL("{}::float8").format(c)  # widened exactly, as a reader widens a float32
    if base in ("int2", "int4", "int8", "oid", "float8", "bool", "bytea"):
        return c
    if base == "numeric" and decimal_type(column) is not None:
        return c
    days = sql.SQL("(to_char({c}, 'J')::int8 - {j})").format(c=c, j=sql.Literal(JULIAN_EPOCH))
    if base == "date":
        return sql.SQL("CASE WHEN isfinite({c}) THEN {d} END").format(c=c, d=days)
    if base in ("timestamp", "timestamptz", "time"):
        clock = sql.SQL(
            "(extract(hour FROM {c}) * 3600000000 + extract(minute FROM {c}) * 60000000 "
            "+ extract(microseconds FROM {c}))::int8"
        ).format(c=c)
        if base == "time":
            return clock
        return sql.SQL("CASE WHEN isfinite({c}) THEN {d} * 86400000000 + {t} END").format(c=c, d=days, t=clock)
    if base == "money":
        return sql.SQL("{}::numeric::text").format(c)
    if base in ("uuid", "json", "jsonb"):
        return sql.SQL("{}::text").format(c)
    # The type's output function, as COPY prints (inet's ::text would add /128, bpchar's drop padding).
    # num_nulls: a composite of NULLs IS NULL, yet is a value ("(,)").
    return sql.SQL("CASE WHEN num_nulls({c}) = 1 THEN NULL ELSE concat({c}) END").format(c=c)


def flattened(value):
    """A PostgreSQL array as psycopg2 gives it (nested lists), flattened in row-major order."""
    if value is None:
        return None
    out = []
    for item in value:
        out.extend(flattened(item) if isinstance(item, list) else [item])
    return out


def expected_rows(conn, relation, columns, expectation) -> list[list]:
    """Every row of ``relation`` (key order) as ``expectation(column, identifier)`` writes each value."""
    select = sql.SQL(", ").join(expectation(c, sql.Identifier(c.name)) for c in columns)
    query = sql.SQL("SELECT {} FROM {}.{}").format(
        select, sql.Identifier(relation.schema), sql.Identifier(relation.name)
    )
    if relation.key:
        query += sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join(sql.Identifier(k) for k in relation.key.columns))
    with conn.cursor() as cursor:
        cursor.execute(SESSION)
        cursor.execute("SET search_path = public, extensions")
        cursor.execute(query)
        return [list(row) for row in cursor.fetchall()]


def same(ours, theirs) -> bool:
    """Equal, NaN equal to NaN, memoryview to bytes, Decimal NaN to None (Parquet decimals have no NaN)."""
    if isinstance(theirs, memoryview):
        theirs = bytes(theirs)
    if isinstance(theirs, Decimal) and theirs.is_nan():
        return ours is None
    if isinstance(ours, float) and isinstance(theirs, float) and math.isnan(ours):
        return math.isnan(theirs)
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(same(a, b) for a, b in zip(ours, theirs))
    return ours == theirs
