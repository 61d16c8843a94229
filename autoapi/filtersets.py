"""One django-filter FilterSet class per relation, built once per snapshot.

Query parameters use the exact column names: ``?<column>=v`` (equality), ``?<column>__<lookup>=v``
for the lookups ``typemap`` allows for the column's type, and ``?<column>__exact=v`` for a column
whose name is also a reserved parameter (``limit``, ``format``, ...).
"""
from __future__ import annotations

from django_filters import rest_framework as drf_filters

from autoapi.filters import StrictBooleanFilter, in_filter_class, range_filter_class
from autoapi.snapshot import Relation
from autoapi.typemap import type_info

# Parameters that are never filters.
RESERVED_PARAMETERS = frozenset({"format", "limit", "offset", "ordering"})


def filter_name(column_name: str, lookup: str) -> str:
    return column_name if lookup == "exact" else f"{column_name}__{lookup}"


def build_filters(relation: Relation) -> dict:
    declared = {}
    for column in relation.columns:
        info = type_info(column)
        for lookup in info.lookups:
            if lookup == "isnull":
                filter_class = StrictBooleanFilter
            elif info.filter_class is None:
                continue
            elif lookup == "in":
                filter_class = in_filter_class(info.filter_class)
            elif lookup == "range":
                filter_class = range_filter_class(info.filter_class)
            else:
                filter_class = info.filter_class
            names = [filter_name(column.name, lookup)]
            if lookup == "exact":
                names.append(f"{column.name}__exact")
            for name in names:
                # A real column named like another column's lookup ("a__gt") keeps its own name.
                if name in declared or (name in RESERVED_PARAMETERS and lookup == "exact" and name == column.name):
                    continue
                declared[name] = filter_class(field_name=column.attname, lookup_expr=lookup, label=name)
    return declared


def build_filterset(relation: Relation, model) -> type[drf_filters.FilterSet]:
    attrs = build_filters(relation)
    attrs["Meta"] = type("Meta", (), {"model": model, "fields": []})
    return type(f"{model.__name__}FilterSet", (drf_filters.FilterSet,), attrs)
