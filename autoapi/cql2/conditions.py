"""A parsed CQL2 filter as one condition on a relation's queryset (a Django ``Q``).

Every predicate becomes the lookup the simple filters use for the same thing (``=`` is
``exact``, ``IN`` is ``in``, ``IS NULL`` is ``isnull``...), allowed only where the type table
(``typemap``) allows that lookup on the column's type, with the value parsed by the same
django-filter field as ``?<column>__<lookup>=`` would parse it. Values are bound parameters.

NOT keeps SQL's three-valued logic, as CQL2 does: ``NOT (a = 1)`` leaves out the rows where ``a``
is NULL (Django's ``~Q`` would keep them), so a negation is ``NOT (...)`` written as such.
"""

from __future__ import annotations

from django import forms
from django.db.models import BooleanField, ExpressionWrapper, F, Q, Value

from autoapi.cql2 import nodes, spatial
from autoapi.errors import BadRequest
from autoapi.schema.snapshot import Column, Relation
from autoapi.schema.typemap import type_info

PARAMETER = "filter"
LOOKUP_OF = {"=": "exact", "<>": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
MIRRORED = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
NUMBER_KINDS = {"integer", "number", "float", "money"}
TEXT_KINDS = {"text"}
INSTANT_KINDS = {"date", "timestamp"}


def refuse(message: str, **extra) -> BadRequest:
    return BadRequest(f"filter: {message}", parameter=PARAMETER, **extra)


def negation(condition: Q) -> Q:
    """``NOT (condition)``, NULL staying unknown as in SQL."""
    return Q(~ExpressionWrapper(condition, output_field=BooleanField()))


class Conditions:
    """Builds the ``Q`` of one parsed filter for one relation (``snapshot`` for PostGIS's schema)."""

    def __init__(self, relation: Relation, snapshot):
        self.relation, self.snapshot = relation, snapshot
        self.location = spatial.location(relation)

    def build(self, node) -> Q:
        if isinstance(node, nodes.And):
            return _combine([self.build(term) for term in node.terms], Q.AND)
        if isinstance(node, nodes.Or):
            return _combine([self.build(term) for term in node.terms], Q.OR)
        if isinstance(node, nodes.Not):
            return negation(self.build(node.term))
        if isinstance(node, nodes.BooleanValue):
            return Q(ExpressionWrapper(Value(node.value), output_field=BooleanField()))
        handler = {
            nodes.Comparison: self.comparison,
            nodes.Like: self.like,
            nodes.Between: self.between,
            nodes.InList: self.in_list,
            nodes.IsNull: self.is_null,
            nodes.Spatial: self.spatial,
            nodes.Temporal: self.temporal,
        }[type(node)]
        return handler(node)

    # -- operands ---------------------------------------------------------------------------------

    def column(self, operand, what: str) -> Column:
        if isinstance(operand, nodes.Property):
            column = self.relation.column(operand.name)
            if column is not None:
                return column
            raise refuse(f"unknown column {operand.name!r}", allowed=[c.name for c in self.relation.columns])
        raise refuse(f"{what} takes a column on its left, not {describe(operand)}")

    def lookup(self, column: Column, lookup: str, shown: str) -> None:
        if lookup not in type_info(column).lookups:
            raise refuse(
                f"{column.name!r} ({column.type}) cannot be compared with {shown}",
                allowed_lookups=list(type_info(column).lookups),
            )

    def value(self, column: Column, lookup: str, literal):
        """The literal as the simple filter ``?<column>__<lookup>=`` would take it; a 400 when its
        kind does not fit the column's (a number for a text column, a string for a number...)."""
        kind = type_info(column).kind
        if isinstance(literal, (nodes.Property, nodes.CaseInsensitive, nodes.Geometry, nodes.Interval)):
            raise refuse(f"{column.name!r} is compared with {describe(literal)}, which is not a value")
        if isinstance(literal, bool) != (kind == "boolean"):
            raise refuse(f"{column.name!r} is a {kind} column; it cannot be compared with {describe(literal)}")
        if isinstance(literal, nodes.Number) and kind not in NUMBER_KINDS:
            raise refuse(f"{column.name!r} is a {kind} column; it cannot be compared with the number {literal.text}")
        if isinstance(literal, nodes.Instant) and kind not in INSTANT_KINDS:
            raise refuse(f"{column.name!r} is a {kind} column; it cannot be compared with a {literal.kind}")
        if isinstance(literal, str) and kind in NUMBER_KINDS:
            raise refuse(f"{column.name!r} is a number column; compare it with a number, not {literal!r}")
        text = _text(literal)
        if kind in TEXT_KINDS:
            return text  # text is compared as it is written (no trimming)
        filter_class = type_info(column).filter_for("exact" if lookup in ("in", "range") else lookup)
        try:
            return filter_class(field_name=column.attname, lookup_expr=lookup).field.clean(text)
        except forms.ValidationError as exc:
            raise refuse(
                f"{text!r} is not a value of {column.name!r} ({column.type}): {' '.join(exc.messages)}"
            ) from None

    # -- predicates -------------------------------------------------------------------------------

    def comparison(self, node: nodes.Comparison) -> Q:
        left, op, right = node.left, node.op, node.right
        if not _is_column(left) and _is_column(right):
            left, op, right = right, MIRRORED[op], left
        if isinstance(left, nodes.CaseInsensitive) or isinstance(right, nodes.CaseInsensitive):
            return self.case_insensitive(left, op, right)
        column = self.column(left, f"the comparison {op}")
        lookup = LOOKUP_OF[op]
        self.lookup(column, lookup, op)
        if isinstance(right, nodes.Property):
            other = self.column(right, op)
            if not _comparable(column, other):
                raise refuse(f"{column.name!r} ({column.type}) and {other.name!r} ({other.type}) cannot be compared")
            condition = Q(**{f"{column.attname}__{lookup}": F(other.attname)})
        else:
            condition = Q(**{f"{column.attname}__{lookup}": self.value(column, lookup, right)})
        return negation(condition) if op == "<>" else condition

    def case_insensitive(self, left, op: str, right) -> Q:
        if op not in ("=", "<>"):
            raise refuse(f"CASEI compares with = or <>, LIKE and IN, not {op}")
        column = self.column(_uncased(left), "CASEI")
        self.lookup(column, "iexact", "CASEI(...) =")
        condition = Q(**{f"{column.attname}__iexact": self.value(column, "iexact", _uncased(right))})
        return negation(condition) if op == "<>" else condition

    def like(self, node: nodes.Like) -> Q:
        nocase = isinstance(node.operand, nodes.CaseInsensitive) or isinstance(node.pattern, nodes.CaseInsensitive)
        column = self.column(_uncased(node.operand), "LIKE")
        pattern = _uncased(node.pattern)
        if type_info(column).kind not in TEXT_KINDS:
            raise refuse(f"LIKE compares text; {column.name!r} is a {type_info(column).kind} column")
        if not isinstance(pattern, str):
            raise refuse(f"LIKE takes a 'pattern' string, not {describe(pattern)}")
        condition = Q(**{f"{column.attname}__{'cql_ilike' if nocase else 'cql_like'}": pattern})
        return negation(condition) if node.negated else condition

    def between(self, node: nodes.Between) -> Q:
        column = self.column(node.operand, "BETWEEN")
        self.lookup(column, "range", "BETWEEN")
        low, high = (self.value(column, "range", bound) for bound in (node.low, node.high))
        condition = Q(**{f"{column.attname}__gte": low, f"{column.attname}__lte": high})
        return negation(condition) if node.negated else condition

    def in_list(self, node: nodes.InList) -> Q:
        if isinstance(node.operand, nodes.CaseInsensitive):
            return _combine([self.case_insensitive(node.operand, "=", item) for item in node.items], Q.OR)
        column = self.column(node.operand, "IN")
        self.lookup(column, "in", "IN")
        condition = Q(**{f"{column.attname}__in": [self.value(column, "in", item) for item in node.items]})
        return negation(condition) if node.negated else condition

    def is_null(self, node: nodes.IsNull) -> Q:
        column = self.column(node.operand, "IS NULL")
        return Q(**{f"{column.attname}__isnull": not node.negated})

    def spatial(self, node: nodes.Spatial) -> Q:
        return spatial.condition(node, self.relation, self.snapshot, self.location, refuse)

    def temporal(self, node: nodes.Temporal) -> Q:
        left, right = node.left, node.right
        if not _is_column(left):
            raise refuse(f"{node.op.upper()} takes a date or timestamp column first")
        column = self.column(left, node.op.upper())
        if type_info(column).kind not in INSTANT_KINDS:
            raise refuse(f"{node.op.upper()} compares dates and timestamps; {column.name!r} is {column.type}")
        start, end = (right, right) if not isinstance(right, nodes.Interval) else (right.start, right.end)
        bound = {
            name: self.value(column, "gte", instant) for name, instant in (("start", start), ("end", end)) if instant
        }
        name = column.attname
        inside = Q(**{f"{name}__gte": bound["start"]} if "start" in bound else {}) & Q(
            **{f"{name}__lte": bound["end"]} if "end" in bound else {}
        )
        conditions = {
            "t_before": lambda: Q(**{f"{name}__lt": bound["start"]}),
            "t_after": lambda: Q(**{f"{name}__gt": bound["end"]}),
            "t_equals": lambda: inside,
            "t_intersects": lambda: inside,
            "t_disjoint": lambda: negation(inside),
            "t_during": lambda: Q(**{f"{name}__gt": bound["start"], f"{name}__lt": bound["end"]}),
        }
        needed = {"t_before": "start", "t_after": "end", "t_during": "both"}.get(node.op)
        if (needed == "both" and len(bound) < 2) or (needed in ("start", "end") and needed not in bound) or not bound:
            raise refuse(
                f"{node.op.upper()} needs {'both ends of ' if needed == 'both' else ''}a date or timestamp here"
            )
        return conditions[node.op]()


def build(node, relation: Relation, snapshot) -> Q:
    """The ``Q`` of a parsed filter: ``node`` comes from a parser, which bounded it (``nodes.bounded``)."""
    return Conditions(relation, snapshot).build(node)


def _combine(conditions: list[Q], connector: str) -> Q:
    combined = Q(_connector=connector)
    for condition in conditions:
        combined.add(condition, connector)
    return combined


def _is_column(operand) -> bool:
    return isinstance(operand, nodes.Property) or (
        isinstance(operand, nodes.CaseInsensitive) and isinstance(operand.operand, nodes.Property)
    )


def _uncased(operand):
    return operand.operand if isinstance(operand, nodes.CaseInsensitive) else operand


# Kinds whose columns PostgreSQL compares with each other whatever their exact types (integer with
# numeric, text with varchar or citext, date with timestamptz). Money compares only with money,
# and two enums, two arrays or two "text form" types (inet, macaddr) only when of the same type:
# otherwise there is no operator (42883), which must be the client's 400, found before the query.
COMPARABLE_FAMILIES = ({"integer", "number", "float"}, INSTANT_KINDS, {"text"}, {"boolean"}, {"time"}, {"uuid"})
COMPARABLE_BASE_TYPES = ({"inet", "cidr"}, {"bit", "varbit"})  # cidr is an inet, bit(n) a varbit, to PostgreSQL


def _comparable(a: Column, b: Column) -> bool:
    kind_a, kind_b = type_info(a).kind, type_info(b).kind
    if any(kind_a in family and kind_b in family for family in COMPARABLE_FAMILIES):
        return True
    if any(a.base_type in family and b.base_type in family for family in COMPARABLE_BASE_TYPES):
        return True
    return kind_a == kind_b and a.type == b.type


def _text(literal) -> str:
    if isinstance(literal, bool):
        return "true" if literal else "false"
    if isinstance(literal, nodes.Number):
        return literal.text
    if isinstance(literal, nodes.Instant):
        return literal.text
    return literal


def describe(operand) -> str:
    """An operand in an error message."""
    if isinstance(operand, nodes.Property):
        return f"the column {operand.name!r}"
    if isinstance(operand, nodes.Number):
        return f"the number {operand.text}"
    if isinstance(operand, nodes.Instant):
        return f"the {operand.kind} {operand.text!r}"
    if isinstance(operand, bool):
        return "TRUE" if operand else "FALSE"
    if isinstance(operand, nodes.Geometry):
        return "a geometry"
    if isinstance(operand, nodes.Interval):
        return "an interval"
    if isinstance(operand, nodes.CaseInsensitive):
        return f"CASEI({describe(operand.operand)})"
    return f"the string {operand!r}"
