"""Column profiles for the data dictionary, from PostgreSQL's planner statistics.

``catalog.views`` reads ``autoapi.public.column_statistics(relation)`` (one query on ``pg_stats``,
no table scan) and hands each column's statistics to ``profile()``, which returns the plain dict
the template shows: the share of NULLs, the number of distinct values, the range, the most common
values with their shares, and for numbers and dates a small histogram with a text alternative.

Everything here is an estimate from ANALYZE's sample, and says so on the page. The histogram's
equal-width bars are drawn over the distribution ``catalog.distribution`` rebuilds from
``pg_stats``.
"""

from __future__ import annotations

import math

from autoapi.public import Column
from catalog import distribution

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


def profile(column: Column, stats: dict | None) -> dict | None:
    """The profile of one column, or None when PostgreSQL has no statistics for it."""
    if stats is None:
        return None
    null_fraction = stats.get("null_fraction") or 0.0
    values = stats.get("most_common_values") or ()
    freqs = stats.get("most_common_freqs") or ()
    common = [(v, f) for v, f in zip(values, freqs) if not isinstance(v, list)]
    scale = distribution.scale(column)
    pieces = distribution.pieces(scale, stats, null_fraction, common) if scale else None
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


def _range(column: Column, scale: str | None, stats: dict, common: list) -> dict | None:
    """Lowest and highest value in the sample, as PostgreSQL prints them."""
    bounds = [b for b in stats.get("histogram_bounds") or () if isinstance(b, str)]
    if scale:
        candidates = [(v, distribution.to_float(scale, v)) for v in bounds + [v for v, _ in common]]
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


def _histogram(column: Column, scale: str, pieces) -> dict | None:
    low, high, few_integers = _drawn_range(scale, pieces)
    edges = _edges(scale, low, high, few_integers)
    masses = _masses(pieces, edges)
    if max(masses) <= 0:
        return None
    span = edges[-1] - edges[0]

    def text(value: float) -> str:
        return distribution.label(scale, value, span, column.base_type)

    labels = [_bar_label(scale, text, edges, i, high) for i in range(len(masses))]
    low_text, high_text = text(low), text(high)
    tails = _tails(pieces, edges, low_text, high_text)
    return {
        "bars": _bars(masses, labels),
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "low": low_text,
        "high": high_text,
        "summary": _summary(column.name, masses, labels, low_text, high_text, tails),
        "tails": " and ".join(tails),
    }


def _drawn_range(scale: str, pieces) -> tuple[float, float, bool]:
    """What the bars cover (all values but a long thin tail), and whether that is few integers."""
    least = min(p[0] for p in pieces)
    most = max(p[1] for p in pieces)
    low, high = least, most
    few_integers = scale == "integer" and most - least + 1 <= MAX_INTEGER_BINS
    q_low, q_high = distribution.quantile(pieces, TAIL_SHARE), distribution.quantile(pieces, 1 - TAIL_SHARE)
    if not few_integers and q_high > q_low:
        # Each side is cut only where its last 1% stretches over more than a fifth of the range.
        if q_low - least > LONG_TAIL * (most - least):
            low = q_low
        if most - q_high > LONG_TAIL * (most - least):
            high = q_high
    if scale == "integer":
        low, high = math.floor(low), math.ceil(high)
    return low, high, few_integers


def _edges(scale: str, low: float, high: float, few_integers: bool) -> list[float]:
    if scale == "integer":
        # Bars a whole number of integers wide, edges half-way between integers.
        step = 1 if few_integers else max(1, math.ceil((high - low + 1) / HISTOGRAM_BINS))
        count = math.ceil((high - low + 1) / step)
        return [low - 0.5 + step * i for i in range(count + 1)]
    return [low + (high - low) * i / HISTOGRAM_BINS for i in range(HISTOGRAM_BINS + 1)]


def _masses(pieces, edges: list[float]) -> list[float]:
    """Each bar's share of the values: a spike where its value lies, a bucket pro rata of overlap."""
    masses = [0.0] * (len(edges) - 1)
    for a, b, share in pieces:
        if a == b:
            if edges[0] <= a <= edges[-1]:
                masses[distribution.bin_of(edges, a)] += share
            continue
        for i in range(len(masses)):
            overlap = min(b, edges[i + 1]) - max(a, edges[i])
            if overlap > 0:
                masses[i] += share * overlap / (b - a)
    return masses


def _bar_label(scale: str, text, edges: list[float], i: int, high: float) -> str:
    if scale != "integer":
        return f"{text(edges[i])} to {text(edges[i + 1])}"
    first, last = edges[i] + 0.5, min(edges[i + 1] - 0.5, high)
    return text(first) if first == last else f"{text(first)} to {text(last)}"


def _bars(masses: list[float], labels: list[str]) -> list[dict]:
    top = max(masses)
    width = CHART_WIDTH / len(masses)
    bars = []
    for i, (mass, label) in enumerate(zip(masses, labels)):
        height = round(CHART_HEIGHT * mass / top, 2)
        bars.append(
            {
                "x": round(i * width, 2),
                "y": round(CHART_HEIGHT - height, 2),
                "width": round(max(width - 1, 0.5), 2),
                "height": height,
                "label": f"{label}: {_percent(mass, zero='none')}",
            }
        )
    return bars


def _tails(pieces, edges: list[float], low_text: str, high_text: str) -> list[str]:
    """What the bars leave out on either side, when it is worth saying."""
    below = distribution.share_below(pieces, edges[0], inclusive=False)
    above = 1 - distribution.share_below(pieces, edges[-1], inclusive=True)
    tails = []
    if below > 0.0005:
        tails.append(f"{_percent(below)} lie below {low_text}")
    if above > 0.0005:
        tails.append(f"{_percent(above)} above {high_text}")
    return tails


def _summary(name: str, masses: list[float], labels: list[str], low_text: str, high_text: str, tails) -> str:
    """The histogram's text alternative."""
    tallest = max(range(len(masses)), key=lambda i: masses[i])
    summary = (
        f"Histogram of {name} in {len(masses)} bars from {low_text} to {high_text}; "
        f"the tallest, {labels[tallest]}, holds {_percent(masses[tallest])} of the values."
    )
    if tails:
        summary += " Not drawn: " + " and ".join(tails) + "."
    return summary
