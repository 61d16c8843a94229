"""The ``datetime`` parameter: an instant or an interval on the relation's first date or
timestamp column.

It becomes a CQL2 ``T_INTERSECTS`` node and goes through the CQL2 conditions (``cql2/conditions``)
so it reads values and compares exactly as ``?filter=T_INTERSECTS(...)`` would.
"""

from __future__ import annotations

import re

from autoapi.cql2 import nodes
from autoapi.errors import BadRequest
from autoapi.schema.snapshot import Column, Relation
from autoapi.schema.typemap import type_info

PARAMETER = "datetime"
OPEN = ("", "..")  # an open end: ``../b``, ``a/..``, and the empty form ``/b``, ``a/``
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def temporal_column(relation: Relation) -> Column | None:
    """The relation's first date or timestamp column (not an array), which ``datetime`` filters."""
    return next((c for c in relation.columns if not c.is_array and type_info(c).kind in ("date", "timestamp")), None)


def condition(relation: Relation, raw: str):
    """The CQL2 node of ``datetime=raw``; a 400 when it is malformed or the relation has no
    date or timestamp column."""
    column = temporal_column(relation)
    if column is None:
        raise BadRequest(
            "this collection has no date or timestamp column, so it takes no datetime", parameter=PARAMETER
        )
    parts = raw.split("/")
    if len(parts) > 2:
        raise BadRequest("datetime is an instant or an interval start/end", parameter=PARAMETER)
    start, end = parts if len(parts) == 2 else (raw, raw)  # an instant is the interval of itself
    interval = nodes.Interval(
        _instant(start, column, "start", len(parts) == 2), _instant(end, column, "end", len(parts) == 2)
    )
    if interval.start is None and interval.end is None:
        raise BadRequest("datetime: an interval needs at least one end", parameter=PARAMETER)
    return nodes.Temporal("t_intersects", nodes.Property(column.name), interval)


def _instant(text: str, column: Column, side: str, open_allowed: bool):
    if text in OPEN and open_allowed:
        return None
    if _DATE.match(text):
        if type_info(column).kind == "timestamp":
            # A date is a whole day (in UTC) against timestamps: from its first to its last instant.
            return nodes.Instant("timestamp", f"{text}T00:00:00Z" if side == "start" else f"{text}T23:59:59.999999Z")
        return nodes.Instant("date", text)
    if _TIMESTAMP.match(text):
        if type_info(column).kind == "date":
            # A date column holds whole days: an instant falls on its day.
            return nodes.Instant("date", text[:10])
        return nodes.Instant("timestamp", text)
    raise BadRequest(
        f"datetime: {text!r} is not an RFC 3339 date or date-time (2018-02-12, 2018-02-12T23:20:50Z) nor '..'",
        parameter=PARAMETER,
    )
