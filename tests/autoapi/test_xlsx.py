"""XLSX downloads read back by openpyxl, every value of every type of the fixture database compared
with PostgreSQL's (docs/downloads.md, "Excel"): numbers Excel keeps exactly as numbers, dates and timestamps as
dates, the rest as text; no formulas; more rows than a sheet holds refused before anything is sent."""

from __future__ import annotations

import datetime
import io
import math
import re
from decimal import Decimal, InvalidOperation

import openpyxl
import pytest
from psycopg2 import sql

from autoapi.formats import xlsx_cells
from tests.autoapi.file_values import expected_rows
from tests.autoapi.helpers import body, json_body, published_relations, readable, url
from tests.autoapi.test_live_schema import wait_for

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORBIDDEN = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
EPOCH = datetime.datetime(1899, 12, 30)


def sheet_rows(client, relation, query: str) -> list[tuple]:
    response = client.get(url(relation, f"format=xlsx&{query}"))
    assert response.status_code == 200, body(response)[:500]
    assert response["Content-Type"] == XLSX
    workbook = openpyxl.load_workbook(io.BytesIO(body(response)))
    return list(workbook.active.values)


def expectation(column, quoted):
    """Every value as PostgreSQL's text (its output function); Python decides the cell below."""
    if column.base_type == "money":
        return sql.SQL("{}::numeric::text").format(quoted)
    if column.base_type in ("int2", "int4", "int8", "oid", "bool") and not column.is_array:
        return quoted
    return sql.SQL("CASE WHEN num_nulls({c}) = 1 THEN NULL ELSE concat({c}) END").format(c=quoted)


def text(value: str) -> str:
    value = FORBIDDEN.sub("", value)
    limit = xlsx_cells.CELL_TEXT_LIMIT
    return value if len(value) <= limit else value[: limit - len(xlsx_cells.TRUNCATED)] + xlsx_cells.TRUNCATED


def _number(value: str):
    """A number cell when Excel holds the value exactly (15 significant digits, a double's range)."""
    try:
        number = Decimal(value)
    except InvalidOperation:
        return text(value)
    if not number.is_finite() or abs(number) > Decimal("1e300") or (number and abs(number) < Decimal("1e-300")):
        return text(value)
    return float(number) if Decimal(format(float(number), ".15g")) == number else text(value)


def _float(value: str):
    number = float(value)
    return number if number == 0 or 2.3e-308 <= abs(number) <= 9.9e307 else text(value)


def _when(value: str, base: str):
    if base == "date":
        match = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)", value)
        day = match and datetime.datetime(*map(int, match.groups()))
        return day if day and day >= datetime.datetime(1900, 3, 1) else text(value)
    if base == "time":
        h, m, s = value.split(":")
        return ("seconds", int(h) * 3600 + int(m) * 60 + float(s))
    match = re.fullmatch(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?)(\+00)?", value)
    moment = match and datetime.datetime.fromisoformat(match.group(1))
    return moment if moment and moment >= datetime.datetime(1900, 3, 1) else text(value)


def expected_cell(column, value):
    base = column.base_type
    if value is None:
        return None
    if column.is_array:
        return text(value)
    if base == "int8":
        return value if abs(value) <= xlsx_cells.EXACT_INTEGER else str(value)
    if base in ("numeric", "money"):
        return _number(value)
    if base in ("float4", "float8"):
        return _float(value)
    if base in ("date", "time", "timestamp", "timestamptz"):
        return _when(value, base)
    return value if base in ("int2", "int4", "oid", "bool") else text(value)


def same_cell(ours, theirs) -> bool:
    if isinstance(theirs, tuple):  # a time of day, in seconds
        seconds = (
            ours.total_seconds()
            if isinstance(ours, datetime.timedelta)
            else (ours.hour * 3600 + ours.minute * 60 + ours.second + ours.microsecond / 1e6)
        )
        return math.isclose(seconds, theirs[1], abs_tol=1e-3)
    if isinstance(theirs, datetime.datetime):
        return isinstance(ours, datetime.datetime) and abs((ours - theirs).total_seconds()) < 1e-3
    if isinstance(theirs, float) and isinstance(ours, (int, float)) and not isinstance(ours, bool):
        return ours == theirs
    return type(ours) is type(theirs) and ours == theirs


def test_every_value_of_every_relation_reads_back(client, superuser_conn):
    checked = 0
    for relation in published_relations():
        if not readable(relation) or not relation.columns:
            continue
        rows = sheet_rows(client, relation, "limit=all")
        assert list(rows[0]) == [c.name for c in relation.columns], relation.name
        theirs = expected_rows(superuser_conn, relation, relation.columns, expectation)
        theirs = [[expected_cell(c, v) for c, v in zip(relation.columns, row)] for row in theirs]
        ours = [list(row) + [None] * (len(relation.columns) - len(row)) for row in rows[1:]]
        assert len(ours) == len(theirs), relation.name
        for our_row, their_row in zip(sorted(ours, key=repr), sorted(theirs, key=repr)):
            for column, a, b in zip(relation.columns, our_row, their_row):
                assert same_cell(a, b), (relation.name, column.name, a, b)
        checked += 1
    assert checked > 50


def _same_in_both_readers(a, b) -> bool:
    """openpyxl's value ``a`` and calamine's ``b`` of one cell (calamine reads an empty cell as "",
    every number as a float, a date cell as a date when its time is midnight)."""
    if a is None:
        return b in ("", None)
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b and type(a) is type(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, datetime.datetime) and type(b) is datetime.date:
        return a == datetime.datetime.combine(b, datetime.time())
    return a == b


def test_a_second_reader_calamine_reads_the_same_cells(client):
    """Rust's calamine, a reader independent of openpyxl and stricter about the file's layout,
    reads every relation's sheet to the same cells."""
    calamine = pytest.importorskip("python_calamine")
    checked = 0
    for relation in published_relations():
        if not readable(relation) or not relation.columns:
            continue
        data = body(client.get(url(relation, "format=xlsx&limit=all")))
        ours = list(openpyxl.load_workbook(io.BytesIO(data)).active.values)
        theirs = calamine.load_workbook(io.BytesIO(data)).get_sheet_by_index(0).to_python(skip_empty_area=False)
        assert len(theirs) == len(ours), relation.name
        for a_row, b_row in zip(ours, theirs):
            b_row = list(b_row) + [""] * (len(a_row) - len(b_row))
            for column, a, b in zip(relation.columns, a_row, b_row):
                assert _same_in_both_readers(a, b), (relation.name, column.name, a, b)
        checked += 1
    assert checked > 50


def _cells(client, relation, query: str):
    response = client.get(url(relation, f"format=xlsx&{query}"))
    return openpyxl.load_workbook(io.BytesIO(body(response))).active


def test_formulas_are_text_never_run(client):
    relation = next(r for r in published_relations() if r.name == "types_text")
    sheet = _cells(client, relation, "limit=all&id=8")
    cells = list(sheet.iter_rows(min_row=2))[0]
    assert [c.value for c in cells] == [8, "=1+2", "+1   ", "-1", "=", "@sum"]
    assert all(c.data_type != "f" for c in cells)
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header == ["id", "t", "c", "vc", "ch", "nm"]


def test_pages_filters_fields_ordering_and_groups(client, superuser_conn):
    relation = next(r for r in published_relations() if r.name == "big_2500")
    page = client.get(url(relation, "format=xlsx&limit=7&offset=100&fields=label,id"))
    assert page["Content-Disposition"].startswith("inline") and ".xlsx" in page["Content-Disposition"]
    assert 'rel="next"' in page["Link"]
    rows = list(openpyxl.load_workbook(io.BytesIO(page.content)).active.values)
    assert rows == [("label", "id")] + [(f"row {i:04d}", i) for i in range(101, 108)]
    rows = sheet_rows(client, relation, "limit=all&id__lte=3&ordering=-id&fields=id")
    assert rows == [("id",), (3,), (2,), (1,)]
    streamed = client.get(url(relation, "format=xlsx&limit=all"))
    assert streamed.streaming and streamed["Content-Disposition"].startswith("attachment")
    assert len(list(openpyxl.load_workbook(io.BytesIO(body(streamed))).active.values)) == 2501
    assert sheet_rows(client, relation, "limit=all&id__gt=99999") == [tuple(c.name for c in relation.columns)]
    one = client.get(url(relation) + "42/?format=xlsx&fields=id")
    assert list(openpyxl.load_workbook(io.BytesIO(one.content)).active.values) == [("id",), (42,)]
    numbers = next(r for r in published_relations() if r.name == "types_numeric")
    rows = sheet_rows(client, numbers, "group_by=i2&aggregate=count,sum:i4&limit=all")
    theirs = superuser_conn.execute(
        "SELECT i2, count(*), sum(i4) FROM public.types_numeric GROUP BY i2 ORDER BY i2 NULLS LAST"
    )
    assert rows == [("i2", "count", "sum_i4")] + [tuple(r) for r in theirs]


def test_a_cell_longer_than_excel_holds_is_cut_with_a_marker(superuser_conn):
    value = "é" * 40_000
    query = f"SELECT {xlsx_cells.escaped('v')} FROM (SELECT %s::text AS v) AS given"
    cut = superuser_conn.execute(query, (value,))[0][0]
    assert len(cut) == xlsx_cells.CELL_TEXT_LIMIT and cut.endswith(xlsx_cells.TRUNCATED)
    escaped = superuser_conn.execute(query, ("a<b>&\t\\_x0041_\x01",))[0][0]
    assert escaped == "a&lt;b&gt;&amp;&#9;&#92;_x005F_x0041_"


def test_more_rows_than_a_sheet_holds_is_a_400_before_anything(client, superuser_conn):
    superuser_conn.at_teardown("DROP VIEW IF EXISTS public.xlsx_too_many")
    superuser_conn.execute("CREATE VIEW public.xlsx_too_many AS SELECT g AS n FROM generate_series(1, 1048576) AS g")
    wait_for(lambda: client.get("/api/public/xlsx_too_many/?limit=1").status_code == 200, "the view in the API")
    response = client.get("/api/public/xlsx_too_many/?format=xlsx&limit=all")
    assert response.status_code == 400 and not response.streaming
    detail = json_body(response)["detail"]
    assert "1,048,575" in detail and "csv" in detail and "parquet" in detail
    response = client.get("/api/public/xlsx_too_many/?format=xlsx&limit=all&offset=1&fields=n")
    assert response.status_code == 200 and response.streaming
    response.close()


def test_not_null_columns_take_the_short_forms(superuser_conn):
    from dataclasses import replace

    from autoapi.formats.outputs import stand_in

    big, small, label = (
        replace(stand_in(n, t), nullable=False) for n, t in (("b", "int8"), ("s", "int4"), ("t", "text"))
    )
    parts = [p for c, v in ((big, "x.b"), (small, "x.s"), (label, "x.t")) for p in xlsx_cells.cell_parts(c, v)]
    query = (
        f"SELECT {xlsx_cells.row_sql(parts)} FROM (VALUES (5::int8, 1, 'a&b'), "
        "(9007199254740993::int8, 2, 'plain')) AS x(b, s, t)"
    )
    rows = [r[0] for r in superuser_conn.execute(query)]
    head = '<c t="inlineStr"><is><t'
    assert rows == [
        f'<row><c><v>5</v></c><c><v>1</v></c>{head} xml:space="preserve">a&amp;b</t></is></c></row>',
        f'<row><c t="inlineStr"><is><t>9007199254740993</t></is></c><c><v>2</v></c>{head}>plain</t></is></c></row>',
    ]


def test_without_isal_zlib_deflates_the_same_format(client, monkeypatch):
    from autoapi.formats import xlsx

    monkeypatch.setattr(xlsx, "isal_zlib", None)
    relation = next(r for r in published_relations() if r.name == "big_2500")
    rows = sheet_rows(client, relation, "limit=all&fields=id&id__lte=3")
    assert rows == [("id",), (1,), (2,), (3,)]


def test_the_plain_row_path_writes_the_same_bytes_as_the_checked_cells(reader_conn):
    """``sheet_row_sql`` checks a row's text cells at once and, when they are all plain, writes them
    without their own checks: every row must come out byte for byte as the cell-by-cell SQL writes
    it, whichever path it takes (values with white space at an end, "| " inside, escapes,
    underscores, control characters, NULLs, one over Excel's limit)."""
    from autoapi.schema.snapshot import Column

    values = [
        ("UA", "N14228", "EWR"),
        ("New York", "a b c", "x"),
        (" lead", "trail ", "mid dle"),
        ("a| b", "c |d", "|"),
        ("a_b", "_x0041_", "&<>"),
        ("tab\there", "new\nline", "back\\slash"),
        ("\x01ctl", "ok", "\ufffe"),
        (None, "", None),
        ("", None, ""),
        ("x" * 40_000, "y", "z"),
        ("é ü ✓", "日本", "😀"),
    ]
    columns = [
        Column("a", "a", 1, "text", "text", "b", "S", nullable=True),
        Column("b", "b", 2, "character varying(20)", "varchar", "b", "S", nullable=True),
        Column("c", "c", 3, "text", "text", "b", "S", nullable=False),
        Column("n", "n", 4, "integer", "int4", "b", "N", nullable=True),
    ]
    cells = [(c, f"x.{c.name}") for c in columns]
    plain_or_checked = xlsx_cells.sheet_row_sql(cells)
    checked = xlsx_cells.row_sql([part for column, v in cells for part in xlsx_cells.cell_parts(column, v)])
    assert plain_or_checked != checked  # three text cells: the row check is in use
    with reader_conn.cursor() as cursor:
        rows = ", ".join(
            cursor.mogrify(
                "(%s::text, %s::varchar(20), %s::text, %s::int)", (a, b, c if c is not None else "", i)
            ).decode()
            for i, (a, b, c) in enumerate(values)
        )
        source = f"FROM (VALUES {rows}) AS x(a, b, c, n)"
        cursor.execute(f"SELECT {plain_or_checked.replace('%%', '%')}, {checked.replace('%%', '%')} {source}")
        written = cursor.fetchall()
    assert len(written) == len(values)
    for (fast, slow), value in zip(written, values):
        assert fast == slow, value
    assert sum('xml:space="preserve"' in slow for _, slow in written) == 5  # the checked cells were needed
