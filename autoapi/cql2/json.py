"""CQL2's JSON encoding (``filter-lang=cql2-json``, OGC 21-065 Annex B) into ``nodes``.

Numbers keep their exact text (``parse_float=Decimal``), geometries are GeoJSON objects or
``{"bbox": [w, s, e, n]}``, instants ``{"date": ...}`` / ``{"timestamp": ...}`` and intervals
``{"interval": [start, end]}`` with ``".."`` for an open end. The walk counts its depth and stops
at ``FILTER_MAX_DEPTH``, so deep input is a 400, not a stack overflow; a string holding NUL is
refused, and the result passes ``nodes.bounded`` like the text encoding's.
"""

from __future__ import annotations

import json
from decimal import Decimal

from autoapi.cql2 import nodes
from autoapi.cql2.text import MAX_LENGTH, CQL2Error, box_geometry
from autoapi.query.limits import limit

_COMPARISONS = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_GEOMETRY_TYPES = {
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
}


def parse(text: str):
    if len(text) > MAX_LENGTH:
        raise CQL2Error(f"the filter is {len(text)} characters long; at most {MAX_LENGTH} are read")
    try:
        document = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    except RecursionError:
        raise CQL2Error("the filter is nested too deeply") from None
    except ValueError as exc:
        position = getattr(exc, "pos", None)
        raise CQL2Error(
            f"the filter is not JSON: {getattr(exc, 'msg', exc)}"
            + (f" at character {position + 1}" if position is not None else ""),
            None if position is None else position + 1,
        ) from None
    _refuse_nul(document)
    return nodes.bounded(_boolean(document, 0))


def _refuse_nul(document) -> None:
    """A string holding NUL (written ``\\u0000`` in JSON) is refused: no PostgreSQL text holds one,
    and psycopg2 will not send it. The document is at most MAX_LENGTH characters: walked flat."""
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise CQL2Error("a string in the filter holds a NUL character (\\u0000), which no value can contain")
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())


def _boolean(value, depth: int):
    if depth > limit("FILTER_MAX_DEPTH"):
        raise CQL2Error(f"the filter is nested more than {limit('FILTER_MAX_DEPTH')} levels deep")
    if isinstance(value, bool):
        return nodes.BooleanValue(value)
    if not isinstance(value, dict) or "op" not in value:
        raise CQL2Error(f'expected a condition {{"op": ..., "args": [...]}}, found {_show(value)}')
    op, args = str(value["op"]).lower(), value.get("args")
    if not isinstance(args, list):
        raise CQL2Error(f'the operation {op!r} needs an "args" list')
    if op in ("and", "or"):
        if len(args) < 2:
            raise CQL2Error(f"{op} needs at least two conditions")
        terms = tuple(_boolean(arg, depth + 1) for arg in args)
        return nodes.And(terms) if op == "and" else nodes.Or(terms)
    if op == "not":
        _count(op, args, 1)
        return nodes.Not(_boolean(args[0], depth + 1))
    return _predicate(op, args)


def _predicate(op: str, args: list):
    if op in _COMPARISONS:
        _count(op, args, 2)
        return nodes.Comparison(_COMPARISONS[op], _scalar(args[0]), _scalar(args[1]))
    if op == "like":
        _count(op, args, 2)
        return nodes.Like(_scalar(args[0]), _scalar(args[1]))
    if op == "between":
        _count(op, args, 3)
        return nodes.Between(_scalar(args[0]), _scalar(args[1]), _scalar(args[2]))
    if op == "in":
        _count(op, args, 2)
        if not isinstance(args[1], list) or not args[1]:
            raise CQL2Error("in needs a non-empty list of values as its second argument")
        return nodes.InList(_scalar(args[0]), tuple(_scalar(item) for item in args[1]))
    if op == "isnull":
        _count(op, args, 1)
        return nodes.IsNull(_scalar(args[0]))
    if op in nodes.SPATIAL:
        _count(op, args, 2)
        return nodes.Spatial(op, _spatial(args[0]), _spatial(args[1]))
    if op in nodes.TEMPORAL:
        _count(op, args, 2)
        return nodes.Temporal(op, _temporal(args[0]), _temporal(args[1]))
    raise CQL2Error(
        f"unknown operation {op!r}",
        expected=[
            "and",
            "or",
            "not",
            *(_COMPARISONS),
            "like",
            "between",
            "in",
            "isNull",
            *nodes.SPATIAL,
            *nodes.TEMPORAL,
        ],
    )


def _count(op: str, args: list, wanted: int) -> None:
    if len(args) != wanted:
        raise CQL2Error(f"{op} takes {wanted} argument(s), not {len(args)}")


def _scalar(value, depth: int = 0):
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise CQL2Error(f"{value} is not a number a column can hold")
        return nodes.Number(str(value))
    if isinstance(value, dict):
        if set(value) == {"property"} and isinstance(value["property"], str):
            return nodes.Property(value["property"])
        if str(value.get("op", "")).lower() == "casei":
            args = value.get("args")
            if not isinstance(args, list) or len(args) != 1:
                raise CQL2Error("casei takes 1 argument")
            if depth > limit("FILTER_MAX_DEPTH"):
                raise CQL2Error(f"casei is nested more than {limit('FILTER_MAX_DEPTH')} levels deep")
            return nodes.CaseInsensitive(_scalar(args[0], depth + 1))
        if str(value.get("op", "")).lower() == "accenti":
            raise CQL2Error("accenti is not supported: PostgreSQL needs the unaccent extension for it")
        if "date" in value or "timestamp" in value:
            return _instant(value)
    raise CQL2Error(f'expected a value, {{"property": ...}} or casei, found {_show(value)}')


def _instant(value: dict):
    kind = "date" if "date" in value else "timestamp"
    text = value[kind]
    if set(value) != {kind} or not isinstance(text, str):
        raise CQL2Error(f'expected {{"{kind}": "..."}}, found {_show(value)}')
    return nodes.Instant(kind, text)


def _temporal(value):
    if isinstance(value, dict) and set(value) == {"interval"}:
        ends = value["interval"]
        if not isinstance(ends, list) or len(ends) != 2:
            raise CQL2Error('an interval is {"interval": [start, end]}')
        return nodes.Interval(*(_interval_end(end) for end in ends))
    return _scalar(value)


def _interval_end(end):
    if end == "..":
        return None
    if isinstance(end, str):
        return nodes.Instant("timestamp" if "T" in end.upper() else "date", end)
    if isinstance(end, dict):
        return _instant(end)
    raise CQL2Error(f'an interval\'s end is a date, a timestamp or "..", not {_show(end)}')


def _spatial(value):
    if isinstance(value, dict) and set(value) == {"property"}:
        return _scalar(value)
    if isinstance(value, dict) and set(value) == {"bbox"}:
        box = value["bbox"]
        if not isinstance(box, list) or len(box) not in (4, 6) or not all(isinstance(n, Decimal) for n in box):
            raise CQL2Error('a bbox is {"bbox": [west, south, east, north]}')
        west, south, east, north = (
            float(n) for n in (box[:2] + box[-2:] if len(box) == 4 else [box[0], box[1], box[3], box[4]])
        )
        return box_geometry(west, south, east, north)
    if isinstance(value, dict) and value.get("type") in _GEOMETRY_TYPES:
        points = list(_points(value, 0))
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        bounds = (min(xs), min(ys), max(xs), max(ys)) if points else (0.0, 0.0, 0.0, 0.0)
        return nodes.Geometry(json.dumps(value, default=float), bounds, geojson=True)
    raise CQL2Error(f'expected a GeoJSON geometry, {{"bbox": [...]}} or {{"property": ...}}, found {_show(value)}')


def _points(geometry, depth: int):
    """Every coordinate pair of a GeoJSON geometry (to bound it); PostGIS checks the rest."""
    if depth > limit("FILTER_MAX_DEPTH"):
        raise CQL2Error("the geometry is nested too deeply")
    if isinstance(geometry, dict) and geometry.get("type") == "GeometryCollection":
        for member in geometry.get("geometries") or []:
            yield from _points(member, depth + 1)
        return
    stack = [(geometry.get("coordinates") if isinstance(geometry, dict) else None, 0)]
    while stack:
        item, level = stack.pop()
        if level > 4 or not isinstance(item, list):
            raise CQL2Error("a GeoJSON geometry's coordinates are nested lists of numbers")
        if item and all(isinstance(n, Decimal) for n in item):
            if len(item) < 2:
                raise CQL2Error("a GeoJSON position has at least two numbers")
            yield float(item[0]), float(item[1])
        else:
            stack.extend((member, level + 1) for member in item)


def _show(value) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
