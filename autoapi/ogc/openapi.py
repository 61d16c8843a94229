"""``/ogc/`` in the portal's OpenAPI document (``/api/schema/``, the landing page's
``service-desc``): one path per resource, with the items' parameters. Collection ids are a path
parameter, so the document does not grow with the schema."""

from __future__ import annotations

from autoapi.conf import portal_setting
from autoapi.ogc.params import CRS84
from autoapi.ogc.responses import GEOJSON, JSON
from autoapi.web.openapi_parameters import path_parameter, query_parameter, ref

OGC_ERROR = {
    "type": "object",
    "properties": {"code": {"type": "string"}, "description": {"type": "string"}},
    "required": ["code", "description"],
}
# What the server answers before any view (portal/workers.py, the fair share, the database): the
# API's shared error responses (autoapi/web/openapi.py, components/responses).
TRANSPORT_ERRORS = {
    status: {"$ref": f"#/components/responses/E{status}"} for status in ("408", "414", "429", "431", "503")
}
_F = {
    "name": "f",
    "in": "query",
    "schema": {"type": "string", "enum": ["json", "geojson", "html"]},
    "description": "The encoding: JSON (the default; `geojson` is the same) or an HTML page.",
}
_COLLECTION = path_parameter("collectionId", "`<schema>.<relation>`, each part tilde-encoded.")


def _items_parameters() -> list[dict]:
    # limit, offset, cursor, filter, filter-lang and bbox are the API's shared components
    # (autoapi/web/openapi_parameters.py): the same parsers read them.
    return [
        _COLLECTION,
        query_parameter(
            "limit",
            {"type": "string", "pattern": r"^(?:0*[1-9][0-9]{0,17}|)$"},
            f"Features per page (default 10; empty: the default); more than {portal_setting('MAX_PAGE_SIZE')} "
            "is served as that many.",
        ),
        ref("offset"),
        ref("cursor"),
        ref("bbox"),
        query_parameter("bbox-crs", {"type": "string", "enum": [CRS84]}, "CRS84 only."),
        query_parameter(
            "datetime",
            {"type": "string", "pattern": r"^[^\x00]+$"},
            "An instant or an interval (`a/b`, `../b`, `a/..`) on the first date or timestamp column; only for a "
            "collection that has one.",
        ),
        ref("filter"),
        ref("filter-lang"),
        query_parameter("filter-crs", {"type": "string", "enum": [CRS84]}, "CRS84 only."),
        _F,
    ]


def _get(operation: str, summary: str, media_type: str, parameters: list[dict]) -> dict:
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/OGCError"}}}}
    return {
        "get": {
            "operationId": operation,
            "summary": summary,
            "tags": ["OGC API Features"],
            "parameters": parameters,
            "responses": {
                "200": {
                    "description": summary,
                    "content": {
                        media_type: {"schema": {"type": "object"}},
                        "text/html": {"schema": {"type": "string"}},
                    },
                },
                "400": {"description": "A parameter is unknown or malformed", **error},
                "404": {"description": "No such collection or feature", **error},
                **TRANSPORT_ERRORS,
            },
        }
    }


def paths() -> dict:
    geojson, json = GEOJSON, JSON  # the format records' media types
    feature_id = path_parameter("featureId", "The feature's id: the value of the relation's one-column key.")
    return {
        "/ogc/": _get("ogcLanding", "OGC API - Features landing page", json, [_F]),
        "/ogc/conformance": _get("ogcConformance", "Conformance classes", json, [_F]),
        "/ogc/collections": _get("ogcCollections", "Feature collections", json, [_F]),
        "/ogc/collections/{collectionId}": _get("ogcCollection", "One collection", json, [_COLLECTION, _F]),
        "/ogc/collections/{collectionId}/queryables": _get(
            "ogcQueryables", "What filters may name", "application/schema+json", [_COLLECTION, _F]
        ),
        "/ogc/collections/{collectionId}/items": _get("ogcItems", "Features", geojson, _items_parameters()),
        "/ogc/collections/{collectionId}/items/{featureId}": _get(
            "ogcItem", "One feature", geojson, [_COLLECTION, feature_id, _F]
        ),
    }
