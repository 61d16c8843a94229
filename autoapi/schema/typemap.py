"""The one table from a PostgreSQL type to everything the portal does with a column of that type.

For each column it answers: which Django model field represents it (so the ORM can filter and
order on it), which django-filter filter class parses a query-string value for it, which lookups
the API offers, whether ``?ordering=`` may use it, and how its value is turned into JSON by
PostgreSQL itself (values never pass through Python floats or Python date objects).

An unknown type falls back to the opaque kind: published as PostgreSQL's text, filterable only with
``isnull``, and listed as such in the snapshot dump. Never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import django_filters
from django.db import models

from autoapi.db.sql import compose, identifier
from autoapi.schema import fields, filters
from autoapi.schema.snapshot import Column

TEXT_LOOKUPS = (
    "exact",
    "iexact",
    "contains",
    "icontains",
    "startswith",
    "endswith",
    "regex",
    "in",
    "isnull",
    "gt",
    "gte",
    "lt",
    "lte",
)
ORDERED_LOOKUPS = ("exact", "gt", "gte", "lt", "lte", "range", "in", "isnull")
EQUALITY_LOOKUPS = ("exact", "in", "isnull")
NULL_ONLY = ("isnull",)


@dataclass(frozen=True)
class TypeInfo:
    kind: str  # a short name for the docs, the OpenAPI document and the snapshot dump
    model_field: type[models.Field]
    filter_class: type[django_filters.Filter] | None  # parses a value for the plain lookups
    lookups: tuple[str, ...]
    sortable: bool = True
    # Lookups whose value is not of the column's own type (a JSON document, a list of elements).
    special_filters: tuple[tuple[str, type[django_filters.Filter]], ...] = ()
    openapi: dict = field(default_factory=lambda: {"type": "string"})  # JSON Schema of a value
    # Keyset cursors can carry its JSON value back as a filter value (cursors.py).
    keyset: bool = False
    # Its values are free text, which a spreadsheet could take for a formula (csvsafety.py).
    free_text: bool = False
    # A number (latitude/longitude columns are recognised among these, queries.py).
    numeric: bool = False

    def filter_for(self, lookup: str) -> type[django_filters.Filter] | None:
        special = dict(self.special_filters)
        if lookup in special:
            return special[lookup]
        if lookup == "isnull":
            return filters.StrictBooleanFilter
        if self.filter_class is None:
            return None
        if lookup == "in":
            return filters.in_filter_class(self.filter_class)
        if lookup == "range":
            return filters.range_filter_class(self.filter_class)
        return self.filter_class


def _ordered(kind: str, model_field, filter_class, openapi: dict | None = None, **facts) -> TypeInfo:
    """A type whose values compare and sort: every ordered lookup, and keyset paging on it."""
    schema = {"type": "string"} if openapi is None else openapi
    return TypeInfo(kind, model_field, filter_class, ORDERED_LOOKUPS, openapi=schema, keyset=True, **facts)


def _number(kind: str, model_field, filter_class, openapi: dict) -> TypeInfo:
    """An ordered type that is a number (latitude and longitude are looked for among these)."""
    return _ordered(kind, model_field, filter_class, openapi, numeric=True)


def _free_text(kind: str, model_field, lookups: tuple[str, ...] = TEXT_LOOKUPS) -> TypeInfo:
    """Text a spreadsheet could take for a formula (csvsafety.py), keyset-pageable."""
    return TypeInfo(kind, model_field, django_filters.CharFilter, lookups, keyset=True, free_text=True)


# A value's JSON Schema, where it is not a plain string.
_NUMBER_OR_NAN = {"type": ["number", "string"], "description": "NaN and Infinity as strings"}
_EXACT_DECIMAL = {**_NUMBER_OR_NAN, "description": "exact decimal; NaN and Infinity as strings"}
_DATE_STRING = {"type": "string", "format": "date"}
_DATE_TIME_STRING = {"type": "string", "format": "date-time"}

INTEGER = _number("integer", models.BigIntegerField, filters.IntegerFilter, {"type": "integer"})
DECIMAL = _number("number", fields.PassThroughField, django_filters.NumberFilter, _EXACT_DECIMAL)
FLOAT = _number("float", models.FloatField, django_filters.NumberFilter, _NUMBER_OR_NAN)
MONEY = _number("money", fields.PassThroughField, django_filters.NumberFilter, {"type": "number"})
BOOLEAN = TypeInfo(
    "boolean",
    models.BooleanField,
    filters.StrictBooleanFilter,
    ("exact", "isnull"),
    openapi={"type": "boolean"},
    keyset=True,
)
TEXT = _free_text("text", models.TextField)
CITEXT = _free_text("text", fields.CaseInsensitiveTextField)
ENUM = _free_text("enum", fields.PassThroughField, ORDERED_LOOKUPS)
DATE = _ordered("date", models.DateField, django_filters.DateFilter, _DATE_STRING)
TIMESTAMP = _ordered("timestamp", models.DateTimeField, django_filters.IsoDateTimeFilter, _DATE_TIME_STRING)
TIME = _ordered("time", fields.PassThroughField, django_filters.TimeFilter)
# With a zone offset (12:00:00+02), which Django's time parser refuses: PostgreSQL parses it.
TIME_WITH_ZONE = _ordered("time", fields.PassThroughField, django_filters.CharFilter)
UUID = TypeInfo(
    "uuid",
    models.UUIDField,
    django_filters.UUIDFilter,
    EQUALITY_LOOKUPS,
    openapi={"type": "string", "format": "uuid"},
    keyset=True,
)
# Types PostgreSQL parses from a quoted literal: the value travels as text, PostgreSQL validates it.
COMPARABLE_TEXT_FORM = _ordered("text form", fields.PassThroughField, django_filters.CharFilter)
JSON_LOOKUPS = ("has_key", "contains", "isnull")
JSON_FILTERS = (("has_key", django_filters.CharFilter), ("contains", filters.JSONValueFilter))
JSON = TypeInfo(
    "json", fields.JSONDocumentField, None, JSON_LOOKUPS, sortable=False, special_filters=JSON_FILTERS, openapi={}
)
JSONB = TypeInfo("jsonb", fields.JSONDocumentField, None, JSON_LOOKUPS, special_filters=JSON_FILTERS, openapi={})
GEOMETRY = TypeInfo(
    "geometry",
    fields.GeometryField,
    None,
    NULL_ONLY,
    sortable=False,
    openapi={"type": "object", "description": "GeoJSON geometry in WGS 84"},
)
OPAQUE = TypeInfo("opaque", fields.PassThroughField, None, NULL_ONLY, sortable=False)
XML = TypeInfo("opaque", fields.PassThroughField, None, NULL_ONLY, sortable=False, free_text=True)

BY_TYPNAME = {
    "int2": INTEGER,
    "int4": INTEGER,
    "int8": INTEGER,
    "oid": INTEGER,
    "numeric": DECIMAL,
    "float4": FLOAT,
    "float8": FLOAT,
    "money": MONEY,
    "bool": BOOLEAN,
    "text": TEXT,
    "varchar": TEXT,
    "bpchar": TEXT,
    "name": TEXT,
    "citext": CITEXT,
    "char": TEXT,
    "date": DATE,
    "timestamp": TIMESTAMP,
    "timestamptz": TIMESTAMP,
    "time": TIME,
    "timetz": TIME_WITH_ZONE,
    "uuid": UUID,
    "interval": COMPARABLE_TEXT_FORM,
    "inet": COMPARABLE_TEXT_FORM,
    "cidr": COMPARABLE_TEXT_FORM,
    "macaddr": COMPARABLE_TEXT_FORM,
    "macaddr8": COMPARABLE_TEXT_FORM,
    "bit": COMPARABLE_TEXT_FORM,
    "varbit": COMPARABLE_TEXT_FORM,
    "bytea": TypeInfo(
        "bytes", fields.PassThroughField, None, NULL_ONLY, openapi={"type": "string", "description": "\\x-prefixed hex"}
    ),
    "json": JSON,
    "jsonb": JSONB,
    "xml": XML,
    "tsvector": TypeInfo("tsvector", fields.TextSearchField, django_filters.CharFilter, ("search", "isnull")),
    "geometry": GEOMETRY,
    "geography": GEOMETRY,
}
BY_TYPTYPE = {
    "e": ENUM,
    "r": TypeInfo("range", fields.PassThroughField, django_filters.CharFilter, EQUALITY_LOOKUPS),
    "m": TypeInfo("multirange", fields.PassThroughField, django_filters.CharFilter, EQUALITY_LOOKUPS),
    "c": TypeInfo("composite", fields.PassThroughField, None, NULL_ONLY, sortable=False, openapi={"type": "object"}),
}
# Arrays sort when their elements do (PostgreSQL compares them element by element).
UNSORTABLE_ELEMENTS = {
    "json",
    "xml",
    "point",
    "line",
    "lseg",
    "box",
    "path",
    "polygon",
    "circle",
    "geometry",
    "geography",
}
ARRAY_FILTERS = (("contains", filters.ArrayValuesFilter), ("overlap", filters.ArrayValuesFilter))


def all_type_infos() -> list[TypeInfo]:
    """Every TypeInfo of the table (arrays are made per column and never keyset-paged)."""
    return list({id(info): info for info in (*BY_TYPNAME.values(), *BY_TYPTYPE.values(), OPAQUE)}.values())


def type_info(column: Column) -> TypeInfo:
    if column.is_array:
        element = BY_TYPNAME.get(column.element_type) or BY_TYPTYPE.get(column.element_kind)
        sortable = column.element_type not in UNSORTABLE_ELEMENTS and element is not None and element.sortable
        return TypeInfo(
            "array",
            fields.ArrayValuesField,
            None,
            ("contains", "overlap", "isnull"),
            sortable=sortable,
            special_filters=ARRAY_FILTERS,
            openapi={"type": "array"},
        )
    if column.base_type in BY_TYPNAME:
        return BY_TYPNAME[column.base_type]
    return BY_TYPTYPE.get(column.type_kind, OPAQUE)


def model_field_kwargs(column: Column) -> dict:
    """Extra arguments some fields need from the column (geometry: its SRID and PostGIS's schema)."""
    if column.is_geometry:
        return {"srid": column.srid, "geography": column.is_geography, "postgis": postgis_schema(column)}
    if type_info(column) is CITEXT:
        return {"type_schema": column.type_schema}
    return {}


def postgis_schema(column: Column) -> str:
    """The quoted schema of the column's PostGIS: every PostGIS function and type is called
    qualified with it, so nothing depends on the role's search_path (Supabase installs PostGIS in
    ``extensions``, which is not on it). PostGIS's functions live where its types do."""
    return identifier(column.type_schema)


def json_expression(column: Column, quoted: str) -> str:
    """SQL that turns the column (already quoted as ``quoted``) into the JSON the API returns.

    PostgreSQL's own ``row_to_json`` does the rest: numbers stay exact (numeric, bigint beyond
    2^53), arrays become JSON arrays, json and jsonb are embedded as they are.
    """
    if column.is_geometry:
        return compose("{}.ST_AsGeoJSON({})::json", postgis_schema(column), wgs84_expression(column, quoted))
    if column.base_type == "money":
        # money's text form depends on lc_monetary; its numeric value does not.
        return compose("{}::numeric", quoted)
    return quoted


def wgs84_expression(column: Column, quoted: str) -> str:
    """The geometry in WGS 84 (RFC 7946 §4), transforming only when the SRID says it is needed."""
    postgis = postgis_schema(column)
    geom = compose("{}::{}.geometry", quoted, postgis) if column.is_geography else quoted
    if column.srid == 4326:
        return geom
    if column.srid:
        return compose("{}.ST_Transform({}, 4326)", postgis, geom)
    # No fixed SRID: decide per row; SRID 0 (unknown) is taken as WGS 84 rather than failing.
    return compose(
        "(CASE WHEN {p}.ST_SRID({geom}) IN (0, 4326) THEN {geom} ELSE {p}.ST_Transform({geom}, 4326) END)",
        p=postgis,
        geom=geom,
    )
