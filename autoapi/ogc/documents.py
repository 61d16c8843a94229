"""The JSON documents of OGC API Features: landing page, conformance, collections, collection."""

from __future__ import annotations

from autoapi.ogc import extents, links
from autoapi.ogc.ids import collection_id, collections
from autoapi.ogc.params import CRS84
from autoapi.ogc.responses import GEOJSON, HTML, JSON, OPENAPI
from autoapi.schema.naming import encode_segment
from autoapi.schema.snapshot import Relation, Snapshot
from autoapi.schema.typemap import type_info

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
]  # not temporal-functions: the API's CQL2 has six of its fifteen T_ functions (docs/ogc.md)
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"


def landing(request, title: str) -> dict:
    return {
        "title": title,
        "description": "The portal's relations with a location, as OGC API - Features collections.",
        "links": [
            *links.self_and_alternate(request),
            links.link(
                request.build_absolute_uri("/api/schema/"),
                "service-desc",
                OPENAPI,
                "the portal's OpenAPI document (its REST API; see docs/ogc.md for /ogc/)",
            ),
            links.link(request.build_absolute_uri("/api/docs/"), "service-doc", HTML, "the API's documentation"),
            links.link(links.url(request, "/conformance"), "conformance", JSON, "conformance classes"),
            links.link(links.url(request, "/collections"), "data", JSON, "the collections"),
        ],
    }


def conformance(request) -> dict:
    return {"conformsTo": CONFORMANCE, "links": links.self_and_alternate(request)}


def all_collections(request, snapshot: Snapshot) -> dict:
    return {
        "links": links.self_and_alternate(request),
        "collections": [collection(request, relation) for relation in collections(snapshot)],
    }


def collection(request, relation: Relation) -> dict:
    own = links.collection_url(request, relation)
    schema, name = relation.schema, relation.name
    document = {
        "id": collection_id(relation),
        "title": name if schema == "public" else f"{schema}.{name}",
        "description": relation.comment or f"The {relation.kind} {schema}.{name}",
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "links": [
            links.link(own, "self", JSON),
            links.link(own + "?f=html", "alternate", HTML),
            links.link(own + "/items", "items", GEOJSON, "the features"),
            links.link(own + "/items?f=html", "items", HTML, "the features as HTML"),
            links.link(own + "/queryables", QUERYABLES_REL, "application/schema+json", "what filters may name"),
            links.link(
                request.build_absolute_uri(_catalog_path(relation)),
                "describedby",
                HTML,
                "the catalog page: data dictionary, preview, map",
            ),
        ],
    }
    bbox = extents.spatial_extent(request, relation)
    if bbox is not None:
        document["extent"] = {"spatial": {"bbox": [bbox], "crs": CRS84}}
    return document


def queryables(request, relation: Relation) -> dict:
    """The columns a filter may name, as JSON Schema (Part 3); the location as ``geometry`` on a
    latitude/longitude relation, as CQL2 names it there."""
    properties = {}
    for column in relation.columns:
        schema = {"format": "geometry-any"} if column.is_geometry else dict(type_info(column).openapi)
        schema["title"] = column.name
        if column.comment:
            schema["description"] = column.comment
        properties[column.name] = schema
    if not relation.geometry_columns:
        properties.setdefault("geometry", {"format": "geometry-point", "title": "the latitude/longitude point"})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": links.collection_url(request, relation) + "/queryables",
        "type": "object",
        "title": collection_id(relation),
        "properties": properties,
        "additionalProperties": False,
    }


def _catalog_path(relation: Relation) -> str:
    return f"/catalog/{encode_segment(relation.schema)}/{encode_segment(relation.name)}/"
