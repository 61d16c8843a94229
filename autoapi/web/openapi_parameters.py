"""The query and path parameters of the OpenAPI documents, typed as the server reads them.

Two kinds:

- parameters every list operation shares whatever the relation (``limit``, ``offset``,
  ``cursor``, ``filter``, ``filter-lang``, ``search``, ``bbox``, ``format``): written once under
  ``components/parameters`` and named by ``$ref`` (``ref``), so a document of 10,000 relations
  does not repeat them 10,000 times;
- parameters whose values are the relation's own column names (``fields``, ``ordering``,
  ``group_by``, ``aggregate``, ``having``, ``expand``) and the filters: typed per relation with
  ``pattern`` (a comma-separated list of exactly the names the server takes, in either spelling:
  the name, or its tilde-encoded form) and per column type (``filter_schema``).

What JSON Schema cannot say stays in the descriptions and in ``x-parameter-constraints`` (each
list operation): which parameters exclude each other (rows against groups) and which need
another one (``expand`` its column in ``fields``, ``having`` an aggregate of the request).
Grammars are not regular languages either: a CQL2 filter, a regular expression, a JSON document
or a cursor is documented by its lexical shape, and the server's 400 names what it could not read.
"""

from __future__ import annotations

import re

from autoapi.conf import portal_setting
from autoapi.formats import renderers
from autoapi.query import aggregates
from autoapi.query.queries import geometry_source
from autoapi.query.shaping import link_targets
from autoapi.schema import typemap
from autoapi.schema.lookups import BOOLEAN_VALUE, LIST_VALUE, LOOKUPS
from autoapi.schema.naming import encode_segment
from autoapi.schema.snapshot import Column, Relation, Snapshot

# ``x-grammar`` on a value's schema: its language is not a regular one (``posix-regex``, ``json``,
# ``cql2``, ``cursor``, ``interval``, ``enum``: labels of an array's enum type, ``element``: an
# extension type's input, ``bbox``: its minimum corner first); the pattern gives its lexical shape only, and a value the grammar refuses
# is a 400 that says where it stops.
# Query values never hold NUL (a 400 names the parameter): every free-text value says so.
TEXT = r"[^\x00]"
# The words a boolean value is read from (``lookups.TRUE_WORDS``/``FALSE_WORDS``), any case,
# surrounding spaces ignored. ``1``/``0`` and ``yes``/``no`` stay for the clients that send them.
BOOLEAN_PATTERN = (
    r"^\s*(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[Tt]|[Ff]|1|0|[Yy][Ee][Ss]|[Nn][Oo]|[Oo][Nn]|[Oo][Ff][Ff])\s*$"
)
BOOLEAN = {"type": "string", "pattern": BOOLEAN_PATTERN, "description": "true or false (also t/f, 1/0, yes/no, on/off)"}
INTEGER = r"[+-]?[0-9]{1,18}"
NUMBER = r"[+-]?(?:[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})"
DATE = r"(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?"
ZONE = r"(?:Z|[+-](?:0[0-9]|1[0-2])(?::?[0-5][0-9])?)"
TIMESTAMP = DATE + r"[T ]" + TIME + ZONE + "?"
UUID = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
# Values PostgreSQL parses itself (``typemap.COMPARABLE_TEXT_FORM``): the forms written here.
OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4 = OCTET + r"(?:\." + OCTET + "){3}"
TEXT_FORMS = {
    "inet": IPV4 + r"(?:/(?:3[0-2]|[12]?[0-9]))?",
    "cidr": IPV4,
    "macaddr": r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}",
    "macaddr8": r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){7}",
    "bit": r"[01]{1,64}",
    "varbit": r"[01]{1,64}",
    "time": TIME,
    "timetz": TIME + ZONE + "?",
}
# Money's input takes no exponent, and stops at 92233720368547758.07.
MONEY = r"-?[0-9]{1,16}(?:\.[0-9]{1,2})?"
# Lists of values are split on commas, so a text item holds none.
ITEM_PATTERNS = {
    typemap.INTEGER.kind: INTEGER,
    typemap.DECIMAL.kind: NUMBER,
    typemap.FLOAT.kind: NUMBER,
    typemap.MONEY.kind: MONEY,
    typemap.DATE.kind: DATE,
    typemap.TIMESTAMP.kind: TIMESTAMP,
    typemap.UUID.kind: UUID,
}
LON = r"-?(?:180(?:\.0{1,6})?|(?:1[0-7][0-9]|[0-9]{1,2})(?:\.[0-9]{1,6})?)"
LAT = r"-?(?:90(?:\.0{1,6})?|[0-8]?[0-9](?:\.[0-9]{1,6})?)"
NUMBER_SCHEMA = {"type": "number", "maximum": 1e50}  # django-filter's NumberFilter bound, upward only
PARAMETERS_REF = "#/components/parameters/"


def ref(name: str) -> dict:
    return {"$ref": PARAMETERS_REF + name}


def path_parameter(name: str, description: str, schema: dict | None = None) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": schema or {"type": "string"},
        "description": description,
    }


def query_parameter(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "schema": schema, "description": description}


def ecma_escape(text: str) -> str:
    """``text`` as a literal in a JSON Schema pattern (ECMA-262 and Python's ``re`` alike)."""
    return re.sub(r"[\\^$.|?*+()\[\]{}]", lambda m: "\\" + m.group(0), text)


def name_forms(name: str) -> list[str]:
    """The spellings the server resolves to a column (``shaping.resolve_column``): the name
    itself when the list can carry it (no comma, no surrounding space), and its tilde-encoded
    form."""
    forms = [name] if name and name == name.strip() and "," not in name else []
    encoded = encode_segment(name)
    if encoded != name:
        forms.append(encoded)
    return forms


def alternatives(tokens) -> str:
    unique = list(dict.fromkeys(ecma_escape(t) for t in tokens))
    return "(?:" + "|".join(sorted(unique, key=len, reverse=True)) + ")"


def list_pattern(item: str, empty: bool = False) -> str:
    """Comma-separated items, with the spaces and empty items the server skips: at least one, or
    (``empty``) any number."""
    items = rf"{item}(?:\s*,[\s,]*{item})*[\s,]*"
    return rf"^[\s,]*(?:{items})?$" if empty else rf"^[\s,]*{items}$"


def _tokens(columns) -> list[str]:
    return [form for column in columns for form in name_forms(column.name)]


def up_to(n: int) -> str:
    """A pattern of the whole numbers 0 to ``n`` (no leading zeros: the caller adds ``0*``)."""
    digits = str(n)
    options = [digits]
    if len(digits) > 1:
        options.append(f"[0-9]{{1,{len(digits) - 1}}}")
    for i, digit in enumerate(digits):
        low = 1 if i == 0 and len(digits) > 1 else 0
        if int(digit) > low:
            rest = len(digits) - i - 1
            options.append(digits[:i] + f"[{low}-{int(digit) - 1}]" + (f"[0-9]{{{rest}}}" if rest else ""))
    return "(?:" + "|".join(options) + ")"


# -- the shared parameters (components/parameters) -------------------------------------------


def shared_parameters() -> dict:
    """Parameters whose type does not depend on the relation, by component name."""
    maximum = portal_setting("MAX_PAGE_SIZE")
    table = (
        (
            "limit",
            {"type": "string", "pattern": rf"^(?:0*{up_to(maximum)}|[Aa][Ll][Ll]|)$"},
            f"Rows per page (default {portal_setting('PAGE_SIZE')}, at most {maximum}; empty: the default), or "
            "`all` to stream every matching row.",
        ),
        (
            "offset",
            {"type": "string", "pattern": r"^(?:0*[0-9]{1,18}|)$"},
            "Rows to skip (empty: none).",
        ),
        (
            "cursor",
            {"type": "string", "pattern": r"^[A-Za-z0-9_-]+$", "x-grammar": "cursor"},
            "Keyset cursor from a previous page's `next` link (relations with a key); valid only with the "
            "ordering it was made for, and never with `offset`.",
        ),
        (
            "filter",
            {"type": "string", "pattern": rf"^{TEXT}+$", "maxLength": 20000, "x-grammar": "cql2"},
            "An OGC CQL2 filter, ANDed with the other filters: `carrier IN ('AA','UA') AND (dep_delay > 60 OR "
            "arr_delay > 60) AND NOT origin = 'EWR'`. Comparisons, LIKE, CASEI, IN, BETWEEN, IS NULL, AND/OR/NOT, "
            "DATE/TIMESTAMP/INTERVAL with T_BEFORE, T_AFTER, T_INTERSECTS, T_DISJOINT, T_DURING, T_EQUALS, and "
            "S_INTERSECTS, S_WITHIN, S_CONTAINS, S_DISJOINT... with WKT or BBOX on the location (a geometry "
            "column, or `geometry` for latitude/longitude). At most 20 levels of nesting and 1000 conditions. "
            "The grammar is CQL2's (a 400 says where it stops). A filter and the rest of the URL must fit the "
            "request line (8 KB; a 414 past it).",
        ),
        (
            "filter-lang",
            {"type": "string", "enum": ["cql2-text", "cql2-json"], "default": "cql2-text"},
            "The encoding of `filter`: CQL2 text (default) or CQL2 JSON.",
        ),
        (
            "search",
            {"type": "string", "pattern": rf"^{TEXT}*$"},
            "Words that must all appear (full-text search where the relation has a tsvector); empty: no filter.",
        ),
        (
            "bbox",
            {"type": "string", "pattern": f"^{LON},{LAT},{LON},{LAT}$", "x-grammar": "bbox"},
            f"{LOOKUPS['bbox'].label} ({LOOKUPS['bbox'].hint}, WGS 84 degrees, the minimum corner first: the "
            "pattern cannot say that last part).",
        ),
    )
    return {name: query_parameter(name, schema, text) for name, schema, text in table}


def format_component(relation: Relation) -> tuple[str, dict]:
    """``?format=`` with the formats this relation has (``renderers.formats_for``): one component
    per distinct set (two in practice: with and without GeoJSON)."""
    formats = list(renderers.formats_for(relation))
    return "format." + ".".join(formats), query_parameter(
        "format",
        {"type": "string", "enum": ["", *formats]},
        "Output format (or use the Accept header; empty: the same as absent).",
    )


# -- the relation's own parameters -----------------------------------------------------------


def fields_parameter(relation: Relation) -> dict:
    return query_parameter(
        "fields",
        {"type": "string", "pattern": list_pattern(alternatives(_tokens(relation.columns)))},
        "Comma-separated column names to return (a name holding a comma or surrounding spaces is given "
        "tilde-encoded, as in paths).",
    )


def ordering_parameter(relation: Relation) -> dict:
    sortable = [c for c in relation.columns if typemap.type_info(c).sortable]
    # No sortable column: only an empty ordering is taken.
    pattern = list_pattern("-?" + alternatives(_tokens(sortable)), empty=True) if sortable else r"^[\s,]*$"
    return query_parameter(
        "ordering",
        {"type": "string", "pattern": pattern},
        "Comma-separated column names, `-` before a name for descending; the key is always added as a "
        "tie-break. With `group_by` or `aggregate`, the result's own names instead (`-count`).",
    )


def _group_tokens(relation: Relation) -> list[str]:
    tokens = _tokens(c for c in relation.columns if aggregates.groupable(c))
    for column in relation.columns:
        parts = () if column.is_array else aggregates.TRUNCATIONS.get(column.base_type, ())
        tokens += [f"{form}__{part}" for form in name_forms(column.name) for part in parts]
    return tokens


def _aggregate_tokens(relation: Relation) -> list[str]:
    return [aggregates.COUNT] + [
        f"{name}:{form}"
        for name, function in aggregates.FUNCTIONS.items()
        for column in relation.columns
        if function.allowed(column)
        for form in name_forms(column.name)
    ]


def grouping_parameters(relation: Relation) -> list[dict]:
    groups = _group_tokens(relation)
    numeric = [c for c in relation.columns if c.base_type in aggregates.NUMBERS and not c.is_array]
    having_names = [aggregates.COUNT] + [
        f"{name}_{c.name}" for name in aggregates.FUNCTIONS for c in numeric if aggregates.FUNCTIONS[name].allowed(c)
    ]
    having_names += [f"count_distinct_{c.name}" for c in relation.columns if aggregates.groupable(c)]
    parameters = []
    if groups:
        parameters.append(
            query_parameter(
                "group_by",
                {"type": "string", "pattern": list_pattern(alternatives(groups))},
                "Comma-separated columns to group the filtered rows by; a date or timestamp column may be "
                "truncated as `<column>__year`, `__month`, `__week`, `__day` (and `__hour` for timestamps, in "
                "UTC). Each result row holds the group values under these names, then the aggregates. "
                "`ordering` then takes the result's own names (`-count`).",
            )
        )
    parameters.append(
        query_parameter(
            "aggregate",
            {"type": "string", "pattern": list_pattern(alternatives(_aggregate_tokens(relation)))},
            "Comma-separated `count` and `<function>:<column>` with the functions count_distinct, sum, avg, "
            "median (numbers and intervals) and min, max; named `count` and `<function>_<column>` in the "
            "result (underscores are appended to a name a group column already has). Defaults to `count` "
            "with `group_by`; alone, one row over every selected row.",
        )
    )
    parameters.append(
        query_parameter(
            "having",
            {
                "type": "string",
                "pattern": "^" + alternatives(having_names) + r"__(?:exact|gt|gte|lt|lte):" + INTEGER + "$",
            },
            "A condition on an aggregate of the request, `<aggregate>__<lookup>:<value>` with the lookups "
            "exact, gt, gte, lt, lte (`count__gt:100`); repeat the parameter for several (all must hold). "
            "Only with `group_by` or `aggregate`, naming one of the request's aggregates.",
        )
    )
    return parameters


def expand_parameter(relation: Relation, snapshot: Snapshot) -> dict | None:
    names = list(link_targets(relation, snapshot))
    if not names:
        return None
    tokens = [form for name in names for form in name_forms(name)]
    return query_parameter(
        "expand",
        {"type": "string", "pattern": list_pattern(alternatives(tokens), empty=True)},
        "Comma-separated foreign key columns (or constraint names) whose referenced row is embedded in place "
        "of the value; JSON, NDJSON and GeoJSON only, and each column must be among `fields` when given.",
    )


# -- a row's key in its URL -----------------------------------------------------------------

# A tilde-encoded value (``naming.decode_segment``): the safe characters, and each other byte of
# valid UTF-8 as ``~XX``, in its one canonical spelling (a safe byte is never encoded); NUL and
# four-byte characters left out. ``~`` alone is the empty string.
TILDE_VALUE = (
    r"(?:~|(?:[A-Za-z0-9_-]|~0[1-9A-F]|~1[0-9A-F]|~2[0-9A-CEF]|~3[A-F]|~40|~5[B-E]|~60|~7[B-F]"
    r"|~[CD][2-9A-F]~[89AB][0-9A-F]|~E[1-9A-CEF]~[89AB][0-9A-F]~[89AB][0-9A-F])+)"
)
KEY_VALUES = {
    typemap.INTEGER.kind: r"-?[1-9][0-9]{0,17}|0",
    typemap.UUID.kind: r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    typemap.DATE.kind: DATE,
}


def key_parameter(relation: Relation) -> dict:
    """``{key}``: the key's values, each tilde-encoded, joined by commas."""
    columns = [relation.column(name) for name in relation.key.columns]
    values = [
        "(?:" + KEY_VALUES.get(typemap.type_info(c).kind, TILDE_VALUE) + ")" if c is not None else TILDE_VALUE
        for c in columns
    ]
    return path_parameter(
        "key",
        f"The value(s) of ({', '.join(relation.key.columns)}), each tilde-encoded, joined by commas.",
        {"type": "string", "pattern": "^" + ",".join(values) + "$"},
    )


# -- filters ---------------------------------------------------------------------------------


def _item_pattern(info: typemap.TypeInfo, column: Column) -> str | None:
    if column.base_type == "oid":
        return r"[+-]?[0-9]{1,9}"  # within oid's input range (-2^31 to 2^32 - 1)
    if info.kind in ITEM_PATTERNS:
        return ITEM_PATTERNS[info.kind]
    if column.enum_labels:
        return alternatives(label for label in column.enum_labels if "," not in label)
    if column.base_type in TEXT_FORMS:
        return TEXT_FORMS[column.base_type]
    if info.free_text or info is typemap.CITEXT:
        return r"[^\x00,]+"
    return None


ARRAY_INTEGERS = {
    "int2": r"[+-]?[0-9]{1,4}",
    "int4": r"[+-]?[0-9]{1,9}",
    "oid": r"[0-9]{1,9}",
    "bool": "(?:true|false|t|f)",
}


def _array_pattern(column: Column) -> str:
    """``a,b,c`` (split on commas as they are) or a JSON array (``filters.ArrayLiteralField``),
    each element of the column's element type."""
    element = typemap.BY_TYPNAME.get(column.element_type)
    # Elements are cast to the array's own type: each integer within its width.
    item = ARRAY_INTEGERS.get(column.element_type)
    item = item or (ITEM_PATTERNS.get(element.kind) if element is not None else None)
    item = item or TEXT_FORMS.get(column.element_type) or {"r": "empty", "m": r"\{\}"}.get(column.element_kind)
    if item is None:
        return r"^[^\x00\[\s][^\x00]*$"
    return f"^{item}(?:,{item})*$"


def array_schema(column: Column) -> dict:
    if column.element_kind == "e":  # the snapshot keeps no labels for an array's enum
        return {"type": "string", "pattern": rf"^{TEXT}+$", "x-grammar": "enum"}
    element = typemap.BY_TYPNAME.get(column.element_type)
    if element is not None and element.kind in ("json", "jsonb"):
        return {"type": "string", "pattern": rf"^{TEXT}+$", "x-grammar": "json"}
    if element is None and column.element_kind not in ("r", "m"):  # an extension's type: its own input
        return {"type": "string", "pattern": rf"^{TEXT}+$", "x-grammar": "element"}
    return {"type": "string", "pattern": _array_pattern(column)}


def filter_schema(lookup_name: str, column: Column | None) -> dict:
    """The JSON Schema of ``?<column>__<lookup>=``'s value for this column, as the filter class
    (``typemap.TypeInfo.filter_for``) and PostgreSQL read it. Empty is a 400 but for the text
    matches (``PortalFilterSet.EMPTY_MATCHES``), where it means the empty string."""
    lookup = LOOKUPS[lookup_name]
    if lookup.value == BOOLEAN_VALUE:
        return dict(BOOLEAN)
    info = typemap.type_info(column)
    if info is typemap.BOOLEAN:
        return dict(BOOLEAN)
    if info.kind == "array":
        return array_schema(column)
    if info.kind in ("range", "multirange"):
        single = r"\{(?:[\[(],[\])])?\}" if info.kind == "multirange" else r"(?:empty|[\[(],[\])])"
        if lookup.value == LIST_VALUE:
            single = r"\{\}" if info.kind == "multirange" else "empty"
            return {"type": "string", "pattern": f"^{single}(?:,{single})*$"}
        return {"type": "string", "pattern": f"^{single}$"}
    if info.kind in ("json", "jsonb"):
        if lookup_name == "contains":
            return {"type": "string", "pattern": rf"^{TEXT}+$", "x-grammar": "json"}
        return {"type": "string", "pattern": rf"^{TEXT}+$"}
    if info.kind == "tsvector":
        return {"type": "string", "pattern": rf"^{TEXT}+$"}
    if column.base_type == "interval" and not column.is_array:
        # PostgreSQL's interval input (``1 day``, ``P1D``, ``1:30``, a bare number of seconds...)
        # is a grammar of its own.
        return {"type": "string", "pattern": rf"^{TEXT}+$", "x-grammar": "interval"}
    item = _item_pattern(info, column)
    text_like = info.free_text or info is typemap.CITEXT
    if lookup.value == LIST_VALUE:
        if item is None:
            return {"type": "string", "pattern": rf"^{TEXT}+$"}
        if lookup_name == "range":
            return {"type": "string", "pattern": f"^{item},{item}$"}
        return {"type": "string", "pattern": f"^{item}(?:,{item})*$"}
    if info is typemap.INTEGER and column.base_type == "oid":  # PostgreSQL's oid input range
        return {"type": "integer", "minimum": -(2**31), "maximum": 2**32 - 1}
    if info is typemap.INTEGER:
        return {"type": "integer"}
    if info is typemap.MONEY:
        return {"type": "string", "pattern": f"^{MONEY}$"}
    if info.numeric:
        return dict(NUMBER_SCHEMA)
    if info is typemap.DATE:
        return {"type": "string", "format": "date"}
    if info is typemap.TIMESTAMP:  # RFC 3339's offsets reach 23:59; PostgreSQL's stop at 15:59
        return {"type": "string", "pattern": f"^{TIMESTAMP}$"}
    if info is typemap.UUID:
        return {"type": "string", "format": "uuid"}
    if column.enum_labels:
        return {"type": "string", "enum": list(column.enum_labels)}
    if text_like and lookup_name == "regex":
        return {"type": "string", "pattern": rf"^{TEXT}+$", "x-grammar": "posix-regex"}
    if text_like:
        empty_ok = lookup_name in ("exact", "iexact", "contains", "icontains", "startswith", "endswith")
        return {"type": "string", "pattern": rf"^{TEXT}{'*' if empty_ok else '+'}$"}
    if item is not None:
        return {"type": "string", "pattern": f"^{item}$"}
    return {"type": "string", "pattern": rf"^{TEXT}+$"}


def has_location(relation: Relation) -> bool:
    return geometry_source(relation) is not None
