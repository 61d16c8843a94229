"""The format records (``autoapi/formats/records.py``): each format's media type, names, extension,
row cap, compression and size estimate, and the readers that take them from there (renderers, file
names, the catalog's size estimates, the HTTP compression's list of compressible types).

No database: every test here reads records and pure functions only (no fixture, no marker).
"""

from __future__ import annotations

import pytest

from autoapi.formats import records, renderers
from autoapi.formats.filenames import content_disposition, download_filename
from autoapi.public import format_label, format_record
from autoapi.schema.snapshot import Column, Relation
from autoapi.web.compression import COMPRESSIBLE
from catalog import estimates

RECORDS = tuple(r.record for r in renderers.ROW_RENDERERS)


def _column(name: str, base_type: str = "int4") -> Column:
    return Column(
        name=name, attname=name, position=1, type=base_type, base_type=base_type, type_kind="b", type_category="N"
    )


def _relation(*columns: Column, schema: str = "public", name: str = "flights") -> Relation:
    return Relation(oid=1, schema=schema, name=name, kind="table", comment=None, estimated_rows=None, columns=columns)


def test_every_served_format_has_one_record_and_the_renderer_takes_its_names_from_it():
    assert [f.key for f in RECORDS] == ["json", "csv", "ndjson", "geojson", "parquet", "xlsx"]
    for renderer in renderers.ROW_RENDERERS:
        record = renderer.record
        assert (renderer.media_type, renderer.format, renderer.label) == (record.media_type, record.key, record.label)
        assert renderers.record_of(record.key) is record and format_record(record.key) is record
    for attribute in ("key", "media_type", "extension", "format_name"):
        values = [getattr(f, attribute) for f in RECORDS]
        assert len(set(values)) == len(values), attribute
    assert renderers.record_of("psv") is None and format_label("psv") == "PSV"


def test_records_are_frozen_and_hashable():
    with pytest.raises(AttributeError):
        records.CSV.media_type = "text/plain"  # type: ignore[misc]
    assert len({*RECORDS}) == len(RECORDS)


def test_the_xlsx_row_cap_is_one_sheet_below_its_header_and_other_formats_have_none():
    assert records.XLSX.row_cap == records.EXCEL_SHEET_ROWS - 1 == 1_048_575
    assert records.XLSX.holds(1_048_575) and not records.XLSX.holds(1_048_576)
    assert f"{records.XLSX.row_cap:,}" in records.XLSX.openapi_body["description"]
    for record in RECORDS:
        if record is not records.XLSX:
            assert record.row_cap is None and record.holds(10**12)


def test_compressed_formats_are_the_ones_http_compression_leaves_alone_and_have_no_size_guess():
    widths = [records.ColumnWidth("id", 5)]
    for record in RECORDS:
        assert bool(COMPRESSIBLE.match(record.media_type)) is not record.compressed, record.key
        assert (record.estimated_bytes(1000, widths) is None) is record.compressed, record.key
    assert {f.key for f in RECORDS if f.compressed} == {"parquet", "xlsx"}


def test_row_size_estimates_by_hand():
    # id: 5 bytes printed, never NULL; name: 10 bytes, NULL half the time.
    widths = [records.ColumnWidth("id", 5, 1.0), records.ColumnWidth("name", 10, 0.5)]
    assert records.csv_row_bytes(widths) == (5 + 1) + (5 + 1)
    json_row = (5 + 0 + 2 + 4) + (5 + 2 + 4 + 4) + 2  # value, null share, "name", quotes/colon/comma, braces
    assert records.json_row_bytes(widths) == json_row
    assert records.GEOJSON.estimated_bytes(10, widths) == 10 * (json_row + records.GEOJSON_FEATURE_BYTES)
    assert records.NDJSON.estimated_bytes(10, widths) == records.JSON.estimated_bytes(10, widths) == 10 * json_row
    assert records.CSV.estimated_bytes(0, widths) == 0


def test_the_catalog_sizes_and_caps_its_buttons_from_the_records():
    relation = _relation(_column("id"), _column("at", "timestamptz"))
    statistics = {"id": {"average_width": 4, "null_fraction": 0.0}, "at": {"average_width": 8, "null_fraction": 0.5}}
    widths = estimates.column_widths(relation, statistics)
    assert widths == [records.ColumnWidth("id", 5, 1.0), records.ColumnWidth("at", 22, 0.5)]  # TEXT_WIDTHS
    buttons = [{"format": f.key} for f in RECORDS]
    estimates.annotate(buttons, relation, statistics, 2_000_000, is_estimate=True)
    sized = {b["format"]: b for b in buttons}
    assert sized["csv"]["size"] == estimates.size_text(2_000_000 * records.csv_row_bytes(widths))
    assert sized["geojson"]["size"] == estimates.size_text(2_000_000 * records.feature_row_bytes(widths))
    assert sized["parquet"]["size"] is None and sized["xlsx"]["size"] is None
    assert "too_many" in sized["xlsx"] and "1,048,575" in sized["xlsx"]["too_many"]
    assert not any("too_many" in b for b in buttons if b["format"] != "xlsx")
    estimates.annotate(buttons := [{"format": "xlsx"}], relation, statistics, 1_048_575, is_estimate=False)
    assert "too_many" not in buttons[0]
    estimates.annotate(buttons := [{"format": "csv"}], relation, {}, 10, is_estimate=False)
    assert buttons[0]["size"] is None  # no statistics, no size


def test_file_names_take_the_records_extension():
    relation = _relation(_column("id"), schema="public", name="flights")
    for record in RECORDS:
        assert download_filename(relation, record.key) == f"public.flights.{record.extension}"
    assert 'filename="public.flights.xlsx"' in content_disposition(relation, "xlsx", attachment=True)
