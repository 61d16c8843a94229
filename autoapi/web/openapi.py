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
from autoapi.schema.lookups import LOOKUPS
from autoapi.schema.naming import encode_segment
from autoapi.schema.snapshot import Column, Relation, Snapshot
from autoapi.schema.typemap import OPAQUE, type_info
from autoapi.web import openapi_parameters as parameters

log = logging.getLogger(__name__)

# Paths that code outside autoapi serves and documents here (``public.add_openapi_paths``): each a
# function returning OpenAPI path items, called once per document.
EXTRA_PATHS: list = []

ERROR = {"$ref": "#/components/schemas/Error"}
# Shared by every operation through ``$ref`` (components.responses): written once per document,
# not once per path (at 10,000 relations the repeated copies were most of the 126 MB).
ERROR_RESPONSE_BODIES = {
    status: {"description": text, "content": {"application/json": {"schema": ERROR}}}
    for status, text in (
        ("400", "A parameter is unknown or its value is malformed"),
        ("404", "No such relation or row"),
        ("406", "The format is unknown, or GeoJSON of a relation without geometry"),
        ("408", "The request head did not arrive in time (GUNICORN_HEAD_TIMEOUT)"),
        ("409", "PostgreSQL cannot read this relation (a broken view, an unpopulated materialized view)"),
        ("414", "The request line is longer than the server takes (gunicorn's limit_request_line)"),
        ("429", "This client has too many requests running; retry after the Retry-After header"),
        ("431", "The request's header fields are larger than the server takes"),
        ("503", "The database is unavailable; retry after the Retry-After header"),
    )
}
ERROR_RESPONSES = {status: {"$ref": f"#/components/responses/E{status}"} for status in ERROR_RESPONSE_BODIES}
FILTER_HELP = (
    "Filters: `?<column>=v` and `?<column>__<lookup>=v` with the lookups listed per column; `in` and `range` take "
    "comma-separated values; append `!` to any filter name to negate it (`?carrier!=UA`)."
)


def component_name(index: int, relation: Relation) -> str:
    return f"R{index}_" + re.sub(r"[^A-Za-z0-9_.-]", "_", f"{relation.schema}.{relation.name}")[:80]


def value_schema(column: Column) -> dict:
    info = type_info(column)
    schema = dict(info.openapi)
    if info is OPAQUE or info.kind == "composite":
        schema = {}  # PostgreSQL's JSON of it: text, or an object where the type has a JSON cast (hstore)
    elif column.base_type == "timestamp":
        schema = {"type": "string", "description": "ISO 8601 without an offset"}
    elif column.base_type == "oid" and not column.is_array:
        schema = {"type": "string", "pattern": "^[0-9]+$"}  # to_json writes an oid as a string
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
    """One query parameter per filter (``filtersets.filter_specs``), its value typed from the
    column's type and the lookup's record (``parameters.filter_schema``); ``bbox`` and ``search``
    over the whole relation are shared components."""
    by_attname = {c.attname: c for c in relation.columns}
    result = []
    for name, spec in filter_specs(relation).items():
        column = by_attname.get(spec.field_name)
        lookup = LOOKUPS[spec.lookup_expr]
        if column is None or spec.lookup_expr == "bbox":  # bbox, or search over the text columns
            result.append(parameters.ref(name))
            continue
        description = f"rows where {column.name!r} {lookup.label}" + (f" ({lookup.hint})" if lookup.hint else "")
        result.append(parameters.query_parameter(name, parameters.filter_schema(spec.lookup_expr, column), description))
    return result


# What JSON Schema cannot say about a list operation's parameters (``x-parameter-constraints``).
LIST_CONSTRAINTS = [
    "group_by, aggregate and having make a grouped result: fields, expand and cursor then are a 400, and "
    "ordering takes the result's names",
    "having names an aggregate of the request (count by default with group_by)",
    "expand needs its column among fields (when fields is given) and the json, ndjson or geojson format",
    "cursor comes from a next link: only with the ordering it was made for, and never with offset",
    "filter is in the language filter-lang names",
    "the whole request line is at most 8 KB (a 414 past it)",
]


def _list_operation(relation: Relation, ref: dict, snapshot: Snapshot) -> dict:
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
    # JSON: a page, or (``limit=all``) every row in one array.
    every_row = {"type": "array", "items": page["properties"]["results"]["items"]}
    content = {
        f.media_type: {"schema": f.openapi_body or {"anyOf": [page, every_row]}}
        for f in renderers.records_for(relation)
    }
    row_parameters = [
        parameters.fields_parameter(relation) if relation.columns else None,  # no column: no fields value
        parameters.ordering_parameter(relation),
        parameters.expand_parameter(relation, snapshot),
    ]
    return {
        "operationId": f"list_{ref['$ref'].rsplit('/', 1)[1]}",
        "summary": f"Rows of {relation.schema}.{relation.name}",
        "description": (relation.comment + "\n\n" if relation.comment else "") + FILTER_HELP,
        "tags": [relation.schema],
        "parameters": [
            parameters.ref(parameters.format_component(relation)[0]),
            *(parameters.ref(name) for name in ("limit", "offset", "cursor", "filter", "filter-lang")),
            *(p for p in row_parameters if p is not None),
            *parameters.grouping_parameters(relation),
            *filter_parameters(relation),
        ],
        "x-parameter-constraints": LIST_CONSTRAINTS,
        "responses": {
            "200": {
                "description": "A page of rows (JSON), every row (`limit=all`), or the rows in the format asked for",
                "content": content,
            },
            **ERROR_RESPONSES,
        },
    }


def _detail_operation(relation: Relation, ref: dict, snapshot: Snapshot) -> dict:
    columns = ", ".join(relation.key.columns)
    expand = parameters.expand_parameter(relation, snapshot)
    return {
        "operationId": f"get_{ref['$ref'].rsplit('/', 1)[1]}",
        "summary": f"One row of {relation.schema}.{relation.name} by ({columns})",
        "tags": [relation.schema],
        "parameters": [
            parameters.key_parameter(relation),
            parameters.ref(parameters.format_component(relation)[0]),
            parameters.fields_parameter(relation),
            *([expand] if expand else []),
        ],
        "responses": {
            "200": {
                "description": "The row",
                "content": {
                    f.media_type: {"schema": ref if f.media_type == "application/json" else f.openapi_body or {}}
                    for f in renderers.records_for(relation)
                },
            },
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
    shared = [parameters.fields_parameter(relation), parameters.ref("filter"), parameters.ref("filter-lang")]
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


def _relation_entries(index: int, relation: Relation, snapshot: Snapshot) -> tuple[tuple[str, dict], dict]:
    """The relation's component schema (name, schema) and its paths."""
    name = component_name(index, relation)
    ref = {"$ref": f"#/components/schemas/{name}"}
    base = f"/api/{encode_segment(relation.schema)}/{encode_segment(relation.name)}/"
    paths = {base: {"get": _list_operation(relation, ref, snapshot)}}
    if relation.key:
        paths[base + "{key}/"] = {"get": _detail_operation(relation, ref, snapshot)}
    source = geometry_source(relation)
    # Tiles are drawn by PostGIS: a latitude/longitude pair on a database without it has none.
    if source is not None and (source.geometry is not None or snapshot.extension_schema("postgis")):
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
        "parameters": parameters.shared_parameters(),
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
            entries = _relation_entries(index, relation, snapshot)
        except Exception:  # one relation never takes the document down; it is left out of it
            log.warning(
                "relation %s.%s left out of the OpenAPI document", relation.schema, relation.name, exc_info=True
            )
            continue
        (name, schema), relation_paths = entries
        schemas[name] = schema
        format_name, format_parameter = parameters.format_component(relation)
        components["parameters"][format_name] = format_parameter
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
