"""`make bench`'s "tiles" section: vector tiles per second of bench.points (2,000,000 points) at
zooms 4, 10 and 14, the portal (gunicorn pinned to one CPU, wrk on the other) next to PostgreSQL
alone running the same ``ST_AsMVT`` query under pgbench in the same run; target at least 0.5x.

Two information rows give the ceiling of any answer from this server, so the ratios read right:
``/healthz``, answered by the WSGI entry point before Django (gunicorn alone), and ``/readyz``,
Django's whole path with one trivial query. Where PostgreSQL writes a tile in a tenth of a
millisecond (zoom 10 and 14 hold a point or two), the tile rate is bounded by these, not by the
tile's SQL.
"""

from __future__ import annotations

import math

from bench.server import Portal
from bench.tools import Failed

PLACE = (-73.9857, 40.7484)  # every zoom's tile around the same place
ZOOMS = (4, 10, 14)
CLIENTS = 4  # both sides: more would queue zoom 4's one-second tiles past the statement timeout
TILE_SQL = """SELECT ST_AsMVT(t, 'default', 4096, 'geom') FROM (
  SELECT ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope({z}, {x}, {y}), 4096, 64, true) AS geom,
         id, name, category, amount::text AS amount, observed_at::text AS observed_at, score
  FROM bench.points WHERE geom && ST_Transform(ST_TileEnvelope({z}, {x}, {y}, margin => 0.015625), 4326)
  LIMIT 10000) AS t;
"""


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def section_tiles(ctx) -> None:
    from bench.run import CLIENT_CPU, SERVER_CPU, log, pgbench, wrk

    seconds = 3 if ctx.args.quick else 10
    portal = Portal(ctx.main_url, workers=1, threads=10, cpus=SERVER_CPU, log_dir=ctx.tmp, name="tiles")
    log(f"tiles: gunicorn {portal.describe()}; wrk and pgbench on CPU {CLIENT_CPU}")
    portal.start()
    script_dir = ctx.tmp / "tiles"
    script_dir.mkdir(exist_ok=True)
    try:
        for path, what in (("/healthz", "no Django, no query"), ("/readyz", "Django and one trivial query")):
            wrk(portal.base + path, 1, cpus=CLIENT_CPU, connections=CLIENTS)
            ceiling = wrk(portal.base + path, seconds, cpus=CLIENT_CPU, connections=CLIENTS)
            ctx.add(
                f"  ceiling of the same server: {path} ({what}), {CLIENTS} connections", f"{ceiling['rps']:.0f} req/s"
            )
        for z in ZOOMS:
            x, y = tile_of(*PLACE, z)
            url = f"{portal.base}/api/bench/points/tiles/{z}/{x}/{y}.mvt"
            wrk(url, 2, cpus=CLIENT_CPU, connections=CLIENTS)
            served = wrk(url, seconds, cpus=CLIENT_CPU, connections=CLIENTS)
            script = script_dir / f"tile{z}.sql"
            script.write_text(TILE_SQL.format(z=z, x=x, y=y))
            pgbench(ctx.cluster, script, 2, cpus=CLIENT_CPU, clients=CLIENTS)
            alone = pgbench(ctx.cluster, script, seconds, cpus=CLIENT_CPU, clients=CLIENTS)
            if alone["failed"]:
                raise Failed(f"pgbench: {alone['failed']} failed transactions:\n{alone['text']}")
            r = served["rps"] / alone["tps"]
            ctx.add(
                f"vector tiles of bench.points at zoom {z} ({z}/{x}/{y}), {CLIENTS} connections, {seconds} s",
                f"{served['rps']:.0f} tiles/s" + (f" ({served['non_2xx']} non-2xx)" if served["non_2xx"] else ""),
                f"{alone['tps']:.0f} tps (pgbench)",
                f"{r:.2f}",
                ">= 0.5",
                r >= 0.5 and not served["non_2xx"],
            )
    finally:
        portal.stop()
