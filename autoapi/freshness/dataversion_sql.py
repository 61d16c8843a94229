"""The SQL of the data version (``dataversion.py``): PostgreSQL's own change counters, and which
tables each published relation reads.

Two reads, both on the primary and never one query per relation:

- ``COUNTERS_SQL``, every REFRESH_INTERVAL with the schema probe: for the tables the snapshot's
  relations read, ``relfilenode`` (a new file on TRUNCATE, REFRESH MATERIALIZED VIEW, VACUUM FULL,
  CLUSTER, table rewrites) and the inserted, updated and deleted tuple counters of the cumulative
  statistics (the functions behind ``pg_stat_all_tables``, called for those oids only), with the
  time the database's statistics were last reset and the postmaster's start time (a crash
  discards every counter; a restart may too), and a probe of ``pg_rewrite`` and ``pg_inherits``
  that says when the dependency graph below must be read again.
- ``INHERITS_SQL``, ``VIEWS_SQL``, ``FUNCTIONS_SQL``, ``KINDS_SQL``: the graph, read again only
  when that probe or the snapshot moved. A view's tables come from its rewrite rule's node tree
  (``:relid`` of its range table entries, subqueries and sublinks included), not from
  ``pg_depend``, which since PostgreSQL 15 records nothing about pinned objects such as
  ``pg_class``; the functions it calls (``:funcid``, ``:opfuncid``, ``:aggfnoid``,
  ``:winfnoid``) decide whether its rows can change with nothing written (``now()``).
"""

from __future__ import annotations

COUNTERS_SQL = """
SELECT pg_catalog.pg_stat_get_db_stat_reset_time(d.oid)::text,
       pg_catalog.pg_postmaster_start_time()::text,
       pg_catalog.current_setting('track_counts') = 'on',
       pg_catalog.current_setting('server_version_num')::int,
       (SELECT coalesce(max(xmin::text::bigint), 0) || ':' || count(*) FROM pg_catalog.pg_rewrite) || '/' ||
       (SELECT coalesce(max(xmin::text::bigint), 0) || ':' || count(*) FROM pg_catalog.pg_inherits),
       (SELECT coalesce(array_agg(ARRAY[c.oid::bigint, c.relfilenode::bigint,
                                        pg_catalog.pg_stat_get_tuples_inserted(c.oid),
                                        pg_catalog.pg_stat_get_tuples_updated(c.oid),
                                        pg_catalog.pg_stat_get_tuples_deleted(c.oid)]), '{}')
        FROM pg_catalog.pg_class AS c WHERE c.oid = ANY(%(oids)s::oid[]))
FROM pg_catalog.pg_database AS d
WHERE d.datname = pg_catalog.current_database()
"""

INHERITS_SQL = "SELECT inhparent::bigint, inhrelid::bigint FROM pg_catalog.pg_inherits"

# Every view's tables and functions, read from its _RETURN rule (one row per view).
VIEWS_SQL = r"""
SELECT r.ev_class::bigint,
       ARRAY(SELECT DISTINCT m[1]::bigint FROM regexp_matches(r.ev_action::text, ':relid (\d+)', 'g') AS m),
       ARRAY(SELECT DISTINCT m[1]::bigint
             FROM regexp_matches(r.ev_action::text, ':(?:funcid|opfuncid|aggfnoid|winfnoid) (\d+)', 'g') AS m),
       r.ev_action::text ~ '\{SQLVALUEFUNCTION|:tsmhandler [1-9]|\{NEXTVALUEEXPR'
FROM pg_catalog.pg_rewrite AS r
JOIN pg_catalog.pg_class AS c ON c.oid = r.ev_class
WHERE c.relkind = 'v' AND r.rulename = '_RETURN'
"""

FUNCTIONS_SQL = """
SELECT p.oid::bigint, p.provolatile, n.nspname = 'pg_catalog', p.proname
FROM pg_catalog.pg_proc AS p
JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
WHERE p.oid = ANY(%(oids)s::oid[])
"""

KINDS_SQL = "SELECT oid::bigint, relkind FROM pg_catalog.pg_class WHERE oid = ANY(%(oids)s::oid[])"
