"""The catalog's views: the home page, one page per relation, and the error page.

Each view reads the current snapshot through ``autoapi.public``, turns records into plain dicts
(``catalog.present``) and renders a template. Rows come from ``fetch_rows``, which filters and
orders exactly as the API does, so a relation page's preview and its download links always show
the same rows. ``error_page`` is also the site's 404 and 500 handler (``portal/health.py``).
"""
from __future__ import annotations

import copy
import logging
import shlex

from django.db import DatabaseError
from django.http import HttpResponse, QueryDict
from django.template.loader import render_to_string
from django.utils.html import escape
from rest_framework.exceptions import APIException

from autoapi.conf import portal_setting
from autoapi.public import PortalError, api_url, decode_segment, fetch_rows, get_snapshot, last_checked
from catalog import present

log = logging.getLogger(__name__)

# Query parameters of a relation page that the catalog reads itself instead of passing on to
# fetch_rows (which takes the window as arguments). Everything else goes to the API's parser,
# which rejects what it does not know, so a typo in a filter is a 400 page, not every row.
WINDOW_PARAMETERS = ("offset", "limit")
SEARCH_MAX_LENGTH = 200
FORMATS = ("json", "csv", "ndjson", "geojson")
_DATA_ERROR_PREFIX = "invalid filter value: "


def error_page(request, status: int, title: str, message: str, **extra) -> HttpResponse:
    """A page in the site layout for any error status; never raises, never touches the database."""
    context = {"status": status, "title": title, "message": message, **extra}
    try:
        body = render_to_string("catalog/error.html", context, request=request)
    except Exception:  # the last resort of handler500: a plain page rather than a second error
        log.exception("the error page template failed")
        body = (
            f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(title)}</title>"
            f"<h1>{escape(title)}</h1><p>{escape(message)}</p><p><a href=/>Back to the catalog</a></p>"
        )
    return HttpResponse(body, status=status)


def _unavailable(request) -> HttpResponse:
    response = error_page(
        request, 503, "Database unavailable", "The published database cannot be reached just now. Try again shortly."
    )
    response["Retry-After"] = "5"
    return response


def home(request):
    """Every published relation grouped by schema, narrowed by ``?q=`` when given."""
    try:
        snapshot = get_snapshot()
        checked = last_checked()
    except DatabaseError:
        log.exception("cannot read the snapshot")
        return _unavailable(request)
    query = request.GET.get("q", "").strip()[:SEARCH_MAX_LENGTH]
    shown = [r for r in snapshot.relations if not query or present.matches(r, query)]
    groups: dict[str, list[dict]] = {}
    for relation in sorted(shown, key=lambda r: (r.schema.casefold(), r.schema, r.name.casefold(), r.name)):
        groups.setdefault(relation.schema, []).append(present.relation_summary(relation))
    context = {
        "query": query,
        "groups": [
            {"schema": schema, "anchor": present.schema_anchor(schema), "relations": items}
            for schema, items in groups.items()
        ],
        "shown": len(shown),
        "total": len(snapshot.relations),
        "schema_count": len(snapshot.schemas),
        "freshness": present.freshness(snapshot, checked),
    }
    return HttpResponse(render_to_string("catalog/home.html", context, request=request))


def relation(request, schema: str, relation: str):
    """A relation's page: facts, preview of the filtered rows, downloads, dictionary, links."""
    try:
        snapshot = get_snapshot()
        checked = last_checked()
    except DatabaseError:
        log.exception("cannot read the snapshot")
        return _unavailable(request)
    try:
        found = snapshot.get(decode_segment(schema), decode_segment(relation))
    except ValueError:
        found = None
    if found is None:
        return error_page(
            request, 404, "Relation not found",
            "No published table or view has this name. It may have been renamed or removed; "
            "the catalog lists every relation published now.",
        )

    filters = request.GET.copy()
    window = {name: filters.pop(name)[-1] for name in WINDOW_PARAMETERS if name in filters}
    # What links on this page keep: the filters, and a preview size other than the default.
    page_params = filters.copy()
    if window.get("limit"):
        page_params["limit"] = window["limit"]
    context = _relation_context(request, found, snapshot, checked, filters, page_params)
    try:
        limit, offset = _window(window)
        if "format" in filters:
            raise PortalError("format is an API parameter: use the download links for JSON, CSV and other formats")
        rows = fetch_rows(_with_query(request, filters), found, limit, offset)
    except PortalError as error:
        if error.status_code == 404:  # the relation vanished under a concurrent schema change
            return error_page(request, 404, "Relation not found", error.detail)
        status, detail = error.status_code, error.detail
        if status == 400 and detail.startswith(_DATA_ERROR_PREFIX) and not context["filtered"]:
            # fetch_rows reads every data error (SQLSTATE class 22) as a bad filter value, even
            # with no filter at all; the API answers 409 there (autoapi.errors, filtered=False).
            status, detail = 409, "this relation cannot be read: " + detail[len(_DATA_ERROR_PREFIX):]
        context["error"] = _error(status, detail, getattr(error, "extra", {}))
        response = HttpResponse(render_to_string("catalog/relation.html", context, request=request), status=status)
        for name, value in getattr(error, "headers", {}).items():
            response[name] = value
        return response
    except APIException as error:  # django-filter's ValidationError for a value it cannot parse
        if isinstance(error.detail, dict):
            context["error"] = _error(400, "invalid filter value", {"errors": error.detail})
        else:
            context["error"] = _error(error.status_code, str(error.detail), {})
        status = context["error"]["status"]
        return HttpResponse(render_to_string("catalog/relation.html", context, request=request), status=status)
    except DatabaseError:
        log.exception("reading %s.%s failed", found.schema, found.name)
        return _unavailable(request)
    context["preview"] = _preview(found, page_params, rows, limit, offset)
    return HttpResponse(render_to_string("catalog/relation.html", context, request=request))


# --- helpers ------------------------------------------------------------------------------------


def _window(raw: dict) -> tuple[int, int]:
    """The preview's limit and offset from ``?limit=`` and ``?offset=`` (400 on nonsense)."""
    default, maximum = portal_setting("PREVIEW_ROWS"), portal_setting("MAX_PAGE_SIZE")
    limit = _whole_number(raw.get("limit"), "limit", default)
    offset = _whole_number(raw.get("offset"), "offset", 0)
    if not 1 <= limit <= maximum:
        raise PortalError(f"the preview shows between 1 and {maximum} rows; the download links give every row")
    return limit, offset


def _whole_number(raw: str | None, name: str, default: int) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise PortalError(f"{name} must be a whole number") from None
    if value < 0:
        raise PortalError(f"{name} must not be negative")
    return value


def _with_query(request, params: QueryDict):
    """A shallow copy of the request whose query string is ``params`` (for fetch_rows)."""
    clone = copy.copy(request)
    clone.GET = params
    return clone


def _error(status: int, detail: str, extra: dict) -> dict:
    """An error for the relation template: the message and what the API says is allowed."""
    hints = []
    errors = extra.get("errors")
    if isinstance(errors, dict):
        for field, messages in errors.items():
            texts = messages if isinstance(messages, (list, tuple)) else [messages]
            hints.append({"parameter": str(field), "message": " ".join(str(m) for m in texts)})
    for label, key in (("Allowed lookups", "allowed_lookups"), ("Allowed values", "allowed"), ("Other parameters", "allowed_parameters")):
        if extra.get(key):
            hints.append({"label": label, "values": [str(v) for v in extra[key]]})
    titles = {400: "This filter cannot be applied", 409: "This relation cannot be read", 503: "Database unavailable"}
    return {"status": status, "title": titles.get(status, "The rows cannot be shown"), "detail": detail, "hints": hints}


def _query_url(path: str, params: QueryDict, changes: dict) -> str:
    """``path`` with ``params``, some of them changed (a value of None removes the parameter)."""
    updated = params.copy()
    for name, value in changes.items():
        if value is None:
            updated.pop(name, None)
        else:
            updated[name] = value
    encoded = updated.urlencode(safe=",~")
    return f"{path}?{encoded}" if encoded else path


def _relation_context(request, relation, snapshot, checked, filters: QueryDict, page_params: QueryDict) -> dict:
    base = api_url(relation)
    path = present.catalog_url(relation)
    downloads = []
    for fmt in FORMATS:
        if fmt == "geojson" and not present.has_geojson(relation):
            continue
        params = filters.copy()
        params["format"] = fmt
        params["limit"] = "all"
        downloads.append({"format": fmt, "label": fmt.upper() if fmt != "ndjson" else "NDJSON", "url": f"{base}?{params.urlencode(safe=',~')}"})
    page_query = filters.urlencode(safe=",~")
    page_url = request.build_absolute_uri(base + (f"?{page_query}" if page_query else ""))
    csv_params = filters.copy()
    csv_params["format"] = "csv"
    csv_params["limit"] = "all"
    csv_url = request.build_absolute_uri(f"{base}?{csv_params.urlencode(safe=',~')}")
    active = []
    for name, values in filters.lists():
        if name == "ordering":
            continue
        for value in values:
            remaining = page_params.copy()
            remaining.setlist(name, [v for v in values if v != value])
            active.append({"parameter": name, "value": value, "remove_url": _query_url(path, remaining, {})})
    key = relation.key
    summary = present.relation_summary(relation)
    return {
        "relation": summary,
        "key": {"columns": list(key.columns), "is_primary": key.is_primary} if key else None,
        "dictionary": present.dictionary(relation, snapshot),
        "referenced_by": present.referenced_by(relation, snapshot),
        "downloads": downloads,
        "api_url": base,
        "curl_json": f"curl {shlex.quote(page_url)}",
        "curl_csv": f"curl -o {shlex.quote(_filename(relation) + '.csv')} {shlex.quote(csv_url)}",
        "pandas_csv": f"pandas.read_csv({csv_url!r})",
        "filters": active,
        "ordering": [
            {"name": name, "direction": direction}
            for name, direction in _current_sort(relation, filters.get("ordering", "")).items()
        ],
        "filtered": any(name != "ordering" for name in filters),
        "clear_url": _query_url(path, page_params, {name: None for name in filters}),
        "freshness": present.freshness(snapshot, checked),
    }


def _preview(relation, params: QueryDict, rows, limit: int, offset: int) -> dict:
    """The preview table; ``params`` are the query parameters its links keep."""
    path = present.catalog_url(relation)
    sorted_by = _current_sort(relation, params.get("ordering", ""))
    headers = []
    for column in rows.columns:
        header = {"name": column.name, "type": column.type, "sort": None, "url": None}
        if present.is_sortable(column):
            term = present.ordering_term(column)
            direction = sorted_by.get(column.name)
            header["sort"] = direction  # "ascending", "descending" or None, for aria-sort
            next_term = f"-{term}" if direction == "ascending" else term
            header["url"] = _query_url(path, params, {"ordering": next_term, "offset": None})
            header["next"] = "descending" if direction == "ascending" else "ascending"
        headers.append(header)
    # Each row links to its API detail URL: from the key's own cell when the key is one column
    # shown in the preview, else from a leading "Key" column (compound keys).
    key = relation.key
    names = [column.name for column in rows.columns]
    link_in_place = key is not None and len(key.columns) == 1 and key.columns[0] in names
    body = []
    for row in rows.rows:
        cells = [present.cell(row.get(name)) for name in names]
        entry = {"cells": cells, "url": None}
        if key:
            values = tuple(row.get(name) for name in key.columns)
            entry["url"] = api_url(relation, values)
            entry["label"] = ", ".join(present.cell(v)["text"] for v in values)
            if link_in_place:
                cells[names.index(key.columns[0])]["url"] = entry["url"]
        body.append(entry)
    shown = len(rows.rows)
    if rows.count_is_estimate:
        more = shown >= limit
    else:
        more = offset + shown < rows.count
    previous_offset = offset - limit
    return {
        "headers": headers,
        "rows": body,
        "has_key": key is not None,
        "key_column": key is not None and not link_in_place,
        "first": offset + 1 if shown else offset,
        "last": offset + shown,
        "count": f"{rows.count:,}",
        "count_is_estimate": rows.count_is_estimate,
        "sorted_by": sorted_by,
        "previous_url": _query_url(path, params, {"offset": str(previous_offset) if previous_offset > 0 else None}) if offset else None,
        "next_url": _query_url(path, params, {"offset": str(offset + limit)}) if more else None,
    }


def _current_sort(relation, ordering: str) -> dict[str, str]:
    """Column name to "ascending"/"descending" for each term of ``?ordering=`` (already validated)."""
    by_name = {c.name: c for c in relation.columns}
    result = {}
    for term in filter(None, (t.strip() for t in ordering.split(","))):
        descending = term.startswith("-")
        name = term[1:] if descending else term
        if name not in by_name:
            try:
                name = decode_segment(name)
            except ValueError:
                continue
        if name in by_name and name not in result:
            result[name] = "descending" if descending else "ascending"
    return result


def _filename(relation) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in f"{relation.schema}.{relation.name}")
    return safe[:120] or "relation"
