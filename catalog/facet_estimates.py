"""Approximate facet counts from PostgreSQL's own statistics, for a facet whose exact count ran out
of time (FACET_TIME_LIMIT_MS) on a large relation with no filter.

ANALYZE keeps, per column, the most common values with their shares of the rows
(``most_common_vals``/``most_common_freqs``), the share of NULLs, and histogram bounds that divide
the other values into equally populated buckets (``pg_stats``, read by
``autoapi.schema.statistics.column_statistics``). Times ``pg_class.reltuples`` they give each value's
count at no cost, as the planner itself estimates ``WHERE col = v``
(https://www.postgresql.org/docs/current/row-estimation-examples.html). A date facet spreads each
histogram bucket over the years or months it spans.

Only without filters: the statistics describe every row, not a filtered subset (a filtered facet
that runs out of time still says so). Never under row security (``Relation.row_security``): the
sample was drawn from rows the role may not see (``column_statistics`` returns nothing for such a
relation, and this module checks again). The figures are marked approximate wherever shown.
"""

from __future__ import annotations

from datetime import date

from autoapi.public import Relation, column_kind, count_name

FACET_ONLY = {"group_by", "aggregate", "ordering", "limit"}


def applies(relation: Relation, params) -> bool:
    """Statistics may stand in: no filter narrows the facet's rows, no row security hides any."""
    return not relation.row_security and not (set(params) - FACET_ONLY)


def estimate(facet, stats: dict | None, size: int) -> list[dict] | None:
    """Rows shaped as the API's groups (``{group_by: value, count: n}``), most frequent first (or
    periods in order), at most ``size + 1``; None when the statistics say too little."""
    if not stats or not stats.get("estimated_rows"):
        return None
    rows = stats["estimated_rows"]
    kind = column_kind(facet.column)
    counted = count_name([facet.group_by])
    if facet.part:
        periods = _periods(stats, rows, facet.part)
        if periods is None:
            return None
        result = [{facet.group_by: key, counted: count} for key, count in sorted(periods.items(), key=_period_order)]
        return result[: size + 1]
    values = stats.get("most_common_values") or ()
    freqs = stats.get("most_common_freqs") or ()
    if not values or len(values) != len(freqs):
        return None
    result = [{facet.group_by: _value(v, kind), counted: round(f * rows)} for v, f in zip(values, freqs)]
    nulls = round((stats.get("null_fraction") or 0) * rows)
    if nulls:
        result.append({facet.group_by: None, counted: nulls})
    result = [r for r in result if r[counted] > 0]
    result.sort(key=lambda r: -r[counted])
    return result[: size + 1]


def _value(text, kind: str):
    if kind == "boolean" and text in ("t", "f"):
        return text == "t"
    return text


def _period_order(item):
    key = item[0]
    return (key is None, key or "")


def _periods(stats: dict, rows: float, part: str) -> dict | None:
    """Counts per year or month: the most common values where they fall, and each histogram
    bucket's share spread evenly over the periods between its bounds."""
    values = stats.get("most_common_values") or ()
    freqs = stats.get("most_common_freqs") or ()
    bounds = [_date(b) for b in stats.get("histogram_bounds") or ()]
    if any(b is None for b in bounds) or (len(bounds) < 2 and not values):
        return None
    counts: dict = {}
    for value, share in zip(values, freqs):
        day = _date(value)
        if day is None:
            return None
        key = _period(day, part)
        counts[key] = counts.get(key, 0) + share * rows
    if len(bounds) >= 2:
        rest = max(0.0, 1 - (stats.get("null_fraction") or 0) - sum(freqs))
        per_bucket = rest * rows / (len(bounds) - 1)
        for low, high in zip(bounds, bounds[1:]):
            spanned = _span(low, high, part)
            for key in spanned:
                counts[key] = counts.get(key, 0) + per_bucket / len(spanned)
    nulls = (stats.get("null_fraction") or 0) * rows
    if nulls >= 0.5:
        counts[None] = nulls
    return {key: round(count) for key, count in counts.items() if round(count) > 0}


def _date(value) -> date | None:
    text = str(value)
    try:
        return date(int(text[:4]), int(text[5:7]), 1) if len(text) >= 7 and text[4] == "-" else None
    except ValueError:
        return None


def _period(day: date, part: str) -> str:
    return f"{day.year:04d}-01-01" if part == "year" else f"{day.year:04d}-{day.month:02d}-01"


def _span(low: date, high: date, part: str) -> list[str]:
    keys, year, month = [], low.year, low.month
    while (year, month if part == "month" else 1) <= (high.year, high.month if part == "month" else 1) and len(
        keys
    ) < 1200:
        keys.append(f"{year:04d}-01-01" if part == "year" else f"{year:04d}-{month:02d}-01")
        if part == "year":
            year += 1
        else:
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return keys
