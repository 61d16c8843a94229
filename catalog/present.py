"""Metadata records and rows turned into the plain dicts the catalog's templates show.

Called by ``catalog.views`` only. Nothing here touches the database: it reads the frozen records
of ``autoapi.public`` and the rows ``fetch_rows`` returned. Templates get dicts of strings,
numbers and booleans, never records, so a template cannot reach into autoapi by accident.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

from autoapi.public import Column, Relation, Snapshot, api_url, relation_segments
from django.urls import reverse

# A cell never carries more than this many characters of one value: CSS truncates what is shown,
# and this keeps a page of wide rows (documents, geometries) from weighing megabytes.
CELL_CHARACTERS = 300

# --- facts autoapi.public does not (yet) export -------------------------------------------------
# Both mirror autoapi's own rules (typemap.type_info(...).sortable and queries.geometry_source);
# if they ever disagree, a header link gives a 400 page, or a GeoJSON link a 406, not a crash.

_SORTABLE_TYPES = {
    "int2", "int4", "int8", "oid", "numeric", "float4", "float8", "money", "bool", "text",
    "varchar", "bpchar", "name", "citext", "char", "date", "timestamp", "timestamptz", "time",
    "timetz", "uuid", "interval", "inet", "cidr", "macaddr", "macaddr8", "bit", "varbit", "bytea",
    "jsonb", "tsvector",
}
_SORTABLE_KINDS = {"e", "r", "m"}  # enums, ranges, multiranges
_UNSORTABLE_ELEMENTS = {"json", "xml", "point", "line", "lseg", "box", "path", "polygon", "circle", "geometry", "geography"}
_LATITUDE_NAMES = {"lat", "latitude"}
_LONGITUDE_NAMES = {"lon", "lng", "long", "longitude"}


def is_sortable(column: Column) -> bool:
    """Whether ``?ordering=<column>`` is accepted by the API."""
    if column.is_array:
        return column.element_type in _SORTABLE_TYPES and column.element_type not in _UNSORTABLE_ELEMENTS
    return column.base_type in _SORTABLE_TYPES or column.type_kind in _SORTABLE_KINDS


def has_geojson(relation: Relation) -> bool:
    """Whether the API offers ``?format=geojson``: a geometry column, or numeric lat/lon columns."""
    if relation.geometry_columns:
        return True
    names = {c.name.lower() for c in relation.columns if c.type_category == "N"}
    return bool(names & _LATITUDE_NAMES) and bool(names & _LONGITUDE_NAMES)


def ordering_term(column: Column) -> str:
    """The column as an ``ordering`` term: its name, or its tilde-encoded name where the plain
    name cannot survive the API's parsing (split on commas, terms stripped, ``-`` for descending)."""
    name = column.name
    if "," in name or name != name.strip() or name.startswith("-") or not name:
        return _tilde(name)
    return name


def _tilde(name: str) -> str:
    # The documented tilde encoding (README, "Names in URLs"): bytes outside A-Za-z0-9_- as ~XX.
    out = []
    for ch in name:
        if ch.isascii() and (ch.isalnum() or ch in "_-"):
            out.append(ch)
        else:
            out.extend(f"~{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


# --- small formatters --------------------------------------------------------------------------


def catalog_url(relation: Relation) -> str:
    schema, name = relation_segments(relation)
    return reverse("relation", kwargs={"schema": schema, "relation": name})


def schema_anchor(schema: str) -> str:
    """The home page's fragment id for a schema's section (any name gives a valid, unique id)."""
    return "schema-" + _tilde(schema)


def row_estimate(estimated_rows: int | None) -> str:
    if estimated_rows is None or estimated_rows < 0:
        return "unknown"
    return f"≈ {estimated_rows:,}"


def timestamp(seconds: float | None) -> dict | None:
    """A ``time.time()`` value as ISO 8601 (for ``<time datetime>``) and as readable UTC text."""
    if seconds is None:
        return None
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return {"iso": moment.isoformat(timespec="seconds"), "text": moment.strftime("%Y-%m-%d %H:%M:%S UTC")}


def freshness(snapshot: Snapshot, last_checked: float | None) -> dict:
    return {
        "built_at": timestamp(snapshot.built_at),
        "last_checked": timestamp(last_checked),
        "server_version": snapshot.server_version,
        "version": snapshot.version[:12],
    }


def compact_json(value) -> str:
    """JSON without spaces, numbers written exactly (``fetch_rows`` gives non-integers as Decimal)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{compact_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(compact_json(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def cell(value) -> dict:
    """One preview value: ``kind`` picks the styling (null, bool, num, json, text, empty)."""
    if value is None:
        return {"kind": "null", "text": "null"}
    if isinstance(value, bool):
        return {"kind": "bool", "text": "true" if value else "false"}
    if isinstance(value, (int, float, Decimal)):
        return {"kind": "num", "text": str(value)}
    if isinstance(value, (dict, list)):
        return _clipped("json", compact_json(value))
    text = str(value)
    if text == "":
        return {"kind": "empty", "text": ""}
    return _clipped("text", text)


def _clipped(kind: str, text: str) -> dict:
    if len(text) > CELL_CHARACTERS:
        return {"kind": kind, "text": text[:CELL_CHARACTERS] + "…", "clipped": True}
    return {"kind": kind, "text": text}


# --- relations ---------------------------------------------------------------------------------


def relation_summary(relation: Relation) -> dict:
    """One row of the home page."""
    return {
        "schema": relation.schema,
        "schema_anchor": schema_anchor(relation.schema),
        "name": relation.name,
        "kind": relation.kind,
        "comment": relation.comment or "",
        "rows": row_estimate(relation.estimated_rows),
        "column_count": len(relation.columns),
        "url": catalog_url(relation),
        "json_url": api_url(relation),
        "csv_url": api_url(relation, format="csv"),
        "readable": relation.is_populated,
    }


def matches(relation: Relation, needle: str) -> bool:
    """The home page search: name, comment or any column name contains ``needle`` (casefolded)."""
    needle = needle.casefold()
    haystack = [relation.name, relation.comment or ""] + [c.name for c in relation.columns]
    return any(needle in text.casefold() for text in haystack)


def dictionary(relation: Relation, snapshot: Snapshot) -> list[dict]:
    """The data dictionary: one dict per column, with its key and foreign-key memberships."""
    keys = [relation.primary_key] if relation.primary_key else []
    keys += list(relation.unique_keys)
    entries = []
    for column in relation.columns:
        memberships = []
        for key in keys:
            if column.name in key.columns:
                label = "primary key" if key.is_primary else "unique"
                if len(key.columns) > 1:
                    label += f" ({', '.join(key.columns)})"
                memberships.append(label)
        references = []
        for fk in relation.foreign_keys:
            if column.name not in fk.columns:
                continue
            target = snapshot.get(fk.ref_schema, fk.ref_relation)
            ref_column = fk.ref_columns[fk.columns.index(column.name)]
            references.append(
                {
                    "schema": fk.ref_schema,
                    "relation": fk.ref_relation,
                    "column": ref_column,
                    "url": f"{catalog_url(target)}#{column_anchor(target, ref_column)}" if target else None,
                    "composite": len(fk.columns) > 1,
                }
            )
        entries.append(
            {
                "anchor": column_anchor(relation, column.name),
                "name": column.name,
                "type": column.type,
                "nullable": column.nullable,
                "default": column.default,
                "comment": column.comment or "",
                "keys": memberships,
                "references": references,
                "enum_labels": list(column.enum_labels),
            }
        )
    return entries


def column_anchor(relation: Relation, column_name: str) -> str:
    column = relation.column(column_name)
    return f"column-{column.position}" if column else "dictionary"


def referenced_by(relation: Relation, snapshot: Snapshot) -> list[dict]:
    entries = []
    for schema, name, fk in relation.referenced_by:
        source = snapshot.get(schema, name)
        entries.append(
            {
                "schema": schema,
                "relation": name,
                "columns": ", ".join(fk.columns),
                "ref_columns": ", ".join(fk.ref_columns),
                "url": catalog_url(source) if source else None,
            }
        )
    return entries
