"""Which stored tables each published relation's rows come from: the graph under the data version.

Read by ``dataversion.py`` when the snapshot or the ``pg_rewrite``/``pg_inherits`` probe moved (a
few catalog queries, ``dataversion_sql.py``), never per request. A relation's sources are:

- a table or materialized view: itself, plus every inheritance child and partition below it (a
  SELECT on a parent reads them all);
- a partitioned table: its partitions, at every depth;
- a view: the sources of every relation its rule reads, through views of views;
- anything else (a foreign table, a sequence, a system catalog, a view calling ``now()`` or a
  function that may read tables) cannot be followed: its version is unknown, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autoapi.freshness.dataversion_sql import FUNCTIONS_SQL, INHERITS_SQL, KINDS_SQL, VIEWS_SQL

FIRST_NORMAL_OID = 16384  # below: objects of initdb (catalogs, information_schema), whose changes no counter sees
STORED_KINDS = ("r", "p", "m")
# Stable functions of pg_catalog that read the clock, the session or the catalog: a view calling
# one may change with nothing written. Other stable ones depend only on settings the portal fixes
# for its sessions (TimeZone, DateStyle: date_trunc, to_char, ||, concat...).
CHANGING_STABLE = {
    "now",
    "transaction_timestamp",
    "statement_timestamp",
    "age",
    "current_setting",
    "obj_description",
    "col_description",
    "shobj_description",
    "format_type",
}
CHANGING_PREFIXES = ("pg_", "has_", "to_reg", "txid_", "current_")


@dataclass(frozen=True)
class View:
    relids: tuple[int, ...]
    functions: tuple[int, ...]
    special: bool  # CURRENT_DATE and friends, TABLESAMPLE, nextval of an identity


@dataclass
class Graph:
    children: dict[int, list[int]] = field(default_factory=dict)
    views: dict[int, View] = field(default_factory=dict)
    kinds: dict[int, str] = field(default_factory=dict)
    changing_functions: set[int] = field(default_factory=set)


def read_graph(cursor) -> Graph:
    graph = Graph()
    cursor.execute(INHERITS_SQL)
    for parent, child in cursor.fetchall():
        graph.children.setdefault(parent, []).append(child)
    cursor.execute(VIEWS_SQL)
    for oid, relids, functions, special in cursor.fetchall():
        graph.views[oid] = View(tuple(relids), tuple(functions), bool(special))
    referenced = {r for v in graph.views.values() for r in v.relids} | set(graph.views) | set(graph.children)
    cursor.execute(KINDS_SQL, {"oids": sorted(referenced)})
    graph.kinds = dict(cursor.fetchall())
    functions = sorted({f for v in graph.views.values() for f in v.functions})
    cursor.execute(FUNCTIONS_SQL, {"oids": functions})
    graph.changing_functions = {
        oid for oid, volatility, builtin, name in cursor.fetchall() if _may_change(volatility, builtin, name)
    }
    return graph


def _may_change(volatility: str, builtin: bool, name: str) -> bool:
    if volatility == "i":
        return False
    if volatility == "v" or not builtin:  # a function of the database's own may read any table
        return True
    return name in CHANGING_STABLE or name.startswith(CHANGING_PREFIXES)


def sources(graph: Graph, oid: int, kind: str) -> frozenset[int] | str:
    """The stored tables behind relation ``oid`` (its relkind ``kind``), or why they are unknown."""
    return _sources(graph, oid, kind, frozenset())


def _sources(graph: Graph, oid: int, kind: str, seen: frozenset[int]) -> frozenset[int] | str:
    if kind in STORED_KINDS:
        return frozenset(_descendants(graph, oid)) if kind != "m" else frozenset((oid,))
    if kind == "f":
        return "a foreign table: PostgreSQL counts no changes of the data behind it"
    if kind != "v":
        return f"a relation of kind {kind!r} has no change counters"
    view = graph.views.get(oid)
    if view is None or oid in seen:
        return "the view's rule could not be read"
    if view.special or graph.changing_functions.intersection(view.functions):
        return "the view calls a function whose result may change with nothing written (the time, a sequence, the catalog, or a function of its own)"
    found: set[int] = set()
    for relid in view.relids:
        if relid == oid:  # the rule's own OLD and NEW entries (PostgreSQL 15 and older)
            continue
        if relid < FIRST_NORMAL_OID:
            return "the view reads a system catalog"
        inner = _sources(graph, relid, graph.kinds.get(relid, "?"), seen | {oid})
        if isinstance(inner, str):
            return inner if inner.startswith("the view") else f"the view reads {inner}"
        found |= inner
    return frozenset(found)


def _descendants(graph: Graph, oid: int) -> set[int]:
    found, todo = {oid}, [oid]
    while todo:
        for child in graph.children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found
