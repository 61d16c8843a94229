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

from dataclasses import dataclass

import django_filters
from django.http import QueryDict
from django_filters import rest_framework as drf_filters
from rest_framework.exceptions import ValidationError

from autoapi.query.queries import geometry_source
from autoapi.schema.filters import BBoxFilter, LatLonBBoxFilter, TextSearchFilter
from autoapi.schema.lookups import NEGATION_SUFFIX, RESERVED_PARAMETERS, filter_parameters  # noqa: F401 (RESERVED_PARAMETERS is re-exported)
from autoapi.schema.snapshot import Relation
from autoapi.schema.typemap import TEXT, type_info


@dataclass(frozen=True)
class FilterSpec:
    """How to make one filter when a request names it. Filters are made per request, and only
    the named ones: a relation has hundreds of possible filters (columns x lookups, negated or
    not), and keeping them all as django-filter objects costs about 300 kB per relation."""

    filter_class: type
    field_name: str | None
    lookup_expr: str
    extra: tuple = ()  # further keyword arguments, as (name, value) pairs

    def make(self, name: str, exclude: bool = False):
        return self.filter_class(
            field_name=self.field_name, lookup_expr=self.lookup_expr, label=name, exclude=exclude, **dict(self.extra)
        )


def column_filters(relation: Relation) -> dict[str, FilterSpec]:
    """A FilterSpec for each parameter ``lookups.filter_parameters`` gives the relation."""
    by_name = {c.name: c for c in relation.columns}
    offered = [
        (c.name, tuple(lookup for lookup in type_info(c).lookups if type_info(c).filter_for(lookup)))
        for c in relation.columns
    ]
    declared = {}
    for name, (column_name, lookup) in filter_parameters(offered).items():
        column = by_name[column_name]
        filter_class = type_info(column).filter_for(lookup)
        extra = (("strip", False),) if _is_plain_char_filter(filter_class) else ()
        declared[name] = FilterSpec(filter_class, column.attname, lookup, extra)
    return declared


def _is_plain_char_filter(filter_class) -> bool:
    # Spaces are part of a text value: "?name__endswith=  " must not be stripped to nothing.
    return issubclass(filter_class, django_filters.CharFilter) and not issubclass(
        filter_class, django_filters.filters.BaseCSVFilter
    )


class PortalFilterSet(drf_filters.FilterSet):
    """A FilterSet whose filters are made from ``specs`` for the parameters a request names.

    Also: django-filter skips a parameter whose value is empty; here ``?name=`` means "name is the
    empty string" for text columns, and is a 400 for the others (never silently ignored).
    """

    EMPTY_MATCHES = {"exact", "iexact", "contains", "icontains", "startswith", "endswith"}
    specs: dict[str, FilterSpec] = {}
    text_fields: frozenset = frozenset()

    @classmethod
    def knows(cls, name: str) -> bool:
        return name in cls.specs or (name.endswith(NEGATION_SUFFIX) and name[: -len(NEGATION_SUFFIX)] in cls.specs)

    @classmethod
    def make_filter(cls, name: str):
        if name in cls.specs:
            return cls.specs[name].make(name)
        return cls.specs[name[: -len(NEGATION_SUFFIX)]].make(name, exclude=True)

    @classmethod
    def filter_names(cls) -> list[str]:
        """Every parameter name this FilterSet understands, negations included."""
        return [*cls.specs, *(name + NEGATION_SUFFIX for name in cls.specs)]

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        # As BaseFilterSet.__init__, but with filters made for the names in the request only.
        if queryset is None:
            queryset = self._meta.model._default_manager.all()
        self.is_bound = data is not None
        self.data = data or QueryDict()
        self.queryset = queryset
        self.request = request
        self.form_prefix = prefix
        self.filters = {name: self.make_filter(name) for name in self.data if self.knows(name)}
        for filter_ in self.filters.values():
            filter_.model = queryset.model
            filter_.parent = self

    def filter_queryset(self, queryset):
        for name, value in self.form.cleaned_data.items():
            flt = self.filters[name]
            if self.data.get(name) == "" and not isinstance(flt, TextSearchFilter):
                if not (
                    _is_plain_char_filter(type(flt))
                    and flt.lookup_expr in self.EMPTY_MATCHES
                    and flt.field_name in self.text_fields
                ):
                    raise ValidationError({name: ["A value is required."]})
                condition = {f"{flt.field_name}__{flt.lookup_expr}": ""}
                queryset = queryset.exclude(**condition) if flt.exclude else queryset.filter(**condition)
            else:
                queryset = flt.filter(queryset, value)
        return queryset


def relation_filters(relation: Relation) -> dict[str, FilterSpec]:
    """``bbox`` and ``search``, when the relation has what they need."""
    declared = {}
    source = geometry_source(relation)
    if source is not None and source.geometry is not None:
        declared["bbox"] = FilterSpec(BBoxFilter, source.geometry.attname, "bbox")
    elif source is not None:
        declared["bbox"] = FilterSpec(
            LatLonBBoxFilter,
            None,
            "bbox",
            (("latitude", source.latitude.attname), ("longitude", source.longitude.attname)),
        )
    tsvector = next((c for c in relation.columns if c.base_type == "tsvector"), None)
    text_columns = tuple(c.attname for c in relation.columns if type_info(c).kind == TEXT.kind)
    if tsvector is not None:
        declared["search"] = FilterSpec(type_info(tsvector).filter_class, tsvector.attname, "search")
    elif text_columns:
        declared["search"] = FilterSpec(TextSearchFilter, None, "search", (("columns", text_columns),))
    return declared


def filter_specs(relation: Relation) -> dict[str, FilterSpec]:
    """Every filter of a relation by parameter name (negations are derived: name + "!")."""
    declared = column_filters(relation)
    for name, spec in relation_filters(relation).items():
        declared.setdefault(name, spec)  # a real column named "search" or "bbox" wins
    return declared


def build_filterset(relation: Relation, model) -> type[drf_filters.FilterSet]:
    attrs = {
        "Meta": type("Meta", (), {"model": model, "fields": []}),
        "specs": filter_specs(relation),
        "text_fields": frozenset(c.attname for c in relation.columns if type_info(c).kind == TEXT.kind),
    }
    return type(f"{model.__name__}FilterSet", (PortalFilterSet,), attrs)
