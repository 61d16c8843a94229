"""Collection extents in WGS 84, cheaply: PostGIS's ``ST_EstimatedExtent`` reads the planner's
statistics of a geometry column (nothing is scanned), so it needs a table that has been ANALYZEd.

Views and latitude/longitude relations have no such statistics: their extent is left out, which
OGC API allows. So are relations under row security (``Relation.row_security``): the statistics
describe every row, including those the role may not see. A failure is only a missing extent, never an error page.
"""

from __future__ import annotations

import logging

import psycopg2
from django.db import DatabaseError, connections

from autoapi.db import replicas
from autoapi.db.sql import compose
from autoapi.query.queries import geometry_source
from autoapi.schema.snapshot import Relation
from autoapi.schema.typemap import postgis_schema

log = logging.getLogger(__name__)
WITH_STATISTICS = ("table", "partitioned table", "materialized view")


def spatial_extent(request, relation: Relation) -> list[float] | None:
    """``[minLon, minLat, maxLon, maxLat]`` or None (no statistics, not a table, no geometry)."""
    source = geometry_source(relation)
    column = source.geometry if source else None
    if column is None or relation.kind not in WITH_STATISTICS or relation.row_security:
        return None  # under row security, the statistics describe rows the role may not see
    postgis = postgis_schema(column)
    # The estimate is in the column's SRID (geography: 4326); unknown SRIDs are taken as WGS 84,
    # as the API's GeoJSON takes them.
    srid = column.srid if column.srid and not column.is_geography else 4326
    sql = compose(
        "SELECT {p}.ST_XMin(b), {p}.ST_YMin(b), {p}.ST_XMax(b), {p}.ST_YMax(b) FROM (SELECT {p}.ST_Transform("
        "{p}.ST_SetSRID({p}.ST_EstimatedExtent(%s, %s, %s)::{p}.geometry, %s), 4326) AS b) AS e",
        p=postgis,
    )
    try:
        with connections[replicas.read_alias(request)].cursor() as cursor:
            cursor.execute(sql, [relation.schema, relation.name, column.name, srid])
            row = cursor.fetchone()
    except (DatabaseError, psycopg2.Error) as exc:
        log.info("no estimated extent for %s.%s: %s", relation.schema, relation.name, str(exc).strip()[:200])
        return None
    if row is None or any(v is None for v in row):
        return None
    return [float(v) for v in row]
