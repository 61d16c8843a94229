"""Django's PostgreSQL compilers, accepting ``$`` inside identifiers the portal quoted itself.

Django 5.2.x refuses any column or table name containing ``$`` ("Dollar signs are not permitted in
column aliases on PostgreSQL"): a guard against aliases taken from user input, which could open a
dollar-quoted string. The portal never takes an alias from input; every table and column name it
gives Django comes from the catalog, already double-quoted by ``autoapi.db.sql.identifier`` (inside
double quotes ``$`` is an ordinary character). So a name that arrives quoted skips the guard;
anything else still meets it.
"""

from django.db.backends.postgresql.compiler import (
    SQLAggregateCompiler,
    SQLDeleteCompiler,
    SQLInsertCompiler,
    SQLUpdateCompiler,
)
from django.db.backends.postgresql.compiler import (
    SQLCompiler as PostgreSQLCompiler,
)
from django.db.models.sql.compiler import SQLCompiler as BaseSQLCompiler

# Django looks every compiler up by name in ``DatabaseOperations.compiler_module``.
__all__ = ["SQLAggregateCompiler", "SQLCompiler", "SQLDeleteCompiler", "SQLInsertCompiler", "SQLUpdateCompiler"]


def _is_quoted_identifier(name: str) -> bool:
    return len(name) >= 2 and name.startswith('"') and name.endswith('"')


class SQLCompiler(PostgreSQLCompiler):
    def quote_name_unless_alias(self, name):
        if _is_quoted_identifier(name):
            return BaseSQLCompiler.quote_name_unless_alias(self, name)
        return super().quote_name_unless_alias(name)
