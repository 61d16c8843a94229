"""autoapi's small public surface, for the catalog and anything else outside the package.

Callers get the frozen metadata records and plain rows; never models, querysets or the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import psycopg2
from django.db import DatabaseError, connections, transaction
from rest_framework.exceptions import ValidationError

from autoapi.cql2 import backend as cql2_backend
from autoapi.cql2 import from_simple as cql2_from_simple
from autoapi.cql2 import words as cql2_words
from autoapi.db import replicas
from autoapi.errors import BadRequest, NotFound, PortalError, translate_database_error
from autoapi.formats.filenames import download_filename
from autoapi.formats.records import XLSX, ColumnWidth, Format
from autoapi.formats.renderers import format_label, formats_for, record_of, records_for
from autoapi.formats.rowsources import JSONRows
from autoapi.formats.tiles import TILE_PARAMETERS
from autoapi.freshness import exportcache
from autoapi.query import queries
from autoapi.query.aggregates import count_name
from autoapi.query.ordering import sort_directions
from autoapi.query.pagination import Window, non_negative_int, run_count
from autoapi.query.plans import is_filtered, value_parameters
from autoapi.query.queries import geometry_source
from autoapi.query.sampling import TableSample, can_sample
from autoapi.schema.lookups import (
    FALSE_WORDS,
    LOOKUPS,
    NEGATION_SUFFIX,
    RELATION_FILTERS,
    RESERVED_PARAMETERS,
    TRUE_WORDS,
    filter_parameters,
)
from autoapi.schema.naming import api_url, decode_key, decode_segment, encode_segment, relation_segments
from autoapi.schema.pgarray import parse_array_literal
from autoapi.schema.snapshot import Column, Relation, Snapshot
from autoapi.schema.statistics import column_statistics, relation_activity
from autoapi.schema.typemap import type_info
from autoapi.web import pagejson
from autoapi.web.documents import respond as document_response
from autoapi.web.documents import shared_document
from autoapi.web.registry import registry
from autoapi.web.responsecache import cached_page
from autoapi.web.weblinks import web_url

SHEET_ROWS = XLSX.row_cap  # the data rows an Excel sheet holds below its header (the XLSX record's cap)

__all__ = [
    "Column",
    "Relation",
    "Snapshot",
    "PortalError",
    "Rows",
    "get_snapshot",
    "last_checked",
    "api_url",
    "tile_urls",
    "relation_segments",
    "decode_segment",
    "encode_segment",
    "fetch_rows",
    "fetch_groups",
    "TableSample",
    "can_sample",
    "TimeLimitExceeded",
    "column_kind",
    "count_name",
    "non_negative_int",
    "filter_in_words",
    "filter_text",
    "simple_filter_as_cql2",
    "any_of_cql2",
    "is_sortable",
    "formats",
    "format_label",
    "cached_page",
    "RESERVED_PARAMETERS",
    "decode_key",
    "sort_directions",
    "download_filename",
    "web_url",
    "format_records",
    "format_record",
    "Format",
    "ColumnWidth",
    "SHEET_ROWS",
    "shared_document",
    "document_response",
]


def _written_filter(params, write) -> str | None:
    """The request's CQL2 ``?filter=`` written back by ``write``, or None (none, or one the API
    will refuse: the page says why)."""
    try:
        node = cql2_backend.parse(params)
    except PortalError:
        return None
    return None if node is None else write(node)


def filter_in_words(params) -> str | None:
    """The request's CQL2 ``?filter=`` in words."""
    return _written_filter(params, cql2_words.words)


def filter_text(params) -> str | None:
    """The request's CQL2 ``?filter=`` as CQL2 text, whatever its encoding."""
    return _written_filter(params, cql2_words.text)


def simple_filter_as_cql2(column: Column, lookup: str, value: str, negated: bool):
    """A simple filter as a CQL2 condition (for an OR group), or None when CQL2 cannot say it."""
    return cql2_from_simple.condition(column, lookup, value, negated)


any_of_cql2 = cql2_from_simple.any_of


def column_kind(column: Column) -> str:
    """The column's kind in the type table: "integer", "text", "date", "timestamp", "boolean", ..."""
    return type_info(column).kind


def is_sortable(column: Column) -> bool:
    """Whether ``?ordering=`` accepts this column."""
    return type_info(column).sortable


def formats(relation: Relation) -> tuple[str, ...]:
    """The API formats this relation has (GeoJSON only with a geometry or latitude/longitude)."""
    return formats_for(relation)


def format_records(relation: Relation) -> tuple[Format, ...]:
    """The records (media type, names, extension, row cap, size estimate: ``formats/records.py``)
    of the formats this relation has, in the order the API offers them."""
    return records_for(relation)


def format_record(fmt: str) -> Format | None:
    """The record of the format ``?format=fmt`` names, or None when the API has no such format."""
    return record_of(fmt)


def get_snapshot() -> Snapshot:
    return registry.current().snapshot


def read_snapshot_before_fork() -> None:
    """Read the schema snapshot in gunicorn's master, for the workers to inherit
    (``portal/gunicorn.conf.py``); each worker checks it against the catalog before serving."""
    registry.read_before_fork()


def last_checked() -> float | None:
    """When this process last compared the snapshot with the database (time.time())."""
    return registry.last_checked


def tile_urls(relation: Relation, params) -> dict | None:
    """``{"tiles": …/tiles/{z}/{x}/{y}.mvt?…, "tilejson": …/tiles.json?…}`` for ``params``' filters
    (without the parameters a tile refuses, ``ordering`` among them), or None when the relation has
    no tiles: no geometry nor latitude/longitude, or latitude/longitude on a database without PostGIS."""
    source = geometry_source(relation)
    if source is None or (source.geometry is None and get_snapshot().extension_schema("postgis") is None):
        return None
    kept = params.copy()
    for name in RESERVED_PARAMETERS - TILE_PARAMETERS:
        kept.pop(name, None)
    query = kept.urlencode(safe=",~")
    suffix = f"?{query}" if query else ""
    base = api_url(relation)
    return {"tiles": f"{base}tiles/{{z}}/{{x}}/{{y}}.mvt{suffix}", "tilejson": f"{base}tiles.json{suffix}"}


@dataclass(frozen=True)
class Rows:
    columns: tuple[Column, ...]
    rows: list[dict]  # column name -> value as the JSON API gives it
    count: int
    count_is_estimate: bool


def _query(request, relation: Relation):
    """The API's RelationQuery of ``relation`` for ``request``'s query string (a 404 when
    unpublished)."""
    api = registry.current()
    endpoints = api.endpoints(relation.schema, relation.name)
    if endpoints is None:
        why = api.why_unpublished(relation.schema, relation.name)
        raise NotFound(f"this relation is not published: {why}" if why else "this relation is no longer published")
    query = endpoints.published.query(request.GET, api_root=request.build_absolute_uri("/api/"))
    query.check_readable()
    return query


class TimeLimitExceeded(PortalError):
    """A query given a time limit of its own (``fetch_groups``) ran out of it."""


def fetch_groups(request, relation: Relation, time_limit_ms: int, sample: TableSample | None = None) -> list[dict]:
    """The groups the API answers for ``request``'s query string (``group_by``, ``aggregate``,
    filters...), at most its ``limit``, under a statement time limit of their own (the catalog's
    facets); raises TimeLimitExceeded when they run out of it, PortalError as the API would.
    ``sample``: count the rows of a sample of the relation only (``query/sampling.py``)."""
    query = _query(request, relation)
    query.table_sample = sample
    source = JSONRows()
    try:
        _window, statement, _count = query.grouped(source, 0)
    except ValidationError as exc:
        raise BadRequest("invalid query parameter", errors=exc.detail) from None
    alias = replicas.read_alias(request)
    try:
        with transaction.atomic(using=alias):
            with connections[alias].cursor() as cursor:
                # No parallel workers: facets already run side by side with each other and with the
                # page, and extra workers would only fight them for the same cores.
                cursor.execute(
                    "SELECT set_config('statement_timeout', %s, true), "
                    "set_config('max_parallel_workers_per_gather', '0', true)",
                    [str(int(time_limit_ms))],
                )
            page = source.read_page(statement, alias)
    except (DatabaseError, psycopg2.Error) as exc:
        if getattr(exc.__cause__ or exc, "pgcode", None) == "57014":
            raise TimeLimitExceeded(f"counting took longer than {time_limit_ms} ms") from exc
        raise translate_database_error(
            exc, filtered=is_filtered(request.GET), grouped=True, inputs=value_parameters(request.GET)
        ) from exc
    return [pagejson.loads(row, parse_float=Decimal) for row in page.rows]


def fetch_rows(request, relation: Relation, limit: int, offset: int = 0) -> Rows:
    """Rows of a relation filtered and ordered by the request's query string, exactly as the API
    would filter and order them (same FilterSet, same ordering rules, same errors).

    The rows come from the current snapshot, which may be newer than the caller's record: the
    returned ``columns`` are the ones the rows hold."""
    query = _query(request, relation)
    relation = query.relation
    try:
        queryset, _terms = query.selected()  # the API's own filter and order
    except ValidationError as exc:
        raise BadRequest("invalid query parameter", errors=exc.detail) from None
    filtered = is_filtered(request.GET)
    source = JSONRows()
    statement = source.statement(Window(limit, offset).apply(queryset), queries.RowShape(relation, relation.columns))

    def read(alias):  # rows and count from one server: a read replica, or the primary
        rows = [pagejson.loads(row, parse_float=Decimal) for row in source.read_page(statement, alias).rows]
        return rows, *run_count(query.rows_count_plan(queryset), alias)

    try:
        rows, count, estimated = replicas.run(request, read, filtered=filtered)
    except (DatabaseError, psycopg2.Error) as exc:
        raise translate_database_error(exc, filtered=filtered, inputs=value_parameters(request.GET)) from exc
    return Rows(relation.columns, rows, count, estimated)


# --- for the catalog's filter form, data dictionary profiles and freshness ---------------------
# (the statistics readers live in statistics.py, the array parser in pgarray.py)

__all__ += [
    "lookups",
    "filter_parameter",
    "column_statistics",
    "relation_activity",
    "parse_array_literal",
    "LOOKUPS",
    "NEGATION_SUFFIX",
    "RELATION_FILTERS",
    "TRUE_WORDS",
    "FALSE_WORDS",
    "filter_parameters",
]


def lookups(column: Column) -> tuple[str, ...]:
    """The lookups ``?<column>__<lookup>=`` accepts for this column (docs/api.md, "Filters")."""
    return type_info(column).lookups


def filter_parameter(column_name: str, lookup: str = "exact", negated: bool = False) -> str:
    """The query parameter the API reads for a filter: ``col``, ``col__gt``, ``col__exact`` for a
    column named like a reserved parameter, with the ``!`` suffix when negated."""
    plain = lookup == "exact" and column_name not in RESERVED_PARAMETERS
    name = column_name if plain else f"{column_name}__{lookup}"
    return name + "!" if negated else name


# --- data versions and stored downloads (dataversion.py, exportcache.py) --------------------------

__all__ += ["data_last_changed", "stored_download_size"]


def data_last_changed(relation: Relation) -> dict:
    """``{"known": bool, "at": float | None, "why": str}``: when this process first saw the
    relation's current data (Unix time, on a whole second; None when unknown or, rarely, when two
    versions came within one second), or why PostgreSQL's counters cannot tell."""
    version = registry.data_version(relation)
    return {"known": version.known, "at": version.observed, "why": version.why_unknown}


def stored_download_size(request, relation: Relation, fmt: str) -> int | None:
    """The size in bytes of the stored whole-relation download in ``fmt`` for the current data, or
    None when none is stored (yet)."""
    version = registry.data_version(relation)
    if not version.known:
        return None
    entry = exportcache.entry_for(request, relation, fmt, version.tag, get_snapshot().version)
    found = exportcache.stored(entry) if entry is not None else None
    try:
        return found[0].stat().st_size if found else None
    except OSError:  # evicted meanwhile
        return None


# --- for the open-data standards and the change log (catalog/standards) --------------------------

__all__ += [
    "on_check",
    "stored_download_path",
    "csv_header",
    "add_openapi_paths",
    "openapi_path_parameter",
    "published_database",
]

from autoapi.query.csvsafety import csv_header  # noqa: E402 - a CSV column's header text (formulas neutralised or not)


def on_check(listener) -> None:
    """Call ``listener(snapshot, versions, checked_at, generation)`` after every schema and
    data-version check of this process (every REFRESH_INTERVAL, in the watcher's thread):
    ``versions(relation)`` gives ``(tag, observed)``, the relation's data version and the Unix
    second any process first saw it (None, None when unknown); ``generation`` moves whenever any
    relation's version does, so a listener can skip a check where nothing moved."""

    def call(snapshot, data_versions, checked_at):
        def versions(relation):
            version = data_versions.get(relation)
            return version.tag, version.observed

        listener(snapshot, versions, checked_at, data_versions.generation)

    call.__wrapped__ = listener
    for known in registry._listeners:  # once per listener, however often a module subscribes
        if getattr(known, "__wrapped__", None) is listener:
            return
    registry.subscribe(call)


def stored_download_path(request, relation: Relation, fmt: str):
    """The stored whole-relation download in ``fmt`` for the current data (a ``pathlib.Path``), or
    None when none is stored (yet): its bytes are exactly what ``?format=<fmt>&limit=all`` sends."""
    version = registry.data_version(relation)
    if not version.known:
        return None
    entry = exportcache.entry_for(request, relation, fmt, version.tag, get_snapshot().version)
    found = exportcache.stored(entry) if entry is not None else None
    return found[0] if found else None


def add_openapi_paths(paths) -> None:
    """Document more paths in ``/api/schema/``: ``paths()`` returns OpenAPI path items."""
    from autoapi.web import openapi

    if paths not in openapi.EXTRA_PATHS:
        openapi.EXTRA_PATHS.append(paths)


def openapi_path_parameter(name: str, description: str, schema: dict | None = None) -> dict:
    """An OpenAPI path parameter (a string unless ``schema`` says otherwise), as every document
    of the portal writes them."""
    from autoapi.web.openapi_parameters import path_parameter

    return path_parameter(name, description, schema)


def published_database() -> tuple[str, str, str, str]:
    """(host, port, database, user) of the published database's connection settings: names
    what the portal publishes, and as whom (never the password)."""
    from autoapi.conf import DATABASE_ALIAS

    entry = connections[DATABASE_ALIAS].settings_dict
    return tuple(str(entry.get(key) or "") for key in ("HOST", "PORT", "NAME", "USER"))
