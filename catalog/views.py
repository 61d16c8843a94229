"""The catalog's views: the home page, one page per relation, the add-a-filter redirect, and the
error page. (Row pages are in ``catalog.rows``, open-data metadata in ``catalog.opendata``.)

Each view reads the current snapshot through ``autoapi.public``, turns records into plain dicts
(``catalog.present``, ``catalog.sections``) and renders a template. Rows come from ``fetch_rows``,
which filters and orders exactly as the API does, so a relation page's preview, its map and its
download links always show the same rows. ``error_page`` is also the site's 404 and 500 handler
(``portal/health.py``).
"""

from __future__ import annotations

import functools
import logging

from django.db import DatabaseError
from django.http import HttpResponse, HttpResponseRedirect, QueryDict
from django.template.loader import render_to_string
from django.utils.html import escape

from autoapi.conf import portal_setting
from autoapi.public import (
    PortalError,
    Rows,
    api_url,
    cached_page,
    column_statistics,
    data_last_changed,
    decode_segment,
    fetch_rows,
    get_snapshot,
    last_checked,
    lookups,
    non_negative_int,
    relation_activity,
    shared_document,
    sort_directions,
)
from catalog import estimates, facet_pages, filtering, listing, metadata, opendata, or_groups, present, sections
from catalog.sections import with_query
from catalog.standards import feeds

log = logging.getLogger(__name__)

# Query parameters of a relation page that the catalog reads itself instead of passing on to
# fetch_rows (which takes the window as arguments). Everything else goes to the API's parser,
# which rejects what it does not know, so a typo in a filter is a 400 page, not every row.
WINDOW_PARAMETERS = ("offset", "limit")
SEARCH_MAX_LENGTH = 200
API_ONLY_GROUPING = ("group_by", "aggregate", "having")  # a page previews rows, never groups


def error_page(request, status: int, title: str, message: str, **extra) -> HttpResponse:
    """A page in the site layout for any error status; never raises, never touches the database."""
    context = {"status": status, "title": title, "message": message, **extra}
    try:
        context["site"] = metadata.site()
        body = render_to_string("catalog/error.html", context, request=request)
    except Exception:  # the last resort of handler500: a plain page rather than a second error
        log.exception("the error page template failed")
        body = (
            f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(title)}</title>"
            f"<h1>{escape(title)}</h1><p>{escape(message)}</p><p><a href=/>Back to the catalog</a></p>"
        )
    return HttpResponse(body, status=status)


def with_error_headers(response: HttpResponse, error: PortalError) -> HttpResponse:
    """The error's own headers (``Retry-After`` of a 429 or 503) on the page that shows it."""
    for name, value in error.headers.items():
        response[name] = value
    return response


def unavailable(request) -> HttpResponse:
    response = error_page(
        request, 503, "Database unavailable", "The published database cannot be reached just now. Try again shortly."
    )
    response["Retry-After"] = "5"
    return response


class Unavailable(Exception):
    """The snapshot cannot be read (the database is down); carries the 503 page to answer."""

    def __init__(self, response):
        self.response = response


def current_snapshot(request):
    """(snapshot, when it was last checked); raises Unavailable with a 503 page when the
    database cannot be reached."""
    try:
        return get_snapshot(), last_checked()
    except DatabaseError:
        log.exception("cannot read the snapshot")
        raise Unavailable(unavailable(request)) from None


def snapshot_and_relation(request, schema: str, relation: str):
    """(snapshot, last checked, the relation named by the URL's segments); raises Unavailable with
    the page to answer: a 503 when the database is down, a 404 when no such relation is published."""
    snapshot, checked = current_snapshot(request)
    found = find_relation(snapshot, schema, relation)
    if found is None:
        raise Unavailable(relation_not_found(request))
    return snapshot, checked, found


def home(request):
    """The schemas with their counts and first relations (``catalog.listing``), narrowed by ``?q=``
    when given. Without a search it is a whole-catalog document, built once per schema version."""
    if "q" in request.GET:
        return _home_search(request)
    return _home_document(request)


def _home(request):
    try:
        snapshot, checked = current_snapshot(request)
    except Unavailable as stop:
        return stop.response
    query = listing.search_text(request)
    groups, shown = listing.home_groups(snapshot, query)
    context = {
        "query": query,
        "groups": groups,
        "shown": shown,
        "total": len(snapshot.relations),
        "schema_count": len(snapshot.schemas),
        "freshness": present.freshness(snapshot, checked),
        "site": metadata.site(),
    }
    return HttpResponse(render_to_string("catalog/home.html", context, request=request))


_home_search = cached_page(_home)
_home_document = shared_document("home", "CATALOG_CACHE_SECONDS", metadata.stamp)(_home)


def find_relation(snapshot, schema: str, name: str):
    """The published relation named by two tilde-encoded path segments, or None."""
    try:
        return snapshot.get(decode_segment(schema), decode_segment(name))
    except ValueError:
        return None


def relation_not_found(request) -> HttpResponse:
    return error_page(
        request,
        404,
        "Relation not found",
        "No published table or view has this name. It may have been renamed or removed; "
        "the catalog lists every relation published now.",
    )


def of_relation(view):
    """A view of the relation its URL names (``schema``, ``relation``): called as
    ``view(request, snapshot, checked, relation, **other URL parts)``, or answered for it with the
    catalog's 503 or 404 page when the database is down or no such relation is published."""

    @functools.wraps(view)
    def resolved(request, schema: str, relation: str, **kwargs):
        try:
            snapshot, checked, found = snapshot_and_relation(request, schema, relation)
        except Unavailable as stop:
            return stop.response
        return view(request, snapshot, checked, found, **kwargs)

    return resolved


@cached_page
@of_relation
def relation(request, snapshot, checked, found):
    """A relation's page: facts, preview of the filtered rows, map, downloads, dictionary, links."""
    filters, asked_facets = facet_pages.split(request.GET)
    window = {name: filters.pop(name)[-1] for name in WINDOW_PARAMETERS if name in filters}
    # What links on this page keep: the filters, the facets asked for, and a preview size other
    # than the default.
    page_params = facet_pages.with_asked(filters, asked_facets)
    if window.get("limit"):
        page_params["limit"] = window["limit"]
    try:
        statistics = column_statistics(found)
        activity = relation_activity([found]).get(found.qualified_name)
    except DatabaseError:
        log.exception("reading the statistics of %s.%s failed", found.schema, found.name)
        return unavailable(request)
    # Facets are counted on other threads while this one reads the preview and renders the page.
    page_facets = facet_pages.plan(request, found, filters, statistics, asked_facets)
    context = _relation_context(request, found, snapshot, checked, filters, page_params, window, statistics, activity)
    return _with_preview(request, found, context, filters, page_params, window, statistics, page_facets)


def _with_preview(
    request, found, context: dict, filters, page_params, window: dict, statistics: dict, page_facets
) -> HttpResponse:
    """The page with its preview of the filtered rows and its facets, or with the error that stopped it."""
    try:
        limit, offset = _window(window)
        if "format" in filters:
            raise PortalError("format is an API parameter: use the download links for JSON, CSV and other formats")
        grouping = next((name for name in API_ONLY_GROUPING if name in filters), None)
        if grouping:
            raise PortalError(
                f"the parameter {grouping} belongs to the API: here the facets count values, and "
                "“Downloads and API” gives their aggregate URLs"
            )
        rows = read_rows(request, found, filters, limit, offset)
    except PortalError as error:
        if error.status_code == 404:  # the relation vanished under a concurrent schema change
            return error_page(request, 404, "Relation not found", error.detail)
        context["error"] = present.error_summary(error.status_code, error.detail, error.extra)
        body = render_to_string("catalog/relation.html", context, request=request)
        return with_error_headers(HttpResponse(body, status=error.status_code), error)
    except DatabaseError:
        log.exception("reading %s.%s failed", found.schema, found.name)
        return unavailable(request)
    context["preview"] = sections.preview(found, page_params, rows, limit, offset)
    context.update(facet_pages.context(request, page_facets, found, filters, page_params, statistics))
    # The preview's count is the download's: same filters, same rows.
    estimates.annotate(context["downloads"]["buttons"], found, statistics, rows.count, rows.count_is_estimate)
    estimates.annotate_stored(request, found, context["downloads"]["buttons"], whole=not filters)
    return HttpResponse(render_to_string("catalog/relation.html", context, request=request))


@of_relation
def add_filter(request, _snapshot, _checked, found):
    """The add-a-filter form's target: ``column``, ``lookup``, ``value`` and ``negate`` become the
    API's ``?<column>__<lookup>[!]=<value>`` on the relation page (a 303 redirect), keeping the
    page's other parameters (sent as ``query``); with ``or``, an OR group with the column's
    filters (``catalog.or_groups``). Works without JavaScript; nothing is stored."""
    column_name = request.GET.get("column", "")
    lookup = request.GET.get("lookup", "") or "exact"
    value = request.GET.get("value", "")
    negated = request.GET.get("negate", "") in ("1", "on", "true")
    query = QueryDict(request.GET.get("query", ""), mutable=True)
    parameter = filtering.parameter_for(found, column_name, lookup, negated)
    back = sections.query_url(present.catalog_url(found), query)
    if parameter is None:
        return error_page(
            request,
            400,
            "This filter cannot be added",
            _unfilterable(found, column_name, lookup),
            back_url=back,
            back_label=f"Back to {found.name}",
        )
    if lookup == "isnull" and not value.strip():
        value = "true"
    if request.GET.get("or", "") in ("1", "on", "true"):
        try:
            grouped = or_groups.with_or_group(found, query, column_name, lookup, value, negated)
        except or_groups.CannotGroup as refusal:
            return error_page(
                request,
                400,
                "This filter cannot be added",
                str(refusal),
                back_url=back,
                back_label=f"Back to {found.name}",
            )
        if grouped is not None:
            return HttpResponseRedirect(sections.query_url(present.catalog_url(found), grouped), status=303)
    query.pop("offset", None)
    query.setlist(parameter, [value])
    return HttpResponseRedirect(sections.query_url(present.catalog_url(found), query), status=303)


# --- helpers ------------------------------------------------------------------------------------


def _unfilterable(found, column_name: str, lookup: str) -> str:
    """Why the form's column and condition make no filter, and what the column takes."""
    column = found.column(column_name)
    if column is None:
        return f"{found.name} has no column {column_name!r}."
    allowed = ", ".join(map(filtering.lookup_label, lookups(column)))
    return f"The column {column_name} cannot be filtered with “{filtering.lookup_label(lookup)}”. It can be filtered with: {allowed}."


def _window(raw: dict) -> tuple[int, int]:
    """The preview's limit and offset from ``?limit=`` and ``?offset=`` (400 on nonsense)."""
    default, maximum = portal_setting("PREVIEW_ROWS"), portal_setting("MAX_PAGE_SIZE")
    limit = non_negative_int(raw, "limit", default)
    offset = non_negative_int(raw, "offset", 0)
    if not 1 <= limit <= maximum:
        raise PortalError(f"the preview shows between 1 and {maximum} rows; the download links give every row")
    return limit, offset


def read_rows(request, relation, params: QueryDict, limit: int, offset: int) -> Rows:
    """``fetch_rows`` with ``params`` as the query string."""
    return fetch_rows(with_query(request, params), relation, limit, offset)


def _relation_context(
    request,
    relation,
    snapshot,
    checked,
    filters: QueryDict,
    page_params: QueryDict,
    window: dict,
    statistics: dict,
    activity: dict | None,
) -> dict:
    key = relation.key
    view_params = filters.copy()  # the API request that gives the rows on screen (no ``_facet``)
    if window.get("limit"):
        view_params["limit"] = window["limit"]
    if window.get("offset"):
        view_params["offset"] = window["offset"]
    view_params.setdefault("limit", str(portal_setting("PREVIEW_ROWS")))
    active = sections.filters(relation, filters, page_params)
    return {
        "relation": present.relation_summary(relation),
        "about": sections.about(relation, activity, bool(statistics)),
        "key": {"columns": list(key.columns), "is_primary": key.is_primary} if key else None,
        "dictionary": sections.dictionary(relation, snapshot, statistics),
        "references": present.references(relation, snapshot),
        "partitions": present.partitions(relation),
        "referenced_by": present.referenced_by(relation, snapshot),
        "downloads": sections.downloads(request, relation, filters, view_params),
        "map": sections.map_preview(relation, filters),
        "chartjs": sections.chartjs_installed(),
        "filters": active["active"],
        "filter_sentence": active["sentence"],
        "filter_form": active["form"],
        "ordering": [
            {"name": name, "direction": direction}
            for name, direction in sort_directions(relation, filters.get("ordering", "")).items()
        ],
        "filtered": any(name != "ordering" for name in filters),
        "clear_url": active["clear_url"],
        "unsorted_url": sections.query_url(
            present.catalog_url(relation), page_params, {"ordering": None, "offset": None}
        ),
        "freshness": present.freshness(snapshot, checked),
        "data_changed": present.data_changed(data_last_changed(relation)),
        "site": metadata.site(),
        "jsonld": opendata.script_json(opendata.dataset_jsonld(request, relation, activity, snapshot.built_at)),
        "standards": standards_links(relation),
        "changes": feeds.recent(relation),
    }


def standards_links(relation) -> dict:
    """The relation's documents in the open-data standards and its change feeds (site-relative)."""
    base = api_url(relation)
    schema_segment = base.split("/")[2]
    return {
        "datapackage": base + "datapackage.json",
        "schema_datapackage": f"/api/{schema_segment}/datapackage.json",
        "csvw": base + "csv-metadata.json",
        "croissant": base + "croissant.json",
        "atom": base + "changes.atom",
        "json_feed": base + "changes.json",
    }
