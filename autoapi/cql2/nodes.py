"""A parsed CQL2 filter: frozen records, produced by ``text.py`` and ``json.py``.

Operands are ``Property`` (a column, or the relation's location), ``CaseInsensitive`` (CQL2's
CASEI around one), or plain values: ``str``, ``Number`` (the literal's exact text), ``bool``,
``Instant``, ``Interval``, ``Geometry``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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


# Operands.


@dataclass(frozen=True)
class Property:
    """A column by its name (``carrier``, ``"Größe (m)"``), or the relation's location."""

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
    """``DATE('2013-01-01')`` or ``TIMESTAMP('2013-01-01T05:00:00Z')``."""

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


# Predicates. Those of the same form share their record; the kind is the class.


@dataclass(frozen=True)
class Binary:
    """A predicate on two operands, ``op`` naming it among its kind's operators."""

    op: str
    left: object
    right: object


class Comparison(Binary):
    """``a = b``, ``a <> b``, ``a < b``...: ``op`` is one of COMPARISONS."""


class Spatial(Binary):
    """``S_INTERSECTS(a, b)``...: ``op`` is one of SPATIAL, in lower case."""


class Temporal(Binary):
    """``T_BEFORE(a, b)``...: ``op`` is one of TEMPORAL, in lower case."""


@dataclass(frozen=True)
class Negatable:
    """A predicate on one operand (and values) that ``NOT`` may turn around in place."""

    operand: object
    negated: bool = field(default=False, kw_only=True)  # ``a NOT LIKE ...``, ``a IS NOT NULL``...


@dataclass(frozen=True)
class Like(Negatable):
    pattern: object  # str, or CaseInsensitive(str)


@dataclass(frozen=True)
class Between(Negatable):
    low: object
    high: object


@dataclass(frozen=True)
class InList(Negatable):
    items: tuple


class IsNull(Negatable):
    """``a IS NULL`` (``negated``: ``a IS NOT NULL``)."""


@dataclass(frozen=True)
class BooleanValue:
    """``TRUE`` or ``FALSE`` as a whole filter (or a term of one)."""

    value: bool


# Logic.


@dataclass(frozen=True)
class Junction:
    """Terms joined by one operator; nested ones of the same operator are flattened by the parsers."""

    terms: tuple


class And(Junction):
    """All the terms hold."""


class Or(Junction):
    """At least one of the terms holds."""


@dataclass(frozen=True)
class Not:
    term: object


def operands(node) -> tuple:
    """A predicate's operands (values, columns, CASEI, lists' items), in order."""
    if isinstance(node, Binary):
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
        if isinstance(current, Junction):
            stack.extend((term, depth + 1) for term in current.terms)
        elif isinstance(current, Not):
            stack.append((current.term, depth + 1))
        elif isinstance(current, CaseInsensitive):
            stack.append((current.operand, depth + 1))
        elif isinstance(current, (Binary, Negatable, BooleanValue)):
            predicates += 1
            stack.extend((operand, depth) for operand in operands(current) if isinstance(operand, CaseInsensitive))
        deepest = max(deepest, depth)
    return deepest, predicates


def predicates(node):
    """Every predicate of a filter, without recursion."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Junction):
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
