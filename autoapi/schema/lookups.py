"""The filter vocabulary: one record per lookup, and the one map from query parameters to filters.

Every reader of filters reads them here, as Datasette's ``filters.py`` keeps a filter's key, SQL
and English together: the FilterSets (``filtersets.py``: which parameter names exist), the OpenAPI
document (``openapi.py``: each parameter's value schema and description) and the catalog (its
filter sentence and add-a-filter form, through ``public.py``). Which lookups a column offers is
the type table's business (``typemap.py``), by these names.
"""

from __future__ import annotations

from dataclasses import dataclass

# Parameters that are never filters.
RESERVED_PARAMETERS = frozenset(
    {
        "format",
        "limit",
        "offset",
        "ordering",
        "fields",
        "cursor",
        "expand",
        "group_by",
        "aggregate",
        "having",
        "filter",
        "filter-lang",
    }
)
# Reserved parameters that select rows (a CQL2 filter): a request with one is filtered.
SELECTING_PARAMETERS = frozenset({"filter"})
NEGATION_SUFFIX = "!"  # ``?carrier!=UA``: any filter, negated
TRUE_WORDS = frozenset({"true", "t", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "f", "0", "no", "off"})

# What a lookup's value is, for the OpenAPI document: the column's own type, a comma-separated
# list or pair of them, a boolean, or free text (a JSON document, a key, search words, a box).
COLUMN_VALUE, LIST_VALUE, BOOLEAN_VALUE, TEXT_VALUE = "column", "list", "boolean", "text"


@dataclass(frozen=True)
class Lookup:
    name: str  # ``?<column>__<name>=``; also the Django lookup it becomes
    label: str  # in the catalog's add-a-filter form: "<column> <label> <value>"
    hint: str  # what the form says about the value
    phrase: str  # the filter in words; {v} the value, {list} its items, {low}/{high} a range
    negated_phrase: str
    value: str = COLUMN_VALUE
    quoted: bool = False  # the value is shown in quotes (its edges matter: a text match)

    def words(self, negated: bool) -> str:
        return self.negated_phrase if negated else self.phrase


LOOKUPS: dict[str, Lookup] = {
    lookup.name: lookup
    for lookup in (
        # In the order the catalog's form lists them.
        Lookup("exact", "equals", "", "= {v}", "≠ {v}"),
        Lookup(
            "iexact", "equals, ignoring case", "", "= {v} (ignoring case)", "≠ {v} (ignoring case)", TEXT_VALUE, True
        ),
        Lookup("contains", "contains", "", "contains {v}", "does not contain {v}", TEXT_VALUE, True),
        Lookup(
            "icontains",
            "contains, ignoring case",
            "",
            "contains {v} (ignoring case)",
            "does not contain {v} (ignoring case)",
            TEXT_VALUE,
            True,
        ),
        Lookup("startswith", "starts with", "", "starts with {v}", "does not start with {v}", TEXT_VALUE, True),
        Lookup("endswith", "ends with", "", "ends with {v}", "does not end with {v}", TEXT_VALUE, True),
        Lookup(
            "regex",
            "matches the regular expression",
            "a POSIX regular expression",
            "matches the regular expression {v}",
            "does not match the regular expression {v}",
            TEXT_VALUE,
            True,
        ),
        Lookup("gt", "is greater than", "", "> {v}", "is not > {v}"),
        Lookup("gte", "is at least", "", "≥ {v}", "is not ≥ {v}"),
        Lookup("lt", "is less than", "", "< {v}", "is not < {v}"),
        Lookup("lte", "is at most", "", "≤ {v}", "is not ≤ {v}"),
        Lookup(
            "range",
            "is between",
            "low,high",
            "is between {low} and {high}",
            "is not between {low} and {high}",
            LIST_VALUE,
        ),
        Lookup("in", "is one of", "comma-separated: a,b,c", "is one of {list}", "is none of {list}", LIST_VALUE),
        Lookup("isnull", "is null", "true or false", "is null", "is not null", BOOLEAN_VALUE),
        Lookup("has_key", "has the key", "", "has the key {v}", "does not have the key {v}", TEXT_VALUE, True),
        Lookup(
            "overlap",
            "shares an element with",
            "comma-separated: a,b,c",
            "shares an element with {list}",
            "shares no element with {list}",
            LIST_VALUE,
        ),
        Lookup(
            "search",
            "matches the search",
            "words",
            "matches the search {v}",
            "does not match the search {v}",
            TEXT_VALUE,
            True,
        ),
        # Relation-wide filters (no column): ``?bbox=`` and ``?search=``.
        Lookup(
            "bbox",
            "lies within the box",
            "minLon,minLat,maxLon,maxLat",
            "the location lies within {box}",
            "the location lies outside {box}",
            TEXT_VALUE,
        ),
    )
}
RELATION_FILTERS = ("bbox", "search")  # parameter names that filter a relation, not one column


def parameter_name(column_name: str, lookup: str) -> str:
    """``col`` for equality, ``col__<lookup>`` otherwise."""
    return column_name if lookup == "exact" else f"{column_name}__{lookup}"


def filter_parameters(columns: list[tuple[str, tuple[str, ...]]]) -> dict[str, tuple[str, str]]:
    """Every filter parameter of a relation -> (column name, lookup), from its columns' names and
    lookups in column order. ``?<column>__exact=`` also names equality (for a column named like a
    reserved parameter such as ``limit``). A name two columns could claim goes to the first: a
    column's own lookups before a column literally named ``a__gt``."""
    names: dict[str, tuple[str, str]] = {}
    for column_name, lookups in columns:
        for lookup in lookups:
            candidates = [parameter_name(column_name, lookup)]
            if lookup == "exact":
                candidates.append(f"{column_name}__exact")
            for name in candidates:
                if name not in names and name not in RESERVED_PARAMETERS:
                    names[name] = (column_name, lookup)
    return names
