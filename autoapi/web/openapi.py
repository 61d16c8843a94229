"""The OpenAPI 3.1 document of the current snapshot, built from the metadata records.

Why not drf-spectacular: it discovers endpoints by walking Django's URL patterns and types them
from serializer fields. The portal routes every relation through two shared patterns and has no
serializers (PostgreSQL writes the rows), so spectacular would see two untyped endpoints. The
snapshot already knows every relation, column, type, comment, key and filter, so the document is
written from it directly: one pass, cached with the snapshot, and typed from PostgreSQL's types.
"""

from __future__ import annotations

import logging
import re

from autoapi.formats import renderers
from autoapi.ogc import openapi as ogc_openapi
from autoapi.query.filtersets import filter_specs
from autoapi.query.queries import geometry_source
from autoapi.schema.lookups import BOOLEAN_VALUE, COLUMN_VALUE, LOOKUPS
from autoapi.schema.naming import encode_segment
from autoapi.schema.snapshot import Column, Relation, Snapshot
from autoapi.schema.typemap import type_info

log = logging.getLogger(__name__)

# Paths that code outside autoapi serves and documents here (``public.add_openapi_paths``): each a
# function returning OpenAPI path items, called once per document.
EXTRA_PATHS: list = []

ERROR = {"$ref": "#/components/schemas/Error"}
# Shared by every operation through ``$ref`` (components.responses): written once per document,
# not once per path (at 10,000 relations the repeated copies were most of the 126 MB).
ERROR_RESPONSE_BODIES = {
    "400": {
        "description": "A parameter is unknown or its value is malformed",
        "content": {"application/json": {"schema": ERROR}},
    },
    "404": {"description": "No such relation or row", "content": {"application/json": {"schema": ERROR}}},
    "406": {
        "description": "The format is unknown, or GeoJSON of a relation without geometry",
        "content": {"application/json": {"schema": ERROR}},
    },
    "409": {
        "description": "PostgreSQL cannot read this relation (a broken view, an unpopulated materialized view)",
        "content": {"application/json": {"schema": ERROR}},
    },
    "414": {
        "description": "The request line is longer than the server takes (gunicorn's limit_request_line)",
        "content": {"application/json": {"schema": ERROR}},
    },
    "503": {
        "description": "The database is unavailable; retry after the Retry-After header",
        "content": {"application/json": {"schema": ERROR}},
    },
}
ERROR_RESPONSES = {status: {"$ref": f"#/components/responses/E{status}"} for status in ERROR_RESPONSE_BODIES}
COMMON_PARAMETERS = [
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "string", "pattern": "^([0-9]*|all)$"},
        "description": "Rows per page (default 100, at most 1000; empty: the default), or `all` to stream every matching row.",
    },
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}, "description": "Rows to skip."},
    {
        "name": "cursor",
        "in": "query",
        "schema": {"type": "string"},
        "description": "Keyset cursor from a previous page's `next` link (relations with a key).",
    },
    {
        "name": "ordering",
        "in": "query",
        "schema": {"type": "string"},
        "description": "Comma-separated column names, `-` before a name for descending; the key is always added as a tie-break.",
    },
    {
        "name": "fields",
        "in": "query",
        "schema": {"type": "string", "minLength": 1},
        "description": "Comma-separated column names to return (tilde-encode a name holding a comma).",
    },
    {
        "name": "expand",
        "in": "query",
        "schema": {"type": "string"},
        "description": "Comma-separated foreign key columns whose referenced row is embedded in place of the value.",
    },
    {
        "name": "group_by",
        "in": "query",
        "schema": {"type": "string"},
        "description": "Comma-separated columns to group the filtered rows by; a date or timestamp column may be "
        "truncated as `<column>__year`, `__month`, `__week`, `__day` (and `__hour` for timestamps, in "
        "UTC). Each result row holds the group values under these names, then the aggregates. "
        "`ordering` then takes the result's own names (`-count`).",
    },
    {
        "name": "aggregate",
        "in": "query",
        "schema": {"type": "string", "minLength": 1},
        "description": "Comma-separated `count` and `<function>:<column>` with the functions count_distinct, sum, avg, "
        "median (numbers and intervals) and min, max; named `count` and `<function>_<column>` in the "
        "result (underscores are appended to a name a group column already has). Defaults to `count` "
        "with `group_by`; alone, one row over every selected row.",
    },
    {
        "name": "filter",
        "in": "query",
        "schema": {"type": "string", "maxLength": 20000},
        "description": "An OGC CQL2 filter, ANDed with the other filters: `carrier IN ('AA','UA') AND (dep_delay > 60 OR "
        "arr_delay > 60) AND NOT origin = 'EWR'`. Comparisons, LIKE, CASEI, IN, BETWEEN, IS NULL, AND/OR/NOT, "
        "DATE/TIMESTAMP/INTERVAL with T_BEFORE, T_AFTER, T_INTERSECTS, T_DISJOINT, T_DURING, T_EQUALS, and "
        "S_INTERSECTS, S_WITHIN, S_CONTAINS, S_DISJOINT... with WKT or BBOX on the location (a geometry "
        "column, or `geometry` for latitude/longitude). At most 20 levels of nesting and 1000 conditions.",
    },
    {
        "name": "filter-lang",
        "in": "query",
        "schema": {"type": "string", "enum": ["cql2-text", "cql2-json"], "default": "cql2-text"},
        "description": "The encoding of `filter`: CQL2 text (default) or CQL2 JSON.",
    },
    {
        "name": "having",
        "in": "query",
        "schema": {"type": "string"},
        "description": "A condition on an aggregate of the request, `<aggregate>__<lookup>:<value>` with the lookups "
        "exact, gt, gte, lt, lte (`count__gt:100`); repeat the parameter for several (all must hold).",
    },
]
FILTER_HELP = (
    "Filters: `?<column>=v` and `?<column>__<lookup>=v` with the lookups listed per column; `in` and `range` take "
    "comma-separated values; append `!` to any filter name to negate it (`?carrier!=UA`)."
)


def component_name(index: int, relation: Relation) -> str:
    return f"R{index}_" + re.sub(r"[^A-Za-z0-9_.-]", "_", f"{relation.schema}.{relation.name}")[:80]


def value_schema(column: Column) -> dict:
    schema = dict(type_info(column).openapi)
    if column.enum_labels:
        schema = {"type": "string", "enum": list(column.enum_labels)}
    if column.nullable:
        schema = {"anyOf": [schema, {"type": "null"}]} if schema else {}
    description = f"PostgreSQL type: {column.type}."
    if column.comment:
        description = f"{column.comment} ({description})"
    return {**schema, "description": description}


def row_schema(relation: Relation) -> dict:
    properties = {c.name: value_schema(c) for c in relation.columns}
    return {
        "type": "object",
        "description": relation.comment or f"A row of {relation.kind} {relation.schema}.{relation.name}",
        "properties": properties,
    }


def filter_parameters(relation: Relation) -> list[dict]:
    """One query parameter per filter (``filtersets.filter_specs``), its value typed and described
    from the lookup's record (``lookups.LOOKUPS``)."""
    by_attname = {c.attname: c for c in relation.columns}
    parameters = []
    for name, spec in filter_specs(relation).items():
        column = by_attname.get(spec.field_name)
        lookup = LOOKUPS[spec.lookup_expr]
        if column is None:
            description = (
                f"{lookup.label} ({lookup.hint})"
                if name == "bbox"
                else "words that must all appear (full-text search where the relation has a tsvector)"
            )
        else:
            description = f"rows where {column.name!r} {lookup.label}" + (f" ({lookup.hint})" if lookup.hint else "")
        parameters.append(
            {"name": name, "in": "query", "schema": _value_schema(lookup, column), "description": description}
        )
    return parameters


def _value_schema(lookup, column: Column | None) -> dict:
    if lookup.value == BOOLEAN_VALUE:
        return {"type": "boolean"}
    if column is None or lookup.value != COLUMN_VALUE:
        return {"type": "string"}
    schema = {k: v for k, v in type_info(column).openapi.items() if k != "description"} or {"type": "string"}
    return {"type": "string"} if isinstance(schema.get("type"), list) else schema


def _format_parameter(relation: Relation) -> dict:
    """``?format=``, with the formats of the registry (``renderers.ROW_RENDERERS``) this relation has."""
    return {
        "name": "format",
        "in": "query",
        "schema": {"type": "string", "enum": list(renderers.formats_for(relation))},
        "description": "Output format (or use the Accept header).",
    }


def _list_operation(relation: Relation, ref: dict) -> dict:
    page = {
        "type": "object",
        "properties": {
            "count": {"type": "integer"},
            "count_is_estimate": {"type": "boolean"},
            "next": {"anyOf": [{"type": "string", "format": "uri"}, {"type": "null"}]},
            "previous": {"anyOf": [{"type": "string", "format": "uri"}, {"type": "null"}]},
            "results": {
                "type": "array",
                "items": {"anyOf": [ref, {"type": "object", "description": "a group, with `group_by` or `aggregate`"}]},
            },
        },
        "required": ["count", "next", "previous", "results"],
    }
    content = {f.media_type: {"schema": f.openapi_body or page} for f in renderers.records_for(relation)}
    return {
        "operationId": f"list_{ref['$ref'].rsplit('/', 1)[1]}",
        "summary": f"Rows of {relation.schema}.{relation.name}",
        "description": (relation.comment + "\n\n" if relation.comment else "") + FILTER_HELP,
        "tags": [relation.schema],
        "parameters": [_format_parameter(relation)] + COMMON_PARAMETERS + filter_parameters(relation),
        "responses": {
            "200": {"description": "A page of rows (JSON), or every row (`limit=all`)", "content": content},
            **ERROR_RESPONSES,
        },
    }


def _detail_operation(relation: Relation, ref: dict) -> dict:
    columns = ", ".join(relation.key.columns)
    return {
        "operationId": f"get_{ref['$ref'].rsplit('/', 1)[1]}",
        "summary": f"One row of {relation.schema}.{relation.name} by ({columns})",
        "tags": [relation.schema],
        "parameters": [
            {
                "name": "key",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": f"The value(s) of ({columns}), each tilde-encoded, joined by commas.",
            },
            _format_parameter(relation),
            *(p for p in COMMON_PARAMETERS if p["name"] in ("fields", "expand")),
        ],
        "responses": {
            "200": {"description": "The row", "content": {"application/json": {"schema": ref}}},
            **ERROR_RESPONSES,
        },
    }


TILE_PARAMETERS = [
    {"name": name, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}, "description": text}
    for name, text in (
        ("z", "Zoom level, 0 to 24"),
        ("x", "Column, 0 to 2^z - 1"),
        ("y", "Row from the north, 0 to 2^z - 1"),
    )
]


def _tile_operations(relation: Relation, ref: dict) -> dict:
    """The vector tiles and their TileJSON, for a relation with a location (autoapi/formats/tiles.py)."""
    name = ref["$ref"].rsplit("/", 1)[1]
    shared = [p for p in COMMON_PARAMETERS if p["name"] in ("fields", "filter", "filter-lang")]
    return {
        "tiles/{z}/{x}/{y}.mvt": {
            "get": {
                "operationId": f"tile_{name}",
                "summary": f"A vector tile of {relation.schema}.{relation.name}",
                "description": "Mapbox Vector Tile written by PostGIS, one layer named `default`, with the list's "
                "filters; a 400 on a database without PostGIS.",
                "tags": [relation.schema],
                "parameters": TILE_PARAMETERS + shared + filter_parameters(relation),
                "responses": {
                    "200": {
                        "description": "The tile",
                        "content": {
                            "application/vnd.mapbox-vector-tile": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    "204": {"description": "No feature in this tile"},
                    **ERROR_RESPONSES,
                },
            }
        },
        "tiles.json": {
            "get": {
                "operationId": f"tilejson_{name}",
                "summary": f"TileJSON of {relation.schema}.{relation.name}",
                "tags": [relation.schema],
                "parameters": shared + filter_parameters(relation),
                "responses": {
                    "200": {
                        "description": "TileJSON 3.0.0",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **ERROR_RESPONSES,
                },
            }
        },
    }


def _relation_entries(index: int, relation: Relation) -> tuple[tuple[str, dict], dict]:
    """The relation's component schema (name, schema) and its paths."""
    name = component_name(index, relation)
    ref = {"$ref": f"#/components/schemas/{name}"}
    base = f"/api/{encode_segment(relation.schema)}/{encode_segment(relation.name)}/"
    paths = {base: {"get": _list_operation(relation, ref)}}
    if relation.key:
        paths[base + "{key}/"] = {"get": _detail_operation(relation, ref)}
    if geometry_source(relation) is not None:
        paths.update({base + suffix: operation for suffix, operation in _tile_operations(relation, ref).items()})
    return (name, row_schema(relation)), paths


def shared_components() -> dict:
    """The components every document of the portal holds: the error bodies and responses."""
    return {
        "schemas": {
            "Error": {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]},
            "OGCError": ogc_openapi.OGC_ERROR,
        },
        "responses": {f"E{status}": body for status, body in ERROR_RESPONSE_BODIES.items()},
    }


def index_paths() -> dict:
    """The paths that do not grow with the schema: ``/api/`` and ``/ogc/``."""
    paths: dict = {
        "/api/": {
            "get": {
                "operationId": "index",
                "summary": "Every published relation with its URLs",
                "responses": {
                    "200": {"description": "The index", "content": {"application/json": {"schema": {"type": "object"}}}}
                },
            }
        }
    }
    paths.update(ogc_openapi.paths())  # /ogc/ (OGC API Features): the landing page's service-desc
    for extra in EXTRA_PATHS:  # the open-data standards' documents and feeds (catalog/standards)
        try:
            paths.update(extra())
        except Exception:
            log.warning("extra OpenAPI paths left out", exc_info=True)
    return paths


def build_document(snapshot: Snapshot, relations=None, with_index: bool = True, extra: dict | None = None) -> dict:
    """The OpenAPI document of ``relations`` (default: every relation of the snapshot), with the
    index and OGC paths when ``with_index``; ``extra`` adds top-level members (``x-...``)."""
    paths: dict = index_paths() if with_index else {}
    components = shared_components()
    schemas = components["schemas"]
    chosen = enumerate(snapshot.relations) if relations is None else relations
    for index, relation in chosen:
        try:
            entries = _relation_entries(index, relation)
        except Exception:  # one relation never takes the document down; it is left out of it
            log.warning(
                "relation %s.%s left out of the OpenAPI document", relation.schema, relation.name, exc_info=True
            )
            continue
        (name, schema), relation_paths = entries
        schemas[name] = schema
        paths.update(relation_paths)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Open data API",
            "version": snapshot.version,
            "description": "Every relation of the published PostgreSQL database, read-only. " + FILTER_HELP,
        },
        **(extra or {}),
        "paths": paths,
        "components": components,
    }
