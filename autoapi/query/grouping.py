"""A grouped request (``?group_by=``, ``?aggregate=``, ``?having=``) as one ORM query, and its SQL.

The ORM builds it on the relation's filtered queryset, so the FilterSets apply before grouping:
``values()`` of the group expressions, ``annotate()`` of the aggregates, ``filter()`` on those
(HAVING) and ``order_by()`` on any output. Annotations get internal aliases (a relation may have a
column named ``count``, which Django would refuse as an annotation name); the SQL wrappers below
rename them to the output names and let PostgreSQL write every value, as for rows (``queries.py``):
numeric and bigint stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, Func, Value

from autoapi.db import sql as composed
from autoapi.db.sql import Identifier, Literal, Statement, compose, identifier, join
from autoapi.errors import BadRequest
from autoapi.query.aggregates import AggregateTerm, Grouping, GroupTerm, parse_grouping
from autoapi.query.csvsafety import csv_cell, csv_header
from autoapi.query.pagination import CountPlan, parse_window
from autoapi.query.queries import compiled
from autoapi.schema import fields
from autoapi.schema.naming import decode_segment
from autoapi.schema.typemap import json_expression

# Parameters that shape rows, which a grouped result has none of.
ROW_ONLY_PARAMETERS = ("fields", "expand", "cursor")


class DateTrunc(Func):
    """``date_trunc('<part>', x)``, in the session's time zone (UTC) for timestamptz; a date
    stays a date. ``part`` is one of ``aggregates.TIMESTAMP_PARTS``, never client text."""

    output_field = fields.PassThroughField()

    def __init__(self, expression, part: str, is_date: bool):
        self.template = compose("date_trunc({}, %(expressions)s){}", Literal(part), "::date" if is_date else "")
        super().__init__(expression)


@dataclass(frozen=True)
class GroupedQuery:
    grouping: Grouping
    queryset: object  # the grouped, filtered (HAVING) and ordered queryset, without a window
    aliases: dict  # output name -> the annotation's alias in the queryset's SQL


def _aliases(grouping: Grouping, model) -> dict[str, str]:
    taken = {f.attname for f in model._meta.concrete_fields} | {f.name for f in model._meta.concrete_fields}
    prefix = "portal_"
    while any(name.startswith(prefix) for name in taken):
        prefix += "x"
    names = {g.name: f"{prefix}g{i}" for i, g in enumerate(grouping.groups)}
    names.update({a.name: f"{prefix}a{i}" for i, a in enumerate(grouping.aggregates)})
    names[""] = f"{prefix}all"  # the constant "group" of an aggregate over every row
    return names


def _group_expression(term: GroupTerm):
    if term.part is None:
        return F(term.column.attname)
    return DateTrunc(F(term.column.attname), term.part, term.column.base_type == "date")


def grouped_query(filtered, grouping: Grouping, raw_ordering: str) -> GroupedQuery:
    """``filtered`` (the relation's queryset after the request's filters) grouped and aggregated."""
    aliases = _aliases(grouping, filtered.model)
    queryset = filtered.order_by()
    if grouping.groups:
        queryset = queryset.annotate(**{aliases[g.name]: _group_expression(g) for g in grouping.groups})
        queryset = queryset.values(*(aliases[g.name] for g in grouping.groups))
    else:
        # A constant has no GROUP BY column: one row over everything selected.
        queryset = queryset.annotate(**{aliases[""]: Value(1)}).values(aliases[""])
    queryset = queryset.annotate(**{aliases[a.name]: a.expression() for a in grouping.aggregates})
    for term in grouping.having:
        queryset = queryset.filter(**{f"{aliases[term.aggregate.name]}__{term.lookup}": term.value})
    return GroupedQuery(grouping, queryset.order_by(*_ordering(grouping, aliases, raw_ordering)), aliases)


def _ordering(grouping: Grouping, aliases: dict, raw: str) -> list:
    """``?ordering=`` over output names (``-count``), then every group ascending: groups are
    unique, so the order is total and pages never overlap. NULLs last both ways, as for rows."""
    terms, used = [], set()
    for term in filter(None, (t.strip() for t in raw.split(","))):
        descending = term.startswith("-")
        name = term[1:] if descending else term
        if name not in aliases or not name:
            try:
                name = decode_segment(name)
            except ValueError:
                pass
        if name not in aliases or not name:
            raise BadRequest(
                f"cannot order by {name!r}: a grouped result is ordered by its own columns",
                parameter="ordering",
                allowed=list(grouping.output_names),
            )
        if name not in used:
            used.add(name)
            terms.append(F(aliases[name]).desc(nulls_last=True) if descending else F(aliases[name]).asc())
    return terms + [F(aliases[g.name]).asc() for g in grouping.groups if g.name not in used]


def _outputs(grouped: GroupedQuery, value_sql) -> str:
    """The SELECT list renaming aliases to output names; ``value_sql(term, read)`` writes the value
    of a group or an aggregate."""
    aliases, parts = grouped.aliases, []
    for term in (*grouped.grouping.groups, *grouped.grouping.aggregates):
        read = "x." + identifier(aliases[term.name])
        parts.append(compose("{} AS {}", value_sql(term, read), Identifier(value_name(term.name, value_sql))))
    return join(", ", parts)


def value_name(name: str, value_sql) -> str:
    return csv_header(name) if value_sql is _csv_value else name


def _json_value(term: GroupTerm | AggregateTerm, read: str) -> str:
    if isinstance(term, AggregateTerm):
        return read
    return read if term.part else json_expression(term.column, read)


def _csv_value(term: GroupTerm | AggregateTerm, read: str) -> str:
    """A group's cell as the rows' CSV writes its column; of the aggregates, ``min`` and ``max``
    give one of the column's own values (text included), so they are neutralised as the column
    is (csvsafety.py); counts, sums and averages are numbers or intervals, never a formula."""
    if isinstance(term, AggregateTerm):
        return csv_cell(term.column, read) if term.function in ("min", "max") else read
    return read if term.part else csv_cell(term.column, read)


def json_statement(windowed, grouped: GroupedQuery) -> Statement:
    """One JSON object (as text) per group, keys in output order."""
    sql, params = compiled(windowed)
    return Statement(
        compose(
            "SELECT row_to_json(p)::text FROM ({}) AS x CROSS JOIN LATERAL (SELECT {}) AS p",
            sql,
            _outputs(grouped, _json_value),
        ),
        tuple(params),
    )


def csv_statement(windowed, grouped: GroupedQuery) -> Statement:
    """``COPY`` of the groups in CSV with a header: PostgreSQL's own text of every value."""
    sql, params = compiled(windowed)
    return composed.copy(_outputs(grouped, _csv_value), Statement(sql, tuple(params)))


def count_plan(grouped: GroupedQuery, threshold: int, row_security: bool = False) -> CountPlan:
    """How many groups: the page tells when it is not full (no query at all); else the planner's
    estimate, then an exact count up to the threshold, the rule rows follow (``pagination``);
    under row security, an exact count only (the planner's estimate describes unseen rows)."""
    sql, params = compiled(grouped.queryset.order_by())
    return CountPlan(rows=Statement(sql, tuple(params)), exact=row_security, from_page=True)


def plan_parts(query, renderer, threshold: int):
    """(window, statement, count plan) of a grouped list request (``RelationQuery.grouped``)."""
    params = query.params
    for name in ROW_ONLY_PARAMETERS:
        if name in params:
            raise BadRequest(
                f"{name} applies to rows, not to a grouped result; page through groups with offset", parameter=name
            )
    grouping = parse_grouping(params, query.relation)
    window = parse_window(params)
    grouped = grouped_query(query.filtered(), grouping, params.get("ordering", ""))
    statement = renderer.grouped_statement(window.apply(grouped.queryset), grouped)
    return (
        window,
        statement,
        None if window.is_everything else count_plan(grouped, threshold, query.relation.row_security),
    )
