"""The add-a-filter form's "or": the column's filters already on the page, OR the new one.

Simple filters are always ANDed, so an OR group is written in CQL2 (``?filter=``): the column's
simple filters leave the query string and come back inside the group,
``?filter=("dep_delay" > 60) OR ("dep_delay" IS NULL)``, ANDed with a CQL2 filter already there.
"""

from __future__ import annotations

from django.http import QueryDict

from autoapi.public import Relation, any_of_cql2, filter_text, simple_filter_as_cql2
from catalog import filtering


class CannotGroup(Exception):
    """A filter that CQL2 cannot say (a regular expression, a JSON key...): the message to show."""


def with_or_group(
    relation: Relation, query: QueryDict, column_name: str, lookup: str, value: str, negated: bool
) -> QueryDict | None:
    """``query`` with the group in ``filter``; None when the column has no filter yet (then the
    new one is a plain filter); raises CannotGroup."""
    column = relation.column(column_name)
    own = [d for d in filtering.describe(relation, query) if d["column"] == column_name]
    if column is None or not own:
        return None
    existing = []
    for entry in own:
        node = simple_filter_as_cql2(column, entry["lookup"], entry["value"], entry["negated"])
        if node is None:
            raise CannotGroup(
                f"The filter “{entry['words']}” cannot be part of an OR group (CQL2 has no such "
                "condition); remove it first, or add the new filter without “or”."
            )
        existing.append(node)
    new = simple_filter_as_cql2(column, lookup, value, negated)
    if new is None:
        raise CannotGroup(
            f"“{filtering.lookup_label(lookup)}” cannot be part of an OR group (CQL2 has no such condition)."
        )
    current = filter_text(query)
    if filtering.FILTER in query and current is None:
        raise CannotGroup("The page's CQL2 filter cannot be read, so nothing can be added to it; correct it first.")
    grouped = query.copy()
    for entry in own:
        grouped.pop(entry["parameter"], None)
    for name in (filtering.FILTER, "filter-lang", "offset"):
        grouped.pop(name, None)
    group = any_of_cql2([existing, [new]])
    grouped[filtering.FILTER] = f"({current}) AND ({group})" if current else group
    return grouped
