"""Model fields for PostgreSQL types that Django has no field for.

The portal never reads values through these fields (PostgreSQL renders JSON and CSV itself, see
``queries.py``); they exist so that the ORM can build WHERE and ORDER BY clauses on any column.
"""
from django.db import models


class PassThroughField(models.Field):
    """Any type whose values PostgreSQL parses from a quoted literal (money, inet, interval, ...).

    Filter values travel as text; PostgreSQL casts the untyped literal to the column's type and
    rejects what does not parse, which the API turns into a 400 naming the parameter.
    """

    def get_internal_type(self):
        # "TextField" makes Django cast to ::text for contains/startswith lookups.
        return "TextField"

    def db_type(self, connection):
        return None  # unmanaged: never created

    def get_prep_value(self, value):
        if value is None or isinstance(value, str):
            return value
        return str(value)
