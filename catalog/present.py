"""Metadata records and rows turned into the plain dicts the catalog's templates show.

Called by ``catalog.views`` only. Nothing here touches the database: it reads the frozen records
of ``autoapi.public`` and the rows ``fetch_rows`` returned. Templates get dicts of strings,
numbers and booleans, never records, so a template cannot reach into autoapi by accident.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.http import QueryDict
from django.urls import get_script_prefix, get_urlconf, reverse

from autoapi.public import Column, Relation, Snapshot, api_url, encode_segment, formats, relation_segments
from catalog.filtering import parameter_for

# A cell never carries more than this many characters of one value: CSS truncates what is shown,
# and this keeps a page of wide rows (documents, geometries) from weighing megabytes.
CELL_CHARACTERS = 300


def ordering_term(column: Column) -> str:
    """The column as an ``ordering`` term: its name, or its tilde-encoded name where the plain
    name cannot survive the API's parsing (split on commas, terms stripped, ``-`` for descending)."""
    name = column.name
    if "," in name or name != name.strip() or name.startswith("-") or not name:
        return encode_segment(name)
    return name


# --- small formatters --------------------------------------------------------------------------


def catalog_url(relation: Relation) -> str:
    schema, name = relation_segments(relation)
    return f"{relation_url_prefix()}{schema}/{name}/"


PREFIXES_KEPT = 16
_prefixes: dict[tuple, str] = {}  # (script prefix, URL configuration) -> relation pages' prefix


def relation_url_prefix() -> str:
    """What every relation page's path starts with (``/catalog/``, after the script prefix):
    ``reverse`` once per script prefix and URL configuration, not once per relation (the
    whole-catalog documents make 10,000 such links). Segments are tilde-encoded, all characters
    ``reverse`` leaves as they are, so prefix + segments is exactly what it returns."""
    key = (get_script_prefix(), get_urlconf(), settings.ROOT_URLCONF)
    prefix = _prefixes.get(key)
    if prefix is None:
        if len(_prefixes) >= PREFIXES_KEPT:  # a deployment has one or two; never let it grow
            _prefixes.clear()
        prefix = _prefixes[key] = reverse("relation", kwargs={"schema": "s", "relation": "r"}).removesuffix("s/r/")
    return prefix


def key_text(value) -> str:
    """A value as a key segment or a filter value: what the API's filters read back as it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return compact_json(value)
    return str(value)


def row_url(relation: Relation, values) -> str:
    """A row's catalog page: its key values tilde-encoded and joined by commas, as in the API."""
    return catalog_url(relation) + ",".join(encode_segment(key_text(v)) for v in values) + "/"


def filtered_url(relation: Relation, conditions: dict) -> str:
    """The relation's page filtered by ``column = value`` for each item of ``conditions``."""
    params = QueryDict(mutable=True)
    for column, value in conditions.items():
        params[parameter_for(relation, column, "exact", False) or f"{column}__exact"] = key_text(value)
    return f"{catalog_url(relation)}?{params.urlencode(safe=',~')}"


def schema_anchor(schema: str) -> str:
    """The home page's fragment id for a schema's section (any name gives a valid, unique id)."""
    return "schema-" + encode_segment(schema)


def row_estimate(estimated_rows: int | None) -> str:
    if estimated_rows is None or estimated_rows < 0:
        return "unknown"
    return f"≈ {estimated_rows:,}"


def timestamp(seconds: float | None) -> dict | None:
    """A ``time.time()`` value as ISO 8601 (for ``<time datetime>``) and as readable UTC text."""
    if seconds is None:
        return None
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return {"iso": moment.isoformat(timespec="seconds"), "text": moment.strftime("%Y-%m-%d %H:%M:%S UTC")}


def moment(value: datetime | None) -> dict | None:
    """An aware datetime as ISO 8601 and as readable UTC text."""
    if value is None:
        return None
    return timestamp(value.timestamp())


def data_changed(info: dict) -> dict:
    """``autoapi.public.data_last_changed`` for the page: the moment, or why it is unknown."""
    return {"known": info["known"], "at": timestamp(info["at"]), "why": info["why"]}


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
        return (
            "{"
            + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{compact_json(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list):
        return "[" + ",".join(compact_json(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def cell(value, limit: int = CELL_CHARACTERS) -> dict:
    """One preview value: ``kind`` picks the styling (null, bool, num, json, text, empty)."""
    if value is None:
        return {"kind": "null", "text": "null"}
    if isinstance(value, bool):
        return {"kind": "bool", "text": "true" if value else "false"}
    if isinstance(value, (int, float, Decimal)):
        return {"kind": "num", "text": str(value)}
    if isinstance(value, (dict, list)):
        return _clipped("json", compact_json(value), limit)
    text = str(value)
    if text == "":
        return {"kind": "empty", "text": ""}
    return _clipped("text", text, limit)


def _clipped(kind: str, text: str, limit: int) -> dict:
    if len(text) > limit:
        return {"kind": kind, "text": text[:limit] + "…", "clipped": True}
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
        "has_map": "geojson" in formats(relation),
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
    return [
        {
            "anchor": column_anchor(relation, column.name),
            "name": column.name,
            "type": column.type,
            "nullable": column.nullable,
            "default": column.default,
            "comment": column.comment or "",
            "keys": _key_memberships(column.name, keys),
            "references": _column_references(relation, column.name, snapshot),
            "enum_labels": list(column.enum_labels),
        }
        for column in relation.columns
    ]


def _key_memberships(column_name: str, keys) -> list[str]:
    """The primary and unique keys a column belongs to, e.g. "unique (a, b)"."""
    memberships = []
    for key in keys:
        if column_name in key.columns:
            label = "primary key" if key.is_primary else "unique"
            if len(key.columns) > 1:
                label += f" ({', '.join(key.columns)})"
            memberships.append(label)
    return memberships


def _column_references(relation: Relation, column_name: str, snapshot: Snapshot) -> list[dict]:
    """The columns a column refers to through the relation's foreign keys, with links to them."""
    references = []
    for fk in relation.foreign_keys:
        if column_name not in fk.columns:
            continue
        target = snapshot.get(fk.ref_schema, fk.ref_relation)
        ref_column = fk.ref_columns[fk.columns.index(column_name)]
        references.append(
            {
                "schema": fk.ref_schema,
                "relation": fk.ref_relation,
                "column": ref_column,
                "url": f"{catalog_url(target)}#{column_anchor(target, ref_column)}" if target else None,
                "composite": len(fk.columns) > 1,
            }
        )
    return references


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


MAX_INDENT = 6  # deeper partitions are drawn at the sixth step (portal.css .indent-6)


def partitions(relation: Relation) -> list[dict]:
    """A partitioned table's partitions, depth first, with their bounds (level 1: direct child);
    ``indent`` names a CSS class (``indent-1`` to ``indent-6``: no style attribute under the CSP)."""
    return [
        {
            "name": f"{p.schema}.{p.name}",
            "bound": p.bound,
            "level": p.level,
            "indent": min(p.level - 1, MAX_INDENT),
            "parent": p.parent,
            "is_partitioned": p.is_partitioned,
        }
        for p in relation.partitions
    ]


def references(relation: Relation, snapshot: Snapshot) -> list[dict]:
    """The relation's own foreign keys: the relations it refers to."""
    entries = []
    for fk in relation.foreign_keys:
        target = snapshot.get(fk.ref_schema, fk.ref_relation)
        entries.append(
            {
                "schema": fk.ref_schema,
                "relation": fk.ref_relation,
                "columns": ", ".join(fk.columns),
                "ref_columns": ", ".join(fk.ref_columns),
                "url": catalog_url(target) if target else None,
            }
        )
    return entries


def error_summary(status: int, detail: str, extra: dict) -> dict:
    """An error for the relation template: the message and what the API says is allowed."""
    hints = []
    errors = extra.get("errors")
    if isinstance(errors, dict):
        for field, messages in errors.items():
            texts = messages if isinstance(messages, (list, tuple)) else [messages]
            hints.append({"parameter": str(field), "message": " ".join(str(m) for m in texts)})
    for label, key in (
        ("Allowed lookups", "allowed_lookups"),
        ("Allowed values", "allowed"),
        ("Other parameters", "allowed_parameters"),
        ("Expected", "expected"),
    ):
        if extra.get(key):
            hints.append({"label": label, "values": [str(v) for v in extra[key]]})
    titles = {400: "This filter cannot be applied", 409: "This relation cannot be read", 503: "Database unavailable"}
    return {"status": status, "title": titles.get(status, "The rows cannot be shown"), "detail": detail, "hints": hints}
