"""CQL2's spatial predicates (``S_INTERSECTS``, ``S_WITHIN``...) on a relation's location.

The location is a geometry or geography column, named as itself, or the point of a latitude and
longitude pair (``queries.geometry_source``), named ``geometry`` (unless a column has that name).
On a geometry column the literal is transformed to the column's SRID, never the column to WGS 84,
so its spatial index serves, as for ``?bbox=``. On latitude and longitude a box is two ranges
(their B-tree indexes serve, and PostGIS is not needed); any other shape is tested with PostGIS
after the same ranges over its bounding box.
"""

from __future__ import annotations

from django.db import DatabaseError, connections, models, transaction
from django.db.models import Q

from autoapi.conf import DATABASE_ALIAS
from autoapi.cql2 import nodes
from autoapi.db.sql import Literal, compose, identifier
from autoapi.query.queries import geometry_source
from autoapi.schema import fields
from autoapi.schema.typemap import postgis_schema

LOCATION = "geometry"  # the name of a latitude/longitude relation's point in a filter
FUNCTIONS = {name: "ST_" + name[2:].capitalize() for name in nodes.SPATIAL}


def location(relation):
    return geometry_source(relation)


def check_literal(geometry: nodes.Geometry, postgis: str, refuse) -> None:
    """Ask PostGIS to read the literal now, so that a shape it refuses (an unclosed ring, GeoJSON
    it cannot read) is a 400 naming the filter, not an error in the middle of the page's query."""
    try:
        with transaction.atomic(using=DATABASE_ALIAS), connections[DATABASE_ALIAS].cursor() as cursor:
            cursor.execute(compose("SELECT {}", _literal_sql(postgis, geometry)), [geometry.wkt])
    except DatabaseError as exc:
        cause = exc.__cause__ or exc
        message = (getattr(cause, "diag", None) and cause.diag.message_primary) or str(cause).splitlines()[0]
        raise refuse(f"PostGIS cannot read the geometry: {message}") from None


def condition(node: nodes.Spatial, relation, snapshot, source, refuse) -> Q:
    left, right = node.left, node.right
    if isinstance(left, nodes.Geometry) and isinstance(right, nodes.Property):
        left, right = right, left
        node = nodes.Spatial(_MIRRORED.get(node.op, node.op), left, right)
    if not isinstance(left, nodes.Property) or not isinstance(right, nodes.Geometry):
        raise refuse(
            f"{node.op.upper()} takes the location (a geometry column, or {LOCATION!r} for latitude and "
            "longitude) and a geometry literal"
        )
    if source is None:
        raise refuse(f"{relation.name!r} has no geometry nor latitude/longitude columns")
    column = relation.column(left.name)
    if source.geometry is not None:
        if column is None or not column.is_geometry:
            raise refuse(
                f"{left.name!r} is not a geometry column", allowed=[c.name for c in relation.columns if c.is_geometry]
            )
        check_literal(right, _field_postgis(column), refuse)
        return Q(**{f"{column.attname}__cql_spatial": (FUNCTIONS[node.op], right)})
    if left.name != LOCATION or column is not None:
        raise refuse(
            f"on this relation the location is {LOCATION!r}: the point of "
            f"{source.latitude.name!r} and {source.longitude.name!r}"
        )
    return _lat_lon(node, right, source, snapshot, refuse)


_MIRRORED = {"s_within": "s_contains", "s_contains": "s_within"}


def _field_postgis(column) -> str:
    return postgis_schema(column)


def _lat_lon(node: nodes.Spatial, geometry: nodes.Geometry, source, snapshot, refuse) -> Q:
    west, south, east, north = geometry.bounds
    lat, lon = source.latitude.attname, source.longitude.attname
    in_box = Q(**{f"{lat}__gte": south, f"{lat}__lte": north, f"{lon}__gte": west, f"{lon}__lte": east})
    if geometry.is_box and node.op in ("s_intersects", "s_within"):
        return in_box  # a point intersects a box exactly when it lies within it (edges included)
    postgis = snapshot.extension_schema("postgis") if snapshot is not None else None
    if postgis is None:
        raise refuse(
            f"{node.op.upper()} with this shape needs PostGIS, which this database does not have; "
            "BBOX(...) works without it"
        )
    check_literal(geometry, identifier(postgis), refuse)
    test = Q(
        PointPredicate(
            models.F(lon), models.F(lat), geometry=geometry, function=FUNCTIONS[node.op], postgis=identifier(postgis)
        )
    )
    if node.op in ("s_intersects", "s_within", "s_equals", "s_touches"):
        return in_box & test  # the ranges narrow the rows first (and use their indexes)
    return test


class PointPredicate(models.Func):
    """``ST_<function>(point of lon and lat, literal)``, the literal's text a bound parameter."""

    output_field = models.BooleanField()

    def __init__(self, lon, lat, *, geometry: nodes.Geometry, function: str, postgis: str):
        super().__init__(lon, lat)
        self.geometry, self.function, self.postgis = geometry, function, postgis

    def as_sql(self, compiler, connection, **extra):
        lon_sql, lon_params = compiler.compile(self.source_expressions[0])
        lat_sql, lat_params = compiler.compile(self.source_expressions[1])
        p = self.postgis
        point = compose("{p}.ST_SetSRID({p}.ST_MakePoint({lon}, {lat}), 4326)", p=p, lon=lon_sql, lat=lat_sql)
        return (
            compose("{}.{}({}, {})", p, self.function, point, _literal_sql(p, self.geometry)),
            (*lon_params, *lat_params, self.geometry.wkt),
        )


def _literal_sql(postgis: str, geometry: nodes.Geometry) -> str:
    """SQL of the literal in WGS 84, its text a placeholder (``%s``)."""
    if geometry.geojson:
        return compose("{p}.ST_SetSRID({p}.ST_GeomFromGeoJSON(%s), 4326)", p=postgis)
    return compose("{p}.ST_GeomFromText(%s, 4326)", p=postgis)


@fields.GeometryField.register_lookup
class SpatialPredicate(models.Lookup):
    """``<geometry column>__cql_spatial=(function, nodes.Geometry)``: ``ST_<function>(column,
    literal)`` with the literal transformed to the column's SRID (the index serves)."""

    lookup_name = "cql_spatial"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        function, geometry = self.rhs
        field = self.lhs.output_field
        p = field.postgis
        parts = {"p": p, "f": function, "lhs": lhs, "literal": _literal_sql(p, geometry)}
        if field.geography:
            return compose("{p}.{f}({lhs}::{p}.geometry, {literal})", **parts), (*lhs_params, geometry.wkt)
        if field.srid == 4326:
            return compose("{p}.{f}({lhs}, {literal})", **parts), (*lhs_params, geometry.wkt)
        if field.srid:
            return (
                compose("{p}.{f}({lhs}, {p}.ST_Transform({literal}, {srid}))", srid=Literal(int(field.srid)), **parts),
                (*lhs_params, geometry.wkt),
            )
        return (
            compose(
                "{p}.{f}((CASE WHEN {p}.ST_SRID({lhs}) IN (0, 4326) THEN {p}.ST_SetSRID({lhs}, 4326) "
                "ELSE {p}.ST_Transform({lhs}, 4326) END), {literal})",
                **parts,
            ),
            (*lhs_params * 3, geometry.wkt),
        )
