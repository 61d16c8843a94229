"""The typed columns a file format writes (Parquet, XLSX), for rows and for grouped results alike.

Text formats let PostgreSQL print each value; a typed file needs each output column's type before
the first row, so every output is an ``Output``: its name, a snapshot ``Column`` that types it,
and the SQL reading it from the inner query ``x``. For a grouped result (``?group_by=``), the
group columns keep their column and each aggregate gets a stand-in ``Column`` of the type
PostgreSQL gives its result (``sum`` of an ``integer`` is a ``bigint``, ``avg`` a ``numeric``...).

``FileStatement`` is the ``COPY`` a file format runs, carrying its outputs, a capped count of its
rows (XLSX refuses more rows than a sheet holds before sending anything) and a title.
Called by ``filerows.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from autoapi.db import sql as composed
from autoapi.db.sql import Statement, identifier
from autoapi.query.grouping import GroupedQuery
from autoapi.query.queries import RowShape, compiled
from autoapi.schema.snapshot import Column

# The result type of each aggregate, by function and the input's base type (PostgreSQL's pg_proc).
_SUMS = {
    "int2": "int8",
    "int4": "int8",
    "int8": "numeric",
    "numeric": "numeric",
    "money": "numeric",
    "float4": "float4",
    "float8": "float8",
    "interval": "interval",
}
_AVERAGES = {"float4": "float8", "float8": "float8", "interval": "interval"}


@dataclass(frozen=True)
class Output:
    name: str
    column: Column  # types the values; a stand-in for an aggregate
    read: str  # SQL reading the value in the inner query ``x``


@dataclass(frozen=True)
class FileStatement(Statement):
    outputs: tuple[Output, ...] = ()
    count: Statement | None = None  # SELECT count(*) of the rows, capped (see capped_count)
    title: str = ""


def stand_in(name: str, base_type: str) -> Column:
    """A column of ``base_type`` (a pg_type.typname) that no relation has: an aggregate's result."""
    return Column(
        name=name,
        attname=name,
        position=0,
        type=base_type,
        base_type=base_type,
        type_kind="b",
        type_category="N" if base_type in ("int8", "numeric", "float8", "float4") else "X",
    )


def row_outputs(shape: RowShape) -> tuple[Output, ...]:
    return tuple(Output(c.name, c, "x." + identifier(c.attname)) for c in shape.columns)


def _aggregate_column(term) -> Column:
    column = term.column
    if term.counts:
        return stand_in(term.name, "int8")
    if term.function == "sum":
        return stand_in(term.name, _SUMS.get(column.base_type, "numeric"))
    if term.function == "avg":
        return stand_in(term.name, _AVERAGES.get(column.base_type, "numeric"))
    if term.function == "median":
        return stand_in(term.name, "interval" if column.base_type == "interval" else "float8")
    if column.base_type == "money":  # min and max of money are taken as numeric (aggregates.py)
        return stand_in(term.name, "numeric")
    return column


def group_outputs(grouped: GroupedQuery) -> tuple[Output, ...]:
    """The group columns (a date_trunc keeps its column's type), then the aggregates."""
    aliases = grouped.aliases
    outputs = [Output(g.name, g.column, "x." + identifier(aliases[g.name])) for g in grouped.grouping.groups]
    outputs += [
        Output(a.name, _aggregate_column(a), "x." + identifier(aliases[a.name])) for a in grouped.grouping.aggregates
    ]
    return tuple(outputs)


def capped_count(windowed, cap: int) -> Statement:
    """How many rows the (windowed) queryset gives, counting at most ``cap``: its ordering is
    dropped (an offset skips as many rows in any order), so counting never sorts."""
    unordered = windowed._chain()
    unordered.query.clear_ordering(force=True)
    sql, params = compiled(unordered)
    return composed.count(Statement(sql, tuple(params)), cap)
