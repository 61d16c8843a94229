"""`make bench`'s "formats" section: the Parquet and XLSX downloads next to the CSV one, and their
memory.

- The whole flights table (336,776 rows, 20 columns) as Parquet and as XLSX against the same
  table as CSV (PostgreSQL's COPY, the fastest download the portal has), best of 3 each,
  interleaved: targets Parquet <= 1.5x, XLSX <= 4x. Each file is read back once (pyarrow's row
  count, the XLSX zip's parts) so a fast broken file cannot pass.
- The worker's peak RSS growth during a 2,000,000-row Parquet download (bench.points) and a
  1,000,000-row XLSX one (``id__lte=1000000``), each against a 10,000-row download of the same
  format just before (the method of run.py's CSV memory row): target < 50 MB.
"""

from __future__ import annotations

import io
import urllib.request
import zipfile

from bench import procs
from bench.server import Portal
from bench.tools import Failed, curl

FLIGHTS = "/api/public/flights/?limit=all&format="
TARGETS = {"parquet": 1.5, "xlsx": 4.0}
MEMORY = (("parquet", "", 2_000_000), ("xlsx", "&id__lte=1000000", 1_000_000))
SMALL_ROWS = 10_000


def section_formats(ctx) -> None:
    from bench.run import log

    portal = Portal(ctx.main_url, workers=1, threads=4, log_dir=ctx.tmp, name="formats")
    log(f"formats: gunicorn {portal.describe()}")
    portal.start()
    try:
        portal.warm(["/api/public/flights/?limit=1", "/api/bench/points/?limit=1"])
        memory(ctx, portal)  # first, on a fresh worker
        check_files(portal)
        speed(ctx, portal)
    finally:
        portal.stop()


def speed(ctx, portal: Portal) -> None:
    from bench.run import best_of, secs

    n = 1 if ctx.args.quick else 3
    csv_runs, runs = [], {}
    for fmt in TARGETS:
        csv_side, fmt_side = best_of(
            n, lambda: curl(portal.base + FLIGHTS + "csv"), lambda f=fmt: curl(portal.base + FLIGHTS + f)
        )
        csv_runs += csv_side
        runs[fmt] = fmt_side
    csv_best = min(r["wall"] for r in csv_runs)
    for fmt, limit in TARGETS.items():
        best = min(r["wall"] for r in runs[fmt])
        ratio = best / csv_best
        ctx.add(
            f"{fmt.upper()}, public.flights (336,776 rows), best of {n}",
            secs(best),
            f"{secs(csv_best)} (CSV)",
            f"{ratio:.2f}",
            f"<= {limit}",
            ratio <= limit,
        )
        ctx.notes.append(
            f"flights {fmt.upper()}: {runs[fmt][0]['bytes'] / 1e6:.1f} MB, time to first byte "
            f"{min(r['ttfb'] for r in runs[fmt]) * 1000:.0f} ms; the CSV: "
            f"{csv_runs[0]['bytes'] / 1e6:.1f} MB."
        )


def check_files(portal: Portal) -> None:
    """Each flights file once, read back: a broken file must not pass for a fast one."""
    import pyarrow.parquet as pq

    with urllib.request.urlopen(portal.base + FLIGHTS + "parquet", timeout=600) as response:
        rows = pq.ParquetFile(io.BytesIO(response.read())).metadata.num_rows
    if rows != 336_776:
        raise Failed(f"flights Parquet has {rows:,} rows, not 336,776")
    with urllib.request.urlopen(portal.base + FLIGHTS + "xlsx", timeout=600) as response:
        names = zipfile.ZipFile(io.BytesIO(response.read())).namelist()
    if "xl/worksheets/sheet1.xml" not in names:
        raise Failed(f"flights XLSX has no sheet: {names}")


def memory(ctx, portal: Portal) -> None:
    from bench.run import mb

    pid = portal.worker_pids()[0]
    for fmt, condition, rows in MEMORY:
        small = f"{portal.base}/api/bench/points/?format={fmt}&limit=all&id__lte={SMALL_ROWS}"
        curl(small)  # once before, so both measurements start from the same warm worker
        procs.reset_peak_rss(pid)
        curl(small)
        small_peak = procs.proc_status(pid, "VmHWM")
        procs.reset_peak_rss(pid)
        full = curl(f"{portal.base}/api/bench/points/?format={fmt}&limit=all{condition}")
        full_peak = procs.proc_status(pid, "VmHWM")
        growth = full_peak - small_peak
        ctx.add(
            f"  worker peak RSS growth, {fmt.upper()} download of {rows:,} vs {SMALL_ROWS:,} rows",
            f"+{mb(growth)}",
            target="< 50 MB",
            ok=growth < 50 * 1024 * 1024,
        )
        ctx.notes.append(
            f"{fmt.upper()} of {rows:,} bench.points rows: {full['bytes'] / 1e6:.1f} MB in "
            f"{full['wall']:.1f} s; worker VmHWM {mb(small_peak)} then {mb(full_peak)}."
        )
