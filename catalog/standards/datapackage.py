"""Frictionless Data Package v2 (https://datapackage.org/standard/data-package/) with Table Schema:
``/api/<schema>/<relation>/datapackage.json`` (the relation, and the relations its foreign keys
point at, so that a reader can check them) and ``/api/<schema>/datapackage.json`` (every relation
of the schema).

Each resource is the relation's whole-relation CSV download (``?format=csv&limit=all``, stored once
per data version), with PostgreSQL's COPY dialect, and a Table Schema: field types from
``types.py``, descriptions from comments, ``required`` from NOT NULL, ``enum`` from enum types,
``unique`` from single-column unique keys, ``primaryKey`` and ``foreignKeys`` between the
relations of the package (a foreign key to a relation outside the package is left out: Table
Schema can only point inside its package). Nothing is counted: the package never scans a table.

The per-schema package is built once per snapshot version, host and scheme and shared
(``shared_document``: single flight, the documents' byte budget DOCUMENT_CACHE_MB, stored beside
the downloads); at 10,000 relations it holds every relation's fields (a few MB: docs/opendata.md).
"""

from __future__ import annotations

from autoapi.public import Relation, get_snapshot, shared_document
from catalog import metadata
from catalog.standards import common
from catalog.standards.types import standard_types

PROFILE = "https://datapackage.org/profiles/2.0/datapackage.json"
RESOURCE_PROFILE = "https://datapackage.org/profiles/2.0/dataresource.json"
TABLE_SCHEMA_PROFILE = "https://datapackage.org/profiles/2.0/tableschema.json"
DIALECT = {"header": True, "delimiter": ",", "quoteChar": '"', "doubleQuote": True, "lineTerminator": "\n"}


def field(column, unique: bool) -> dict:
    result = {"name": column.name, **standard_types(column).table_schema}
    if column.comment:
        result["description"] = column.comment
    constraints = {}
    if not column.nullable:
        constraints["required"] = True
    if unique:
        constraints["unique"] = True
    if column.enum_labels and not column.is_array:
        constraints["enum"] = list(column.enum_labels)
    if constraints:
        result["constraints"] = constraints
    return result


def table_schema(relation: Relation, names: dict[tuple[str, str], str]) -> dict:
    """The relation's Table Schema; ``names`` maps the package's relations to resource names."""
    single = {k.columns[0] for k in relation.unique_keys if len(k.columns) == 1}
    if relation.primary_key and len(relation.primary_key.columns) == 1:
        single.discard(relation.primary_key.columns[0])  # primaryKey says it already
    schema = {
        "$schema": TABLE_SCHEMA_PROFILE,
        "fields": [field(c, c.name in single) for c in relation.columns],
        "missingValues": [""],
    }
    if relation.primary_key:
        schema["primaryKey"] = list(relation.primary_key.columns)
    foreign = []
    for fk in relation.foreign_keys:
        target = (fk.ref_schema, fk.ref_relation)
        if target not in names:
            continue
        reference = {"fields": list(fk.ref_columns)}
        if target != relation.qualified_name:  # a reference to itself names no resource (v2)
            reference["resource"] = names[target]
        foreign.append({"fields": list(fk.columns), "reference": reference})
    if foreign:
        schema["foreignKeys"] = foreign
    return schema


def resource(request, relation: Relation, names: dict) -> dict:
    entry = metadata.for_relation(relation)
    result = {
        "$schema": RESOURCE_PROFILE,
        "name": names[relation.qualified_name],
        "type": "table",
        "path": common.download_url(request, relation, "csv"),
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "title": entry.get("title") or f"{relation.schema}.{relation.name}",
        "dialect": DIALECT,
        "schema": table_schema(relation, names),
    }
    description = entry.get("description") or relation.comment
    if description:
        result["description"] = description
    return result


def package(request, relations: list[Relation], name: str, title: str, description: str | None) -> dict:
    names = {r.qualified_name: common.resource_name(r) for r in relations}
    site = metadata.site()
    body = {
        "$schema": PROFILE,
        "name": name,
        "title": title,
        "homepage": request.build_absolute_uri("/"),
        "resources": [resource(request, r, names) for r in relations],
    }
    if description:
        body["description"] = description
    if site.get("license"):
        license = site["license"]
        body["licenses"] = [
            {"path": license, "title": license} if common.is_url(license) else {"name": "custom", "title": license}
        ]
    if metadata.publisher_name(site):
        body["contributors"] = [{"title": metadata.publisher_name(site), "roles": ["publisher"]}]
    return body


def relation_package(request, schema: str, relation: str):
    found = common.find_relation(schema, relation)
    if found is None:
        return common.not_found("no such published relation")
    snapshot = get_snapshot()
    relations = [found, *common.referenced(snapshot, found)]
    entry = metadata.for_relation(found)
    body = package(
        request,
        relations,
        common.resource_name(found),
        entry.get("title") or f"{found.schema}.{found.name}",
        entry.get("description") or found.comment,
    )
    return common.json_answer(body)


# Built once per version (snapshot, settings, metadata file), schema, host and scheme, and shared
# (autoapi/web/documents.py); an unknown schema's 404 is passed on, never kept.
@shared_document("schema-datapackage", stamp=metadata.stamp)
def schema_package(request, schema: str):
    name = common.schema_of(schema)
    if name is None:
        return common.not_found("no such published schema")
    relations = sorted((r for r in get_snapshot().relations if r.schema == name), key=lambda r: r.name)
    slug = common.resource_name(relations[0]).split(".")[0] if relations else "schema"
    body = package(request, relations, slug, f"Schema {name}", f"Every relation the portal publishes in schema {name}.")
    return common.json_answer(body)
