"""The standards' documents and the change feeds in the API's OpenAPI document (``/api/schema/``),
through ``autoapi.public.add_openapi_paths``."""

from __future__ import annotations

from autoapi.public import openapi_path_parameter

ERROR = {"$ref": "#/components/schemas/Error"}
SCHEMA = openapi_path_parameter("schema", "The schema's name, tilde-encoded as in every API URL")
RELATION = openapi_path_parameter("relation", "The relation's name, tilde-encoded as in every API URL")
BEFORE = {
    "name": "before",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 1},
    "description": "Entries older than this entry number (from the feed's next link); nothing else is accepted",
}
NOT_FOUND = {"description": "No such published relation or schema", "content": {"application/json": {"schema": ERROR}}}
BAD = {"description": "A bad or unknown parameter", "content": {"application/json": {"schema": ERROR}}}
# The site-wide feeds are the catalog's pages: their 400 is its HTML error page.
BAD_PAGE = {"description": "A bad or unknown parameter", "content": {"text/html": {"schema": {"type": "string"}}}}


def _get(operation_id: str, summary: str, media_type: str, parameters: list, description: str = "") -> dict:
    responses = {
        "200": {
            "description": summary,
            "content": {media_type: {"schema": {"type": "object"} if "json" in media_type else {"type": "string"}}},
        }
    }
    if any(p["in"] == "path" for p in parameters):
        responses["404"] = NOT_FOUND
    responses.update(
        {status: {"$ref": f"#/components/responses/E{status}"} for status in ("408", "414", "429", "431", "503")}
    )
    if any(p["in"] == "query" for p in parameters):
        responses["400"] = BAD if any(p["in"] == "path" for p in parameters) else BAD_PAGE
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "description": description,
            "tags": ["open data standards"],
            "parameters": parameters,
            "responses": responses,
        }
    }


def paths() -> dict:
    relation = "/api/{schema}/{relation}/"
    return {
        "/api/{schema}/datapackage.json": _get(
            "schemaDataPackage",
            "Data Package v2 of every relation of the schema",
            "application/json",
            [SCHEMA],
            "Frictionless Data Package v2: one resource per relation (its CSV download) with a Table Schema.",
        ),
        relation + "datapackage.json": _get(
            "relationDataPackage",
            "Data Package v2 of the relation",
            "application/json",
            [SCHEMA, RELATION],
            "The relation's CSV download with a Table Schema (types, primary and foreign keys, NOT NULL, enums), "
            "and the relations its foreign keys point at.",
        ),
        relation + "csv-metadata.json": _get(
            "relationCsvw",
            "CSV on the Web metadata of the relation's CSV download",
            "application/csvm+json",
            [SCHEMA, RELATION],
            'CSV answers link to it: Link: <csv-metadata.json>; rel="describedby".',
        ),
        relation + "croissant.json": _get(
            "relationCroissant",
            "Croissant 1.1 description of the relation",
            "application/ld+json",
            [SCHEMA, RELATION],
            "FileObjects for the CSV and Parquet downloads (sha256 of the stored files) and a RecordSet of the columns.",
        ),
        relation + "changes.atom": _get(
            "relationChangesAtom",
            "The relation's changes (Atom 1.0)",
            "application/atom+xml",
            [SCHEMA, RELATION, BEFORE],
        ),
        relation + "changes.json": _get(
            "relationChangesJson",
            "The relation's changes (JSON Feed 1.1)",
            "application/feed+json",
            [SCHEMA, RELATION, BEFORE],
        ),
        "/changes.atom": _get(
            "changesAtom",
            "Every relation's changes (Atom 1.0)",
            "application/atom+xml",
            [BEFORE],
            "Relations published or withdrawn, columns added, dropped, renamed or retyped, comments "
            "changed, new data versions; only relations the portal publishes.",
        ),
        "/changes.json": _get(
            "changesJson", "Every relation's changes (JSON Feed 1.1)", "application/feed+json", [BEFORE]
        ),
        "/data.json": _get("dcatUs3", "The catalog in DCAT-US 3.0", "application/json", []),
        "/data-1.1.json": _get("dcatUs11", "The catalog in DCAT-US 1.1", "application/json", []),
    }
