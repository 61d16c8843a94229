"""The system check of the published database (``autoapi.checks`` registers it; its docstring
lists every id): the database answers, publishes something (and says what it left out), and the
portal's role is as harmless as docs/setup.md asks (no superuser, no CREATE, no write privilege)."""

from __future__ import annotations

import psycopg2
from django.conf import settings
from django.core import checks
from django.db import DatabaseError, connections

from autoapi.conf import DATABASE_ALIAS, portal_setting
from autoapi.schema.catalog_sql import SYSTEM_SCHEMA_FILTER as where
from autoapi.schema.introspect import read_snapshot
from autoapi.web.api import PublishedAPI

ROLE_SQL = "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"

SCHEMAS_SQL = """
SELECT n.nspname FROM pg_namespace n
WHERE {filter} AND has_schema_privilege(n.oid, 'CREATE')
ORDER BY n.nspname
"""

WRITABLE_SQL = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition AND {filter}
  AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')
ORDER BY n.nspname, c.relname
"""


def _names(rows, limit: int = 5) -> str:
    shown = ", ".join(".".join(row) if len(row) > 1 else row[0] for row in rows[:limit])
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


def check_published_database(app_configs=None, databases=None, **kwargs) -> list[checks.CheckMessage]:
    if not getattr(settings, "DATABASE_URL", ""):
        return [
            checks.Error(
                "DATABASE_URL is not set: the portal has no database to publish",
                hint="Set DATABASE_URL=postgresql://reader:password@host:5432/dbname, or try the demo: `make demo` "
                "serves it, and `python -m portal.embedded start` starts the embedded demo database and prints "
                "the DATABASE_URL to use.",
                obj="DATABASE_URL",
                id="autoapi.E003",
            )
        ]
    connection = connections[DATABASE_ALIAS]
    schemas = list(portal_setting("SCHEMAS") or [])
    try:
        try:
            connection.ensure_connection()
        except (DatabaseError, psycopg2.Error) as exc:
            return [_unreachable(connection, exc)]
        try:
            facts = _read_facts(connection, schemas)
        except (DatabaseError, psycopg2.Error) as exc:
            return [
                checks.Error(
                    f"the published database answers, but reading its catalog failed: {_postgresql_error(exc)}",
                    hint="Please report this with `manage.py dump_snapshot`'s output: the portal should publish "
                    "what it can and leave out only what it cannot read.",
                    obj="DATABASE_URL",
                    id="autoapi.E002",
                )
            ]
    finally:
        connection.close()
    return _publishing_messages(facts, schemas) + _role_messages(facts)


def _postgresql_error(exc: Exception) -> str:
    """PostgreSQL's (or libpq's) own message, on one line."""
    return " ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip()) or type(exc).__name__


def _unreachable(connection, exc: Exception) -> checks.CheckMessage:
    settings_dict = connection.settings_dict
    where_to = (
        f"{settings_dict.get('HOST') or 'local socket'}:{settings_dict.get('PORT') or 5432}/{settings_dict.get('NAME')}"
    )
    return checks.Error(
        f"the published database ({where_to}) cannot be reached: {_postgresql_error(exc)}",
        hint="Check DATABASE_URL, that the server is running and accepts connections from this host, "
        "and the role's password.",
        obj="DATABASE_URL",
        id="autoapi.E001",
    )


def _read_facts(connection, schemas: list[str]) -> dict:
    """The role, its snapshot (with every relation's endpoints built) and its dangerous rights."""
    with connection.cursor() as cursor:
        cursor.execute(ROLE_SQL)
        role, is_superuser = cursor.fetchone()
        snapshot = read_snapshot(cursor, schemas)
        cursor.execute(SCHEMAS_SQL.format(filter=where), {"schemas": schemas})
        creatable = cursor.fetchall()
        cursor.execute(WRITABLE_SQL.format(filter=where), {"schemas": schemas})
        writable = cursor.fetchall()
    left_out = [f"{s.what} ({s.why})" for s in snapshot.skipped if s.why != "it belongs to an extension"]
    left_out += [f"{schema}.{name} ({why})" for (schema, name), why in PublishedAPI(snapshot).build_all().items()]
    return {
        "role": role,
        "is_superuser": is_superuser,
        "snapshot": snapshot,
        "creatable": creatable,
        "writable": writable,
        "left_out": left_out,
    }


def _publishing_messages(facts: dict, schemas: list[str]) -> list[checks.CheckMessage]:
    messages = []
    if not facts["snapshot"].relations:
        scope = f"in the schemas {', '.join(schemas)}" if schemas else "in any schema it may use"
        messages.append(
            checks.Warning(
                f"the role {facts['role']!r} can read no table or view {scope}: the portal publishes nothing",
                hint="GRANT USAGE ON SCHEMA ... and GRANT SELECT ON ... TO the role (docs/setup.md, Serving your own "
                "database), or fix PORTAL_SCHEMAS.",
                obj="DATABASE_URL",
                id="autoapi.W001",
            )
        )
    if facts["left_out"]:
        messages.append(
            checks.Warning(
                f"{len(facts['left_out'])} object(s) left out, the rest is published: {'; '.join(facts['left_out'][:10])}"
                + (" ..." if len(facts["left_out"]) > 10 else ""),
                hint="`manage.py dump_snapshot` lists each with the reason; their URLs answer 404 saying why.",
                obj="DATABASE_URL",
                id="autoapi.W005",
            )
        )
    return messages


def _role_messages(facts: dict) -> list[checks.CheckMessage]:
    role, creatable, writable = facts["role"], facts["creatable"], facts["writable"]
    messages = []
    if facts["is_superuser"]:
        messages.append(
            checks.Warning(
                f"the role {role!r} is a superuser: it reads (and publishes) everything, and nothing but the "
                "portal's session settings keeps it from writing",
                hint="Connect as a role that can only SELECT (docs/setup.md, Serving your own database).",
                obj="DATABASE_URL",
                id="autoapi.W002",
            )
        )
    if creatable:
        messages.append(
            checks.Warning(
                f"the role {role!r} may CREATE objects in the published schema(s) {_names(creatable)}",
                hint="REVOKE CREATE ON SCHEMA ... FROM the role (and from PUBLIC on PostgreSQL 14 and older).",
                obj="DATABASE_URL",
                id="autoapi.W003",
            )
        )
    if writable:
        messages.append(
            checks.Warning(
                f"the role {role!r} may INSERT, UPDATE, DELETE or TRUNCATE {len(writable)} published "
                f"relation(s): {_names(writable)}",
                hint="REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ... FROM the role; the portal only needs SELECT.",
                obj="DATABASE_URL",
                id="autoapi.W004",
            )
        )
    return messages
