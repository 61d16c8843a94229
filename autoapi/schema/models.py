"""One unmanaged Django model class per relation, in a private app registry per snapshot.

A private ``Apps`` registry (as Django's own tests do with ``isolate_apps``) means a new snapshot
never collides with an old one, and an old snapshot's classes are garbage once nothing holds it.
"""

from __future__ import annotations

from django.apps.registry import Apps
from django.db import models

from autoapi.db.sql import identifier
from autoapi.schema.naming import model_class_name
from autoapi.schema.routers import DYNAMIC_APP_LABEL
from autoapi.schema.snapshot import Relation
from autoapi.schema.typemap import model_field_kwargs, type_info

MODULE = "autoapi.dynamic"


def qualified_table(relation: Relation) -> str:
    # Django returns a name that starts and ends with '"' unchanged (see techniques.md §2.3).
    return identifier(relation.schema, relation.name)


def build_model(relation: Relation, index: int, apps: Apps) -> type[models.Model]:
    key_columns = relation.key.columns if relation.key else ()
    # Django needs exactly one primary-key field. The portal never loads instances by pk, so any
    # column may carry the flag; the real key (possibly composite) lives in the Relation record.
    pk_column = key_columns[0] if key_columns else (relation.columns[0].name if relation.columns else None)
    attrs = {"__module__": MODULE}
    for column in relation.columns:
        field_class = type_info(column).model_field
        attrs[column.attname] = field_class(
            db_column=identifier(column.name),
            primary_key=column.name == pk_column,
            null=True,
            **model_field_kwargs(column),
        )
    if pk_column is None:
        # A relation with no columns at all still needs a pk; ctid exists on every table.
        attrs["portal_row"] = models.TextField(db_column="ctid", primary_key=True)
    attrs["Meta"] = type(
        "Meta",
        (),
        {"apps": apps, "app_label": DYNAMIC_APP_LABEL, "managed": False, "db_table": qualified_table(relation)},
    )
    return type(model_class_name(index, relation.schema, relation.name), (models.Model,), attrs)
