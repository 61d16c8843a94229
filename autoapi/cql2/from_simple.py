"""A simple filter (``?<column>__<lookup>[!]=<value>``) as a CQL2 condition, for the catalog's
add-a-filter form when it builds an OR group: the column's filters already set, OR the new one,
written into ``?filter=``. The same meaning: a negated simple filter keeps the NULLs, so its CQL2
form says ``OR ... IS NULL``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from autoapi.cql2 import nodes
from autoapi.cql2.words import text
from autoapi.schema.lookups import TRUE_WORDS
from autoapi.schema.snapshot import Column
from autoapi.schema.typemap import type_info

COMPARISON = {"exact": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
LIKE = {"contains": "%{}%", "icontains": "%{}%", "startswith": "{}%", "endswith": "%{}"}


def condition(column: Column, lookup: str, value: str, negated: bool):
    """The CQL2 node of the filter, or None when CQL2 cannot say it (regex, JSON keys, arrays...)."""
    prop = nodes.Property(column.name)
    if lookup == "isnull":
        return nodes.IsNull(prop, negated=(value.strip().lower() in TRUE_WORDS) == negated)
    if lookup in COMPARISON:
        node = nodes.Comparison(COMPARISON[lookup], prop, _literal(column, value))
    elif lookup == "iexact":
        node = nodes.Comparison("=", nodes.CaseInsensitive(prop), nodes.CaseInsensitive(value))
    elif lookup in LIKE:
        pattern = LIKE[lookup].format(_escaped(value))
        node = (
            nodes.Like(nodes.CaseInsensitive(prop), nodes.CaseInsensitive(pattern))
            if lookup == "icontains"
            else nodes.Like(prop, pattern)
        )
    elif lookup == "in":
        node = nodes.InList(prop, tuple(_literal(column, item) for item in value.split(",")))
    elif lookup == "range" and len(value.split(",")) == 2:
        low, high = value.split(",")
        node = nodes.Between(prop, _literal(column, low), _literal(column, high))
    else:
        return None
    if negated:  # the simple filters' negation keeps the rows where the column is NULL
        return nodes.Or((nodes.Not(node), nodes.IsNull(prop)))
    return node


def any_of(groups: list[list]) -> str:
    """CQL2 text of the groups ORed, the conditions of each group ANDed."""
    terms = tuple(nodes.And(tuple(group)) if len(group) > 1 else group[0] for group in groups)
    return text(nodes.Or(terms) if len(terms) > 1 else terms[0])


def _literal(column: Column, value: str):
    kind = type_info(column).kind
    if kind in ("integer", "number", "float", "money"):
        try:
            Decimal(value)
            return nodes.Number(value.strip())
        except InvalidOperation:
            return value  # a string: the API answers that it is not a number
    if kind == "boolean":
        word = value.strip().lower()
        return True if word in TRUE_WORDS else False if word in ("false", "f", "0", "no", "off") else value
    return value


def _escaped(value: str) -> str:
    """A value inside a LIKE pattern: its own % _ and \\ taken literally."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
