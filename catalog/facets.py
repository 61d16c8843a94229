"""Facets: the values of a column with their counts among the rows on screen, each a link that
adds (or removes) it as a filter, as Datasette's facets are.

Which columns: the ones asked for with ``?_facet=<column>`` (a catalog parameter, never passed to
the API), then FACETS_SUGGESTED more: the first date or timestamp column, by year or month, and
columns that ``pg_stats`` says have few distinct values (booleans and enums always qualify).
Nothing is scanned to choose them.

The counts are the API's own aggregate (``group_by=<column>&aggregate=count`` with the page's
filters, ``autoapi.public.fetch_groups``), each under FACET_TIME_LIMIT_MS of its own. A facet
leaves out the filters its own links set, so that its other values can still be added. They run on
a small per-process pool of threads while the page renders its other parts, so facets add little
to the page's time; a facet that runs out of time never holds the page longer: its counts are
estimated (``facet_estimates``: PostgreSQL's statistics unfiltered, else a sample of the relation
under the same filters), marked approximate, or it says why they are not shown.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import time
from dataclasses import dataclass

from django.db import connections
from django.http import QueryDict

from autoapi.conf import DATABASE_ALIAS, portal_setting
from autoapi.public import (
    TRUE_WORDS,
    PortalError,
    Relation,
    TimeLimitExceeded,
    api_url,
    column_kind,
    count_name,
    fetch_groups,
    filter_parameter,
    is_sortable,
)
from catalog import facet_estimates, present, sections

FACET_PARAMETER = "_facet"
PLAIN_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[^ ]*)?$")  # ISO, after year 0: a period can follow it
MAX_DISTINCT = 30  # a column with more distinct values (pg_stats) is not suggested
DATE_MONTHS_UP_TO_YEARS = 5  # a date column spanning more years is counted by year, else by month
SUGGESTED_KINDS = ("boolean", "enum")
DATE_BUCKETS = 120  # years or months a date facet lists (in order: it is also the line chart's data)
THREADS = 2  # facets counted at once per process
_WORKERS = concurrent.futures.ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="facet")


@dataclass(frozen=True)
class Facet:
    column: object  # a snapshot Column
    part: str | None = None  # "year" or "month" for a date or timestamp column

    @property
    def group_by(self) -> str:
        return f"{self.column.name}__{self.part}" if self.part else self.column.name


def choose(relation: Relation, statistics: dict, asked: list[str]) -> list[Facet]:
    """The facets of a relation page: asked ones, then suggested ones."""
    kinds = {c.name: column_kind(c) for c in relation.columns}
    chosen: list[Facet] = []
    by_name = {c.name: c for c in relation.columns}
    for name in asked:
        column = by_name.get(name)
        # Unknown and ungroupable columns are left out, as a typo in a link should not break a page.
        if column is not None and is_sortable(column) and all(f.column.name != name for f in chosen):
            chosen.append(_facet_for(column, statistics.get(name), kinds[name]))
    budget = portal_setting("FACETS_SUGGESTED")
    dated = next(
        (
            c
            for c in relation.columns
            if kinds[c.name] in ("date", "timestamp")
            and not c.is_array
            and all(f.column.name != c.name for f in chosen)
        ),
        None,
    )
    suggested = sorted(
        (
            c
            for c in relation.columns
            if _suggestible(c, statistics.get(c.name), kinds[c.name]) and all(f.column.name != c.name for f in chosen)
        ),
        key=lambda c: _distinct(statistics.get(c.name), kinds[c.name]),
    )
    # One of the suggested is the first date or timestamp column (a line over time), if any.
    chosen += [Facet(c) for c in suggested[: max(budget - (dated is not None), 0)]]
    if dated is not None and budget > 0:
        chosen.append(_facet_for(dated, statistics.get(dated.name), kinds[dated.name]))
    return chosen


def suggestions(relation: Relation, statistics: dict, shown: list[Facet]) -> list[str]:
    """Further columns worth a facet, for the "more facets" links."""
    names = {f.column.name for f in shown}
    return [
        c.name
        for c in relation.columns
        if c.name not in names and _suggestible(c, statistics.get(c.name), column_kind(c))
    ]


def _facet_for(column, stats: dict | None, kind: str) -> Facet:
    if kind in ("date", "timestamp") and not column.is_array:
        return Facet(column, "month" if _years_spanned(stats) <= DATE_MONTHS_UP_TO_YEARS else "year")
    return Facet(column)


def _years_spanned(stats: dict | None) -> int:
    """Years between the first and last histogram bounds (``pg_stats``); large when unknown."""
    bounds = (stats or {}).get("histogram_bounds") or ()
    try:
        return int(str(bounds[-1])[:4]) - int(str(bounds[0])[:4])
    except (IndexError, ValueError):
        return DATE_MONTHS_UP_TO_YEARS + 1


def _distinct(stats: dict | None, kind: str) -> float:
    if kind in SUGGESTED_KINDS:
        return 0
    return (stats or {}).get("distinct_values") or MAX_DISTINCT + 1


def _suggestible(column, stats: dict | None, kind: str) -> bool:
    if column.is_array or kind in ("date", "timestamp") or not is_sortable(column):
        return False
    if kind in SUGGESTED_KINDS:
        return True
    if (stats or {}).get("n_distinct") == -1:  # every value differs (a key): a facet would list each row
        return False
    distinct = (stats or {}).get("distinct_values")
    return distinct is not None and 2 <= distinct <= MAX_DISTINCT and kind not in ("json", "jsonb")


# --- counting, on the facet threads ---------------------------------------------------------------


def start(request, relation: Relation, filters: QueryDict, facets: list[Facet], statistics: dict | None = None) -> list:
    """Start counting each facet for the page's filters; ``collect`` gathers them."""
    jobs = []
    for facet in facets:
        params = facet_query(facet, filters)
        counting = sections.with_query(request, params)
        jobs.append((facet, params, _WORKERS.submit(_count, counting, relation, facet, params, statistics)))
    return jobs


def facet_query(facet: Facet, filters: QueryDict) -> QueryDict:
    """The API query that counts a facet's values: the page's filters but the facet's own, grouped
    by its column; values by count (the most frequent first), periods in order."""
    params = filters.copy()
    for name in ("ordering", "offset", "limit", FACET_PARAMETER, *_own_filters(facet)):
        params.pop(name, None)
    params.update(
        {
            "group_by": facet.group_by,
            "aggregate": "count",
            "ordering": facet.group_by if facet.part else "-" + count_name([facet.group_by]),
            "limit": str(_size(facet) + 1),
        }
    )
    return params


def api_url_of(facet: Facet, filters: QueryDict, relation: Relation, paged: bool = True) -> str:
    """The facet's counts in the API: as the page reads them, or (not ``paged``) all of them."""
    params = facet_query(facet, filters)
    if not paged:
        params.pop("limit")
    return _api_url(relation, params)


def _api_url(relation: Relation, params: QueryDict) -> str:
    return api_url(relation) + "?" + params.urlencode(safe=",:~")


def _own_filters(facet: Facet) -> tuple[str, ...]:
    """The filters a facet's own links set: a facet counts the rows the OTHER filters select, so
    that the values not chosen yet stay on show to be added (an OR within the facet)."""
    name = facet.column.name
    lookups = ("gte", "lt", "isnull") if facet.part else ("exact", "in", "isnull")
    return tuple(filter_parameter(name, lookup) for lookup in lookups)


@dataclass(frozen=True)
class OutOfTime:
    """A facet whose count ran out of time, with no estimate; ``why``: words on why not."""

    why: str | None = None


def _count(request, relation: Relation, facet: Facet, params: QueryDict, statistics: dict | None):
    """Exact counts, or (out of time) an estimate, or OutOfTime, or the PortalError that stopped them."""
    try:
        try:
            return fetch_groups(request, relation, portal_setting("FACET_TIME_LIMIT_MS"))
        except TimeLimitExceeded:
            return _estimated(request, relation, facet, params, statistics)
    except PortalError as error:
        return error
    finally:
        connections[DATABASE_ALIAS].close()  # back to the pool: this thread serves other pages next


def _estimated(request, relation: Relation, facet: Facet, params: QueryDict, statistics: dict | None):
    """Past the time limit: PostgreSQL's statistics when nothing is filtered, else a sample."""
    if statistics and facet_estimates.applies(relation, params):
        found = facet_estimates.from_statistics(facet, statistics.get(facet.column.name), _size(facet))
        if found is not None:
            return found
    try:
        found = facet_estimates.by_sample(request, relation, facet, _size(facet))
    except PortalError as error:  # a relation PostgreSQL cannot sample after all (a foreign table)
        found = f"a sample could not be read ({error.detail})"
    return found if isinstance(found, facet_estimates.Estimate) else OutOfTime(found)


def collect(
    jobs: list, page_params: QueryDict, relation: Relation, statistics: dict | None = None, patient: bool = False
) -> list[dict]:
    """Each facet as the template shows it. A facet out of time is estimated (``facet_estimates``:
    from PostgreSQL's statistics, or a sample), marked approximate; a facet still counting past its
    time limit (plus a margin for the round trip) is reported as out of time and the page goes on
    without it, or, unfiltered, with the statistics' estimate. ``patient`` (the facets fragment,
    which has nothing else to send): the time limit includes each facet's sample, two at a time."""
    limit = portal_setting("FACET_TIME_LIMIT_MS") / 1000
    if patient:
        rounds = -(-len(jobs) // THREADS)
        limit = rounds * (limit + portal_setting("FACET_SAMPLE_TIME_LIMIT_MS") / 1000)
    deadline = time.monotonic() + limit + 0.25
    shown = []
    for facet, params, future in jobs:
        try:
            result = future.result(timeout=max(deadline - time.monotonic(), 0))
        except concurrent.futures.TimeoutError:
            result = OutOfTime()
            if statistics and facet_estimates.applies(relation, params):
                result = (
                    facet_estimates.from_statistics(facet, statistics.get(facet.column.name), _size(facet)) or result
                )
        shown.append(_present(facet, params, result, page_params, relation))
    return shown


def _size(facet: Facet) -> int:
    return DATE_BUCKETS if facet.part else portal_setting("FACET_SIZE")


def _present(facet: Facet, params: QueryDict, result, page_params: QueryDict, relation: Relation) -> dict:
    size = _size(facet)
    api = _api_url(relation, params)
    entry = {
        "name": facet.column.name,
        "part": facet.part,
        "group_by": facet.group_by,
        "api_url": api,
        "id": f"facet-{facet.column.position}-{facet.part or 'values'}",
        "values": [],
        "more": False,
        "problem": None,
    }
    if isinstance(result, OutOfTime):
        entry["problem"] = (
            f"Counting took longer than {portal_setting('FACET_TIME_LIMIT_MS')} ms"
            + (f", and {result.why}" if result.why else "")
            + ", so this facet is left out."
        )
    elif isinstance(result, PortalError):
        entry["problem"] = f"This facet cannot be counted: {result.detail}."
        entry["status"] = result.status_code
    else:
        estimate = result if isinstance(result, facet_estimates.Estimate) else None
        result = estimate.rows if estimate else result
        entry["more"] = len(result) > size
        counted = count_name([facet.group_by])  # "count_" for a column named "count"
        entry["values"] = [
            _value(facet, row[facet.group_by], row[counted], page_params, relation) for row in result[:size]
        ]
        entry["largest"] = max((v["count"] for v in entry["values"]), default=0)
        if estimate is not None:
            entry["approximate"] = estimate.method
            entry["approximate_how"] = estimate.how
            for value in entry["values"]:
                value["count_text"] = "≈ " + value["count_text"]
            # The chart draws the same estimates (the API would count every row exactly, the cost
            # this facet avoided): values and counts as JSON in a data attribute, no inline script.
            entry["chart_counts"] = json.dumps(
                {"approximate": estimate.method, "rows": [[v["label"], v["count"]] for v in entry["values"]]}
            )
    return entry


# --- the links: what clicking a value does to the filters -------------------------------------------


def _value(facet: Facet, value, count: int, page_params: QueryDict, relation: Relation) -> dict:
    if facet.part:
        params, selected = _date_link(facet, value, page_params)
    elif value is None:
        params, selected = _null_link(facet, page_params)
    else:
        params, selected = _value_link(facet, _text(value), page_params)
    params.pop("offset", None)
    return {
        "label": "null" if value is None else _label(facet, value),
        "is_null": value is None,
        "count": count,
        "count_text": f"{count:,}",
        "selected": selected,
        "url": sections.query_url(present.catalog_url(relation), params),
    }


def _text(value) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


def _label(facet: Facet, value) -> str:
    text = _text(value)
    if facet.part and PLAIN_DATE.match(text):
        return text[:4] if facet.part == "year" else text[:7]
    return text


def _value_link(facet: Facet, text: str, page_params: QueryDict) -> tuple[QueryDict, bool]:
    """Values of one facet combine with OR: ``col=a``, then ``col__in=a,b``; clicking a chosen
    value takes it out again. (A value holding a comma cannot join an ``in`` list: it replaces.)"""
    exact, within = filter_parameter(facet.column.name), filter_parameter(facet.column.name, "in")
    page_params = page_params.copy()
    page_params.pop(filter_parameter(facet.column.name, "isnull"), None)  # null or values: one or the other
    chosen = [page_params[exact]] if exact in page_params else []
    if within in page_params:
        chosen += [v for v in page_params[within].split(",") if v not in chosen]
    selected = text in chosen
    if selected:
        chosen.remove(text)
    elif "," in text or any("," in v for v in chosen):
        chosen = [text]
    else:
        chosen.append(text)
    params = page_params.copy()
    params.pop(exact, None)
    params.pop(within, None)
    if len(chosen) == 1:
        params[exact] = chosen[0]
    elif chosen:
        params[within] = ",".join(chosen)
    return params, selected


def _null_link(facet: Facet, page_params: QueryDict) -> tuple[QueryDict, bool]:
    name = filter_parameter(facet.column.name, "isnull")
    params = page_params.copy()
    selected = params.get(name, "").lower() in TRUE_WORDS
    if selected:
        params.pop(name)
    else:  # null or values: one or the other (an AND of both would match nothing)
        params[name] = "true"
        for other in (filter_parameter(facet.column.name), filter_parameter(facet.column.name, "in")):
            params.pop(other, None)
    return params, selected


def _date_link(facet: Facet, start, page_params: QueryDict) -> tuple[QueryDict, bool]:
    """A year or month: ``col__gte=<its start>&col__lt=<the next one's>``; clicked again, removed."""
    low, high = filter_parameter(facet.column.name, "gte"), filter_parameter(facet.column.name, "lt")
    params = page_params.copy()
    if start is None:
        return _null_link(facet, page_params)
    begin = str(start)
    if not PLAIN_DATE.match(begin):  # infinity, or a date BC: the value itself
        return _value_link(facet, begin, page_params)
    end = _next_period(begin, facet.part)
    selected = params.get(low) == begin and params.get(high) == end
    params.pop(low, None)
    params.pop(high, None)
    if not selected:
        params[low], params[high] = begin, end
    return params, selected


def _next_period(begin: str, part: str) -> str:
    """The start of the year or month after ``begin`` (ISO text), in the same form."""
    year, month = int(begin[:4]), int(begin[5:7])
    year, month = (year + 1, month) if part == "year" else (year + month // 12, month % 12 + 1)
    return f"{year:04d}-{month:02d}{begin[7:]}"
