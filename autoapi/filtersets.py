"""One django-filter FilterSet class per relation, built once per snapshot.

Query parameters use the exact column names:

- ``?<column>=v`` (equality) and ``?<column>__<lookup>=v`` for the lookups ``typemap`` allows for
  the column's type; ``?<column>__exact=v`` also works (for a column named like a reserved
  parameter such as ``limit``);
- every filter negated by a ``!`` after its name: ``?carrier!=UA``, ``?dep_delay__gt!=60``
  (rows where the condition does not hold, NULLs included);
- ``?bbox=minLon,minLat,maxLon,maxLat`` on relations with a geometry or latitude/longitude pair;
- ``?search=words`` over a tsvector column if there is one, else over the text columns.
"""
from __future__ import annotations

import copy

import django_filters
from django.http import QueryDict
from django_filters import rest_framework as drf_filters
from rest_framework.exceptions import ValidationError

from autoapi.filters import BBoxFilter, LatLonBBoxFilter, TextSearchFilter
from autoapi.queries import geometry_source
from autoapi.snapshot import Relation
from autoapi.typemap import TEXT, type_info

# Parameters that are never filters.
RESERVED_PARAMETERS = frozenset({"format", "limit", "offset", "ordering", "fields", "cursor", "expand"})
NEGATION_SUFFIX = "!"


def filter_name(column_name: str, lookup: str) -> str:
    return column_name if lookup == "exact" else f"{column_name}__{lookup}"


def column_filters(relation: Relation) -> dict:
    declared = {}
    for column in relation.columns:
        info = type_info(column)
        for lookup in info.lookups:
            filter_class = info.filter_for(lookup)
            if filter_class is None:
                continue
            names = [filter_name(column.name, lookup)]
            if lookup == "exact":
                names.append(f"{column.name}__exact")
            for name in names:
                # A real column named like another column's lookup ("a__gt") keeps its own name.
                if name in declared or name in RESERVED_PARAMETERS:
                    continue
                extra = {"strip": False} if _is_plain_char_filter(filter_class) else {}
                declared[name] = filter_class(field_name=column.attname, lookup_expr=lookup, label=name, **extra)
    return declared


def _is_plain_char_filter(filter_class) -> bool:
    # Spaces are part of a text value: "?name__endswith=  " must not be stripped to nothing.
    return issubclass(filter_class, django_filters.CharFilter) and not issubclass(filter_class, django_filters.filters.BaseCSVFilter)


class PortalFilterSet(drf_filters.FilterSet):
    """django-filter skips a parameter whose value is empty; here ``?name=`` means "name is the
    empty string" for text columns, and is a 400 for the others (never silently ignored)."""

    EMPTY_MATCHES = {"exact", "iexact", "contains", "icontains", "startswith", "endswith"}

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        # As BaseFilterSet.__init__, except that it deep-copies only the filters the request
        # names: django-filter copies every declared filter (hundreds on a wide table, with their
        # negations) and builds a form field for each, on every request.
        if queryset is None:
            queryset = self._meta.model._default_manager.all()
        self.is_bound = data is not None
        self.data = data or QueryDict()
        self.queryset = queryset
        self.request = request
        self.form_prefix = prefix
        self.filters = {name: copy.deepcopy(self.base_filters[name]) for name in self.data if name in self.base_filters}
        for filter_ in self.filters.values():
            filter_.model = queryset.model
            filter_.parent = self

    def filter_queryset(self, queryset):
        for name, value in self.form.cleaned_data.items():
            flt = self.filters[name]
            if self.data.get(name) == "" and not isinstance(flt, TextSearchFilter):
                if not (_is_plain_char_filter(type(flt)) and flt.lookup_expr in self.EMPTY_MATCHES and flt.field_name in self.text_fields):
                    raise ValidationError({name: ["A value is required."]})
                condition = {f"{flt.field_name}__{flt.lookup_expr}": ""}
                queryset = queryset.exclude(**condition) if flt.exclude else queryset.filter(**condition)
            else:
                queryset = flt.filter(queryset, value)
        return queryset


def relation_filters(relation: Relation) -> dict:
    """``bbox`` and ``search``, when the relation has what they need."""
    declared = {}
    source = geometry_source(relation)
    if source is not None and source.geometry is not None:
        declared["bbox"] = BBoxFilter(field_name=source.geometry.attname, lookup_expr="bbox", label="bbox")
    elif source is not None:
        declared["bbox"] = LatLonBBoxFilter(
            label="bbox", latitude=source.latitude.attname, longitude=source.longitude.attname
        )
    tsvector = next((c for c in relation.columns if c.base_type == "tsvector"), None)
    text_columns = tuple(c.attname for c in relation.columns if type_info(c) is TEXT)
    if tsvector is not None:
        declared["search"] = type_info(tsvector).filter_class(field_name=tsvector.attname, lookup_expr="search", label="search")
    elif text_columns:
        declared["search"] = TextSearchFilter(label="search", columns=text_columns)
    return declared


def with_negations(declared: dict) -> dict:
    negated = {}
    for name, flt in declared.items():
        clone = flt.__class__.__new__(flt.__class__)
        clone.__dict__.update(flt.__dict__)
        clone.exclude = True
        clone.label = name + NEGATION_SUFFIX
        negated[name + NEGATION_SUFFIX] = clone
    return {**declared, **negated}


def build_filters(relation: Relation) -> dict:
    declared = column_filters(relation)
    for name, flt in relation_filters(relation).items():
        declared.setdefault(name, flt)  # a real column named "search" or "bbox" wins
    return with_negations(declared)


def build_filterset(relation: Relation, model) -> type[drf_filters.FilterSet]:
    attrs = build_filters(relation)
    attrs["Meta"] = type("Meta", (), {"model": model, "fields": []})
    attrs["text_fields"] = frozenset(c.attname for c in relation.columns if type_info(c) is TEXT)
    return type(f"{model.__name__}FilterSet", (PortalFilterSet,), attrs)
