"""A parsed CQL2 filter written back: as CQL2 text (``text``: what the catalog's OR group puts in
``?filter=``) and in words for people (``words``: "carrier is one of AA, UA and (dep_delay > 60
or arr_delay > 60) and not origin = EWR"). Walks without recursion limits of concern: parsed
filters are at most ``FILTER_MAX_DEPTH`` deep (``nodes.bounded``, checked by both parsers).
"""

from __future__ import annotations

from autoapi.cql2 import nodes

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


def text(node) -> str:
    """CQL2 text that parses back to ``node``."""
    if isinstance(node, (nodes.And, nodes.Or)):
        joiner = " AND " if isinstance(node, nodes.And) else " OR "
        return joiner.join(_grouped_text(term) for term in node.terms)
    if isinstance(node, nodes.Not):
        return "NOT " + _grouped_text(node.term, always=True)
    if isinstance(node, nodes.BooleanValue):
        return "TRUE" if node.value else "FALSE"
    if isinstance(node, nodes.Comparison):
        return f"{_operand(node.left)} {node.op} {_operand(node.right)}"
    if isinstance(node, nodes.Like):
        return f"{_operand(node.operand)} {'NOT ' if node.negated else ''}LIKE {_operand(node.pattern)}"
    if isinstance(node, nodes.Between):
        return (
            f"{_operand(node.operand)} {'NOT ' if node.negated else ''}BETWEEN "
            f"{_operand(node.low)} AND {_operand(node.high)}"
        )
    if isinstance(node, nodes.InList):
        items = ", ".join(_operand(item) for item in node.items)
        return f"{_operand(node.operand)} {'NOT ' if node.negated else ''}IN ({items})"
    if isinstance(node, nodes.IsNull):
        return f"{_operand(node.operand)} IS {'NOT ' if node.negated else ''}NULL"
    return f"{node.op.upper()}({_operand(node.left)}, {_operand(node.right)})"  # spatial, temporal


def _grouped_text(node, always: bool = False) -> str:
    inner = text(node)
    return f"({inner})" if always or isinstance(node, (nodes.And, nodes.Or)) else inner


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


def words(node) -> str:
    """The filter in words, as the catalog writes the simple filters."""
    if isinstance(node, (nodes.And, nodes.Or)):
        joiner = " and " if isinstance(node, nodes.And) else " or "
        return joiner.join(_grouped_words(term) for term in node.terms)
    if isinstance(node, nodes.Not):
        return "not " + _grouped_words(node.term, always=not isinstance(node.term, nodes.Comparison))
    if isinstance(node, nodes.BooleanValue):
        return "every row" if node.value else "no row"
    if isinstance(node, nodes.Comparison):
        return f"{_said(node.left)} {_WORD_OPS[node.op]} {_said(node.right)}"
    if isinstance(node, nodes.Like):
        return (
            f"{_said(node.operand)} {'does not match' if node.negated else 'matches'} the pattern {_said(node.pattern)}"
        )
    if isinstance(node, nodes.Between):
        return (
            f"{_said(node.operand)} is {'not ' if node.negated else ''}between {_said(node.low)} and {_said(node.high)}"
        )
    if isinstance(node, nodes.InList):
        return (
            f"{_said(node.operand)} is {'none' if node.negated else 'one'} of {', '.join(_said(i) for i in node.items)}"
        )
    if isinstance(node, nodes.IsNull):
        return f"{_said(node.operand)} is {'not ' if node.negated else ''}null"
    if isinstance(node, nodes.Temporal):
        return f"{_said(node.left)} {_TEMPORAL_WORDS[node.op]} {_said(node.right)}"
    return f"{_said(node.left)} {_SPATIAL_WORDS[node.op]} {_said(node.right)}"


def _grouped_words(node, always: bool = False) -> str:
    inner = words(node)
    return f"({inner})" if always or isinstance(node, (nodes.And, nodes.Or)) else inner


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
