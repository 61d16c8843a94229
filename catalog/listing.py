"""The catalog's lists of relations at any size: the home page's groups and each schema's own paged,
searchable list (``/catalog/<schema>/``).

The home page shows each schema with its count and its first HOME_RELATIONS relations, then "and
N more" linking to the schema's list, which shows CATALOG_PAGE_SIZE relations a page (``?page=``)
narrowed by ``?q=`` (the home page's search: names, descriptions, column names). So the home page
stays a few hundred kilobytes at 10,000 relations, and every relation is two links from it (and in
the sitemap). The sorted lists are kept per snapshot version (one sort per schema change).
"""

from __future__ import annotations

import threading

from django.http import HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse

from autoapi.conf import portal_setting
from autoapi.public import Snapshot, cached_page, decode_segment, encode_segment
from catalog import metadata, present

SEARCH_MAX_LENGTH = 200

_lock = threading.Lock()
_sorted: dict[str, dict[str, list]] = {}  # the latest snapshot version -> schema -> sorted relations


def by_schema(snapshot: Snapshot) -> dict[str, list]:
    """Schema -> its relations, both in the catalog's order (case-folded names), once per version."""
    with _lock:
        held = _sorted.get(snapshot.version)
    if held is not None:
        return held
    groups: dict[str, list] = {}
    for relation in sorted(
        snapshot.relations, key=lambda r: (r.schema.casefold(), r.schema, r.name.casefold(), r.name)
    ):
        groups.setdefault(relation.schema, []).append(relation)
    with _lock:
        _sorted.clear()
        _sorted[snapshot.version] = groups
    return groups


def schema_url(schema: str, **params) -> str:
    url = reverse("schema", kwargs={"schema": encode_segment(schema)})
    query = "&".join(f"{name}={value}" for name, value in params.items() if value not in (None, "", 1))
    return f"{url}?{query}" if query else url


def search_text(request) -> str:
    return request.GET.get("q", "").strip()[:SEARCH_MAX_LENGTH]


def home_groups(snapshot: Snapshot, query: str) -> tuple[list[dict], int]:
    """The home page's groups (each with its first relations and how many more) and the number
    of relations shown in all."""
    first = portal_setting("HOME_RELATIONS")
    groups, shown = [], 0
    for schema, relations in by_schema(snapshot).items():
        matching = [r for r in relations if present.matches(r, query)] if query else relations
        if not matching:
            continue
        shown += len(matching)
        more = max(0, len(matching) - first)
        groups.append(
            {
                "schema": schema,
                "anchor": present.schema_anchor(schema),
                "relations": [present.relation_summary(r) for r in matching[:first]],
                "count_text": f"{len(matching):,}",
                "more": more,
                "more_text": f"{more:,}",
                "more_url": _quoted_url(schema, query),
                "list_url": schema_url(schema),
            }
        )
    return groups, shown


def _quoted_url(schema: str, query: str) -> str:
    from urllib.parse import quote

    return schema_url(schema, q=quote(query, safe="")) if query else schema_url(schema)


class BadListRequest(Exception):
    pass


def _page_number(request) -> int:
    raw = request.GET.getlist("page")
    if not raw:
        return 1
    if len(raw) > 1:
        raise BadListRequest("page is given more than once")
    if not raw[0].isascii() or not raw[0].isdigit() or len(raw[0]) > 9 or int(raw[0]) < 1:
        raise BadListRequest(f"page must be a whole number from 1, not {raw[0][:40]!r}")
    return int(raw[0])


@cached_page
def schema_list(request, schema: str):
    """``/catalog/<schema>/``: the schema's relations, CATALOG_PAGE_SIZE a page, narrowed by ``?q=``."""
    from catalog.views import Unavailable, current_snapshot, error_page  # the views import this module

    try:
        snapshot, checked = current_snapshot(request)
    except Unavailable as stop:
        return stop.response
    try:
        name = decode_segment(schema)
    except ValueError:
        name = None
    relations = by_schema(snapshot).get(name) if name is not None else None
    if relations is None:
        return error_page(
            request,
            404,
            "Schema not found",
            "No published schema has this name; the catalog's home page lists every schema published now.",
        )
    if len(request.GET.get("q", "")) > SEARCH_MAX_LENGTH:
        return error_page(
            request,
            400,
            "Search too long",
            f"A search holds at most {SEARCH_MAX_LENGTH} characters.",
            back_url=schema_url(name),
            back_label=f"Back to {name}",
        )
    try:
        page = _page_number(request)
    except BadListRequest as bad:
        return error_page(
            request, 400, "No such page", str(bad), back_url=schema_url(name), back_label=f"Back to {name}"
        )
    query = search_text(request)
    matching = [r for r in relations if present.matches(r, query)] if query else relations
    size = portal_setting("CATALOG_PAGE_SIZE")
    pages = max(1, -(-len(matching) // size))
    if page > pages:
        return error_page(
            request,
            404,
            "No such page",
            f"This list has {pages} page{'s' if pages > 1 else ''}.",
            back_url=schema_url(name),
            back_label=f"Back to {name}",
        )
    shown = matching[(page - 1) * size : page * size]
    from urllib.parse import quote

    q = quote(query, safe="") if query else None
    context = {
        "schema": name,
        "anchor": present.schema_anchor(name),
        "query": query,
        "relations": [present.relation_summary(r) for r in shown],
        "total": len(relations),
        "total_text": f"{len(relations):,}",
        "matching_text": f"{len(matching):,}",
        "first": (page - 1) * size + 1 if shown else 0,
        "last": (page - 1) * size + len(shown),
        "page": page,
        "pages": pages,
        "previous_url": schema_url(name, q=q, page=page - 1) if page > 1 else None,
        "next_url": schema_url(name, q=q, page=page + 1) if page < pages else None,
        "list_url": schema_url(name),
        "freshness": present.freshness(snapshot, checked),
        "site": metadata.site(),
    }
    return HttpResponse(render_to_string("catalog/schema.html", context, request=request))
