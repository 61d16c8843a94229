"""SQL for each output format, wrapped around the ORM's filtered and ordered queryset.

The ORM (with django-filter) decides WHICH rows: its WHERE, ORDER BY, LIMIT and OFFSET. These
builders decide HOW each row is written: PostgreSQL renders every row as JSON text, a GeoJSON
Feature or CSV, so values stay exact (numeric, bigint, timestamps) and Python only joins strings.

Every identifier goes through ``quote_identifier``, which also doubles ``%`` because the final
statement is formatted by psycopg2 together with the ORM's parameters.
"""
from __future__ import annotations

from dataclasses import dataclass

from autoapi.models import quote_identifier
from autoapi.snapshot import Column, Relation
from autoapi.typemap import json_expression, wgs84_expression

LATITUDE_NAMES = {"lat", "latitude"}
LONGITUDE_NAMES = {"lon", "lng", "long", "longitude"}
NUMERIC_CATEGORIES = {"N"}


@dataclass(frozen=True)
class Statement:
    sql: str
    params: tuple


def selected_sql(queryset, columns: tuple[Column, ...]) -> Statement:
    """The queryset as ``SELECT <columns> FROM ... WHERE ... ORDER BY ... LIMIT ...``.

    Django (5.2) names each output column after the field's attname (``... AS "mixed_name"``),
    so wrappers refer to ``x."<attname>"`` and rename to the real column name.
    """
    if columns:
        queryset = queryset.values_list(*[c.attname for c in columns])
    else:
        queryset = queryset.values_list("pk")
    sql, params = queryset.query.sql_with_params()
    return Statement(sql, tuple(params))


def _inner(column: Column, prefix: str = "x.") -> str:
    return prefix + quote_identifier(column.attname)


def _column_list(columns: tuple[Column, ...], expression=json_expression) -> str:
    return ", ".join(f"{expression(c, _inner(c))} AS {quote_identifier(c.name)}" for c in columns)


def _plain(column: Column, quoted: str) -> str:
    return quoted


def json_rows(queryset, columns: tuple[Column, ...]) -> Statement:
    """One JSON object (as text) per row, keys in column order."""
    inner = selected_sql(queryset, columns)
    sql = (
        f"SELECT row_to_json(p)::text FROM ({inner.sql}) AS x "
        f"CROSS JOIN LATERAL (SELECT {_column_list(columns)}) AS p"
    )
    return Statement(sql, inner.params)


def csv_copy(queryset, columns: tuple[Column, ...]) -> Statement:
    """``COPY ... TO STDOUT`` in CSV with a header: PostgreSQL's own text form of every value."""
    inner = selected_sql(queryset, columns)
    sql = f"SELECT {_column_list(columns, _plain)} FROM ({inner.sql}) AS x"
    return Statement(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true)", inner.params)


@dataclass(frozen=True)
class GeometrySource:
    """Where a relation's features get their geometry: a PostGIS column or a lat/lon pair."""

    geometry: Column | None = None
    latitude: Column | None = None
    longitude: Column | None = None

    def expression(self) -> str:
        if self.geometry is not None:
            return f"ST_AsGeoJSON({wgs84_expression(self.geometry, _inner(self.geometry))}, 9)"
        lat, lon = _inner(self.latitude), _inner(self.longitude)
        return (
            f"CASE WHEN {lat} IS NULL OR {lon} IS NULL THEN NULL ELSE "
            f"json_build_object('type', 'Point', 'coordinates', json_build_array({lon}, {lat}))::text END"
        )

    @property
    def column_names(self) -> tuple[str, ...]:
        if self.geometry is not None:
            return (self.geometry.name,)
        return (self.latitude.name, self.longitude.name)


def geometry_source(relation: Relation) -> GeometrySource | None:
    """The first geometry column, else a numeric latitude/longitude pair recognised by name."""
    if relation.geometry_columns:
        return GeometrySource(geometry=relation.geometry_columns[0])
    by_name = {c.name.lower(): c for c in relation.columns if c.type_category in NUMERIC_CATEGORIES}
    lat = next((by_name[n] for n in LATITUDE_NAMES if n in by_name), None)
    lon = next((by_name[n] for n in LONGITUDE_NAMES if n in by_name), None)
    if lat is not None and lon is not None:
        return GeometrySource(latitude=lat, longitude=lon)
    return None


def feature_rows(queryset, relation: Relation, columns: tuple[Column, ...], source: GeometrySource) -> Statement:
    """One GeoJSON Feature (as text) per row; the geometry column leaves the properties."""
    needed = columns + tuple(c for c in relation.columns if c.name in source.column_names and c not in columns)
    key = relation.key
    if key and len(key.columns) == 1:
        needed += tuple(c for c in relation.columns if c.name == key.columns[0] and c not in needed)
    inner = selected_sql(queryset, needed)
    properties = tuple(c for c in columns if c.name not in source.column_names or source.geometry is None)
    feature_id = ""
    if key and len(key.columns) == 1:
        feature_id = f"""'"id":' || to_json({_inner(relation.column(key.columns[0]))})::text || ',' || """
    sql = (
        f"""SELECT '{{"type":"Feature",' || {feature_id}'"geometry":' || """
        f"""coalesce({source.expression()}, 'null') || ',"properties":' || row_to_json(p)::text || '}}' """
        f"FROM ({inner.sql}) AS x CROSS JOIN LATERAL (SELECT {_column_list(properties)}) AS p"
    )
    return Statement(sql, inner.params)


def count_sql(queryset, limit: int) -> Statement:
    """Count matching rows, but stop at ``limit`` (so a count never scans millions of rows)."""
    inner = queryset.order_by().values_list("pk")[:limit]
    sql, params = inner.query.sql_with_params()
    return Statement(f"SELECT count(*) FROM ({sql}) AS c", tuple(params))


def explain_sql(queryset) -> Statement:
    sql, params = queryset.order_by().values_list("pk").query.sql_with_params()
    return Statement(f"EXPLAIN (FORMAT JSON) {sql}", tuple(params))
