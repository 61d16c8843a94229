"""The distribution of a column's non-NULL values, rebuilt from PostgreSQL's planner statistics.

``pg_stats`` keeps (PostgreSQL manual, "pg_stats") the most common values with their frequencies,
then ``histogram_bounds`` splitting the *other* non-NULL values into buckets of equal population.
``pieces()`` turns that into (low, high, share) pieces: each bucket's share spread evenly over its
range, each common value's share at its value. Numbers and moments are floats here (``to_float``,
and back to text with ``label``). ``catalog.profiles`` draws its histograms from these pieces.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from autoapi.public import Column

INTEGER_TYPES = {"int2", "int4", "int8", "oid"}
TIME_TYPES = {"date", "timestamp", "timestamptz"}


def scale(column: Column) -> str | None:
    if column.is_array:
        return None
    if column.base_type in TIME_TYPES:
        return "time"
    if column.type_category == "N" and column.base_type != "money":
        return "integer" if column.base_type in INTEGER_TYPES else "number"
    return None


def to_float(scale: str, text) -> float | None:
    if text is None:
        return None
    try:
        if scale == "time":
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            value = moment.timestamp()
        else:
            value = float(text)
    except (ValueError, OverflowError):  # "infinity", BC dates, NaN all leave the chart out
        return None
    return value if math.isfinite(value) else None


def label(scale: str, value: float, span: float, base_type: str) -> str:
    if scale == "time":
        moment = datetime.fromtimestamp(value, tz=UTC)
        if base_type == "date" or span >= 3 * 86400:
            return moment.strftime("%Y-%m-%d")
        return moment.strftime("%Y-%m-%d %H:%M")
    if scale == "integer" or (float(value).is_integer() and abs(value) < 1e15):
        return str(int(round(value)))
    return f"{value:.4g}"


def pieces(scale: str, stats: dict, null_fraction: float, common: list) -> list[tuple[float, float, float]] | None:
    """The distribution of non-NULL values as (low, high, share) pieces; low == high for a value."""
    pieces = []
    for value, freq in common:
        number = to_float(scale, value)
        if number is not None:
            pieces.append((number, number, freq))
    bounds = [to_float(scale, b) for b in stats.get("histogram_bounds") or ()]
    if len(bounds) >= 2 and all(b is not None for b in bounds):
        rest = max(0.0, 1.0 - null_fraction - sum(f for _, f in common))
        distinct = stats.get("distinct_values")
        if distinct is not None and distinct - len(common) <= len(set(bounds)):
            # The bounds list every other value (a small table): each is a spike, as often as it
            # appears, rather than a spread that would halve the first and the last.
            pieces += [(b, b, rest / len(bounds)) for b in bounds]
        else:
            share = rest / (len(bounds) - 1)
            pieces += [(low, high, share) for low, high in zip(bounds, bounds[1:])]
    total = sum(p[2] for p in pieces)
    if total <= 0 or len({p[0] for p in pieces} | {p[1] for p in pieces}) < 2:
        return None
    return [(low, high, share / total) for low, high, share in pieces]


def share_below(pieces, x: float, inclusive: bool) -> float:
    total = 0.0
    for low, high, share in pieces:
        if high < x or (inclusive and high == x):
            total += share
        elif low < x and high > low:
            total += share * (x - low) / (high - low)
    return total


def quantile(pieces, p: float) -> float:
    low = min(piece[0] for piece in pieces)
    high = max(piece[1] for piece in pieces)
    tolerance = (high - low) * 1e-9
    for _ in range(60):
        middle = (low + high) / 2
        if share_below(pieces, middle, inclusive=True) < p:
            low = middle
        else:
            high = middle
    # Bisection stops just past a common value's spike: the quantile is that value itself.
    for a, b, _ in pieces:
        if a == b and abs(a - high) <= tolerance:
            return a
    return high


def bin_of(edges: list[float], value: float) -> int:
    for i in range(len(edges) - 1):
        if value < edges[i + 1]:
            return i
    return len(edges) - 2
