"""`make bench`'s "aggregates" section: grouped API answers next to the same GROUP BY run by
PostgreSQL alone, and the catalog's facets next to the same page without them.

- ``group_by=carrier&aggregate=count,avg:dep_delay`` over public.flights, JSON and CSV: the
  portal's median latency over HTTP against the median of the same GROUP BY on one warm psycopg2
  connection (no HTTP at all), target at most 1.2x.
- The flights catalog page with its suggested facets against the page with none
  (``PORTAL_FACETS_SUGGESTED=0``), target at most 1.5x. Flights is over FACET_INLINE_ROWS, so its
  page comes first and the facets fragment its script fetches right after: that is measured too.
- A facet that runs out of time (``?_facet=name`` over bench.points' 2 million rows): the page
  with it against the page without it, and the fragment, which must end within the time limits.
- Facets at size (issue 23): bench.points' facets fragment (its suggested facets and
  ``_facet=category``), unfiltered and filtered (``amount__lt=50000``), on a portal without its
  page cache: under 2 s with counts for every facet (exact, or estimated from PostgreSQL's
  statistics or from a sample, marked ≈), against the same GROUP BYs run by PostgreSQL alone.
"""

from __future__ import annotations

from bench.server import KeepAlive, Portal
from bench.tools import Failed

GROUPED = "group_by=carrier&aggregate=count,avg:dep_delay"
GROUPED_SQL = (
    "SELECT carrier, count(*) AS count, avg(dep_delay) AS avg_dep_delay FROM public.flights "
    "GROUP BY carrier ORDER BY carrier"
)
FACET_TIME_LIMIT_MS = 200  # the defaults (autoapi/conf.py)
FACET_SAMPLE_TIME_LIMIT_MS = 500
FLIGHTS_PAGE = "/catalog/public/flights/"
POINTS_PAGE = "/catalog/bench/points/"
SLOW_PAGE = POINTS_PAGE + "?_facet=name"
SLOW_FRAGMENT = POINTS_PAGE + "-/facets?_facet=name"
SIZED_TARGET_S = 2.0
SIZED = {  # the fragment's query -> the GROUP BYs it stands for, one per facet, in PostgreSQL alone
    "unfiltered": (
        "_facet=category",
        "",
    ),
    "filtered": (
        "amount__lt=50000&_facet=category",
        "WHERE amount < 50000",
    ),
}
SIZED_GROUPS = (
    "SELECT category, count(*) FROM bench.points {where} GROUP BY 1 ORDER BY 2 DESC LIMIT 11",
    "SELECT date_trunc('month', observed_at), count(*) FROM bench.points {where} GROUP BY 1 ORDER BY 1 LIMIT 121",
)


def section_aggregates(ctx) -> None:
    from bench.run import log

    runs = 7 if ctx.args.quick else 25
    with_facets = Portal(ctx.main_url, workers=1, threads=8, log_dir=ctx.tmp, name="facets")
    without = Portal(
        ctx.main_url, workers=1, threads=8, log_dir=ctx.tmp, name="no-facets", env={"PORTAL_FACETS_SUGGESTED": "0"}
    )
    uncached = Portal(
        ctx.main_url,
        workers=1,
        threads=8,
        log_dir=ctx.tmp,
        name="facets-uncached",
        env={"PORTAL_CATALOG_CACHE_SECONDS": "0"},
    )
    log(f"aggregates: gunicorn {with_facets.describe()}, with and without facets")
    try:
        with_facets.start()
        session = KeepAlive(with_facets.port)
        grouped_answers(ctx, session, runs)
        faceted = faceted_pages(session, runs)
        with_facets.stop()
        without.start()
        compare_pages(ctx, KeepAlive(without.port), faceted, runs)
        without.stop()
        uncached.start()
        facets_at_size(ctx, KeepAlive(uncached.port), max(runs // 3, 3))
    finally:
        with_facets.stop()
        without.stop()
        uncached.stop()


def grouped_answers(ctx, session: KeepAlive, runs: int) -> None:
    from bench.run import ms, postgres_query_median, ratio_ok, sequential_median

    postgres = postgres_query_median(ctx.cluster, GROUPED_SQL, runs)
    for fmt in ("json", "csv"):
        portal = sequential_median(session, f"/api/public/flights/?{GROUPED}&format={fmt}", runs)
        r, ok = ratio_ok(portal, postgres, 1.2)
        ctx.add(
            f"{GROUPED} over flights, {fmt.upper()}, median of {runs}",
            ms(portal),
            f"{ms(postgres)} (GROUP BY)",
            r,
            "<= 1.2",
            ok,
        )


def faceted_pages(session: KeepAlive, runs: int) -> dict:
    """Medians of the pages with facets, and of the fragments their scripts fetch."""
    from bench.run import sequential_median

    _expect(session, FLIGHTS_PAGE, b"data-facets-url")
    _expect(session, FLIGHTS_PAGE + "-/facets", b'class="facet"')
    _expect(session, SLOW_FRAGMENT, b"took longer than")
    few = max(runs // 3, 3)
    return {
        "page": sequential_median(session, FLIGHTS_PAGE, runs),
        "fragment": sequential_median(session, FLIGHTS_PAGE + "-/facets", runs),
        "slow_page": sequential_median(session, SLOW_PAGE, few),
        "slow_fragment": sequential_median(session, SLOW_FRAGMENT, few),
        "slow_facets": _expect(session, SLOW_FRAGMENT, b"")[1].count(b'class="facet"'),
    }


def compare_pages(ctx, plain_session: KeepAlive, faceted: dict, runs: int) -> None:
    from bench.run import ms, ratio_ok, sequential_median

    plain = sequential_median(plain_session, FLIGHTS_PAGE, runs)
    plain_points = sequential_median(plain_session, POINTS_PAGE, max(runs // 3, 3))
    r, ok = ratio_ok(faceted["page"], plain, 1.5)
    ctx.add(
        f"flights catalog page with its suggested facets vs none, median of {runs}",
        ms(faceted["page"]),
        f"{ms(plain)} (no facets)",
        r,
        "<= 1.5",
        ok,
    )
    ctx.add("  then its facets fragment (4 facets, fetched by the page's script)", ms(faceted["fragment"]), ok=None)
    r, ok = ratio_ok(faceted["slow_page"], plain_points, 1.5)
    ctx.add(
        "bench.points page with a facet that runs out of time vs none",
        ms(faceted["slow_page"]),
        f"{ms(plain_points)} (no facets)",
        r,
        "<= 1.5",
        ok,
    )
    # Two facet threads: the fragment ends within its facets' time limits (each the exact count's,
    # then its sample's), two at a time.
    count = faceted["slow_facets"]
    bound = -(-count // 2) * (FACET_TIME_LIMIT_MS + FACET_SAMPLE_TIME_LIMIT_MS) / 1000 + 0.15
    ctx.add(
        f"  then its facets fragment ({count} facets over 2 million rows: name's values all differ, so left out)",
        ms(faceted["slow_fragment"]),
        target=f"< {ms(bound)}",
        ok=faceted["slow_fragment"] < bound,
    )


def facets_at_size(ctx, session: KeepAlive, runs: int) -> None:
    """The 2M-row table's facets fragment, every facet with counts, within 2 s; PostgreSQL's own
    GROUP BYs of the same facets beside it (what counting exactly costs, one after the other)."""
    from bench.run import ms, postgres_query_median, sequential_median

    for case, (query, where) in SIZED.items():
        path = f"{POINTS_PAGE}-/facets?{query}"
        _status, body = _expect(session, path, b'class="facet"')
        sections = body.split(b'<section class="facet"')[1:]
        counted = sum(1 for part in sections if b'class="facet-count"' in part and b"facet-problem" not in part)
        approximate = sum(1 for part in sections if b"facet-approximate" in part)
        portal = sequential_median(session, path, runs)
        postgres = sum(postgres_query_median(ctx.cluster, sql.format(where=where), runs) for sql in SIZED_GROUPS)
        ctx.add(
            f"bench.points facets fragment, {case} ({counted} of {len(sections)} facets with counts, "
            f"{approximate} approximate), median of {runs}",
            ms(portal),
            f"{ms(postgres)} ({len(SIZED_GROUPS)} GROUP BYs)",
            f"{portal / postgres:.2f}",
            f"< {ms(SIZED_TARGET_S)}, all counted",
            portal < SIZED_TARGET_S and counted == len(sections) > 0,
        )


def _expect(session: KeepAlive, path: str, needle: bytes) -> tuple[int, bytes]:
    status, body = session.get(path)
    if status != 200 or needle not in body:
        raise Failed(f"GET {path}: HTTP {status}, {needle!r} {'absent' if needle not in body else 'present'}")
    return status, body
