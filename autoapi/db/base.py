"""Django's PostgreSQL backend, compiling with ``autoapi.db.compiler`` (see there for why)."""

import psycopg2
from django.db.backends.postgresql import base, operations


class PoolBusy(psycopg2.OperationalError):
    """Every connection of this process's pool (``portal.pgpool``) is lent: this process is busy, the
    server is not (``autoapi.db.replicas`` must not take it for a replica being down)."""


class DatabaseOperations(operations.DatabaseOperations):
    compiler_module = "autoapi.db.compiler"


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
