"""Django's PostgreSQL backend, compiling with ``autoapi.db.compiler`` (see there for why)."""
from django.db.backends.postgresql import base, operations


class DatabaseOperations(operations.DatabaseOperations):
    compiler_module = "autoapi.db.compiler"


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
