"""Mapbox vector tiles of a relation, written by PostGIS: ``/api/<s>/<r>/tiles/{z}/{x}/{y}.mvt``,
and the TileJSON document that describes them: ``/api/<s>/<r>/tiles.json``.

A tile selects the rows the list would (the same filter backends: simple filters, ``bbox``, CQL2
``filter``), keeps ``?fields=`` as properties, and asks PostgreSQL for ``ST_AsMVT``. The tile's
envelope is brought into the column's own SRID (``ST_TileEnvelope`` then ``ST_Transform``), never
every row into Web Mercator, so the column's spatial index selects the rows; a relation with
latitude and longitude becomes points, selected by ranges of the two columns. A tile holds at most
TILE_FEATURE_LIMIT features; one that had more says so twice: an ``X-Tile-Truncated: true`` header,
and a second layer, ``truncated``, of one point in the tile's middle (a map client reads the tile,
not always its headers: Leaflet.VectorGrid cannot). A tile with no feature is a ``204``. A query string's SQL is built once and reused for every tile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.db import connections
from django.http import HttpResponse, JsonResponse

from autoapi.boundedcache import sizeof
from autoapi.conf import portal_setting
from autoapi.db import replicas
from autoapi.db.sql import Identifier, Literal, compose, identifier
from autoapi.errors import BadRequest, NotFound
from autoapi.query.queries import compiled, geometry_source
from autoapi.query.shaping import parse_fields
from autoapi.schema.lookups import RESERVED_PARAMETERS
from autoapi.schema.typemap import postgis_schema, type_info

MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
LAYER = "default"  # the layer of the rows (as tipg names it)
TRUNCATED_LAYER = "truncated"  # present only in a tile that held more than its limit
EXTENT, BUFFER = 4096, 64
MAX_ZOOM = 24
TILE_PARAMETERS = {"fields", "filter", "filter-lang"}
# Below this zoom a tile spans continents, which a projected SRID (a US state plane) cannot hold:
# those tiles compare each row in Web Mercator instead (no index, but every row is on screen anyway).
LOW_ZOOM = 5  # the reserved parameters a tile takes


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """The tile's (west, south, east, north) in degrees (for latitude/longitude ranges)."""
    n = 2**z

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)


def check_tile(z: int, x: int, y: int) -> None:
    if not 0 <= z <= MAX_ZOOM:
        raise NotFound(f"zoom levels go from 0 to {MAX_ZOOM}")
    if not (0 <= x < 2**z and 0 <= y < 2**z):
        raise NotFound(f"at zoom {z}, x and y go from 0 to {2**z - 1}")


def _postgis(query, source) -> str:
    if source.geometry is not None:
        return postgis_schema(source.geometry)
    schema = query.snapshot.extension_schema("postgis") if query.snapshot is not None else None
    if schema is None:
        raise BadRequest(
            "vector tiles need PostGIS, which this database does not have; the GeoJSON list "
            "(?format=geojson) draws the same rows",
            parameter="path",
        )
    return identifier(schema)


def _is_number(column) -> bool:
    """Whether MVT holds the column as a number. Not a bigint: map clients read numbers as
    JavaScript doubles, which round beyond 2^53 (a snowflake id would link to another row)."""
    return type_info(column).kind in ("integer", "float") and not column.is_array and column.base_type != "int8"


def _is_boolean(column) -> bool:
    return type_info(column).kind == "boolean" and not column.is_array


def _property_sql(column, read: str) -> str:
    """A property as MVT holds it: numbers and booleans as such, anything else as text (numeric
    and bigint too: their exact digits, which a double would round)."""
    if _is_number(column) or _is_boolean(column):
        return read
    return compose("({})::text", read)


@dataclass(frozen=True)
class TileQuery:
    """A tile's SQL for one query string, with the tile's own values as its last parameters: built
    once (filters, fields, the ORM's SQL) and reused for every tile the map asks for."""

    sql: str
    params: tuple  # the filters' values
    source: object  # queries.GeometrySource
    wide_sql: str  # for tiles too large to bring into a projected column's SRID (see LOW_ZOOM)

    @property
    def nbytes(self) -> int:
        """What the query holds (``plans.PlanCache``'s measure; ``source`` is the snapshot's)."""
        return sizeof(self.sql) + sizeof(self.wide_sql) + sizeof(self.params)

    def sql_for(self, z: int) -> str:
        return self.wide_sql if z < LOW_ZOOM else self.sql

    def tile_params(self, z: int, x: int, y: int, limit: int) -> tuple:
        if self.source.geometry is not None:
            near = (z, x, y)
        else:
            west, south, east, north = tile_bounds(z, x, y)
            pad_x, pad_y = (east - west) * BUFFER / EXTENT, (north - south) * BUFFER / EXTENT
            near = (south - pad_y, north + pad_y, west - pad_x, east + pad_x)
        return (z, x, y, *self.params, *near, limit + 1, limit, limit, limit)


def _location_sql(source, p: str, wide: bool = False) -> tuple[str, str]:
    """(the location in Web Mercator, the condition that keeps the rows near the tile), over the
    subquery ``x``. The tile, with the buffer ST_AsMVTGeom keeps, is brought into the column's own
    SRID (not every row into Web Mercator): PostgreSQL pushes the condition into the subquery and
    the column's index selects the rows."""
    if source.geometry is None:
        lat, lon = ("x." + identifier(c.attname) for c in (source.latitude, source.longitude))
        point = compose(
            "{p}.ST_Transform({p}.ST_SetSRID({p}.ST_MakePoint({lon}, {lat}), 4326), 3857)", p=p, lon=lon, lat=lat
        )
        return point, compose("{lat} BETWEEN %s AND %s AND {lon} BETWEEN %s AND %s", lat=lat, lon=lon)
    geom = source.geometry
    parts = {
        "p": p,
        "read": "x." + identifier(geom.attname),
        "margin": Literal(BUFFER / EXTENT),
        "srid": Literal(int(geom.srid or 0)),
    }
    # The tile with its buffer, cut to the Web Mercator world: past 180° the buffer would come back
    # as -179° and the box, in degrees, would span the rest of the world (tiles at x = 0 and 2^z - 1).
    # OPERATOR({p}.&&) is PostGIS's operator, wherever PostGIS lives (no search_path).
    parts["envelope"] = compose(
        "{p}.ST_ClipByBox2D({p}.ST_TileEnvelope(%s, %s, %s, margin => {margin}), "
        "{p}.ST_TileEnvelope(0, 0, 0)::{p}.box2d)",
        **parts,
    )
    if geom.is_geography:
        # Edges of at most 1°: a geography edge is a great circle, so a wide tile's edge would cut
        # across a pole, and a world-wide one would close on itself.
        return (
            compose("{p}.ST_Transform({read}::{p}.geometry, 3857)", **parts),
            compose(
                "{read} OPERATOR({p}.&&) {p}.ST_Segmentize({p}.ST_Transform({envelope}, 4326), 1)::{p}.geography",
                **parts,
            ),
        )
    if geom.srid and (not wide or geom.srid in (4326, 3857)):
        return (
            compose("{p}.ST_Transform({read}, 3857)", **parts),
            compose("{read} OPERATOR({p}.&&) {p}.ST_Transform({envelope}, {srid})", **parts),
        )
    if geom.srid:
        return (
            compose("{p}.ST_Transform({read}, 3857)", **parts),
            compose("{p}.ST_Transform({read}, 3857) OPERATOR({p}.&&) {envelope}", **parts),
        )
    parts["wgs84"] = compose(
        "(CASE WHEN {p}.ST_SRID({read}) IN (0, 4326) THEN {p}.ST_SetSRID({read}, 4326) "
        "ELSE {p}.ST_Transform({read}, 4326) END)",
        **parts,
    )
    return (
        compose("{p}.ST_Transform({wgs84}, 3857)", **parts),
        compose("{wgs84} OPERATOR({p}.&&) {p}.ST_Transform({envelope}, 4326)", **parts),
    )


def tile_query(query) -> TileQuery:
    """The rows of ``query`` (a ``RelationQuery``) as a TileQuery (the list's filters, ``fields``)."""
    relation = query.relation
    source = geometry_source(relation)
    if source is None:
        raise NotFound("this relation has no geometry (nor latitude/longitude columns), so it has no tiles")
    p = _postgis(query, source)
    kept = _properties(query, relation, source)
    needed = {c.name: c for c in kept}
    for name in source.column_names:
        needed.setdefault(name, relation.column(name))
    queryset = query.filtered().order_by()
    sql, params = compiled(queryset.values_list(*[c.attname for c in needed.values()]))
    props = "".join(
        compose(", {} AS {}", _property_sql(c, "x." + identifier(c.attname)), Identifier(c.name)) for c in kept
    )

    def statement(wide: bool) -> str:
        point, near = _location_sql(source, p, wide)
        parts = {
            "p": p,
            "extent": Literal(EXTENT),
            "buffer": Literal(BUFFER),
            "middle": Literal(EXTENT // 2),
            "layer": Literal(LAYER),
            "truncated_layer": Literal(TRUNCATED_LAYER),
        }
        feature = compose(
            "SELECT {p}.ST_AsMVTGeom({point}, {p}.ST_TileEnvelope(%s, %s, %s), {extent}, {buffer}, true) "
            "AS portal_geom{props} FROM ({sql}) AS x WHERE {near} LIMIT %s",
            point=point,
            props=props,
            sql=sql,
            near=near,
            **parts,
        )
        # The marker is already in tile coordinates (the middle of the tile), as ST_AsMVT wants them.
        marker = compose(
            "SELECT {p}.ST_AsMVT(m, {truncated_layer}, {extent}, 'portal_geom') FROM (SELECT "
            "{p}.ST_Point({middle}, {middle}) AS portal_geom, %s::integer AS feature_limit) AS m "
            "WHERE (SELECT count(*) FROM found) > %s",
            **parts,
        )
        return compose(
            "WITH found AS MATERIALIZED ({feature}) SELECT (SELECT {p}.ST_AsMVT(f, {layer}, {extent}, "
            "'portal_geom') FROM (SELECT * FROM found WHERE portal_geom IS NOT NULL LIMIT %s) AS f), ({marker})",
            feature=feature,
            marker=marker,
            **parts,
        )

    return TileQuery(statement(False), tuple(params), source, statement(True))


def _properties(query, relation, source) -> list:
    """The columns kept as properties: ``?fields=`` or all, without the geometry, with the key
    always (a client links a feature to its row page with it)."""
    chosen = [c for c in parse_fields(query.params, relation) if not c.is_geometry]
    if relation.key:
        chosen += [relation.column(n) for n in relation.key.columns if relation.column(n) not in chosen]
    return chosen


def check_parameters(params) -> None:
    for name in params:
        if name in RESERVED_PARAMETERS and name not in TILE_PARAMETERS:
            raise BadRequest(
                f"{name} does not apply to tiles; a tile takes filters, fields, filter and filter-lang", parameter=name
            )


def tile_response(relation_query, request, z: int, x: int, y: int) -> HttpResponse:
    """The tile z/x/y of ``relation_query``'s rows, read on ``request``'s server."""
    check_tile(z, x, y)
    check_parameters(relation_query.params)
    key = ("tile", request.META.get("QUERY_STRING", ""))
    query = relation_query.published.plans.get_or_build(key, lambda: tile_query(relation_query))
    limit = int(portal_setting("TILE_FEATURE_LIMIT"))
    with connections[replicas.read_alias(request)].cursor() as cursor:
        cursor.execute(query.sql_for(z), query.tile_params(z, x, y, limit))
        tile, marker = cursor.fetchone()
    if not tile:
        return HttpResponse(status=204)
    # Two tiles' bytes joined are one tile with both layers (a tile is a protobuf list of layers).
    response = HttpResponse(bytes(tile) + bytes(marker or b""), content_type=MEDIA_TYPE)
    if marker:
        response["X-Tile-Truncated"] = "true"
    return response


def tilejson(relation_query, request) -> JsonResponse:
    """TileJSON 3.0.0 of the relation's tiles, keeping the request's filters and fields."""
    relation = relation_query.relation
    source = geometry_source(relation)
    if source is None:
        raise NotFound("this relation has no geometry (nor latitude/longitude columns), so it has no tiles")
    _postgis(relation_query, source)
    check_parameters(relation_query.params)
    # The filters' values are checked as the tiles will check them (a 400 now, not on every tile);
    # building the queryset runs no query.
    relation_query.filtered()
    base = request.build_absolute_uri(request.path).removesuffix("tiles.json") + "tiles/{z}/{x}/{y}.mvt"
    query = relation_query.params.urlencode(safe=",~")
    kept = _properties(relation_query, relation, source)
    return JsonResponse(
        {
            "tilejson": "3.0.0",
            "name": f"{relation.schema}.{relation.name}",
            "description": relation.comment or "",
            "tiles": [base + (f"?{query}" if query else "")],
            "minzoom": 0,
            "maxzoom": 22,
            "vector_layers": [
                {"id": LAYER, "fields": {c.name: _field_type(c) for c in kept}},
                {
                    "id": TRUNCATED_LAYER,
                    "fields": {"feature_limit": "Number"},
                    "description": "one point in a tile that held more than feature_limit rows (absent otherwise)",
                },
            ],
        }
    )


def _field_type(column) -> str:
    return "Number" if _is_number(column) else "Boolean" if _is_boolean(column) else "String"
