"""W3C CSV on the Web metadata (https://www.w3.org/TR/tabular-metadata/) for a relation's
whole-relation CSV: ``/api/<schema>/<relation>/csv-metadata.json``. CSV answers of the API point
at it with ``Link: <csv-metadata.json>; rel="describedby"; type="application/csvm+json"``
(``links.py``), so a CSVW reader given only the CSV's URL finds it (CSVW "Locating Metadata" 5.2).

The document is a table group: the relation's CSV first (its exact URL, ``?format=csv&limit=all``),
then the CSVs of the relations its foreign keys point at, so that a reader can check them. Columns
carry the CSV header's exact text as ``titles``, a ``name`` that is the percent-encoded column
name (CSVW's own default; ``_`` first is escaped, as names may not start with it), the datatype
from ``types.py``, ``required`` from NOT NULL, descriptions from comments; the table its primary
key and foreign keys. The dialect is PostgreSQL's COPY: ``"`` quoting, doubled quotes, a header
row, no trimming. An empty cell is NULL (COPY writes NULL as nothing and an empty string as
``""``, which CSVW readers do not tell apart).
"""

from __future__ import annotations

from urllib.parse import quote

from autoapi.public import Relation, csv_header, get_snapshot
from catalog import metadata
from catalog.standards import common
from catalog.standards.types import standard_types

CONTEXT = "http://www.w3.org/ns/csvw"
MEDIA_TYPE = "application/csvm+json"
DIALECT = {
    "header": True,
    "delimiter": ",",
    "quoteChar": '"',
    "doubleQuote": True,
    "trim": False,
    "skipBlankRows": False,
    "lineTerminators": ["\n"],
    "encoding": "utf-8",
}


def column_name(name: str) -> str:
    """A CSVW column name: the percent-encoded name, with a leading ``_`` escaped too."""
    encoded = quote(name, safe="")
    return "%5F" + encoded[1:] if encoded.startswith("_") else encoded


def column(col) -> dict:
    result = {"name": column_name(col.name), "titles": csv_header(col.name), "datatype": standard_types(col).csvw}
    if col.comment:
        result["dc:description"] = col.comment
    if not col.nullable:
        result["required"] = True
    return result


def table(request, relation: Relation, in_group: set, with_keys: bool = True) -> dict:
    entry = metadata.for_relation(relation)
    schema = {"columns": [column(c) for c in relation.columns]}
    if relation.primary_key:
        schema["primaryKey"] = [column_name(n) for n in relation.primary_key.columns]
    foreign = []
    for fk in relation.foreign_keys if with_keys else ():
        target = get_snapshot().get(fk.ref_schema, fk.ref_relation)
        if target is None or target.qualified_name not in in_group:
            continue
        foreign.append(
            {
                "columnReference": [column_name(n) for n in fk.columns],
                "reference": {
                    "resource": common.download_url(request, target, "csv"),
                    "columnReference": [column_name(n) for n in fk.ref_columns],
                },
            }
        )
    if foreign:
        schema["foreignKeys"] = foreign
    result = {
        "url": common.download_url(request, relation, "csv"),
        "dc:title": entry.get("title") or f"{relation.schema}.{relation.name}",
        "tableSchema": schema,
    }
    description = entry.get("description") or relation.comment
    if description:
        result["dc:description"] = description
    return result


def document(request, relation: Relation) -> dict:
    others = common.referenced(get_snapshot(), relation)
    group = {relation.qualified_name, *(o.qualified_name for o in others)}
    tables = [table(request, relation, group)] + [table(request, o, group, with_keys=False) for o in others]
    body = {"@context": CONTEXT, "dialect": DIALECT, "tables": tables}
    site = metadata.site()
    if common.is_url(site.get("license")):
        body["dc:license"] = {"@id": site["license"]}
    return body


def metadata_view(request, schema: str, relation: str):
    found = common.find_relation(schema, relation)
    if found is None:
        return common.not_found("no such published relation")
    return common.json_answer(document(request, found), MEDIA_TYPE)
