"""A parsed CQL2 filter: frozen records, produced by ``text.py`` and ``json.py``.

Operands are ``Property`` (a column, or the relation's location), ``CaseInsensitive`` (CQL2's
CASEI around one), or plain values: ``str``, ``Number`` (the literal's exact text), ``bool``,
``Instant``, ``Interval``, ``Geometry``.
"""
from __future__ import annotations

from dataclasses import dataclass

COMPARISONS = ("=", "<>", "<", "<=", ">", ">=")
SPATIAL = ("s_intersects", "s_disjoint", "s_within", "s_contains", "s_equals", "s_touches", "s_overlaps",
           "s_crosses")
TEMPORAL = ("t_before", "t_after", "t_equals", "t_intersects", "t_disjoint", "t_during")
MAX_DEPTH = 20  # nested AND/OR/NOT beyond this is refused (README: "CQL2 filters")
MAX_TERMS = 1000  # predicates in one filter


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


def depth_and_size(node) -> tuple[int, int]:
    """(nesting depth of And/Or/Not, number of predicates), walked without recursion."""
    deepest, predicates = 0, 0
    stack = [(node, 0)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, (And, Or)):
            stack.extend((term, depth + 1) for term in current.terms)
        elif isinstance(current, Not):
            stack.append((current.term, depth + 1))
        else:
            predicates += 1
        deepest = max(deepest, depth)
    return deepest, predicates
