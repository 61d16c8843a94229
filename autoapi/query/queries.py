"""SQL for each output format, wrapped around the ORM's filtered and ordered queryset.

The ORM (with django-filter) decides WHICH rows: its WHERE, ORDER BY, LIMIT and OFFSET. These
builders decide HOW each row is written: PostgreSQL renders every row as JSON text, a GeoJSON
Feature or CSV, so values stay exact (numeric, bigint, timestamps) and Python only joins strings.

Every identifier goes through ``identifier``, which also doubles ``%`` because the final
statement is formatted by psycopg2 together with the ORM's parameters.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet

from autoapi.conf import DATABASE_ALIAS
from autoapi.db import sql as composed
from autoapi.db.sql import Identifier, Statement, compose, identifier, join
from autoapi.query.csvsafety import csv_cell, csv_header
from autoapi.schema.naming import encode_segment
from autoapi.schema.snapshot import Column, ForeignKey, Relation
from autoapi.schema.typemap import json_expression, postgis_schema, type_info, wgs84_expression

# In order of preference (tuples: a set's order would differ between processes).
LATITUDE_NAMES = ("lat", "latitude")
LONGITUDE_NAMES = ("lon", "lng", "long", "longitude")
_COORDINATE_NAMES = frozenset(LATITUDE_NAMES + LONGITUDE_NAMES)


def compiled(queryset) -> tuple[str, tuple]:
    """The queryset's SQL for PostgreSQL. (``query.sql_with_params()`` would compile for the
    ``default`` alias, an SQLite stand-in here, whose lookups differ: icontains, regex, ...)"""
    try:
        return queryset.query.get_compiler(using=DATABASE_ALIAS).as_sql()
    except EmptyResultSet:
        # Django knows the condition matches nothing (``?id__in=,``, a value beyond the column's
        # range) and refuses to write SQL for it: the same columns, and no rows.
        empty = queryset.model._default_manager.all()
        if queryset.query.values_select:
            empty = empty.values_list(*queryset.query.values_select)
        sql, params = empty.query.get_compiler(using=DATABASE_ALIAS).as_sql()
        return compose("SELECT * FROM ({}) AS nothing WHERE false", sql), params


def selected_sql(queryset, columns: tuple[Column, ...]) -> Statement:
    """The queryset as ``SELECT <columns> FROM ... WHERE ... ORDER BY ... LIMIT ...``.

    Django (5.2) names each output column after the field's attname (``... AS "mixed_name"``),
    so wrappers refer to ``x."<attname>"`` and rename to the real column name.
    """
    queryset = queryset.values_list(*[c.attname for c in columns]) if columns else queryset.values_list("pk")
    sql, params = compiled(queryset)
    return Statement(sql, tuple(params))


def _inner(column: Column, prefix: str = "x.") -> str:
    return prefix + identifier(column.attname)


def _plain(column: Column, quoted: str) -> str:
    return quoted


@dataclass(frozen=True)
class Expansion:
    """``?expand=<fk column>``: the referenced row embedded in place of the foreign key value."""

    foreign_key: ForeignKey
    target: Relation


@dataclass(frozen=True)
class RowShape:
    """What each output row holds: the chosen columns, embedded rows, and links along foreign keys."""

    relation: Relation
    columns: tuple[Column, ...]
    expansions: tuple[Expansion, ...] = ()
    links: tuple[Expansion, ...] = ()  # foreign keys whose referenced row gets a URL in "_links"
    link_base: str = ""  # absolute URL of /api/

    def expansion_for(self, column: Column) -> Expansion | None:
        return next((e for e in self.expansions if e.foreign_key.columns[0] == column.name), None)


LINKS_KEY = "_links"
# Tilde-encode a text value in SQL exactly as naming.encode_segment does in Python.
_ENCODE_SQL = (
    "CASE WHEN {v} ~ '^[A-Za-z0-9_-]+$' THEN {v} WHEN {v} = '' THEN '~' ELSE "
    "(SELECT string_agg(CASE WHEN ch ~ '^[A-Za-z0-9_-]$' THEN ch ELSE "
    "regexp_replace(upper(encode(convert_to(ch, 'UTF8'), 'hex')), '(..)', '~\\1', 'g') END, '' ORDER BY i) "
    "FROM regexp_split_to_table({v}, '') WITH ORDINALITY AS chars(ch, i)) END"
)


def _value_expression(shape: RowShape, column: Column) -> str:
    expansion = shape.expansion_for(column)
    if expansion is None:
        return json_expression(column, _inner(column))
    target = expansion.target
    by_name = {c.name: c for c in shape_source_columns(shape)}
    match = join(
        " AND ",
        [
            compose("e0.{} = {}", Identifier(ref), _inner(by_name[own]))
            for own, ref in zip(expansion.foreign_key.columns, expansion.foreign_key.ref_columns)
        ],
    )
    embedded = join(
        ", ",
        [
            compose("{} AS {}", json_expression(c, "e0." + identifier(c.name)), Identifier(c.name))
            for c in target.columns
        ],
    )
    return compose(
        "(SELECT row_to_json(e) FROM (SELECT {} FROM {} AS e0 WHERE {} LIMIT 1) AS e)",
        embedded,
        Identifier(target.schema, target.name),
        match,
    )


def _links_expression(shape: RowShape) -> tuple[str, tuple]:
    """``json_build_object('<fk columns>', '<base URL>' || <encoded key> || '/', ...)``; the keys
    and URL prefixes travel as parameters (never pasted into the SQL)."""
    by_name = {c.name: c for c in shape_source_columns(shape)}
    pairs, params = [], []
    for link in shape.links:
        fk, target = link.foreign_key, link.target
        prefix = f"{shape.link_base}{encode_segment(target.schema)}/{encode_segment(target.name)}/"
        parts = join(
            " || ',' || ", [_ENCODE_SQL.format(v=compose("({})::text", _inner(by_name[c]))) for c in fk.columns]
        )
        pairs.append(compose("%s::text, %s::text || {} || '/'", parts))
        params += [",".join(fk.columns), prefix]
    return compose("json_build_object({})", join(", ", pairs)), tuple(params)


def shape_source_columns(shape: RowShape) -> tuple[Column, ...]:
    """Every column the inner query must select: the output ones and those links or embeds need."""
    needed = {c.name: c for c in shape.columns}
    for extra in (*shape.expansions, *shape.links):
        for name in extra.foreign_key.columns:
            needed.setdefault(name, shape.relation.column(name))
    return tuple(needed.values())


def _output_list(shape: RowShape) -> tuple[str, tuple]:
    """The SELECT list of the output row, and its parameters (the ``_links`` keys and URLs)."""
    parts = [compose("{} AS {}", _value_expression(shape, c), Identifier(c.name)) for c in shape.columns]
    params: tuple = ()
    if shape.links and all(c.name != LINKS_KEY for c in shape.columns):
        links, params = _links_expression(shape)
        parts.append(compose("{} AS {}", links, Identifier(LINKS_KEY)))
    return join(", ", parts), params


def json_rows(queryset, shape: RowShape, cursor_columns: tuple[Column, ...] = ()) -> Statement:
    """One JSON object (as text) per row, keys in column order; with ``cursor_columns``, a second
    output column holds the row's values of those columns as a JSON array (for keyset paging)."""
    source = _with(shape_source_columns(shape), cursor_columns)
    inner = selected_sql(queryset, source)
    output, output_params = _output_list(shape)
    sql = compose(
        "SELECT row_to_json(p)::text{} FROM ({}) AS x CROSS JOIN LATERAL (SELECT {}) AS p",
        _cursor_output(cursor_columns),
        inner.sql,
        output,
    )
    return Statement(sql, inner.params + output_params)


def _with(columns: tuple[Column, ...], extra: tuple[Column, ...]) -> tuple[Column, ...]:
    return columns + tuple(c for c in extra if c not in columns)


def csv_copy(queryset, columns: tuple[Column, ...]) -> Statement:
    """``COPY ... TO STDOUT`` in CSV with a header: PostgreSQL's own text form of every value."""
    inner = selected_sql(queryset, columns)
    # Text cells that a spreadsheet would run as a formula get a leading ' (csvsafety.py), when
    # the CSV_NEUTRALISE_FORMULAS setting is on; every other value is PostgreSQL's own text.
    select = join(", ", [compose("{} AS {}", csv_cell(c, _inner(c)), Identifier(csv_header(c.name))) for c in columns])
    return composed.copy(select, inner)


@dataclass(frozen=True)
class GeometrySource:
    """Where a relation's features get their geometry: a PostGIS column or a lat/lon pair."""

    geometry: Column | None = None
    latitude: Column | None = None
    longitude: Column | None = None

    def expression(self) -> str:
        if self.geometry is not None:
            postgis = postgis_schema(self.geometry)
            return compose("{}.ST_AsGeoJSON({}, 9)", postgis, wgs84_expression(self.geometry, _inner(self.geometry)))
        return compose(
            "CASE WHEN {lat} IS NULL OR {lon} IS NULL THEN NULL ELSE json_build_object('type', 'Point', "
            "'coordinates', json_build_array({lon}, {lat}))::text END",
            lat=_inner(self.latitude),
            lon=_inner(self.longitude),
        )

    @property
    def column_names(self) -> tuple[str, ...]:
        if self.geometry is not None:
            return (self.geometry.name,)
        return (self.latitude.name, self.longitude.name)


def geometry_source(relation: Relation) -> GeometrySource | None:
    """The first geometry column, else a numeric latitude/longitude pair recognised by name."""
    # Called per relation by the whole-catalog documents (their formats): names are looked at
    # before types, as almost no column is a geometry or named like a coordinate.
    for c in relation.columns:
        if c.is_geometry:
            return GeometrySource(geometry=c)
    by_name = {
        lowered: c
        for c in relation.columns
        if (lowered := c.name.lower()) in _COORDINATE_NAMES and not c.is_array and type_info(c).numeric
    }
    lat = next((by_name[n] for n in LATITUDE_NAMES if n in by_name), None)
    lon = next((by_name[n] for n in LONGITUDE_NAMES if n in by_name), None)
    if lat is not None and lon is not None:
        return GeometrySource(latitude=lat, longitude=lon)
    return None


def _cursor_output(cursor_columns: tuple[Column, ...]) -> str:
    if not cursor_columns:
        return ""
    return compose(", json_build_array({})::text", join(", ", [_inner(c) for c in cursor_columns]))


def feature_rows(
    queryset, shape: RowShape, source: GeometrySource, cursor_columns: tuple[Column, ...] = ()
) -> Statement:
    """One GeoJSON Feature (as text) per row; a geometry column leaves the properties."""
    relation = shape.relation
    key = relation.key if relation.key and len(relation.key.columns) == 1 else None
    extra = tuple(relation.column(n) for n in source.column_names)
    if key:
        extra += (relation.column(key.columns[0]),)
    inner = selected_sql(queryset, _with(_with(shape_source_columns(shape), extra), cursor_columns))
    properties = dataclasses.replace(
        shape, columns=tuple(c for c in shape.columns if source.geometry is None or c.name not in source.column_names)
    )
    output, output_params = _output_list(properties)
    feature_id = ""
    if key:
        feature_id = compose("""'"id":' || to_json({})::text || ',' || """, _inner(relation.column(key.columns[0])))
    sql = compose(
        """SELECT '{{"type":"Feature",' || {}'"geometry":' || coalesce({}, 'null') || ',"properties":' || """
        """row_to_json(p)::text || '}}'{} FROM ({}) AS x CROSS JOIN LATERAL (SELECT {}) AS p""",
        feature_id,
        source.expression(),
        _cursor_output(cursor_columns),
        inner.sql,
        output,
    )
    return Statement(sql, inner.params + output_params)


def selection_sql(queryset) -> Statement:
    """The selected rows' keys, unordered and unlimited: what a count counts (``pagination``)."""
    sql, params = compiled(queryset.order_by().values_list("pk"))
    return Statement(sql, tuple(params))


def count_sql(queryset, limit: int | None) -> Statement:
    """Count matching rows, but stop at ``limit`` (so a count never scans millions of rows; None:
    count them all)."""
    inner = queryset.order_by().values_list("pk")
    inner = inner[:limit] if limit is not None else inner
    sql, params = compiled(inner)
    return composed.count(Statement(sql, tuple(params)))


def explain_sql(queryset) -> Statement:
    sql, params = compiled(queryset.order_by().values_list("pk"))
    return composed.explain(Statement(sql, tuple(params)))
