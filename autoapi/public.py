"""autoapi's small public surface, for the catalog and anything else outside the package.

Callers get the frozen metadata records and plain rows; never models, querysets or the registry.
"""
from __future__ import annotations

import json
from decimal import Decimal
from dataclasses import dataclass

import psycopg2
from django.db import DatabaseError, connections
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from autoapi import queries, replicas
from autoapi.conf import DATABASE_ALIAS
from autoapi.errors import BadRequest, NotFound, PortalError, translate_database_error
from autoapi.filenames import download_filename
from autoapi.filtersets import RESERVED_PARAMETERS
from autoapi.queries import geometry_source
from autoapi.typemap import type_info
from autoapi.naming import decode_segment, encode_segment
from autoapi.pagination import Window, count_rows
from autoapi.registry import registry
from autoapi.snapshot import Column, Relation, Snapshot

__all__ = [
    "Column", "Relation", "Snapshot", "PortalError", "Rows",
    "get_snapshot", "last_checked", "api_url", "relation_segments", "decode_segment", "encode_segment", "fetch_rows",
    "is_sortable", "formats", "RESERVED_PARAMETERS", "download_filename",
]


def is_sortable(column: Column) -> bool:
    """Whether ``?ordering=`` accepts this column."""
    return type_info(column).sortable


def formats(relation: Relation) -> tuple[str, ...]:
    """The API formats this relation has (GeoJSON only with a geometry or latitude/longitude)."""
    base = ("json", "csv", "ndjson")
    return base + ("geojson",) if geometry_source(relation) is not None else base


def get_snapshot() -> Snapshot:
    return registry.current().snapshot


def last_checked() -> float | None:
    """When this process last compared the snapshot with the database (time.time())."""
    return registry.last_checked


def relation_segments(relation: Relation) -> tuple[str, str]:
    """The relation's schema and name as URL path segments (tilde-encoded)."""
    return encode_segment(relation.schema), encode_segment(relation.name)


def api_url(relation: Relation, key_values: tuple | None = None, format: str | None = None) -> str:
    schema, name = relation_segments(relation)
    url = f"/api/{schema}/{name}/"
    if key_values is not None:
        url += ",".join(encode_segment(str(v)) for v in key_values) + "/"
    if format:
        url += f"?format={format}"
    return url


@dataclass(frozen=True)
class Rows:
    columns: tuple[Column, ...]
    rows: list[dict]  # column name -> value as the JSON API gives it
    count: int
    count_is_estimate: bool


def fetch_rows(request, relation: Relation, limit: int, offset: int = 0) -> Rows:
    """Rows of a relation filtered and ordered by the request's query string, exactly as the API
    would filter and order them (same FilterSet, same ordering rules, same errors).

    The rows come from the current snapshot, which may be newer than the caller's record: the
    returned ``columns`` are the ones the rows hold."""
    endpoints = registry.current().endpoints(relation.schema, relation.name)
    if endpoints is None:
        raise NotFound("this relation is no longer published")
    relation = endpoints.viewset.relation
    view = endpoints.viewset(request=Request(request), format_kwarg=None, action="list")
    view.check_readable()
    try:
        queryset = view.filter_queryset(view.get_queryset())
    except ValidationError as exc:
        raise BadRequest("invalid query parameter", errors=exc.detail) from None
    filtered = any(name not in RESERVED_PARAMETERS for name in request.GET)
    shape = queries.RowShape(relation, relation.columns)
    statement = queries.json_rows(Window(limit, offset).apply(queryset), shape)

    def read(alias):  # rows and count from one server: a read replica, or the primary
        with connections[alias].cursor() as cursor:
            cursor.execute(statement.sql, statement.params)
            rows = [json.loads(row[0], parse_float=Decimal) for row in cursor.fetchall()]
        return rows, *count_rows(queryset, filtered=filtered, estimated_total=relation.estimated_rows, alias=alias)

    try:
        rows, count, estimated = replicas.run(request, read, filtered=filtered)
    except (DatabaseError, psycopg2.Error) as exc:
        raise translate_database_error(exc, filtered=filtered) from exc
    return Rows(relation.columns, rows, count, estimated)


# --- for the catalog's filter form, data dictionary profiles and freshness ---------------------
# Read-only catalog queries: each runs ONE statement on the published connection, reads only
# PostgreSQL's own statistics views (never the relation's rows), and sees only what the role may.

__all__ += ["lookups", "filter_parameter", "column_statistics", "relation_activity", "parse_array_literal"]


def lookups(column: Column) -> tuple[str, ...]:
    """The lookups ``?<column>__<lookup>=`` accepts for this column (README, "Filters")."""
    return type_info(column).lookups


def filter_parameter(column_name: str, lookup: str = "exact", negated: bool = False) -> str:
    """The query parameter the API reads for a filter: ``col``, ``col__gt``, ``col__exact`` for a
    column named like a reserved parameter, with the ``!`` suffix when negated."""
    if lookup == "exact" and column_name not in RESERVED_PARAMETERS:
        name = column_name
    else:
        name = f"{column_name}__{lookup}"
    return name + "!" if negated else name


_COLUMN_STATISTICS_SQL = """
    SELECT DISTINCT ON (s.attname)
           s.attname, s.null_frac, s.n_distinct, s.most_common_vals::text, s.most_common_freqs::float8[],
           s.histogram_bounds::text, s.correlation, s.avg_width, c.reltuples
    FROM pg_catalog.pg_stats AS s
    JOIN pg_catalog.pg_namespace AS n ON n.nspname = s.schemaname
    JOIN pg_catalog.pg_class AS c ON c.relnamespace = n.oid AND c.relname = s.tablename
    WHERE s.schemaname = %s AND s.tablename = %s
    ORDER BY s.attname, s.inherited DESC
"""


def column_statistics(relation: Relation) -> dict[str, dict]:
    """What the planner knows of each column (``pg_stats``), gathered by ANALYZE from a sample:
    nothing is scanned now. Columns without statistics are absent, so an empty dict means the
    relation was never analysed (or is a view). ``pg_stats`` itself hides the columns the role may
    not read and the tables whose row security applies to it.

    Each value is a dict:

    - ``null_fraction``: share of rows that are NULL (0..1);
    - ``n_distinct``: as PostgreSQL stores it: positive is a count, negative is minus a share of rows;
    - ``distinct_values``: that as an estimated count (share x ``pg_class.reltuples``), or None;
    - ``most_common_values``: tuple of the values as PostgreSQL prints them (None for NULL);
    - ``most_common_freqs``: their shares of all rows, same order;
    - ``histogram_bounds``: tuple of values dividing the other non-NULL values into equally
      populated buckets (in the column's sort order);
    - ``correlation``: physical order vs. logical order (-1..1), or None;
    - ``average_width``: average width in bytes of a non-NULL value;
    - ``estimated_rows``: ``pg_class.reltuples`` when known, else None.

    For an array column, the values are whole arrays' text forms (pg_stats' per-element
    ``most_common_elems`` are not read).
    """
    with connections[DATABASE_ALIAS].cursor() as cursor:
        cursor.execute(_COLUMN_STATISTICS_SQL, [relation.schema, relation.name])
        found = cursor.fetchall()
    published = {c.name for c in relation.columns}
    result = {}
    for name, null_frac, n_distinct, mcv, mcf, histogram, correlation, width, reltuples in found:
        if name not in published:
            continue
        rows = reltuples if reltuples is not None and reltuples >= 0 else None
        if n_distinct is None:
            distinct = None
        elif n_distinct >= 0:
            distinct = n_distinct
        else:
            distinct = -n_distinct * rows if rows is not None else None
        result[name] = {
            "null_fraction": null_frac,
            "n_distinct": n_distinct,
            "distinct_values": distinct,
            "most_common_values": _array_or_empty(mcv),
            "most_common_freqs": tuple(mcf or ()),
            "histogram_bounds": _array_or_empty(histogram),
            "correlation": correlation,
            "average_width": width,
            "estimated_rows": rows,
        }
    return result


def _array_or_empty(text: str | None) -> tuple:
    if text is None:
        return ()
    try:
        return tuple(parse_array_literal(text))
    except ValueError:  # a type whose array form this parser does not read: no values shown
        return ()


_RELATION_ACTIVITY_SQL = """
    SELECT c.oid, n.nspname, c.relname, s.relid IS NOT NULL,
           s.last_analyze, s.last_autoanalyze, s.last_vacuum, s.last_autovacuum,
           s.n_mod_since_analyze, s.n_live_tup, s.n_tup_ins, s.n_tup_upd, s.n_tup_del
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    LEFT JOIN pg_catalog.pg_stat_all_tables AS s ON s.relid = c.oid
    WHERE c.oid = ANY(%s)
"""


def relation_activity(relations) -> dict[tuple[str, str], dict]:
    """What PostgreSQL's cumulative statistics tell about recent changes to these relations, in
    ONE query (``pg_stat_all_tables``, by the snapshot's oids). PostgreSQL records no time of a
    data or schema change; the closest it keeps are the times of the last ANALYZE and VACUUM and
    the count of rows changed since the last ANALYZE. Views have no entry (``tracked`` False).

    Keys are ``(schema, name)``; each value is a dict with ``tracked`` (bool), ``last_analyzed``
    and ``last_vacuumed`` (aware datetimes, manual or automatic, whichever is later, or None),
    ``changed_since_analyze``, ``live_rows``, ``inserted``, ``updated``, ``deleted`` (ints or None;
    the counters run since the statistics were last reset).
    """
    wanted = {r.oid: (r.schema, r.name) for r in relations}
    if not wanted:
        return {}
    with connections[DATABASE_ALIAS].cursor() as cursor:
        cursor.execute(_RELATION_ACTIVITY_SQL, [list(wanted)])
        found = cursor.fetchall()
    result = {}
    for oid, schema, name, tracked, analyze, autoanalyze, vacuum, autovacuum, modified, live, ins, upd, dele in found:
        if wanted.get(oid) != (schema, name):  # the oid now names something else: say nothing
            continue
        result[(schema, name)] = {
            "tracked": bool(tracked),
            "last_analyzed": _latest(analyze, autoanalyze),
            "last_vacuumed": _latest(vacuum, autovacuum),
            "changed_since_analyze": modified,
            "live_rows": live,
            "inserted": ins,
            "updated": upd,
            "deleted": dele,
        }
    return result


def _latest(*moments):
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def parse_array_literal(text: str, delimiter: str = ",") -> list:
    """A PostgreSQL array's text form (``array_out``) as a Python list of strings, None for NULL
    and nested lists for more dimensions. Follows the rules of the PostgreSQL manual, "Arrays",
    section "Array Input and Output Syntax": elements separated by ``delimiter`` (``;`` for box),
    double quotes around elements with special characters, backslash escaping any character,
    unquoted ``NULL`` (any case) for a null, whitespace around elements ignored, an optional
    ``[lower:upper]=`` dimension decoration. Raises ValueError on anything else."""
    source = text.strip()
    if source.startswith("["):
        equals = source.find("=")
        if equals < 0:
            raise ValueError("array dimensions without '='")
        source = source[equals + 1:].lstrip()
    value, end = _parse_array(source, 0, delimiter)
    if source[end:].strip():
        raise ValueError(f"junk after the array at {end}")
    return value


def _skip_spaces(source: str, i: int) -> int:
    while i < len(source) and source[i].isspace():
        i += 1
    return i


def _parse_array(source: str, i: int, delimiter: str) -> tuple[list, int]:
    if i >= len(source) or source[i] != "{":
        raise ValueError(f"expected '{{' at {i}")
    items: list = []
    i = _skip_spaces(source, i + 1)
    if i < len(source) and source[i] == "}":
        return items, i + 1
    while True:
        i = _skip_spaces(source, i)
        if i >= len(source):
            raise ValueError("unterminated array")
        if source[i] == "{":
            item, i = _parse_array(source, i, delimiter)
        elif source[i] == '"':
            item, i = _parse_quoted(source, i + 1)
        else:
            item, i = _parse_unquoted(source, i, delimiter)
        items.append(item)
        i = _skip_spaces(source, i)
        if i >= len(source):
            raise ValueError("unterminated array")
        if source[i] == delimiter:
            i += 1
        elif source[i] == "}":
            return items, i + 1
        else:
            raise ValueError(f"unexpected {source[i]!r} at {i}")


def _parse_quoted(source: str, i: int) -> tuple[str, int]:
    out = []
    while i < len(source):
        ch = source[i]
        if ch == "\\":
            if i + 1 >= len(source):
                break
            out.append(source[i + 1])
            i += 2
        elif ch == '"':
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise ValueError("unterminated quoted element")


def _parse_unquoted(source: str, i: int, delimiter: str) -> tuple[str | None, int]:
    out = []
    kept = 0  # length of ``out`` up to its last escaped character: trailing spaces after it stay
    while i < len(source) and source[i] not in (delimiter, "}"):
        ch = source[i]
        if ch == "\\":
            if i + 1 >= len(source):
                raise ValueError("backslash at the end")
            out.append(source[i + 1])
            kept = len(out)
            i += 2
        elif ch in '{"':
            raise ValueError(f"unexpected {ch!r} in an unquoted element at {i}")
        else:
            out.append(ch)
            i += 1
    while len(out) > kept and out[-1].isspace():
        out.pop()
    if not out:
        raise ValueError(f"empty element at {i}")
    word = "".join(out)
    if kept == 0 and word.upper() == "NULL":
        return None, i
    return word, i
