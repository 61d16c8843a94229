"""A parsed CQL2 filter: frozen records, produced by ``text.py`` and ``json.py``.

Operands are ``Property`` (a column, or the relation's location), ``CaseInsensitive`` (CQL2's
CASEI around one), or plain values: ``str``, ``Number`` (the literal's exact text), ``bool``,
``Instant``, ``Interval``, ``Geometry``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from autoapi.query.limits import limit


class CQL2Error(ValueError):
    """A filter that cannot be parsed; ``position`` is the 1-based character where it went wrong."""

    def __init__(self, message: str, position: int | None = None, expected: list[str] | None = None):
        super().__init__(message)
        self.position = position
        self.expected = expected or []


COMPARISONS = ("=", "<>", "<", "<=", ">", ">=")
SPATIAL = ("s_intersects", "s_disjoint", "s_within", "s_contains", "s_equals", "s_touches", "s_overlaps", "s_crosses")
TEMPORAL = ("t_before", "t_after", "t_equals", "t_intersects", "t_disjoint", "t_during")


@dataclass(frozen=True)
class Property:
    name: str


@dataclass(frozen=True)
class CaseInsensitive:
    """``CASEI(x)``: compare without regard to case."""

    operand: object


@dataclass(frozen=True)
class Number:
    text: str  # as written: values stay exact (PostgreSQL parses them for the column's type)


@dataclass(frozen=True)
class Instant:
    kind: str  # "date" or "timestamp"
    text: str


@dataclass(frozen=True)
class Interval:
    start: Instant | None  # None: open (``'..'``)
    end: Instant | None


@dataclass(frozen=True)
class Geometry:
    """A geometry in WGS 84: its text for PostGIS (WKT, or GeoJSON from the JSON encoding), and its
    bounding box (min lon, min lat, max lon, max lat), which makes a box query on latitude and
    longitude columns index-friendly."""

    wkt: str
    bounds: tuple[float, float, float, float]
    is_box: bool = False  # a BBOX(...) literal: the box is the whole geometry
    geojson: bool = False  # ``wkt`` holds a GeoJSON geometry object instead


@dataclass(frozen=True)
class Comparison:
    op: str  # one of COMPARISONS
    left: object
    right: object


@dataclass(frozen=True)
class Like:
    operand: object
    pattern: object  # str, or CaseInsensitive(str)
    negated: bool = False


@dataclass(frozen=True)
class Between:
    operand: object
    low: object
    high: object
    negated: bool = False


@dataclass(frozen=True)
class InList:
    operand: object
    items: tuple
    negated: bool = False


@dataclass(frozen=True)
class IsNull:
    operand: object
    negated: bool = False


@dataclass(frozen=True)
class Spatial:
    op: str  # one of SPATIAL
    left: object
    right: object


@dataclass(frozen=True)
class Temporal:
    op: str  # one of TEMPORAL
    left: object
    right: object


@dataclass(frozen=True)
class BooleanValue:
    value: bool


@dataclass(frozen=True)
class And:
    terms: tuple


@dataclass(frozen=True)
class Or:
    terms: tuple


@dataclass(frozen=True)
class Not:
    term: object


def operands(node) -> tuple:
    """A predicate's operands (values, columns, CASEI, lists' items), in order."""
    if isinstance(node, (Comparison, Spatial, Temporal)):
        return (node.left, node.right)
    if isinstance(node, Like):
        return (node.operand, node.pattern)
    if isinstance(node, Between):
        return (node.operand, node.low, node.high)
    if isinstance(node, InList):
        return (node.operand, *node.items)
    if isinstance(node, IsNull):
        return (node.operand,)
    return ()


def depth_and_size(node) -> tuple[int, int]:
    """(nesting depth of And/Or/Not and of CASEI around an operand, number of predicates), walked
    without recursion: every later walk (to SQL, to text, to words) may then recurse safely."""
    deepest, predicates = 0, 0
    stack = [(node, 0)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, (And, Or)):
            stack.extend((term, depth + 1) for term in current.terms)
        elif isinstance(current, Not):
            stack.append((current.term, depth + 1))
        elif isinstance(current, CaseInsensitive):
            stack.append((current.operand, depth + 1))
        elif isinstance(current, (Comparison, Like, Between, InList, IsNull, Spatial, Temporal, BooleanValue)):
            predicates += 1
            stack.extend((operand, depth) for operand in operands(current) if isinstance(operand, CaseInsensitive))
        deepest = max(deepest, depth)
    return deepest, predicates


def predicates(node):
    """Every predicate of a filter, without recursion."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, (And, Or)):
            stack.extend(current.terms)
        elif isinstance(current, Not):
            stack.append(current.term)
        else:
            yield current


def bounded(node):
    """``node`` if it stays within the filter limits (docs/operations.md, "Bad input"), else a CQL2Error.

    Both parsers end here, so a filter is checked once, at parse time, before anything walks it:
    into SQL (``conditions``), into CQL2 text or words for the catalog (``words``), into HTML. Those
    walks recurse and build one OR per IN item or LIKE, so depth and fan-out are bounded here:
    nesting (AND/OR/NOT and CASEI), predicates, IN-list items, and ``%`` wildcards per LIKE
    pattern (PostgreSQL's LIKE matcher backtracks once per ``%``; thousands exhaust its stack).
    """
    depth, size = depth_and_size(node)
    if depth > limit("FILTER_MAX_DEPTH"):
        raise CQL2Error(f"the filter is nested {depth} levels deep; at most {limit('FILTER_MAX_DEPTH')} are allowed")
    if size > limit("FILTER_MAX_CONDITIONS"):
        raise CQL2Error(f"the filter has {size} conditions; at most {limit('FILTER_MAX_CONDITIONS')} are allowed")
    for predicate in predicates(node):
        if isinstance(predicate, InList) and len(predicate.items) > limit("FILTER_MAX_LIST"):
            raise CQL2Error(
                f"an IN list has {len(predicate.items)} values; at most {limit('FILTER_MAX_LIST')} are allowed"
            )
        if isinstance(predicate, Like):
            pattern = predicate.pattern.operand if isinstance(predicate.pattern, CaseInsensitive) else predicate.pattern
            wildcards = re.sub(r"\\.", "", pattern).count("%") if isinstance(pattern, str) else 0  # \% is no wildcard
            if wildcards > limit("LIKE_MAX_WILDCARDS"):
                raise CQL2Error(
                    f"a LIKE pattern has {wildcards} % wildcards; at most {limit('LIKE_MAX_WILDCARDS')} are allowed"
                )
    return node
