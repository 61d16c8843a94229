"""``/ogc/`` in the portal's OpenAPI document (``/api/schema/``, the landing page's
``service-desc``): one path per resource, with the items' parameters. Collection ids are a path
parameter, so the document does not grow with the schema."""

from __future__ import annotations

from autoapi.conf import portal_setting
from autoapi.ogc.responses import GEOJSON, JSON
from autoapi.web.openapi_parameters import path_parameter, query_parameter

OGC_ERROR = {
    "type": "object",
    "properties": {"code": {"type": "string"}, "description": {"type": "string"}},
    "required": ["code", "description"],
}
_F = {
    "name": "f",
    "in": "query",
    "schema": {"type": "string", "enum": ["json", "html"]},
    "description": "The encoding: JSON (the default) or an HTML page.",
}
_COLLECTION = path_parameter("collectionId", "`<schema>.<relation>`, each part tilde-encoded.")


def _items_parameters() -> list[dict]:
    query = query_parameter
    return [
        _COLLECTION,
        query(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": portal_setting("MAX_PAGE_SIZE"), "default": 10},
            "Features per page; more than the maximum is served as the maximum.",
        ),
        query("offset", {"type": "integer", "minimum": 0}, "Features to skip."),
        query("cursor", {"type": "string"}, "From a `next` link."),
        query(
            "bbox",
            {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}},
            "minLon,minLat,maxLon,maxLat in WGS 84.",
        ),
        query("bbox-crs", {"type": "string", "enum": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"]}, "CRS84 only."),
        query(
            "datetime",
            {"type": "string"},
            "An instant or an interval (`a/b`, `../b`, `a/..`) on the first date or timestamp column.",
        ),
        query("filter", {"type": "string"}, "A CQL2 filter (see the API's `filter`)."),
        query("filter-lang", {"type": "string", "enum": ["cql2-text", "cql2-json"]}, "The filter's encoding."),
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
