"""The API's filters as people read them, and the form that adds one.

Called by ``catalog.views``. ``describe()`` reads a relation page's query parameters the way the
API's FilterSet does (``autoapi.query.filtersets``: the exact column name, ``__<lookup>``, a ``!`` suffix
for negation, ``bbox`` and ``search``) and says each in words, as Datasette's filters do:
"where dep_delay > 60 and carrier is one of AA, UA". It never decides what is valid: the API does
that when the page asks ``fetch_rows`` for the rows, and a bad filter is a 400 page naming it.
``form_options()`` lists what the add-a-filter form offers for each column.
"""

from __future__ import annotations

from autoapi import public

FILTER = "filter"  # the CQL2 filter (autoapi/cql2): described in words, removed with its language


def parameter_map(relation: public.Relation) -> dict[str, tuple[str | None, str]]:
    """Every filter parameter the API reads for this relation -> (column name or None, lookup):
    the same map the API's FilterSet is built from (``autoapi.schema.lookups.filter_parameters``)."""
    names: dict[str, tuple[str | None, str]] = dict(
        public.filter_parameters([(c.name, public.lookups(c)) for c in relation.columns])
    )
    for special in public.RELATION_FILTERS:
        names.setdefault(special, (None, special))
    return names


def lookup_label(lookup: str) -> str:
    """How the add-a-filter form names a lookup ("is one of"), or the lookup itself if it has no label."""
    return public.LOOKUPS[lookup].label if lookup in public.LOOKUPS else lookup


def describe(relation: public.Relation, params) -> list[dict]:
    """One dict per filter parameter of ``params`` (a QueryDict; its last value counts, as in
    the API): ``parameter``, ``value``, ``column``, ``lookup``, ``negated`` and ``words``.
    Parameters the API does not know are listed with ``words`` None (the page is a 400 then)."""
    known = parameter_map(relation)
    described = []
    for name in params:
        if name in public.RESERVED_PARAMETERS:
            continue
        value = params.get(name)
        target, negated = known.get(name), False
        if target is None and name.endswith(public.NEGATION_SUFFIX) and name[:-1] in known:
            target, negated = known[name[:-1]], True
        entry = {"parameter": name, "value": value, "column": None, "lookup": None, "negated": negated, "words": None}
        if target is not None:
            column, lookup = target
            entry.update(column=column, lookup=lookup, words=_phrase(relation, column, lookup, value, negated))
        described.append(entry)
    if FILTER in params:
        words = public.filter_in_words(params)
        if words and " or " in words and described:  # "a and (b or c)", not "a and b or c"
            words = f"({words})"
        described.append(
            {
                "parameter": FILTER,
                "value": params.get(FILTER),
                "column": None,
                "lookup": "cql2",
                "negated": False,
                "words": words,
            }
        )
    return described


def sentence(described: list[dict]) -> str:
    """ "where a > 1 and b is one of x, y" for the described filters ("" when there are none)."""
    parts = [d["words"] or f"{d['parameter']} = {_quote(d['value'])}" for d in described]
    return ("where " + " and ".join(parts)) if parts else ""


def _quote(value: str) -> str:
    return f"“{value}”"


def _shown(value: str, lookup: str) -> str:
    """Values as typed; quoted where their edges matter (a text match, spaces, the empty string)."""
    if (lookup in public.LOOKUPS and public.LOOKUPS[lookup].quoted) or value == "" or value != value.strip():
        return _quote(value)
    return value


def _phrase(relation: public.Relation, column_name: str | None, lookup: str, value: str, negated: bool) -> str:
    column = relation.column(column_name) if column_name is not None else None
    subject = column_name if column_name is not None else ""
    if lookup == "isnull":
        word = value.strip().lower()
        is_null = word in public.TRUE_WORDS if word in public.TRUE_WORDS | public.FALSE_WORDS else None
        if is_null is None:
            return f"{subject} is null: {_quote(value)} (not true or false)"
        return f"{subject} {'is null' if is_null != negated else 'is not null'}"
    if lookup == "bbox" and column is None:
        box = value.split(",")
        where = f"the box from ({box[0]}, {box[1]}) to ({box[2]}, {box[3]})" if len(box) == 4 else _quote(value)
        return public.LOOKUPS["bbox"].words(negated).format(box=where)
    if lookup == "search":
        if column is None:
            return ("no text column holds every word of " if negated else "the text holds every word of ") + _quote(
                value
            )
        return f"{subject} {'does not match' if negated else 'matches'} the search {_quote(value)}"
    if lookup == "contains" and column is not None and column.is_array:
        items = ", ".join(_shown(v, lookup) for v in value.split(","))
        return f"{subject} {'does not contain' if negated else 'contains'} all of {items}"
    if lookup == "contains" and column is not None and column.base_type in ("json", "jsonb"):
        return f"{subject} {'does not contain' if negated else 'contains'} the JSON {value}"
    template = (
        public.LOOKUPS[lookup].words(negated)
        if lookup in public.LOOKUPS
        else ("not " if negated else "") + "{lookup} {v}"
    )
    items = value.split(",")
    return (
        subject
        + " "
        + template.format(
            v=_shown(value, lookup),
            list=", ".join(_shown(v, lookup) for v in items),
            low=_shown(items[0], lookup),
            high=_shown(items[1], lookup) if len(items) > 1 else "?",
            lookup=lookup,
        )
    )


def form_options(relation: public.Relation) -> dict:
    """What the add-a-filter form offers: each column with its lookups, and every lookup label."""
    columns = []
    used: set[str] = set()
    for column in relation.columns:
        allowed = [name for name in public.LOOKUPS if name in public.lookups(column)]
        if allowed:
            columns.append({"name": column.name, "type": column.type, "lookups": " ".join(allowed)})
            used.update(allowed)
    return {
        "columns": columns,
        "lookups": [
            {"name": lookup.name, "label": lookup.label, "hint": lookup.hint}
            for lookup in public.LOOKUPS.values()
            if lookup.name in used
        ],
    }


def parameter_for(relation: public.Relation, column_name: str, lookup: str, negated: bool) -> str | None:
    """The query parameter for "column lookup" (None when the column has no such lookup)."""
    column = relation.column(column_name)
    if column is None or lookup not in public.lookups(column):
        return None
    name = public.filter_parameter(column.name, lookup, negated)
    # A name that the map gives to another column (a column named "a__gt" next to "a") is
    # reached through ``__exact`` instead, which the FilterSet also declares.
    target = parameter_map(relation).get(name[: -len(public.NEGATION_SUFFIX)] if negated else name)
    if target != (column.name, lookup) and lookup == "exact":
        name = f"{column.name}__exact" + (public.NEGATION_SUFFIX if negated else "")
    return name
