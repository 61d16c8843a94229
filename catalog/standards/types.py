"""One table from a column's type to what each open-data standard calls it.

Keyed by the kind the portal's own type table gives every column (``autoapi/schema/typemap.py``, through
``autoapi.public.column_kind``), refined by PostgreSQL's type name where a kind spans several
standard types. Each row says, for the text PostgreSQL's ``COPY ... CSV`` writes (the CSV download,
which every document here describes):

- ``table_schema``: the Frictionless Table Schema field type and its extra properties (Data
  Package v2), e.g. ``{"type": "boolean", "trueValues": ["t"], "falseValues": ["f"]}``;
- ``csvw``: the CSV on the Web datatype (a name, or a dict with ``base`` and ``format``);
- ``croissant``: the schema.org / Croissant ``dataType``.

Anything a standard's type could not parse from PostgreSQL's text form is a string: ``time``
(PostgreSQL allows ``24:00:00``), intervals, network addresses, arrays (``{1,2}`` is not JSON),
ranges, JSON (any JSON value, not only objects), geometry (hex EWKB), bytea (``\\x`` hex, not
base64), money (formatted by ``lc_monetary``). Dates and timestamps keep their standard types
although PostgreSQL also stores ``infinity``, ``-infinity``, years BC and years past 9999, which
no standard's date type holds: a strict reader reports those values as type errors (docs/opendata.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autoapi.public import Column, column_kind


@dataclass(frozen=True)
class StandardTypes:
    table_schema: dict = field(default_factory=lambda: {"type": "string"})
    csvw: str | dict = "string"
    croissant: str = "sc:Text"


STRING = StandardTypes()
INTEGER = StandardTypes({"type": "integer"}, "integer", "sc:Integer")
# numeric's text form may be NaN or +-Infinity (Table Schema reads them; CSVW's decimal does not,
# its double does): the exact digits stay in the CSV, readers decide how far to keep them.
DECIMAL = StandardTypes({"type": "number"}, "double", "sc:Float")
FLOAT = StandardTypes({"type": "number"}, "double", "sc:Float")
# Croissant's reference loader casts with bool(), which takes "f" for True: text there.
BOOLEAN = StandardTypes(
    {"type": "boolean", "trueValues": ["t"], "falseValues": ["f"]}, {"base": "boolean", "format": "t|f"}, "sc:Text"
)
DATE = StandardTypes({"type": "date"}, "date", "sc:Date")
# COPY writes "2024-02-29 12:34:56.789+00": a space, not XSD's T, and a two-digit offset.
# Table Schema's "any" format parses it; CSVW's dateTime wants the T, so the CSVW type is a string.
TIMESTAMP = StandardTypes({"type": "datetime", "format": "any"}, "string", "sc:DateTime")
UUID = StandardTypes({"type": "string", "format": "uuid"}, "string", "sc:Text")

BY_KIND = {
    "integer": INTEGER,
    "number": DECIMAL,
    "float": FLOAT,
    "boolean": BOOLEAN,
    "date": DATE,
    "timestamp": TIMESTAMP,
    "uuid": UUID,
}


def standard_types(column: Column) -> StandardTypes:
    """The column's types in every standard (a string wherever unsure: see the module's text)."""
    if column.is_array:
        return STRING
    return BY_KIND.get(column_kind(column), STRING)
