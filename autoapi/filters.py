"""Filter classes django-filter lacks, strict where django-filter is lenient.

django-filter's BooleanFilter (and its isnull filters) silently ignore a value they cannot read,
so ``?flag=yes`` would return every row. The portal's rule is a 400 for anything it cannot read.
"""
import django_filters
from django import forms

TRUE_WORDS = {"true", "t", "1", "yes", "on"}
FALSE_WORDS = {"false", "f", "0", "no", "off"}


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


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


def in_filter_class(base: type[django_filters.Filter]) -> type[django_filters.Filter]:
    """``?col__in=a,b,c`` for any filter class (django-filter's documented BaseInFilter mixin)."""
    return _CSV_CLASSES.setdefault(("in", base), type(f"{base.__name__}In", (django_filters.BaseInFilter, base), {}))


def range_filter_class(base: type[django_filters.Filter]) -> type[django_filters.Filter]:
    """``?col__range=low,high`` for any filter class."""
    return _CSV_CLASSES.setdefault(
        ("range", base), type(f"{base.__name__}Range", (django_filters.BaseRangeFilter, base), {})
    )


_CSV_CLASSES: dict = {}
