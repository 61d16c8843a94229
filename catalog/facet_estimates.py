"""Approximate facet counts, for a facet whose exact count ran out of time (FACET_TIME_LIMIT_MS) on
a large relation: from PostgreSQL's own statistics when nothing is filtered, else from a sample.

**Statistics** (``estimate``). ANALYZE keeps, per column, the most common values with their shares
of the rows (``most_common_vals``/``most_common_freqs``), the share of NULLs, and histogram bounds
that divide the other values into equally populated buckets (``pg_stats``, read by
``autoapi.schema.statistics.column_statistics``). Times ``pg_class.reltuples`` they give each value's
count at no cost, as the planner itself estimates ``WHERE col = v``
(https://www.postgresql.org/docs/current/row-estimation-examples.html). A date facet spreads each
histogram bucket over the years or months it spans. Only without filters: the statistics describe
every row, not a filtered subset. Never under row security (``Relation.row_security``): ANALYZE
read rows the role may not see (``column_statistics`` returns nothing for such a relation, and this
module checks again).

**A sample** (``by_sample``), when the page is filtered, or the statistics name no common values
(a column of many distinct values, or never analysed): the facet's own aggregate query (same
filters, same read-only role, same row security) over ``TABLESAMPLE SYSTEM (p) REPEATABLE (seed)``
of the relation (``autoapi/query/sampling.py``), each count multiplied by 100/p and rounded to two
significant figures, under FACET_SAMPLE_TIME_LIMIT_MS. ``p`` takes about FACET_SAMPLE_ROWS rows
of the relation's estimated size; under row security (whose row estimate counts hidden rows and is
never used) or without an estimate, ``p`` grows 0.1%, 1%, 10% until the sample holds enough
matching rows, so what is shown depends on visible rows only. Views cannot be sampled: their facet
says so. The figures are marked approximate wherever shown, with how they were estimated.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import date

from autoapi.conf import portal_setting
from autoapi.public import (
    Relation,
    TableSample,
    TimeLimitExceeded,
    can_sample,
    column_kind,
    count_name,
    fetch_groups,
    relation_activity,
)

FACET_ONLY = {"group_by", "aggregate", "ordering", "limit"}
LADDER = (0.1, 1.0, 10.0)  # percents tried in turn when the relation's size is not to be used
ENOUGH = 1000  # matching rows in a sample of the ladder that stop it growing


@dataclass(frozen=True)
class Estimate:
    rows: list  # shaped as the API's groups, counts estimated
    method: str  # "statistics" or "sample"
    how: str  # a sentence saying how they were estimated (the counts' title)


def applies(relation: Relation, params) -> bool:
    """Statistics may stand in: no filter narrows the facet's rows, no row security hides any."""
    return not relation.row_security and not (set(params) - FACET_ONLY)


def from_statistics(facet, stats: dict | None, size: int) -> Estimate | None:
    rows = estimate(facet, stats, size)
    if rows is None:
        return None
    return Estimate(
        rows,
        "statistics",
        "Estimated from PostgreSQL's statistics of the column (pg_stats, as of the last ANALYZE), times the "
        "table's estimated rows",
    )


def current_rows(relation: Relation) -> int | None:
    """The relation's rows as PostgreSQL counts them now: the larger of the snapshot's estimate
    (as of its read) and the live-row counter (``pg_stat``, moved by every insert since). A table
    filled after the snapshot was read would otherwise get a sample sized for its old rows. Never
    under row security (``relation_activity`` leaves such a relation out: hidden rows count)."""
    live = relation_activity([relation]).get((relation.schema, relation.name), {}).get("live_rows")
    known = [rows for rows in (relation.estimated_rows, live) if rows is not None and rows > 0]
    return max(known, default=None)


def percents(relation: Relation) -> tuple[float, ...]:
    """The sample sizes to try, in percent of the relation's pages (empty: none worth trying)."""
    budget = portal_setting("FACET_SAMPLE_ROWS")
    if budget <= 0:
        return ()
    rows = None if relation.row_security else current_rows(relation)
    if rows is None or rows <= 0:
        return LADDER
    percent = 100 * budget / rows
    return (float(f"{percent:.3g}"),) if percent < 50 else ()  # half the rows or more: count them all


def by_sample(request, relation: Relation, facet, size: int) -> Estimate | str | None:
    """The facet's counts from a sample (``request`` holds the facet's query), an Estimate; or a
    reason it has none (text), or None when no sample is worth taking."""
    if not can_sample(relation):
        return f"a {relation.kind} cannot be sampled to estimate them"
    tried = percents(relation)
    if not tried:
        return None
    deadline = time.monotonic() + portal_setting("FACET_SAMPLE_TIME_LIMIT_MS") / 1000
    counted = count_name([facet.group_by])
    found = None
    for percent in tried:
        left_ms = int((deadline - time.monotonic()) * 1000)
        if left_ms < 10:
            break
        sample = TableSample(percent)
        try:
            rows = fetch_groups(request, relation, left_ms, sample=sample)
        except TimeLimitExceeded:
            break
        found = (sample, rows)
        if sum(r[counted] for r in rows) >= ENOUGH:
            break
    if found is None:
        limit = portal_setting("FACET_SAMPLE_TIME_LIMIT_MS")
        return f"a sample ran out of time too ({limit} ms)"
    sample, rows = found
    seen = sum(r[counted] for r in rows)
    if not seen:
        return f"no matching row in a sample of {_percent_text(sample.percent)} of its pages to estimate them from"
    if not facet.part and max(r[counted] for r in rows) == 1 and sample.scale > 1:
        # Seen once each, a value's count could be 1 or many: scaling up would make every one common.
        return (
            f"every value in a sample of {_percent_text(sample.percent)} of its pages appears once (nearly every "
            "row holds its own), so a sample cannot estimate them"
        )
    scaled = [{**r, counted: _significant(r[counted] * sample.scale)} for r in rows]
    how = (
        f"Estimated from a sample of {_percent_text(sample.percent)} of the table's pages ({seen:,} matching rows "
        f"counted), each count multiplied by {_number_text(sample.scale)}; values missing from the sample are "
        "not listed"
    )
    return Estimate(scaled, "sample", how)


def _significant(value: float, digits: int = 2) -> int:
    """``value`` rounded to ``digits`` significant figures (a sample's counts are no more precise)."""
    if value < 1:
        return 1 if value > 0 else 0
    magnitude = 10 ** max(int(math.floor(math.log10(value))) - digits + 1, 0)
    return int(round(value / magnitude) * magnitude)


def _percent_text(percent: float) -> str:
    return f"{percent:g}%"


def _number_text(number: float) -> str:
    return f"{number:,.3g}" if number < 1000 else f"{round(number):,}"


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
