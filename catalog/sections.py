"""The sections of a relation page, each built as plain dicts for ``catalog/relation.html``.

Called by ``catalog.views.relation``: ``about`` (title, description, metadata file, statistics
dates), ``filters`` (the active filter in words, the add-a-filter form), ``preview`` (the table of
rows), ``downloads`` (buttons and the curl/Python snippets for the current view), ``map_preview``
(the vector tiles or GeoJSON the map script draws) and ``dictionary`` (columns with their profiles). None of them
queries the database: the view passes in what ``autoapi.public`` returned.
"""

from __future__ import annotations

import copy
import json
import shlex
from functools import lru_cache

from django.contrib.staticfiles import finders
from django.http import QueryDict

from autoapi.conf import portal_setting
from autoapi.public import (
    Relation,
    api_url,
    download_filename,
    format_records,
    formats,
    is_sortable,
    sort_directions,
    tile_urls,
    web_url,
)
from catalog import filtering, metadata, present, profiles

MAP_FEATURES = 1000  # rows drawn on a map: a sample that any browser draws at once


def with_query(request, params: QueryDict):
    """A shallow copy of the request whose query string is ``params`` (for the API's readers)."""
    clone = copy.copy(request)
    clone.GET = params
    return clone


def query_url(path: str, params: QueryDict, changes: dict | None = None) -> str:
    """``path`` with ``params``, some of them changed (a value of None removes the parameter)."""
    updated = params.copy()
    for name, value in (changes or {}).items():
        if value is None:
            updated.pop(name, None)
        else:
            updated[name] = value
    encoded = updated.urlencode(safe=",~")
    return f"{path}?{encoded}" if encoded else path


# --- about: title, description, metadata, freshness ------------------------------------------------


def about(relation: Relation, activity: dict | None, has_statistics: bool) -> dict:
    entry = metadata.for_relation(relation)
    contact = entry.get("contact")
    return {
        "title": entry.get("title") or relation.name,
        "titled": bool(entry.get("title")),
        "description": entry.get("description") or relation.comment or "",
        "license": entry.get("license"),
        "license_is_url": _is_url(entry.get("license")),
        "source": entry.get("source"),
        "source_is_url": _is_url(entry.get("source")),
        "keywords": entry.get("keywords") or [],
        "publisher": metadata.publisher_name(entry),
        "contact": {"name": contact["name"], "email": metadata.contact_email(entry)} if contact else None,
        "statistics": statistics_note(relation, activity, has_statistics),
    }


def _is_url(text) -> bool:
    """Whether the page may link to it: the one rule for links from data (autoapi/web/weblinks.py)."""
    return web_url(text) is not None


def statistics_note(relation: Relation, activity: dict | None, has_statistics: bool) -> dict:
    """When PostgreSQL last gathered statistics and how much changed since, as far as it tells."""
    analyzed = activity.get("last_analyzed") if activity else None
    changed = activity.get("changed_since_analyze") if activity else None
    if relation.kind == "view":
        state = "view"
    elif not has_statistics:
        state = "never"
    else:
        state = "analyzed"
    return {
        "state": state,
        "analyzed": present.moment(analyzed),
        "vacuumed": present.moment(activity.get("last_vacuumed")) if activity else None,
        "changed": f"{changed:,}" if changed is not None else None,
        "changed_count": changed,
        "tracked": bool(activity and activity.get("tracked")),
    }


# --- filters -----------------------------------------------------------------------------------------


def filters(relation: Relation, params: QueryDict, page_params: QueryDict) -> dict:
    """The active filters in words with a link removing each, and the add-a-filter form."""
    path = present.catalog_url(relation)
    described = filtering.describe(relation, params)
    for entry in described:
        remaining = _without(page_params, entry["parameter"])
        entry["remove_url"] = query_url(path, remaining)
    cleared = page_params.copy()
    for entry in described:
        cleared = _without(cleared, entry["parameter"])
    form_query = page_params.copy()
    form_query.pop("offset", None)
    return {
        "active": described,
        "sentence": filtering.sentence(described),
        "clear_url": query_url(path, cleared),
        "form": {
            **filtering.form_options(relation),
            "action": path + "-/filter",
            "query": form_query.urlencode(safe=",~"),
        },
    }


def _without(params: QueryDict, name: str) -> QueryDict:
    """``params`` without the filter ``name`` (a CQL2 filter goes with its language) nor an offset."""
    remaining = params.copy()
    for gone in (name, "offset", *(("filter-lang",) if name == filtering.FILTER else ())):
        remaining.pop(gone, None)
    return remaining


# --- preview ---------------------------------------------------------------------------------------


def preview(relation: Relation, params: QueryDict, rows, limit: int, offset: int) -> dict:
    """The preview table; ``params`` are the query parameters its links keep."""
    path = present.catalog_url(relation)
    sorted_by = sort_directions(relation, params.get("ordering", ""))
    key = relation.key
    names = [column.name for column in rows.columns]
    # Each row links to its own page: from the key's cell when the key is one column shown in
    # the preview, else from a leading "Key" column (compound keys).
    link_in_place = key is not None and len(key.columns) == 1 and key.columns[0] in names
    shown = len(rows.rows)
    more = shown >= limit if rows.count_is_estimate else offset + shown < rows.count
    previous_offset = offset - limit
    return {
        "headers": [_sort_header(column, path, params, sorted_by) for column in rows.columns],
        "rows": [_preview_row(relation, names, row, link_in_place) for row in rows.rows],
        "has_key": key is not None,
        "key_column": key is not None and not link_in_place,
        "first": offset + 1 if shown else offset,
        "last": offset + shown,
        "count": f"{rows.count:,}",
        "count_number": rows.count,
        "count_is_estimate": rows.count_is_estimate,
        "sorted_by": sorted_by,
        "previous_url": query_url(path, params, {"offset": str(previous_offset) if previous_offset > 0 else None})
        if offset
        else None,
        "next_url": query_url(path, params, {"offset": str(offset + limit)}) if more else None,
    }


def _sort_header(column, path: str, params: QueryDict, sorted_by: dict) -> dict:
    """A column's header: its name and type, and for a sortable column the link that sorts by it."""
    header = {"name": column.name, "type": column.type, "sort": None, "url": None}
    if is_sortable(column):
        term = present.ordering_term(column)
        direction = sorted_by.get(column.name)
        header["sort"] = direction  # "ascending", "descending" or None, for aria-sort
        next_term = f"-{term}" if direction == "ascending" else term
        header["url"] = query_url(path, params, {"ordering": next_term, "offset": None})
        header["next"] = "descending" if direction == "ascending" else "ascending"
    return header


def _preview_row(relation: Relation, names: list[str], row: dict, link_in_place: bool) -> dict:
    cells = [present.cell(row.get(name)) for name in names]
    entry = {"cells": cells, "url": None}
    key = relation.key
    if key:
        values = tuple(row.get(name) for name in key.columns)
        entry["url"] = present.row_url(relation, values)
        entry["label"] = ", ".join(present.cell(v)["text"] for v in values)
        if link_in_place:
            cells[names.index(key.columns[0])]["url"] = entry["url"]
    return entry


# --- downloads and API snippets ------------------------------------------------------------------


def downloads(request, relation: Relation, filters_only: QueryDict, view_params: QueryDict) -> dict:
    """Download buttons (every matching row) and the snippets that fetch the page on screen.

    ``filters_only`` holds the filters and ordering; ``view_params`` adds the preview's window."""
    base = api_url(relation)
    buttons = []
    for record in format_records(relation):  # one button per API format, named by its record
        params = filters_only.copy()
        params["format"] = record.key
        params["limit"] = "all"
        buttons.append({"format": record.key, "label": record.label, "url": f"{base}?{params.urlencode(safe=',~')}"})
    endpoint = request.build_absolute_uri(base)
    page_query = view_params.urlencode(safe=",~")
    page_url = endpoint + (f"?{page_query}" if page_query else "")
    csv_params = filters_only.copy()
    csv_params["format"] = "csv"
    csv_params["limit"] = "all"
    csv_url = f"{endpoint}?{csv_params.urlencode(safe=',~')}"
    python_params = {name: value for name, value in view_params.items()}
    python = "import requests\n\n"
    if python_params:
        python += f"response = requests.get(\n    {endpoint!r},\n    params={{\n"
        python += "".join(f"        {name!r}: {value!r},\n" for name, value in python_params.items())
        python += "    },\n)\n"
    else:
        python += f"response = requests.get({endpoint!r})\n"
    python += 'response.raise_for_status()\nrows = response.json()["results"]'
    return {
        "buttons": buttons,
        "api_url": base,
        "curl_json": f"curl {shlex.quote(page_url)}",
        "curl_csv": f"curl -o {shlex.quote(download_filename(relation, 'csv'))} {shlex.quote(csv_url)}",
        "python_requests": python,
        "pandas_csv": f"pandas.read_csv({csv_url!r})",
    }


# --- the map ---------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def leaflet_installed() -> bool:
    return finders.find("vendor/leaflet/leaflet.js") is not None


@lru_cache(maxsize=1)
def vectorgrid_installed() -> bool:
    """Leaflet.VectorGrid draws the API's vector tiles; without it the map draws the GeoJSON."""
    return finders.find(VECTORGRID) is not None


@lru_cache(maxsize=1)
def natural_earth_installed() -> bool:
    """world-atlas and topojson-client draw the base map; without them, the graticule alone."""
    return all(finders.find(path) is not None for path in (TOPOJSON, *NATURAL_EARTH))


VECTORGRID = "vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js"
TOPOJSON = "vendor/topojson-client/topojson-client.min.js"
NATURAL_EARTH = ("vendor/world-atlas/countries-110m.json", "vendor/world-atlas/countries-50m.json")


def map_preview(relation: Relation, filters_only: QueryDict) -> dict | None:
    """What ``static/catalog/map.js`` needs, for relations the API gives as GeoJSON: the GeoJSON of
    the first rows (drawn, or only fitted to when there are tiles), the vector tiles of every row
    (with PostGIS), the key that links a feature to its row page, and the base map's files."""
    if "geojson" not in formats(relation):
        return None
    params = filters_only.copy()
    params.pop("ordering", None)
    tiles = tile_urls(relation, params) if vectorgrid_installed() else None
    params["format"] = "geojson"
    params["limit"] = str(min(MAP_FEATURES, int(portal_setting("MAX_PAGE_SIZE"))))
    download = filters_only.copy()
    download["format"] = "geojson"
    download["limit"] = "all"
    return {
        "geojson_url": f"{api_url(relation)}?{params.urlencode(safe=',~')}",
        "download_url": f"{api_url(relation)}?{download.urlencode(safe=',~')}",
        "vector_tiles": tiles["tiles"] if tiles else "",
        "tilejson_url": tiles["tilejson"] if tiles else "",
        "key": json.dumps(list(relation.key.columns)) if relation.key else "",
        "row_base": present.catalog_url(relation),
        "features": int(params["limit"]),
        "features_text": f"{int(params['limit']):,}",
        "tile_url": portal_setting("MAP_TILE_URL"),
        "attribution": portal_setting("MAP_TILE_ATTRIBUTION"),
        "leaflet": leaflet_installed(),
        "vectorgrid": bool(tiles),
        "natural_earth": natural_earth_installed() and not portal_setting("MAP_TILE_URL"),
    }


# --- the facet charts ------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def chartjs_installed() -> bool:
    """Chart.js (``make install-js``) draws the facets' charts; without it they stay hidden."""
    return finders.find("vendor/chartjs/chart.umd.min.js") is not None


# --- the data dictionary -----------------------------------------------------------------------------


def dictionary(relation: Relation, snapshot, statistics: dict) -> list[dict]:
    """The dictionary's rows (``present.dictionary``), each with its column's profile."""
    entries = present.dictionary(relation, snapshot)
    for entry, column in zip(entries, relation.columns):
        entry["profile"] = profiles.profile(column, statistics.get(column.name))
    return entries
