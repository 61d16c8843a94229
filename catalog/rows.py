"""Row pages: ``/catalog/<schema>/<relation>/<key>/`` for relations with a primary or unique key.

The key segment is the API's (``autoapi.public.api_url``): each key value tilde-encoded, joined by
commas. The row is read through ``fetch_rows`` with the key as exact filters, the same data path as
the preview and the API, so the same rows are readable and the same values come back. Foreign
keys link to the referenced row's page (or, when they point at columns that are not the target's
row key, to its filtered relation page); "referenced by" links to the referencing relations'
pages filtered to the rows that point here.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.http import HttpResponse, QueryDict
from django.template.loader import render_to_string

from autoapi.public import PortalError, api_url, cached_page, decode_key
from catalog import filtering, metadata, present
from catalog.views import (
    error_page,
    of_relation,
    read_rows,
    relation_not_found,
    unavailable,
    with_error_headers,
)

log = logging.getLogger(__name__)

VALUE_CHARACTERS = 5000  # a value longer than this is cut on the page; the JSON link has it whole


@cached_page
@of_relation
def row(request, snapshot, checked, found, key: str):
    """A row's page: every value, and the rows it refers to and that refer to it."""
    if found.key is None:
        return error_page(
            request,
            404,
            "Row not found",
            f"{found.name} has no primary or unique key, so its rows have no pages of their own.",
        )
    record = _read_row(request, found, key)
    if isinstance(record, HttpResponse):
        return record
    key_values = tuple(record.get(name) for name in found.key.columns)
    context = {
        "relation": present.relation_summary(found),
        "key_columns": list(found.key.columns),
        "label": ", ".join(present.cell(v)["text"] for v in key_values),
        "fields": _fields(found, snapshot, record),
        "references": _references(found, snapshot, record),
        "referenced_by": _referenced_by(found, snapshot, record),
        "json_url": api_url(found, key_values),
        "freshness": present.freshness(snapshot, checked),
        "site": metadata.site(),
    }
    return HttpResponse(render_to_string("catalog/row.html", context, request=request))


def _read_row(request, found, key: str):
    """The row the URL's key names, as the API gives it, or the error page that says why not."""
    try:
        values = decode_key(key)
    except ValueError:
        values = None
    if values is None or len(values) != len(found.key.columns):
        return _row_not_found(
            request,
            found,
            f"A row of {found.name} is named by {len(found.key.columns)} value(s): "
            f"{', '.join(found.key.columns)}, tilde-encoded and joined by commas.",
        )
    params = QueryDict(mutable=True)
    for column, value in zip(found.key.columns, values):
        params[filtering.parameter_for(found, column, "exact", False) or f"{column}__exact"] = value
    try:
        rows = read_rows(request, found, params, 2, 0)
    except PortalError as error:
        if error.status_code == 400:  # a value that is not of the key column's type names no row
            return _row_not_found(request, found, "No row has this key: " + error.detail + ".")
        if error.status_code == 404:
            return relation_not_found(request)
        page = error_page(request, error.status_code, "This row cannot be read", error.detail.capitalize() + ".")
        return with_error_headers(page, error)
    except DatabaseError:
        log.exception("reading a row of %s.%s failed", found.schema, found.name)
        return unavailable(request)
    if not rows.rows:
        return _row_not_found(
            request, found, f"No row of {found.name} has this key. It may have been deleted or changed."
        )
    return rows.rows[0]


def _row_not_found(request, relation, message: str) -> HttpResponse:
    return error_page(
        request,
        404,
        "Row not found",
        message,
        back_url=present.catalog_url(relation),
        back_label=f"Back to {relation.name}",
    )


def _target_link(snapshot, fk, values: dict) -> dict | None:
    """Where a foreign key's values lead: the referenced row's page when the foreign key points at
    the target's row key, else the target's page filtered to those values."""
    target = snapshot.get(fk.ref_schema, fk.ref_relation)
    if target is None:
        return None
    by_ref = dict(zip(fk.ref_columns, (values[c] for c in fk.columns)))
    if target.key and set(target.key.columns) == set(fk.ref_columns):
        return {"url": present.row_url(target, [by_ref[c] for c in target.key.columns]), "row": True}
    return {"url": present.filtered_url(target, by_ref), "row": False}


def _fields(relation, snapshot, record: dict) -> list[dict]:
    links: dict[str, dict] = {}
    for fk in relation.foreign_keys:
        if len(fk.columns) != 1 or record.get(fk.columns[0]) is None:
            continue
        link = _target_link(snapshot, fk, record)
        if link:
            links.setdefault(fk.columns[0], {**link, "target": f"{fk.ref_schema}.{fk.ref_relation}"})
    fields = []
    for column in relation.columns:
        fields.append(
            {
                "name": column.name,
                "type": column.type,
                "comment": column.comment or "",
                "anchor": present.column_anchor(relation, column.name),
                "value": present.cell(record.get(column.name), VALUE_CHARACTERS),
                "link": links.get(column.name),
            }
        )
    return fields


def _references(relation, snapshot, record: dict) -> list[dict]:
    """Every foreign key of this row whose values are all set, with the link it leads to."""
    entries = []
    for fk in relation.foreign_keys:
        if any(record.get(c) is None for c in fk.columns):
            continue
        link = _target_link(snapshot, fk, record)
        values = ", ".join(present.cell(record.get(c))["text"] for c in fk.columns)
        entries.append(
            {
                "columns": ", ".join(fk.columns),
                "target": f"{fk.ref_schema}.{fk.ref_relation}",
                "ref_columns": ", ".join(fk.ref_columns),
                "values": values,
                "url": link["url"] if link else None,
            }
        )
    return entries


def _referenced_by(relation, snapshot, record: dict) -> list[dict]:
    """Relations with a foreign key to this one, each filtered to the rows that point at this row."""
    entries = []
    for schema, name, fk in relation.referenced_by:
        source = snapshot.get(schema, name)
        values = [record.get(c) for c in fk.ref_columns]
        if source is None or any(v is None for v in values):
            continue
        conditions = dict(zip(fk.columns, values))
        described = " and ".join(f"{column} = {present.key_text(value)}" for column, value in conditions.items())
        entries.append(
            {
                "relation": f"{schema}.{name}",
                "where": described,
                "url": present.filtered_url(source, conditions),
            }
        )
    return entries
