"""A parsed CQL2 filter written back: as CQL2 text (``text``: what the catalog's OR group puts in
``?filter=``) and in words for people (``words``: "carrier is one of AA, UA and (dep_delay > 60
or arr_delay > 60) and not origin = EWR").

One walk (``_write``) serves both: a ``_Writer`` holds one way of writing (how operands, operators,
AND/OR/NOT and TRUE/FALSE are spelt), and ``_PHRASES`` holds each predicate's two phrasings side by
side, as Datasette's filters keep their SQL and their words in one record. Walks without recursion
limits of concern: parsed filters are at most ``FILTER_MAX_DEPTH`` deep (``nodes.bounded``, checked
by both parsers).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from autoapi.cql2 import nodes

# Each predicate, by (kind, negated): (as CQL2 text, in words). {op} is the operator as the writer
# spells it; {items} the IN list's items, comma-separated.
_PHRASES = {
    (nodes.Comparison, False): ("{left} {op} {right}", "{left} {op} {right}"),
    (nodes.Spatial, False): ("{op}({left}, {right})", "{left} {op} {right}"),
    (nodes.Temporal, False): ("{op}({left}, {right})", "{left} {op} {right}"),
    (nodes.Like, False): ("{operand} LIKE {pattern}", "{operand} matches the pattern {pattern}"),
    (nodes.Like, True): ("{operand} NOT LIKE {pattern}", "{operand} does not match the pattern {pattern}"),
    (nodes.Between, False): ("{operand} BETWEEN {low} AND {high}", "{operand} is between {low} and {high}"),
    (nodes.Between, True): ("{operand} NOT BETWEEN {low} AND {high}", "{operand} is not between {low} and {high}"),
    (nodes.InList, False): ("{operand} IN ({items})", "{operand} is one of {items}"),
    (nodes.InList, True): ("{operand} NOT IN ({items})", "{operand} is none of {items}"),
    (nodes.IsNull, False): ("{operand} IS NULL", "{operand} is null"),
    (nodes.IsNull, True): ("{operand} IS NOT NULL", "{operand} is not null"),
}

_WORD_OPS = {"=": "=", "<>": "≠", "<": "<", "<=": "≤", ">": ">", ">=": "≥"}
_TEMPORAL_WORDS = {
    "t_before": "is before",
    "t_after": "is after",
    "t_equals": "is",
    "t_intersects": "is within",
    "t_disjoint": "is outside",
    "t_during": "is strictly within",
}
_SPATIAL_WORDS = {
    "s_intersects": "intersects",
    "s_disjoint": "does not intersect",
    "s_within": "lies within",
    "s_contains": "contains",
    "s_equals": "equals",
    "s_touches": "touches",
    "s_overlaps": "overlaps",
    "s_crosses": "crosses",
}


_OPERATOR_WORDS = {**_WORD_OPS, **_TEMPORAL_WORDS, **_SPATIAL_WORDS}


@dataclass(frozen=True)
class _Writer:
    """One way of writing a filter: the spelling of each part ``_write`` puts together."""

    phrase: int  # which of ``_PHRASES``'s two phrasings: 0 CQL2 text, 1 words
    operand: Callable[[object], str]  # a value, column or CASEI(...)
    operator: Callable[[str], str]  # a comparison, spatial or temporal operator
    joiners: tuple[str, str]  # between AND's terms, between OR's
    negation: str  # before NOT's term
    booleans: tuple[str, str]  # FALSE, TRUE
    bare_after_not: tuple[type, ...]  # the predicates NOT takes without parentheses


def _write(node, writer: _Writer) -> str:
    if isinstance(node, nodes.Junction):
        joiner = writer.joiners[isinstance(node, nodes.Or)]
        return joiner.join(_grouped(term, writer) for term in node.terms)
    if isinstance(node, nodes.Not):
        return writer.negation + _grouped(node.term, writer, always=not isinstance(node.term, writer.bare_after_not))
    if isinstance(node, nodes.BooleanValue):
        return writer.booleans[node.value]
    parts = {}
    for part in dataclasses.fields(node):
        value = getattr(node, part.name)
        if part.name == "op":
            parts["op"] = writer.operator(value)
        elif part.name == "items":
            parts["items"] = ", ".join(map(writer.operand, value))
        elif part.name != "negated":
            parts[part.name] = writer.operand(value)
    return _PHRASES[type(node), getattr(node, "negated", False)][writer.phrase].format(**parts)


def _grouped(node, writer: _Writer, always: bool = False) -> str:
    inner = _write(node, writer)
    return f"({inner})" if always or isinstance(node, nodes.Junction) else inner


def _operand(value) -> str:
    if isinstance(value, nodes.Property):
        return '"' + value.name.replace('"', '""') + '"'
    if isinstance(value, nodes.CaseInsensitive):
        return f"CASEI({_operand(value.operand)})"
    if isinstance(value, nodes.Number):
        return value.text
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, nodes.Instant):
        return f"{value.kind.upper()}('{value.text}')"
    if isinstance(value, nodes.Interval):
        ends = ("'..'" if end is None else _operand(end) for end in (value.start, value.end))
        return f"INTERVAL({', '.join(ends)})"
    if isinstance(value, nodes.Geometry):
        if value.is_box:
            return "BBOX({}, {}, {}, {})".format(*value.bounds)
        return value.wkt if not value.geojson else "a GeoJSON geometry"
    return "'" + str(value).replace("'", "''") + "'"


def _said(value) -> str:
    if isinstance(value, nodes.Property):
        return value.name
    if isinstance(value, nodes.CaseInsensitive):
        return f"{_said(value.operand)} (ignoring case)"
    if isinstance(value, nodes.Instant):
        return value.text
    if isinstance(value, nodes.Interval):
        start = "the beginning" if value.start is None else value.start.text
        end = "now on" if value.end is None else value.end.text
        return f"{start} to {end}" if value.end is not None else f"{start} on"
    if isinstance(value, nodes.Geometry):
        return "the box from ({}, {}) to ({}, {})".format(*value.bounds) if value.is_box else "the given shape"
    if isinstance(value, str):
        return f"“{value}”"
    return _operand(value)


# phrase, operand, operator, AND/OR, NOT, FALSE/TRUE, predicates NOT takes bare
_TEXT = _Writer(0, _operand, str.upper, (" AND ", " OR "), "NOT ", ("FALSE", "TRUE"), ())
_WORDS = _Writer(
    1, _said, _OPERATOR_WORDS.__getitem__, (" and ", " or "), "not ", ("no row", "every row"), (nodes.Comparison,)
)


def text(node) -> str:
    """CQL2 text that parses back to ``node``."""
    return _write(node, _TEXT)


def words(node) -> str:
    """The filter in words, as the catalog writes the simple filters."""
    return _write(node, _WORDS)
