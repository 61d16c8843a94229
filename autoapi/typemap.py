"""The one table from a PostgreSQL type to everything the portal does with a column of that type.

For each column it answers: which Django model field represents it (so the ORM can filter and
order on it), which django-filter filter class parses a query-string value for it, which lookups
the API offers, whether ``?ordering=`` may use it, and how its value is turned into JSON by
PostgreSQL itself (values never pass through Python floats or Python date objects).

An unknown type falls back to the opaque kind: published as PostgreSQL's text, filterable only with
``isnull``, and listed as such in the snapshot dump. Never a crash.
"""
from __future__ import annotations

from dataclasses import dataclass

import django_filters
from django.db import models

from autoapi import fields, filters
from autoapi.snapshot import Column

TEXT_LOOKUPS = ("exact", "iexact", "contains", "icontains", "startswith", "endswith", "regex", "in", "isnull", "gt", "gte", "lt", "lte")
ORDERED_LOOKUPS = ("exact", "gt", "gte", "lt", "lte", "range", "in", "isnull")
EQUALITY_LOOKUPS = ("exact", "in", "isnull")
NULL_ONLY = ("isnull",)


@dataclass(frozen=True)
class TypeInfo:
    kind: str  # a short name for the docs and the snapshot dump
    model_field: type[models.Field]
    filter_class: type[django_filters.Filter] | None
    lookups: tuple[str, ...]
    sortable: bool = True


INTEGER = TypeInfo("integer", models.BigIntegerField, filters.IntegerFilter, ORDERED_LOOKUPS)
DECIMAL = TypeInfo("number", fields.PassThroughField, django_filters.NumberFilter, ORDERED_LOOKUPS)
FLOAT = TypeInfo("float", models.FloatField, django_filters.NumberFilter, ORDERED_LOOKUPS)
MONEY = TypeInfo("money", fields.PassThroughField, django_filters.NumberFilter, ORDERED_LOOKUPS)
BOOLEAN = TypeInfo("boolean", models.BooleanField, filters.StrictBooleanFilter, ("exact", "isnull"))
TEXT = TypeInfo("text", models.TextField, django_filters.CharFilter, TEXT_LOOKUPS)
ENUM = TypeInfo("enum", fields.PassThroughField, django_filters.CharFilter, ORDERED_LOOKUPS)
DATE = TypeInfo("date", models.DateField, django_filters.DateFilter, ORDERED_LOOKUPS)
TIMESTAMP = TypeInfo("timestamp", models.DateTimeField, django_filters.IsoDateTimeFilter, ORDERED_LOOKUPS)
TIME = TypeInfo("time", fields.PassThroughField, django_filters.TimeFilter, ORDERED_LOOKUPS)
UUID = TypeInfo("uuid", models.UUIDField, django_filters.UUIDFilter, EQUALITY_LOOKUPS)
# Types PostgreSQL parses from a quoted literal: the value travels as text, PostgreSQL validates it.
COMPARABLE_TEXT_FORM = TypeInfo("text form", fields.PassThroughField, django_filters.CharFilter, ORDERED_LOOKUPS)
EQUALITY_TEXT_FORM = TypeInfo("text form", fields.PassThroughField, django_filters.CharFilter, EQUALITY_LOOKUPS)
JSON = TypeInfo("json", fields.PassThroughField, None, NULL_ONLY, sortable=False)
JSONB = TypeInfo("jsonb", fields.PassThroughField, None, NULL_ONLY)
ARRAY = TypeInfo("array", fields.PassThroughField, None, NULL_ONLY)
GEOMETRY = TypeInfo("geometry", fields.PassThroughField, None, NULL_ONLY, sortable=False)
OPAQUE = TypeInfo("opaque", fields.PassThroughField, None, NULL_ONLY, sortable=False)

BY_TYPNAME = {
    "int2": INTEGER, "int4": INTEGER, "int8": INTEGER, "oid": INTEGER,
    "numeric": DECIMAL,
    "float4": FLOAT, "float8": FLOAT,
    "money": MONEY,
    "bool": BOOLEAN,
    "text": TEXT, "varchar": TEXT, "bpchar": TEXT, "name": TEXT, "citext": TEXT, "char": TEXT,
    "date": DATE,
    "timestamp": TIMESTAMP, "timestamptz": TIMESTAMP,
    "time": TIME, "timetz": TIME,
    "uuid": UUID,
    "interval": COMPARABLE_TEXT_FORM,
    "inet": COMPARABLE_TEXT_FORM, "cidr": COMPARABLE_TEXT_FORM,
    "macaddr": COMPARABLE_TEXT_FORM, "macaddr8": COMPARABLE_TEXT_FORM,
    "bit": COMPARABLE_TEXT_FORM, "varbit": COMPARABLE_TEXT_FORM,
    "bytea": TypeInfo("bytes", fields.PassThroughField, None, NULL_ONLY),
    "json": JSON, "jsonb": JSONB,
    "xml": OPAQUE,
    "tsvector": TypeInfo("tsvector", fields.PassThroughField, None, NULL_ONLY),
    "geometry": GEOMETRY, "geography": GEOMETRY,
}
BY_TYPTYPE = {
    "e": ENUM,
    "r": TypeInfo("range", fields.PassThroughField, django_filters.CharFilter, EQUALITY_LOOKUPS),
    "m": TypeInfo("multirange", fields.PassThroughField, django_filters.CharFilter, EQUALITY_LOOKUPS),
    "c": TypeInfo("composite", fields.PassThroughField, None, NULL_ONLY, sortable=False),
}
# Arrays sort when their elements do (PostgreSQL compares them element by element).
UNSORTABLE_ELEMENTS = {"json", "xml", "point", "line", "lseg", "box", "path", "polygon", "circle", "geometry", "geography"}


def type_info(column: Column) -> TypeInfo:
    if column.is_array:
        sortable = column.element_type not in UNSORTABLE_ELEMENTS and column.element_type in BY_TYPNAME
        return TypeInfo("array", fields.PassThroughField, None, NULL_ONLY, sortable=sortable)
    if column.base_type in BY_TYPNAME:
        return BY_TYPNAME[column.base_type]
    return BY_TYPTYPE.get(column.type_kind, OPAQUE)


def json_expression(column: Column, quoted: str) -> str:
    """SQL that turns the column (already quoted as ``quoted``) into the JSON the API returns.

    PostgreSQL's own ``row_to_json`` does the rest: numbers stay exact (numeric, bigint beyond
    2^53), arrays become JSON arrays, json and jsonb are embedded as they are.
    """
    if column.is_geometry:
        return f"ST_AsGeoJSON({wgs84_expression(column, quoted)})::json"
    if column.base_type == "money":
        # money's text form depends on lc_monetary; its numeric value does not.
        return f"{quoted}::numeric"
    return quoted


def wgs84_expression(column: Column, quoted: str) -> str:
    """The geometry in WGS 84 (RFC 7946 §4), transforming only when the SRID says it is needed."""
    geom = f"{quoted}::geometry" if column.is_geography else quoted
    if column.srid == 4326:
        return geom
    if column.srid:
        return f"ST_Transform({geom}, 4326)"
    # No fixed SRID: decide per row; SRID 0 (unknown) is taken as WGS 84 rather than failing.
    return f"(CASE WHEN ST_SRID({geom}) IN (0, 4326) THEN {geom} ELSE ST_Transform({geom}, 4326) END)"
