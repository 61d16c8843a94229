"""Column profiles for the data dictionary, from PostgreSQL's planner statistics.

``catalog.views`` reads ``autoapi.public.column_statistics(relation)`` (one query on ``pg_stats``,
no table scan) and hands each column's statistics to ``profile()``, which returns the plain dict
the template shows: the share of NULLs, the number of distinct values, the range, the most common
values with their shares, and for numbers and dates a small histogram with a text alternative.

Everything here is an estimate from ANALYZE's sample, and says so on the page. The histogram is
rebuilt from what ``pg_stats`` keeps (PostgreSQL manual, "pg_stats"): the most common values with
their frequencies, then ``histogram_bounds`` splitting the *other* non-NULL values into buckets
of equal population. Each bucket's share is spread evenly over its range and each common value's
share sits at its value; equal-width bars over that give the shape.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone

from autoapi.public import Column

HISTOGRAM_BINS = 20
MAX_INTEGER_BINS = 36  # up to this many integers (hours, days, months): one bar each
COMMON_VALUES_SHOWN = 5
# Common values are listed when the most common holds at least this share of the rows: below it
# (coordinates, timestamps, names) they are the noise of the sample, not the shape of the data.
COMMON_VALUES_MIN_SHARE = 0.005
VALUE_CHARACTERS = 40
CHART_WIDTH, CHART_HEIGHT = 160, 40
# A long tail would squash the rest into one bar: a tail of 1% of the values that spans more than
# a fifth of the range is left out of the bars (and the text alternative says how much was).
TAIL_SHARE = 0.01
LONG_TAIL = 0.2

INTEGER_TYPES = {"int2", "int4", "int8", "oid"}
TIME_TYPES = {"date", "timestamp", "timestamptz"}


def profile(column: Column, stats: dict | None) -> dict | None:
    """The profile of one column, or None when PostgreSQL has no statistics for it."""
    if stats is None:
        return None
    null_fraction = stats.get("null_fraction") or 0.0
    values = stats.get("most_common_values") or ()
    freqs = stats.get("most_common_freqs") or ()
    common = [(v, f) for v, f in zip(values, freqs) if not isinstance(v, list)]
    scale = _scale(column)
    pieces = _pieces(scale, stats, null_fraction, common) if scale else None
    result = {
        "null_share": null_fraction,
        "nulls": _percent(null_fraction, zero="none"),
        "distinct": _distinct(stats),
        "range": _range(column, scale, stats, common),
        "common": _common(common) if max((f for _, f in common), default=0) >= COMMON_VALUES_MIN_SHARE else [],
        "common_more": max(0, len(common) - COMMON_VALUES_SHOWN),
        "histogram": _histogram(column, scale, pieces) if pieces else None,
    }
    if null_fraction >= 1:
        result.update(distinct="none", range=None, common=[], histogram=None)
    return result


# --- numbers for people ---------------------------------------------------------------------------


def _percent(share: float, zero: str = "0%") -> str:
    if share <= 0:
        return zero
    if share < 0.001:
        return "< 0.1%"
    if share > 0.999 and share < 1:
        return "> 99.9%"
    text = f"{share * 100:.1f}"
    return (text[:-2] if text.endswith(".0") else text) + "%"


def _distinct(stats: dict) -> str:
    n_distinct = stats.get("n_distinct")
    count = stats.get("distinct_values")
    if n_distinct is None:
        return "unknown"
    if n_distinct == -1:
        return "all different"
    if n_distinct < 0:
        share = f" ({_percent(-n_distinct)} of rows)"
        return (f"≈ {round(count):,}" if count is not None else "unknown") + share
    return f"{round(n_distinct):,}"


def _clip(text: str) -> str:
    return text if len(text) <= VALUE_CHARACTERS else text[: VALUE_CHARACTERS - 1] + "…"


def _common(common: list) -> list[dict]:
    shown = common[:COMMON_VALUES_SHOWN]
    top = max((f for _, f in shown), default=0) or 1
    return [
        {
            "value": "null" if value is None else _clip(value),
            "empty": value == "",
            "share": _percent(freq),
            "width": round(100 * freq / top, 1),
        }
        for value, freq in shown
    ]


# --- scales: numbers and moments as floats, and back -----------------------------------------------


def _scale(column: Column) -> str | None:
    if column.is_array:
        return None
    if column.base_type in TIME_TYPES:
        return "time"
    if column.type_category == "N" and column.base_type != "money":
        return "integer" if column.base_type in INTEGER_TYPES else "number"
    return None


def _to_float(scale: str, text) -> float | None:
    if text is None:
        return None
    try:
        if scale == "time":
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            value = moment.timestamp()
        else:
            value = float(text)
    except (ValueError, OverflowError):  # "infinity", BC dates, NaN all leave the chart out
        return None
    return value if math.isfinite(value) else None


def _label(scale: str, value: float, span: float, base_type: str) -> str:
    if scale == "time":
        moment = datetime.fromtimestamp(value, tz=timezone.utc)
        if base_type == "date" or span >= 3 * 86400:
            return moment.strftime("%Y-%m-%d")
        return moment.strftime("%Y-%m-%d %H:%M")
    if scale == "integer" or (float(value).is_integer() and abs(value) < 1e15):
        return str(int(round(value)))
    return f"{value:.4g}"


def _range(column: Column, scale: str | None, stats: dict, common: list) -> dict | None:
    """Lowest and highest value in the sample, as PostgreSQL prints them."""
    bounds = [b for b in stats.get("histogram_bounds") or () if isinstance(b, str)]
    if scale:
        candidates = [(v, _to_float(scale, v)) for v in bounds + [v for v, _ in common]]
        candidates = [(text, number) for text, number in candidates if number is not None]
        if not candidates:
            return None
        low = min(candidates, key=lambda c: c[1])[0]
        high = max(candidates, key=lambda c: c[1])[0]
        return {"low": _clip(low), "high": _clip(high)}
    if len(bounds) >= 2:  # in the column's own sort order (its collation), which Python cannot redo
        return {"low": _clip(bounds[0]), "high": _clip(bounds[-1])}
    return None


# --- the histogram -------------------------------------------------------------------------------


def _pieces(scale: str, stats: dict, null_fraction: float, common: list) -> list[tuple[float, float, float]] | None:
    """The distribution of non-NULL values as (low, high, share) pieces; low == high for a value."""
    pieces = []
    for value, freq in common:
        number = _to_float(scale, value)
        if number is not None:
            pieces.append((number, number, freq))
    bounds = [_to_float(scale, b) for b in stats.get("histogram_bounds") or ()]
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


def _share_below(pieces, x: float, inclusive: bool) -> float:
    total = 0.0
    for low, high, share in pieces:
        if high < x or (inclusive and high == x):
            total += share
        elif low < x and high > low:
            total += share * (x - low) / (high - low)
    return total


def _quantile(pieces, p: float) -> float:
    low = min(piece[0] for piece in pieces)
    high = max(piece[1] for piece in pieces)
    tolerance = (high - low) * 1e-9
    for _ in range(60):
        middle = (low + high) / 2
        if _share_below(pieces, middle, inclusive=True) < p:
            low = middle
        else:
            high = middle
    # Bisection stops just past a common value's spike: the quantile is that value itself.
    for a, b, _ in pieces:
        if a == b and abs(a - high) <= tolerance:
            return a
    return high


def _histogram(column: Column, scale: str, pieces) -> dict | None:
    least = min(p[0] for p in pieces)
    most = max(p[1] for p in pieces)
    low, high = least, most
    few_integers = scale == "integer" and most - least + 1 <= MAX_INTEGER_BINS
    q_low, q_high = _quantile(pieces, TAIL_SHARE), _quantile(pieces, 1 - TAIL_SHARE)
    if not few_integers and q_high > q_low:
        # Each side is cut only where its last 1% stretches over more than a fifth of the range.
        if q_low - least > LONG_TAIL * (most - least):
            low = q_low
        if most - q_high > LONG_TAIL * (most - least):
            high = q_high
    if scale == "integer":
        # Bars a whole number of integers wide, edges half-way between integers.
        low, high = math.floor(low), math.ceil(high)
        step = 1 if few_integers else max(1, math.ceil((high - low + 1) / HISTOGRAM_BINS))
        count = math.ceil((high - low + 1) / step)
        edges = [low - 0.5 + step * i for i in range(count + 1)]
    else:
        edges = [low + (high - low) * i / HISTOGRAM_BINS for i in range(HISTOGRAM_BINS + 1)]
    below = _share_below(pieces, edges[0], inclusive=False)
    above = 1 - _share_below(pieces, edges[-1], inclusive=True)
    masses = [0.0] * (len(edges) - 1)
    for a, b, share in pieces:
        if a == b:
            if edges[0] <= a <= edges[-1]:
                masses[_bin_of(edges, a)] += share
            continue
        for i in range(len(masses)):
            overlap = min(b, edges[i + 1]) - max(a, edges[i])
            if overlap > 0:
                masses[i] += share * overlap / (b - a)
    top = max(masses)
    if top <= 0:
        return None
    span = edges[-1] - edges[0]

    def text(value: float) -> str:
        return _label(scale, value, span, column.base_type)

    def bar_label(i: int) -> str:
        if scale != "integer":
            return f"{text(edges[i])} to {text(edges[i + 1])}"
        first, last = edges[i] + 0.5, min(edges[i + 1] - 0.5, high)
        return text(first) if first == last else f"{text(first)} to {text(last)}"

    width = CHART_WIDTH / len(masses)
    bars = []
    for i, mass in enumerate(masses):
        label = bar_label(i)
        height = round(CHART_HEIGHT * mass / top, 2)
        bars.append({
            "x": round(i * width, 2),
            "y": round(CHART_HEIGHT - height, 2),
            "width": round(max(width - 1, 0.5), 2),
            "height": height,
            "label": f"{label}: {_percent(mass, zero='none')}",
        })
    tallest = max(range(len(masses)), key=lambda i: masses[i])
    peak = bar_label(tallest)
    low_text, high_text = text(low), text(high)
    summary = (
        f"Histogram of {column.name} in {len(masses)} bars from {low_text} to {high_text}; "
        f"the tallest, {peak}, holds {_percent(masses[tallest])} of the values."
    )
    tails = []
    if below > 0.0005:
        tails.append(f"{_percent(below)} lie below {low_text}")
    if above > 0.0005:
        tails.append(f"{_percent(above)} above {high_text}")
    if tails:
        summary += " Not drawn: " + " and ".join(tails) + "."
    return {
        "bars": bars,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "low": low_text,
        "high": high_text,
        "summary": summary,
        "tails": " and ".join(tails),
    }


def _bin_of(edges: list[float], value: float) -> int:
    for i in range(len(edges) - 1):
        if value < edges[i + 1]:
            return i
    return len(edges) - 2
