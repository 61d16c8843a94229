"""schemathesis hooks (``SCHEMATHESIS_HOOKS=tests.production.contract_hooks``) for what an OpenAPI
document cannot say, and says in words instead (docs/api.md, "OpenAPI").

JSON Schema types one parameter at a time, and only regular languages. The portal's documents
state the rest: each list operation's ``x-parameter-constraints`` (which parameters exclude or need
each other) and ``x-grammar`` on a value that belongs to a grammar (a CQL2 filter, a POSIX regular
expression, a JSON document, a cursor made by the server). Here, a *positive* case (one that
schemathesis expects the server to accept) is brought in line with those statements before it
is sent: the parameters a grouped request cannot take are left out, a grammar value is replaced
by a valid one. Negative cases are sent untouched, so every schema violation still has to be
refused, and every check runs on every case.
"""

from __future__ import annotations

import schemathesis

ROW_ONLY = ("fields", "expand", "cursor", "ordering")
GROUPING = ("group_by", "aggregate", "having")
EMBEDDING_FORMATS = (None, "json", "ndjson", "geojson")
VALID = {"posix-regex": "a", "json": "{}"}


def _grammars(case) -> dict[str, str]:
    found = {}
    for parameter in case.operation.query:
        grammar = (parameter.definition.get("schema") or {}).get("x-grammar")
        if grammar:
            found[parameter.name] = grammar
    return found


def _ordered_box(box: str) -> str:
    """The same corners, the minimum first."""
    x1, y1, x2, y2 = box.split(",")
    xs, ys = sorted((x1, x2), key=float), sorted((y1, y2), key=float)
    return ",".join((xs[0], ys[0], xs[1], ys[1]))


def _valid_filter(query: dict) -> str:
    return "true" if query.get("filter-lang") == "cql2-json" else "TRUE"


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    meta = case.meta
    if (meta is not None and not meta.generation.mode.is_positive) or not isinstance(case.query, dict):
        return  # a negative case goes out untouched (the stateful phase's cases have no meta: positive)
    query = case.query
    for name, grammar in _grammars(case).items():
        if name not in query:
            continue
        if grammar in ("cursor", "enum", "element"):
            del query[name]  # only a previous page makes a cursor; the document holds no labels nor inputs
        elif grammar == "cql2":
            query[name] = _valid_filter(query)
        elif grammar == "bbox":
            query[name] = _ordered_box(str(query[name]))
        elif grammar == "interval":
            query[name] = "1 day,2 days" if name.endswith("__range") else "1 day"
        elif grammar in VALID:
            query[name] = VALID[grammar]
    if any(name in query for name in GROUPING):
        for name in ROW_ONLY:
            query.pop(name, None)
        if query.get("format") == "geojson":
            query["format"] = "json"
        having = query.get("having")
        if having is not None:
            aggregate = query.get("aggregate")
            names = [t.strip() for t in str(aggregate).split(",")] if aggregate is not None else ["count"]
            if not str(having).startswith("count__") or "count" not in names:
                del query["having"]
    elif "expand" in query:
        if query.get("format") not in EMBEDDING_FORMATS:
            del query["expand"]
        else:
            query.pop("fields", None)
