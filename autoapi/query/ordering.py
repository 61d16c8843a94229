"""``?ordering=``: which columns sort a relation's rows, and the ORDER BY they become.

One set of rules for the API (``plans.py``) and the catalog's sort headers (through
``public.sort_directions``): exact column names (tilde-encoded when they hold a comma), ``-`` for
descending, only sortable types (``typemap``), and always a stable tie-break at the end.
"""

from __future__ import annotations

from django.db.models import F

from autoapi.errors import BadRequest
from autoapi.schema.naming import decode_segment
from autoapi.schema.snapshot import Column, Relation
from autoapi.schema.typemap import type_info


def _asked(relation: Relation, raw: str) -> list[tuple[str, Column | None, bool]]:
    """Each term of ``a,-b`` as (term, column or None when unknown, descending)."""
    by_name = {c.name: c for c in relation.columns}
    asked = []
    for term in filter(None, (t.strip() for t in raw.split(","))):
        descending = term.startswith("-")
        name = term[1:] if descending else term
        column = by_name.get(name)
        if column is None:
            try:
                column = by_name.get(decode_segment(name))
            except ValueError:
                column = None
        asked.append((name, column, descending))
    return asked


def ordering_terms(relation: Relation, raw: str) -> list[tuple[Column, bool]]:
    """``a,-b`` -> [(column a, False), (column b, True)], then the tie-break columns ascending:
    the key, or (no key, but an ordering asked for) every other sortable column. Raises a 400 for
    a column that does not exist or does not sort."""
    terms, used = [], set()
    for name, column, descending in _asked(relation, raw):
        if column is None or not type_info(column).sortable:
            raise BadRequest(
                f"cannot order by {name!r}",
                parameter="ordering",
                allowed=[c.name for c in relation.columns if type_info(c).sortable],
            )
        if column.name not in used:
            terms.append((column, descending))
            used.add(column.name)
    if relation.key:
        tie_break = relation.key.columns
    elif terms:
        tie_break = [c.name for c in relation.columns if type_info(c).sortable]
    else:
        tie_break = []
    by_name = {c.name: c for c in relation.columns}
    return terms + [(by_name[name], False) for name in tie_break if name not in used]


def sort_directions(relation: Relation, raw: str) -> dict[str, str]:
    """Column name -> "ascending" or "descending" for each term of an already validated
    ``?ordering=`` (no tie-break): what the catalog's sort headers show."""
    result: dict[str, str] = {}
    for _name, column, descending in _asked(relation, raw):
        if column is not None and column.name not in result:
            result[column.name] = "descending" if descending else "ascending"
    return result


def order_queryset(queryset, terms: list[tuple[Column, bool]]):
    """ORDER BY the terms. NULLs last in both directions (PostgreSQL puts them first when
    descending): a "largest first" listing should open on values, not on rows that have none. Only
    where the column can hold NULLs: a plain DESC on a NOT NULL column can still walk its index
    backwards."""
    order = [
        (F(c.attname).desc(nulls_last=True) if c.nullable else F(c.attname).desc())
        if descending
        else F(c.attname).asc()
        for c, descending in terms
    ]
    return queryset.order_by(*order) if order else queryset


def signature(terms: list[tuple[Column, bool]]) -> str:
    """The ordering as keyset cursors record it (a cursor is only valid for its own ordering)."""
    return ",".join(("-" if descending else "") + column.name for column, descending in terms)
