"""Mapbox vector tiles of a relation, written by PostGIS: ``/api/<s>/<r>/tiles/{z}/{x}/{y}.mvt``,
and the TileJSON document that describes them: ``/api/<s>/<r>/tiles.json``.

A tile selects the rows the list would (the same filter backends: simple filters, ``bbox``, CQL2
``filter``), keeps ``?fields=`` as properties, and asks PostgreSQL for ``ST_AsMVT``. The tile's
envelope is brought into the column's own SRID (``ST_TileEnvelope`` then ``ST_Transform``), never
every row into Web Mercator, so the column's spatial index selects the rows; a relation with
latitude and longitude becomes points, selected by ranges of the two columns. A tile holds at most
TILE_FEATURE_LIMIT features (an ``X-Tile-Truncated: true`` header says when it held more); a tile
with no feature is a ``204``.
"""
from __future__ import annotations

import math

from django.db import connections, models
from django.http import HttpResponse, JsonResponse

from autoapi import fields, replicas
from autoapi.conf import portal_setting
from autoapi.errors import BadRequest, NotFound
from autoapi.lookups import RESERVED_PARAMETERS
from autoapi.naming import quote_identifier
from autoapi.queries import compiled, geometry_source
from autoapi.shaping import parse_fields
from autoapi.typemap import postgis_schema, type_info

MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
LAYER = "default"  # the one layer of every tile (as tipg names it)
EXTENT, BUFFER = 4096, 64
MAX_ZOOM = 24
TILE_PARAMETERS = {"fields", "filter", "filter-lang"}  # the reserved parameters a tile takes


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """The tile's (west, south, east, north) in degrees (for latitude/longitude ranges)."""
    n = 2 ** z

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)


def check_tile(z: int, x: int, y: int) -> None:
    if not 0 <= z <= MAX_ZOOM:
        raise NotFound(f"zoom levels go from 0 to {MAX_ZOOM}")
    if not (0 <= x < 2 ** z and 0 <= y < 2 ** z):
        raise NotFound(f"at zoom {z}, x and y go from 0 to {2 ** z - 1}")


@fields.GeometryField.register_lookup
class InTile(models.Lookup):
    """``<geometry>__in_tile=(z, x, y)``: the rows whose geometry meets the tile (with its buffer),
    the envelope transformed to the column's SRID so the GiST index serves."""

    lookup_name = "in_tile"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        p = field.postgis
        # With the buffer ST_AsMVTGeom keeps around the tile (a fraction of its size), cut to the
        # Web Mercator world: past 180° the buffer would come back as -179°, and the tile's box, in
        # degrees, would span the rest of the world instead (the tiles at x = 0 and x = 2^z - 1).
        world = f"{p}.ST_TileEnvelope(0, 0, 0)::{p}.box2d"
        envelope = f"{p}.ST_ClipByBox2D({p}.ST_TileEnvelope(%s, %s, %s, margin => {BUFFER / EXTENT}), {world})"
        params = tuple(int(v) for v in self.rhs)
        overlaps = f"OPERATOR({p}.&&)"  # PostGIS's operator, wherever PostGIS lives (no search_path)
        if field.geography:
            # Edges of at most 1°: a geography edge is a great circle, so a wide tile's edge
            # would cut across a pole, and a world-wide one would close on itself.
            box = f"{p}.ST_Segmentize({p}.ST_Transform({envelope}, 4326), 1)::{p}.geography"
            return f"{lhs} {overlaps} {box}", (*lhs_params, *params)
        if field.srid:
            return f"{lhs} {overlaps} {p}.ST_Transform({envelope}, {int(field.srid)})", (*lhs_params, *params)
        wgs84 = f"(CASE WHEN {p}.ST_SRID({lhs}) IN (0, 4326) THEN {p}.ST_SetSRID({lhs}, 4326) ELSE {p}.ST_Transform({lhs}, 4326) END)"
        return f"{wgs84} {overlaps} {p}.ST_Transform({envelope}, 4326)", (*lhs_params * 3, *params)


def _postgis(view, source) -> str:
    if source.geometry is not None:
        return postgis_schema(source.geometry)
    schema = view.snapshot.extension_schema("postgis") if view.snapshot is not None else None
    if schema is None:
        raise BadRequest("vector tiles need PostGIS, which this database does not have; the GeoJSON list "
                         "(?format=geojson) draws the same rows")
    return quote_identifier(schema)


def _property_sql(column, read: str) -> str:
    """A property as MVT holds it: integers, floats and booleans as such, anything else as text
    (numeric too: its exact digits, which a double would round)."""
    kind = type_info(column).kind
    if kind in ("integer", "float", "boolean") and not column.is_array:
        return read
    return f"({read})::text"


def tile_statement(view, z: int, x: int, y: int):
    """The SQL returning (tile bytes, features selected) for the request's rows in tile z/x/y."""
    relation = view.relation
    source = geometry_source(relation)
    if source is None:
        raise NotFound("this relation has no geometry (nor latitude/longitude columns), so it has no tiles")
    p = _postgis(view, source)
    queryset = view.filter_queryset(view.get_queryset())
    if source.geometry is not None:
        queryset = queryset.filter(**{f"{source.geometry.attname}__in_tile": (z, x, y)})
        geom = source.geometry
        read = f"x.{quote_identifier(geom.attname)}"
        if geom.is_geography:
            read = f"{read}::{p}.geometry"
        elif not geom.srid:
            read = f"(CASE WHEN {p}.ST_SRID({read}) = 0 THEN {p}.ST_SetSRID({read}, 4326) ELSE {read} END)"
        point = f"{p}.ST_Transform({read}, 3857)"
    else:
        west, south, east, north = tile_bounds(z, x, y)
        pad_x, pad_y = (east - west) * BUFFER / EXTENT, (north - south) * BUFFER / EXTENT
        lat, lon = source.latitude.attname, source.longitude.attname
        queryset = queryset.filter(**{f"{lat}__gte": south - pad_y, f"{lat}__lte": north + pad_y,
                                      f"{lon}__gte": west - pad_x, f"{lon}__lte": east + pad_x})
        point = (f"{p}.ST_Transform({p}.ST_SetSRID({p}.ST_MakePoint(x.{quote_identifier(lon)}, "
                 f"x.{quote_identifier(lat)}), 4326), 3857)")
    kept = _properties(view, relation, source)
    needed = {c.name: c for c in kept}
    for name in source.column_names:
        needed.setdefault(name, relation.column(name))
    sql, params = compiled(queryset.values_list(*[c.attname for c in needed.values()]))
    props = "".join(f", {_property_sql(c, 'x.' + quote_identifier(c.attname))} AS {quote_identifier(c.name)}"
                    for c in kept)
    limit = int(portal_setting("TILE_FEATURE_LIMIT"))
    envelope = f"{p}.ST_TileEnvelope({int(z)}, {int(x)}, {int(y)})"
    feature = (f"SELECT {p}.ST_AsMVTGeom({point}, {envelope}, {EXTENT}, {BUFFER}, true) AS portal_geom{props} "
               f"FROM ({sql}) AS x LIMIT {limit + 1}")
    final = (f"WITH found AS MATERIALIZED ({feature}) "
             f"SELECT (SELECT {p}.ST_AsMVT(f, '{LAYER}', {EXTENT}, 'portal_geom') FROM "
             f"(SELECT * FROM found WHERE portal_geom IS NOT NULL LIMIT {limit}) AS f), (SELECT count(*) FROM found)")
    return final, tuple(params), limit


def _properties(view, relation, source) -> list:
    """The columns kept as properties: ``?fields=`` or all, without the geometry, with the key
    always (a client links a feature to its row page with it)."""
    chosen = [c for c in parse_fields(view.request.query_params, relation) if not c.is_geometry]
    if relation.key:
        chosen += [relation.column(n) for n in relation.key.columns if relation.column(n) not in chosen]
    return chosen


def check_parameters(params) -> None:
    for name in params:
        if name in RESERVED_PARAMETERS and name not in TILE_PARAMETERS:
            raise BadRequest(f"{name} does not apply to tiles; a tile takes filters, fields, filter and filter-lang",
                             parameter=name)


def tile_response(view, z: int, x: int, y: int) -> HttpResponse:
    check_tile(z, x, y)
    check_parameters(view.request.query_params)
    sql, params, limit = tile_statement(view, z, x, y)
    with connections[replicas.read_alias(view.request)].cursor() as cursor:
        cursor.execute(sql, params)
        tile, found = cursor.fetchone()
    if not tile:
        return HttpResponse(status=204)
    response = HttpResponse(bytes(tile), content_type=MEDIA_TYPE)
    if found > limit:
        response["X-Tile-Truncated"] = "true"
    return response


def tilejson(view) -> JsonResponse:
    """TileJSON 3.0.0 of the relation's tiles, keeping the request's filters and fields."""
    relation = view.relation
    source = geometry_source(relation)
    if source is None:
        raise NotFound("this relation has no geometry (nor latitude/longitude columns), so it has no tiles")
    _postgis(view, source)
    check_parameters(view.request.query_params)
    request = view.request
    base = request.build_absolute_uri(request.path).removesuffix("tiles.json") + "tiles/{z}/{x}/{y}.mvt"
    query = request.query_params.urlencode(safe=",~")
    kept = _properties(view, relation, source)
    return JsonResponse({
        "tilejson": "3.0.0",
        "name": f"{relation.schema}.{relation.name}",
        "description": relation.comment or "",
        "tiles": [base + (f"?{query}" if query else "")],
        "minzoom": 0,
        "maxzoom": 22,
        "vector_layers": [{"id": LAYER, "fields": {c.name: _field_type(c) for c in kept}}],
    })


def _field_type(column) -> str:
    kind = type_info(column).kind
    if kind in ("integer", "float") and not column.is_array:
        return "Number"
    if kind == "boolean" and not column.is_array:
        return "Boolean"
    return "String"
