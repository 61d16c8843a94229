"""What PostgreSQL's statistics say about published relations, for the catalog's data dictionary
profiles and freshness notes. Each reader runs ONE statement on the published connection, reads
only PostgreSQL's own statistics views (never the relation's rows), and sees only what the role
may. Reached through ``autoapi.public``.
"""

from __future__ import annotations

from django.db import connections

from autoapi.conf import DATABASE_ALIAS
from autoapi.schema.pgarray import parse_array_literal
from autoapi.schema.snapshot import Relation

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
    ``most_common_elems`` are not read). Nothing under row security (``Relation.row_security``):
    the sample was drawn from every row, seen or not.
    """
    if relation.row_security:
        return {}
    with connections[DATABASE_ALIAS].cursor() as cursor:
        cursor.execute(_COLUMN_STATISTICS_SQL, [relation.schema, relation.name])
        found = cursor.fetchall()
    published = {c.name for c in relation.columns}
    return {row[0]: _column_entry(*row[1:]) for row in found if row[0] in published}


def _column_entry(null_frac, n_distinct, mcv, mcf, histogram, correlation, width, reltuples) -> dict:
    """One column's dict (see ``column_statistics``) from its ``pg_stats`` row."""
    rows = reltuples if reltuples is not None and reltuples >= 0 else None
    return {
        "null_fraction": null_frac,
        "n_distinct": n_distinct,
        "distinct_values": _distinct_values(n_distinct, rows),
        "most_common_values": _array_or_empty(mcv),
        "most_common_freqs": tuple(mcf or ()),
        "histogram_bounds": _array_or_empty(histogram),
        "correlation": correlation,
        "average_width": width,
        "estimated_rows": rows,
    }


def _distinct_values(n_distinct: float | None, rows: float | None) -> float | None:
    """``n_distinct`` as a count: a negative one is minus a share of the rows."""
    if n_distinct is None:
        return None
    if n_distinct >= 0:
        return n_distinct
    return -n_distinct * rows if rows is not None else None


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
    the counters run since the statistics were last reset). A relation under row security
    (``Relation.row_security``) is left out: its counters count rows the role may not see.
    """
    wanted = {r.oid: (r.schema, r.name) for r in relations if not r.row_security}
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
