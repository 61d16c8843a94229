"""Helpers for the unit tests of autoapi modules: relation records from the current snapshot, a
model for one built in a private app registry, and running SQL on the published connection."""

from __future__ import annotations

import io
import json
from decimal import Decimal

from django.apps.registry import Apps
from django.db import connections

from autoapi.conf import DATABASE_ALIAS
from autoapi.db.sql import identifier
from autoapi.public import get_snapshot
from autoapi.schema.models import build_model, qualified_table


def relation(name: str, schema: str = "public"):
    found = get_snapshot().get(schema, name)
    assert found is not None, f"{schema}.{name} is not in the snapshot"
    return found


def model_for(rel):
    """A fresh model class for the relation (its own ``Apps``: never shared with the registry)."""
    return build_model(rel, 0, Apps())


def queryset_for(rel):
    return model_for(rel)._default_manager.all()


def fetch(sql: str, params=None) -> list[tuple]:
    """All rows of a statement run on the published (reader) connection. Without ``params`` the
    statement is sent as it is (a ``%`` needs no doubling); with them, psycopg2 formats it."""
    with connections[DATABASE_ALIAS].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def copy_out(sql: str, params=None) -> bytes:
    """The output of a ``COPY ... TO STDOUT`` run at once on the published connection."""
    with connections[DATABASE_ALIAS].cursor() as wrapper:
        raw = wrapper.cursor  # psycopg2's own cursor: COPY needs copy_expert
        if params is not None:
            sql = raw.mogrify(sql, params).decode("utf-8")
        out = io.BytesIO()
        raw.copy_expert(sql, out)
        return out.getvalue()


def table(rel) -> str:
    """The relation's quoted name for a statement run without parameters."""
    return qualified_table(rel).replace("%%", "%")


def q(name: str) -> str:
    """An identifier quoted for a statement run WITHOUT parameters (no ``%`` doubling)."""
    return '"' + name.replace('"', '""') + '"'


def loads(text: str):
    return json.loads(text, parse_float=Decimal)


__all__ = ["copy_out", "relation", "model_for", "queryset_for", "fetch", "table", "q", "loads", "identifier"]
