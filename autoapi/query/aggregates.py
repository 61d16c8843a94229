"""The grouping vocabulary: ``?group_by=``, ``?aggregate=`` and ``?having=``, parsed and checked.

One record per aggregate function (``FUNCTIONS``), as ``lookups.py`` keeps one per filter: its
name in the query string, the types it is allowed on (in words, for the 400 that refuses it), and
the ORM expression it becomes. ``parse_grouping`` turns a query string into a ``Grouping`` of
output columns, or a 400 naming the parameter and what is allowed. Building the query from it is
``grouping.py``'s job.

Output names: a group column keeps its own name (``carrier``), a truncated one is written as asked
(``time_hour__month``); an aggregate is ``count`` or ``<function>_<column>`` (``avg_dep_delay``).
A name already taken in the result (``group_by=count&aggregate=count``) gets underscores appended
until it is free (``count_``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Aggregate, Avg, Count, F, Func, Max, Min, Sum

from autoapi.errors import BadRequest
from autoapi.query.shaping import resolve_column
from autoapi.schema import fields
from autoapi.schema.snapshot import Column, Relation
from autoapi.schema.typemap import type_info

GROUPING_PARAMETERS = ("group_by", "aggregate", "having")
# Which aggregate PostgreSQL has for which base type (pg_proc, PostgreSQL 13 to 18), by pg_type.typname.
NUMBERS = frozenset({"int2", "int4", "int8", "numeric", "float4", "float8", "money"})
SUMMABLE = NUMBERS | {"interval"}  # sum, avg and median (money is aggregated as numeric)
ORDERED = NUMBERS | {
    "oid",
    "date",
    "time",
    "timetz",
    "timestamp",
    "timestamptz",
    "interval",
    "text",
    "varchar",
    "bpchar",
    "citext",
    "inet",
    "cidr",
}  # min and max, and enums


def groupable(column: Column) -> bool:
    """GROUP BY and count(DISTINCT) need equality: every type the API can sort by has it."""
    return type_info(column).sortable


def _summable(column: Column) -> bool:
    return not column.is_array and column.base_type in SUMMABLE


def _ordered(column: Column) -> bool:
    return not column.is_array and (column.base_type in ORDERED or column.type_kind == "e")


class Median(Aggregate):
    """The continuous median: ``percentile_cont(0.5) WITHIN GROUP (ORDER BY x)``. PostgreSQL
    computes it in double precision (numbers) or as an interval."""

    function = "percentile_cont"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"


class AsNumeric(Func):
    """``x::numeric``: money's text form depends on lc_monetary, its numeric value does not."""

    template = "(%(expressions)s)::numeric"
    output_field = fields.PassThroughField()


def _value(column: Column):
    expression = F(column.attname)
    return AsNumeric(expression) if column.base_type == "money" else expression


@dataclass(frozen=True)
class Function:
    name: str  # ``aggregate=<name>:<column>``
    allowed: Callable[[Column], bool]
    allowed_on: str  # the types, in words, for the 400 that refuses a column
    build: Callable[[Column], Aggregate]


def _passthrough(aggregate, **extra):
    return lambda column: aggregate(_value(column), output_field=fields.PassThroughField(), **extra)


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in (
        Function(
            "count_distinct",
            groupable,
            "columns of any type the API can sort by",
            lambda column: Count(F(column.attname), distinct=True),
        ),
        Function("sum", _summable, "numbers and intervals", _passthrough(Sum)),
        Function("avg", _summable, "numbers and intervals", _passthrough(Avg)),
        Function("median", _summable, "numbers and intervals", _passthrough(Median)),
        Function(
            "min", _ordered, "numbers, text, enums, dates, times, timestamps, intervals and inet", _passthrough(Min)
        ),
        Function(
            "max", _ordered, "numbers, text, enums, dates, times, timestamps, intervals and inet", _passthrough(Max)
        ),
    )
}
COUNT = "count"  # ``aggregate=count``: the rows of each group

# ``group_by=<column>__<part>``: date_trunc's fields, by the types that have them.
DATE_PARTS = ("year", "month", "week", "day")
TIMESTAMP_PARTS = DATE_PARTS + ("hour",)
TRUNCATIONS = {"date": DATE_PARTS, "timestamp": TIMESTAMP_PARTS, "timestamptz": TIMESTAMP_PARTS}
HAVING_LOOKUPS = ("exact", "gt", "gte", "lt", "lte")


@dataclass(frozen=True)
class GroupTerm:
    name: str  # the output name
    column: Column
    part: str | None = None  # a date_trunc field, or None for the column's own values


@dataclass(frozen=True)
class AggregateTerm:
    name: str  # the output name
    function: str  # ``count`` or a key of FUNCTIONS
    column: Column | None = None

    def expression(self):
        if self.column is None:
            return Count("*")
        return FUNCTIONS[self.function].build(self.column)

    @property
    def counts(self) -> bool:
        """Its value is a whole number (count and count_distinct)."""
        return self.function in (COUNT, "count_distinct")


@dataclass(frozen=True)
class HavingTerm:
    aggregate: AggregateTerm
    lookup: str
    value: str | int


@dataclass(frozen=True)
class Grouping:
    groups: tuple[GroupTerm, ...]
    aggregates: tuple[AggregateTerm, ...]
    having: tuple[HavingTerm, ...] = ()

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in (*self.groups, *self.aggregates))


def requested(params) -> bool:
    return any(name in params for name in GROUPING_PARAMETERS)


def _terms(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def _group_term(relation: Relation, term: str) -> GroupTerm:
    column = resolve_column(relation, term)
    if column is not None:
        if not groupable(column):
            raise BadRequest(
                f"cannot group by {term!r}: its type ({column.type}) has no equality",
                parameter="group_by",
                allowed=[c.name for c in relation.columns if groupable(c)],
            )
        return GroupTerm(column.name, column)
    name, _, part = term.rpartition("__")
    column = resolve_column(relation, name) if name else None
    if column is None:
        raise BadRequest(
            f"unknown column {term!r} in group_by",
            parameter="group_by",
            allowed=[c.name for c in relation.columns if groupable(c)],
        )
    parts = () if column.is_array else TRUNCATIONS.get(column.base_type, ())
    if part not in parts:
        raise BadRequest(
            f"cannot group {name!r} by {part!r}"
            + (
                f": a {column.type} column is truncated by {', '.join(parts)}"
                if parts
                else ": only dates and timestamps are truncated"
            ),
            parameter="group_by",
            allowed=[f"{name}__{p}" for p in parts] or truncatable(relation),
        )
    return GroupTerm(f"{column.name}__{part}", column, part)


def truncatable(relation: Relation) -> list[str]:
    """Every ``<column>__<part>`` the relation can be grouped by."""
    return [f"{c.name}__{p}" for c in relation.columns if not c.is_array for p in TRUNCATIONS.get(c.base_type, ())]


def _aggregate_term(relation: Relation, term: str) -> tuple[str, Column | None]:
    if term == COUNT:
        return COUNT, None
    function, colon, name = term.partition(":")
    if not colon or function not in FUNCTIONS:
        raise BadRequest(
            f"unknown aggregate {term!r}: write count or <function>:<column>",
            parameter="aggregate",
            allowed=[COUNT, *(f"{f}:<column>" for f in FUNCTIONS)],
        )
    column = resolve_column(relation, name)
    if column is None:
        raise BadRequest(
            f"unknown column {name!r} in aggregate", parameter="aggregate", allowed=[c.name for c in relation.columns]
        )
    spec = FUNCTIONS[function]
    if not spec.allowed(column):
        raise BadRequest(
            f"{function} is not allowed on {column.name!r} ({column.type}): {function} takes {spec.allowed_on}",
            parameter="aggregate",
            allowed=[c.name for c in relation.columns if spec.allowed(c)],
        )
    return function, column


def _free_name(wanted: str, taken: set[str]) -> str:
    while wanted in taken:
        wanted += "_"
    return wanted


def count_name(group_names: list[str]) -> str:
    """The name ``aggregate=count`` gets in a result grouped by ``group_names``."""
    return _free_name(COUNT, set(group_names))


def parse_grouping(params, relation: Relation) -> Grouping:
    """The request's grouping; ``aggregate`` defaults to ``count`` when only ``group_by`` is given."""
    groups: list[GroupTerm] = []
    for term in _terms(params.get("group_by", "")):
        group = _group_term(relation, term)
        if all(g.name != group.name for g in groups):
            groups.append(group)
    if "group_by" in params and not groups:
        raise BadRequest("group_by needs at least one column", parameter="group_by")
    taken = {g.name for g in groups}
    aggregates: list[AggregateTerm] = []
    seen: set[tuple] = set()
    for term in _terms(params.get("aggregate", "")) or ([COUNT] if "aggregate" not in params else []):
        function, column = _aggregate_term(relation, term)
        if (function, column and column.name) in seen:
            continue
        seen.add((function, column and column.name))
        name = _free_name(COUNT if column is None else f"{function}_{column.name}", taken)
        taken.add(name)
        aggregates.append(AggregateTerm(name, function, column))
    if not aggregates:
        raise BadRequest("aggregate needs at least one of count or <function>:<column>", parameter="aggregate")
    having = tuple(_having_term(raw, aggregates) for raw in params.getlist("having") if raw.strip())
    if "having" in params and not having:
        raise BadRequest("having needs a condition: <aggregate>__<lookup>:<value>", parameter="having")
    return Grouping(tuple(groups), tuple(aggregates), having)


def _having_term(raw: str, aggregates: list[AggregateTerm]) -> HavingTerm:
    """``<aggregate name>__<lookup>:<value>``, e.g. ``count__gt:100`` or ``avg_dep_delay__lte:9.5``."""
    for aggregate in sorted(aggregates, key=lambda a: -len(a.name)):
        lookup, colon, value = raw.removeprefix(aggregate.name + "__").partition(":")
        if not raw.startswith(aggregate.name + "__") or not colon:
            continue
        if lookup not in HAVING_LOOKUPS:
            raise BadRequest(
                f"unknown comparison {lookup!r} in having", parameter="having", allowed=list(HAVING_LOOKUPS)
            )
        if aggregate.counts:
            try:
                return HavingTerm(aggregate, lookup, int(value))
            except ValueError:
                raise BadRequest(
                    f"having {aggregate.name} needs a whole number, not {value!r}", parameter="having"
                ) from None
        return HavingTerm(aggregate, lookup, value)
    raise BadRequest(
        f"having {raw!r} is not <aggregate>__<lookup>:<value> over an aggregate of this request",
        parameter="having",
        allowed=[a.name for a in aggregates],
    )
