"""Filter classes django-filter lacks, strict where django-filter is lenient.

django-filter's BooleanFilter (and its isnull filters) silently ignore a value they cannot read,
so ``?flag=yes`` would return every row. The portal's rule is a 400 for anything it cannot read.
"""

import json
import math
import operator
import re
from functools import reduce

import django_filters
from django import forms
from django.db.models import Q

from autoapi.schema.lookups import FALSE_WORDS, TRUE_WORDS


class StrictBooleanField(forms.Field):
    def to_python(self, value):
        if value in (None, ""):
            return None
        word = str(value).strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise forms.ValidationError("Enter true or false.", code="invalid")


class StrictBooleanFilter(django_filters.Filter):
    field_class = StrictBooleanField


class StrictIntegerField(forms.IntegerField):
    """Digits with an optional sign, as the OpenAPI document says: Django's IntegerField would
    also take ``5.0`` and other scripts' digits."""

    def to_python(self, value):
        if value not in self.empty_values and not re.fullmatch(r"\s*[+-]?[0-9]+\s*", str(value)):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class IntegerFilter(django_filters.NumberFilter):
    field_class = StrictIntegerField


def in_filter_class(base: type[django_filters.Filter]) -> type[django_filters.Filter]:
    """``?col__in=a,b,c`` for any filter class (django-filter's documented BaseInFilter mixin)."""
    return _CSV_CLASSES.setdefault(("in", base), type(f"{base.__name__}In", (django_filters.BaseInFilter, base), {}))


def range_filter_class(base: type[django_filters.Filter]) -> type[django_filters.Filter]:
    """``?col__range=low,high`` for any filter class."""
    return _CSV_CLASSES.setdefault(
        ("range", base), type(f"{base.__name__}Range", (django_filters.BaseRangeFilter, base), {})
    )


_CSV_CLASSES: dict = {}


class ParsedTextField(forms.CharField):
    """A text value that ``parse`` checks and converts; an absent or empty value is not parsed
    (``empty``: what it becomes, as the filter expects)."""

    empty = ""

    def to_python(self, value):
        value = super().to_python(value)
        if value in (None, ""):
            return self.empty if value == "" else None
        return self.parse(value)

    def parse(self, value: str):
        raise NotImplementedError


class JSONValueField(ParsedTextField):
    def parse(self, value: str):
        try:
            json.loads(value)
        except ValueError:
            raise forms.ValidationError('Enter a JSON document, e.g. {"key": "value"}.', code="invalid") from None
        return value


class JSONValueFilter(django_filters.CharFilter):
    field_class = JSONValueField


class ArrayLiteralField(ParsedTextField):
    """``a,b,c`` or a JSON array ``["a","b,c"]`` -> the PostgreSQL array literal ``{"a","b,c"}``."""

    def parse(self, value: str):
        if value.lstrip().startswith("["):
            try:
                items = json.loads(value)
            except ValueError:
                raise forms.ValidationError("Enter comma-separated values or a JSON array.", code="invalid") from None
            if not isinstance(items, list) or any(isinstance(i, (list, dict)) for i in items):
                raise forms.ValidationError("Enter a flat JSON array of values.", code="invalid")
        else:
            items = value.split(",")
        elements = [
            "NULL" if item is None else '"' + str(item).replace("\\", "\\\\").replace('"', '\\"') + '"'
            for item in items
        ]
        return "{" + ",".join(elements) + "}"


class ArrayValuesFilter(django_filters.CharFilter):
    field_class = ArrayLiteralField


class BBoxField(ParsedTextField):
    """``minLon,minLat,maxLon,maxLat`` in WGS 84 degrees."""

    empty = None

    def parse(self, value: str):
        parts = value.split(",")
        message = "Enter four numbers: minLon,minLat,maxLon,maxLat (WGS 84 degrees)."
        if len(parts) != 4:
            raise forms.ValidationError(message, code="invalid")
        try:
            minx, miny, maxx, maxy = (float(p) for p in parts)
        except ValueError:
            raise forms.ValidationError(message, code="invalid") from None
        if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
            raise forms.ValidationError(message, code="invalid")
        if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90):
            raise forms.ValidationError(
                "Longitudes must lie in [-180, 180] and latitudes in [-90, 90].", code="invalid"
            )
        if minx > maxx or miny > maxy:
            raise forms.ValidationError(
                "The minimum corner must come first: minLon,minLat,maxLon,maxLat.", code="invalid"
            )
        return (minx, miny, maxx, maxy)


class BBoxFilter(django_filters.Filter):
    field_class = BBoxField


class LatLonBBoxFilter(django_filters.Filter):
    """``?bbox=`` on a relation whose points are numeric latitude/longitude columns."""

    field_class = BBoxField

    def __init__(self, *args, latitude: str, longitude: str, **kwargs):
        self.latitude, self.longitude = latitude, longitude
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if value is None:
            return qs
        minx, miny, maxx, maxy = value
        condition = Q(
            **{
                f"{self.latitude}__gte": miny,
                f"{self.latitude}__lte": maxy,
                f"{self.longitude}__gte": minx,
                f"{self.longitude}__lte": maxx,
            }
        )
        return qs.exclude(condition) if self.exclude else qs.filter(condition)


class TextSearchFilter(django_filters.CharFilter):
    """``?search=`` over the text columns: every word must appear (case-insensitive) in one of them."""

    def __init__(self, *args, columns: tuple[str, ...], **kwargs):
        self.columns = columns
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        condition = Q()
        for word in value.split():
            condition &= reduce(operator.or_, (Q(**{f"{c}__icontains": word}) for c in self.columns))
        return qs.exclude(condition) if self.exclude else qs.filter(condition)
