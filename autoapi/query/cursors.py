"""Keyset ("cursor") paging: page 10,000 costs what page 1 costs.

A cursor is the previous page's last row's values of the ordering columns, with the ordering
itself, as URL-safe base64 JSON. The next page is the rows strictly after that row in the same
order, written as ``a > v1 OR (a = v1 AND b > v2) ...`` with the API's NULL placement (NULLs
last in both directions). It is only offered where the order ends with a key, so
"strictly after" names exactly the rows not yet seen.
"""

from __future__ import annotations

import base64
import binascii
import json
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.db.models.expressions import RawSQL

from autoapi.db.sql import compose
from autoapi.errors import BadRequest
from autoapi.schema.snapshot import Column
from autoapi.schema.typemap import all_type_infos

# Column kinds whose JSON value the model field can take back as a filter value (typemap's
# ``keyset`` flag says which).
CURSOR_KINDS = frozenset(info.kind for info in all_type_infos() if info.keyset)


def encode(ordering_signature: str, values_json: str) -> str:
    payload = '{"o":' + json.dumps(ordering_signature) + ',"v":' + values_json + "}"
    return base64.urlsafe_b64encode(payload.encode("utf-8")).decode("ascii").rstrip("=")


def _no_constant(name: str):
    raise ValueError(f"{name} is no value of a cursor")  # json.loads takes NaN and ±Infinity by default


def decode(cursor: str, ordering_signature: str) -> list:
    """The values of a cursor made by ``encode``: a flat list of JSON scalars (no NaN or Infinity,
    no string holding NUL), or a 400 naming ``cursor``."""
    invalid = BadRequest("cursor is not valid; use the next link of a previous page", parameter="cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw, parse_float=Decimal, parse_constant=_no_constant)
        values, signature = payload["v"], payload["o"]
    except (binascii.Error, ValueError, UnicodeDecodeError, KeyError, TypeError, RecursionError):
        raise invalid from None
    if signature != ordering_signature or not isinstance(values, list):
        raise BadRequest(
            "cursor belongs to another ordering; keep the same ordering or start again", parameter="cursor"
        )
    if not all(
        value is None or isinstance(value, (bool, int, Decimal)) or (isinstance(value, str) and "\x00" not in value)
        for value in values
    ):
        raise invalid  # nested lists, objects, NUL: no ordering column's value
    return values


# Base types whose cursor values PostgreSQL itself must read back from their JSON text: Django's
# date fields cannot parse 'infinity', BC dates or years past 9999, and a real (float4) compared
# with a float8 parameter never equals itself, so the cursor's own row would come back forever.
CAST_BY_POSTGRESQL = {"float4": "real", "date": "date", "timestamp": "timestamp", "timestamptz": "timestamptz"}


def _operand(column: Column, value):
    if value is None or column.base_type not in CAST_BY_POSTGRESQL:
        return value
    text = value if isinstance(value, str) else json.dumps(value)
    return RawSQL(compose("%s::{}", CAST_BY_POSTGRESQL[column.base_type]), (text,))


def _after(column: Column, descending: bool, value) -> Q:
    if value is None:
        return Q(pk__in=[])  # NULLs sort last: nothing comes after them but ties
    strictly = Q(**{f"{column.attname}__{'lt' if descending else 'gt'}": _operand(column, value)})
    if not column.nullable:
        return strictly  # no "OR IS NULL": it would keep PostgreSQL from walking the index
    return strictly | Q(**{f"{column.attname}__isnull": True})


def _equal(column: Column, value) -> Q:
    if value is None:
        return Q(**{f"{column.attname}__isnull": True})
    return Q(**{column.attname: _operand(column, value)})


def keyset_condition(terms: list[tuple[Column, bool]], values: list) -> Q:
    if len(values) != len(terms):
        raise BadRequest("cursor does not match this relation's ordering", parameter="cursor")
    condition, prefix = Q(pk__in=[]), Q()
    for (column, descending), value in zip(terms, values):
        value = str(value) if isinstance(value, Decimal) else value
        condition |= prefix & _after(column, descending, value)
        prefix &= _equal(column, value)
    return condition


def apply(queryset, condition: Q):
    try:
        return queryset.filter(condition)
    except (ValueError, TypeError, ValidationError):
        raise BadRequest("cursor is not valid for this relation", parameter="cursor") from None
