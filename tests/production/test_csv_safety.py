"""CSV formula neutralisation (autoapi/query/csvsafety.py): the SQL it writes, run by PostgreSQL's COPY
exactly as csv_copy() runs it; and the API's CSV end to end."""

from __future__ import annotations

import csv
import io

import pytest

from autoapi.query.csvsafety import csv_cell, csv_header, neutralises
from autoapi.schema.snapshot import Column


def column(base_type: str, type_kind: str = "b", category: str = "S", name: str = "v") -> Column:
    return Column(
        name=name,
        attname="v",
        position=1,
        type=base_type,
        base_type=base_type,
        type_kind=type_kind,
        type_category=category,
    )


def copy_cells(reader_conn, col: Column, sql_type: str, values: list, enabled: bool = True) -> list:
    """COPY (SELECT <csv_cell> FROM (VALUES ...)) TO STDOUT, through psycopg2's parameter formatting
    as exports.stream_copy does; the cells as a CSV reader sees them (None for an unquoted empty)."""
    rows = ", ".join(f"(%s::{sql_type})" for _ in values)
    cell = csv_cell(col, 'x."v"', enabled=enabled)
    sql = f'COPY (SELECT {cell} AS "v" FROM (VALUES {rows}) AS x("v")) TO STDOUT WITH (FORMAT csv, HEADER true)'

    out = io.StringIO()
    with reader_conn.cursor() as cursor:
        cursor.copy_expert(cursor.mogrify(sql, values).decode(), out)
    lines = out.getvalue()
    cells = []
    for raw_line, parsed in zip(_raw_records(lines)[1:], list(csv.reader(io.StringIO(lines)))[1:]):
        cells.append(None if raw_line == "" else parsed[0])
    return cells


def _raw_records(text: str) -> list[str]:
    """CSV records as raw text (a quoted cell may hold newlines), to tell NULL (empty) from ''."""
    records, current, quoted = [], [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "\n" and not quoted:
            records.append("".join(current).rstrip("\r"))
            current = []
        else:
            current.append(ch)
    return records


FORMULAS = ["=1+1", "+1", "-5", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("http://x","y")', "-"]
HARMLESS = ["safe", "a=b", " =1", "", "1-1", "'=already", "é=", "\n=1"]


def test_text_cells_starting_a_formula_get_a_quote(reader_conn):
    cells = copy_cells(reader_conn, column("text"), "text", FORMULAS + HARMLESS + [None])
    assert cells[: len(FORMULAS)] == ["'" + v for v in FORMULAS]
    assert cells[len(FORMULAS) : -1] == HARMLESS
    assert cells[-1] is None  # NULL stays NULL (an unquoted empty cell), '' stays ""


@pytest.mark.parametrize("base_type, sql_type", [("varchar", "varchar(20)"), ("name", "name"), ("citext", "text")])
def test_other_text_types(reader_conn, base_type, sql_type):
    assert copy_cells(reader_conn, column(base_type), sql_type, ["=x", "ok", None]) == ["'=x", "ok", None]


def test_char_n_keeps_its_padding(reader_conn):
    cells = copy_cells(reader_conn, column("bpchar"), "char(5)", ["ab", "=ab", None, ""])
    assert cells == ["ab   ", "'=ab  ", None, "     "]


def test_enums_and_domains_over_text(reader_conn):
    enum = column("mood", type_kind="e", category="E")
    assert copy_cells(reader_conn, enum, "public.mood", ["happy", None]) == ["happy", None]
    domain = column("text")  # a domain's base_type is the type it is over
    assert copy_cells(reader_conn, domain, "public.email_text", ["=a@b", "a@b"]) == ["'=a@b", "a@b"]


@pytest.mark.parametrize(
    "col, sql_type, values",
    [
        (column("int4", category="N"), "integer", [-5, 0, None]),
        (column("numeric", category="N"), "numeric", ["-1.5", "+2"]),
        (column("float8", category="N"), "float8", ["-Infinity"]),
        (column("interval", category="T"), "interval", ["-1 day"]),
        (column("date", category="D"), "date", ["-infinity"]),
        (column("jsonb", category="U"), "jsonb", ["-1", '"=x"']),
        (column("_text", category="A"), "text[]", ["{=x}"]),
    ],
)
def test_numbers_and_other_types_are_never_altered(reader_conn, col, sql_type, values):
    assert not neutralises(col)
    assert csv_cell(col, 'x."v"') == 'x."v"'
    with reader_conn.cursor() as cursor:
        cursor.execute(f"SELECT x::text FROM unnest(%s::{sql_type}[]) AS x", [values])
        expected = [row[0] for row in cursor.fetchall()]
    assert copy_cells(reader_conn, col, sql_type, values) == expected


def test_off_means_exactly_what_postgresql_writes(reader_conn, settings):
    assert copy_cells(reader_conn, column("text"), "text", ["=1+1", None], enabled=False) == ["=1+1", None]
    settings.PORTAL = {**settings.PORTAL, "CSV_NEUTRALISE_FORMULAS": False}
    assert csv_cell(column("text"), 'x."v"') == 'x."v"'
    assert csv_header("=name") == "=name"
    settings.PORTAL = {**settings.PORTAL, "CSV_NEUTRALISE_FORMULAS": True}
    assert csv_cell(column("text"), 'x."v"') != 'x."v"'
    assert (csv_header("=name"), csv_header("name"), csv_header("-")) == ("'=name", "name", "'-")


def test_the_sql_survives_odd_quoting(reader_conn):
    """The column reference may hold any identifier (autoapi.db.sql.identifier doubles quotes and %)."""
    odd = Column(
        name='a"b%c', attname='a""b%%c', position=1, type="text", base_type="text", type_kind="b", type_category="S"
    )
    cell = csv_cell(odd, 'x."a""b%%c"', enabled=True)
    sql = f'COPY (SELECT {cell} FROM (VALUES (%s)) AS x("a""b%%c")) TO STDOUT WITH (FORMAT csv)'

    out = io.StringIO()
    with reader_conn.cursor() as cursor:
        cursor.copy_expert(cursor.mogrify(sql, ["=1"]).decode(), out)
    assert out.getvalue() == "'=1\n"


def test_the_api_csv_neutralises_text_cells(client, superuser_conn, settings):
    """End to end, with the setting on: the API's CSV (pages and streams) neutralises text cells,
    not numbers; with it off (the default), the cells are COPY's own."""
    superuser_conn.at_teardown("DROP TABLE IF EXISTS public.csv_formulas")
    superuser_conn.execute("CREATE TABLE public.csv_formulas (id integer PRIMARY KEY, t text, n integer, c char(4))")
    superuser_conn.execute("INSERT INTO public.csv_formulas VALUES (1, '=1+1', -5, '@x'), (2, 'plain', 7, NULL)")
    import time

    deadline = time.monotonic() + 10
    while client.get("/api/public/csv_formulas/").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    # Off (the default): COPY's own cells.
    raw = client.get("/api/public/csv_formulas/?format=csv&limit=10").content.decode()
    assert raw == "id,t,n,c\n1,=1+1,-5,@x  \n2,plain,7,\n"
    settings.PORTAL = {**settings.PORTAL, "CSV_NEUTRALISE_FORMULAS": True}
    for url in ("/api/public/csv_formulas/?format=csv", "/api/public/csv_formulas/?format=csv&limit=all"):
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert body.decode() == "id,t,n,c\n1,'=1+1,-5,'@x  \n2,plain,7,\n"
    assert client.get("/api/public/csv_formulas/1/").json()["t"] == "=1+1"  # JSON is never altered
