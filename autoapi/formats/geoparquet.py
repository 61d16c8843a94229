"""GeoParquet 1.1 metadata: the ``geo`` key of a Parquet file whose outputs hold geometry.

Geometry is ISO WKB written by PostGIS (``ST_AsBinary``) in the column's own SRID. The CRS is
PROJJSON, which the spec requires: for SRID 4326 it is left out (the spec's default, OGC:CRS84,
longitude first, as PostGIS stores it); for another SRID it is ``EPSG:<srid>`` as pyproj describes
it; a column with no fixed SRID is written in WGS 84 (each value transformed, as GeoJSON is), so
it too needs none. A geography column's edges are spherical. Called by ``parquet.py``.
"""

from __future__ import annotations

import json
import logging
import re
from functools import lru_cache

from autoapi.schema.snapshot import Column

log = logging.getLogger(__name__)

VERSION = "1.1.0"
# PostGIS typmod names (geometry(MultiPolygonZ,...)) to GeoParquet's; M coordinates have none.
_TYPES = {
    name.upper(): name
    for name in (
        "Point",
        "LineString",
        "Polygon",
        "MultiPoint",
        "MultiLineString",
        "MultiPolygon",
        "GeometryCollection",
    )
}
_TYPMOD = re.compile(r"^([A-Z]+?)(Z?)$")


def geometry_types(column: Column) -> list[str]:
    """``["Point"]``, ``["Polygon Z"]``; ``[]`` (any) for an unconstrained or M column."""
    match = _TYPMOD.match((column.geometry_type or "").upper())
    if not match or match.group(1) not in _TYPES:
        return []
    return [_TYPES[match.group(1)] + (" Z" if match.group(2) else "")]


@lru_cache(maxsize=64)
def projjson(srid: int) -> dict | None:
    """PROJJSON of ``EPSG:<srid>``, or None (the spec's "unknown CRS") when pyproj cannot tell."""
    try:
        import pyproj

        return pyproj.CRS.from_user_input(f"EPSG:{srid}").to_json_dict()
    except Exception:  # an SRID of the publisher's own, or no PROJ database
        log.warning("no PROJJSON for SRID %s: its GeoParquet CRS is written as unknown", srid)
        return None


def column_metadata(column: Column) -> dict:
    entry: dict = {"encoding": "WKB", "geometry_types": geometry_types(column)}
    if column.srid and column.srid != 4326:
        entry["crs"] = projjson(column.srid)
    if column.is_geography:
        entry["edges"] = "spherical"
    return entry


def geo_metadata(named_columns: list[tuple[str, Column]]) -> bytes | None:
    """The ``geo`` value for the outputs ``(name, column)`` that are geometry, or None."""
    geometries = [(name, column) for name, column in named_columns if column.is_geometry and not column.is_array]
    if not geometries:
        return None
    document = {
        "version": VERSION,
        "primary_column": geometries[0][0],
        "columns": {name: column_metadata(column) for name, column in geometries},
    }
    return json.dumps(document).encode("utf-8")
