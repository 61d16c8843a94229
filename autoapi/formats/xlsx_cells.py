"""The SQL that has PostgreSQL write each row of an XLSX sheet as SpreadsheetML (docs/downloads.md, "Excel").

One table from a column's type to its cell: numbers as numbers when Excel keeps them exactly (it
holds 15 significant digits: a ``bigint`` or ``numeric`` with more, NaN and the infinities are
text cells with PostgreSQL's text), booleans as booleans, dates, timestamps (in UTC) and times as
Excel serial numbers with a date format (outside 1900-03-01 to 9999-12-31, which Excel cannot show,
as text), everything else as a text cell of PostgreSQL's own text. A text cell is inline (no
shared-strings table to hold in memory), escaped for XML (characters XML 1.0 cannot carry
dropped) and cut at Excel's 32,767 characters with a marker. A cell is never a formula: the sheet
has no ``<f>`` element, so ``=1+2`` is the text "=1+2" (what CSV's neutralisation aims at).

Each row is one line of ``COPY ... TO STDOUT`` (text format): tabs, newlines, carriage returns and
backslashes are written as XML character references, so COPY escapes nothing and its output is
the sheet's XML as is. Called by ``filerows.SheetRows``.
"""

from __future__ import annotations

from autoapi.db.sql import Literal, compose, join
from autoapi.schema.snapshot import Column

CELL_TEXT_LIMIT = 32_767  # Excel's limit on the characters of one cell
TRUNCATED = " [cut: longer than an Excel cell holds; see the CSV or Parquet download]"
STYLE_DATE, STYLE_TIMESTAMP, STYLE_TIME = 1, 2, 3  # cellXfs in xlsx.STYLES
EXACT_INTEGER = 999_999_999_999_999  # 15 digits: beyond, Excel would round a number
# Characters XML 1.0 does not allow (controls other than tab, newline and carriage return).
_FORBIDDEN = "".join(chr(c) for c in range(1, 32) if c not in (9, 10, 13)) + "\ufffe\uffff"
_REFERENCES = (
    ("&", "&amp;"),
    ("<", "&lt;"),
    (">", "&gt;"),
    ("\t", "&#9;"),
    ("\n", "&#10;"),
    ("\r", "&#13;"),
    ("\\", "&#92;"),
    ("_x", "_x005F_x"),
)  # _xHHHH_ is an escape in SpreadsheetML text
# A value matching none of these is its own XML text (a regular expression: translate() with
# these characters took five times as long, the full escaping chain too).
_SPECIALS = r"[&<>\t\n\r\\_\x01-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]"


def _escaping(text_sql: str) -> str:
    """SQL of the XML text of any text value: cut to Excel's limit, escaped, forbidden characters
    dropped (``translate``), each replacement a single pass in C."""
    cut = compose(
        "(CASE WHEN length({v}) > {limit} THEN left({v}, {kept}) || {marker} ELSE {v} END)",
        v=text_sql,
        limit=Literal(CELL_TEXT_LIMIT),
        kept=Literal(CELL_TEXT_LIMIT - len(TRUNCATED)),
        marker=Literal(TRUNCATED),
    )
    sql = compose("translate({}, {}, '')", cut, Literal(_FORBIDDEN))
    for old, new in _REFERENCES:
        sql = compose("replace({}, {}, {})", sql, Literal(old), Literal(new))
    return sql


def _plain(text_sql: str, pattern: str) -> str:
    """Most values need no escaping: one regular expression tells, and they go as they are."""
    return compose(
        "octet_length({v}) <= {limit} AND {v} !~ {pattern}",
        v=text_sql,
        limit=Literal(CELL_TEXT_LIMIT),
        pattern=Literal(pattern),
    )


def escaped(text_sql: str) -> str:
    """SQL of the XML text of a text value (``_escaping``, skipped when nothing needs it)."""
    return compose("(CASE WHEN {} THEN {} ELSE {} END)", _plain(text_sql, _SPECIALS), text_sql, _escaping(text_sql))


# Leading or trailing white space needs xml:space="preserve" (else Excel may trim it): only
# those values and the escaped ones carry the attribute, 21 bytes less in most text cells.
_PLAIN_TEXT = _SPECIALS + r"|^\s|\s$"
TEXT_HEAD, TEXT_TAIL = '<c t="inlineStr"><is><t', "</t></is></c>"


def text_body(text_sql: str) -> str:
    """SQL of what follows ``<t``: ``>`` and the text, or the preserving attribute and the
    escaped text."""
    return compose(
        """(CASE WHEN {} THEN '>' || {} ELSE ' xml:space="preserve">' || {} END)""",
        _plain(text_sql, _PLAIN_TEXT),
        text_sql,
        _escaping(text_sql),
    )


def text_cell(text_sql: str) -> str:
    return compose("{} || {} || {}", Literal(TEXT_HEAD), text_body(text_sql), Literal(TEXT_TAIL))


def number_cell(number_sql: str, style: int = 0) -> str:
    head = f'<c s="{style}">' if style else "<c>"
    return compose("{} || ({})::text || '</v></c>'", Literal(head + "<v>"), number_sql)


TEXTS = ("text", "varchar", "citext", "name", "char")


def _as_text(column: Column, v: str) -> str:
    """PostgreSQL's text of the value as COPY prints it: concat() calls the type's output function
    (::text would drop char(n)'s padding and add inet's /128)."""
    return compose("{}::text" if column.base_type in TEXTS and not column.is_array else "concat({})", v)


def _decimal(v: str) -> str:
    # Exactly representable: within a double's range, and the same value once through one (a
    # float8 converts back to numeric with 15 significant digits).
    return compose(
        "CASE WHEN {v} BETWEEN -1e300 AND 1e300 AND ({v} = 0 OR abs({v}) >= 1e-300) "
        "AND {v}::float8::numeric = {v} THEN {number} ELSE {text} END",
        v=v,
        number=number_cell(compose("{}::float8", v)),
        text=_text_of(v),
    )


def _cell(column: Column, v: str) -> str:
    base = column.base_type
    if base in ("int2", "int4", "oid"):
        return number_cell(v)
    if base == "int8":
        return compose(
            "CASE WHEN {v} BETWEEN -{most} AND {most} THEN {number} ELSE {text} END",
            v=v,
            most=Literal(EXACT_INTEGER),
            number=number_cell(v),
            text=_text_of(v),
        )
    if base in ("numeric", "money"):
        return _decimal(compose("{}::numeric", v))
    if base in ("float4", "float8"):
        return compose(
            "CASE WHEN {v} = 0 OR abs({v}) BETWEEN 2.3e-308 AND 9.9e307 THEN {number} ELSE {text} END",
            v=v,
            number=number_cell(v),
            text=_text_of(v),
        )
    if base == "bool":
        return compose("""CASE WHEN {} THEN '<c t="b"><v>1</v></c>' ELSE '<c t="b"><v>0</v></c>' END""", v)
    if base == "date":
        return compose(
            "CASE WHEN {v} BETWEEN DATE '1900-03-01' AND DATE '9999-12-31' THEN {number} ELSE {text} END",
            v=v,
            number=number_cell(compose("{} - DATE '1899-12-30'", v), STYLE_DATE),
            text=_text_of(v),
        )
    if base in ("timestamp", "timestamptz"):
        serial = compose("date_part('epoch', {}) / 86400 + 25569", v)  # days since 1899-12-30, in UTC
        return compose(
            "CASE WHEN {v} >= '1900-03-01' AND {v} < '10000-01-01' THEN {number} ELSE {text} END",
            v=v,
            number=number_cell(serial, STYLE_TIMESTAMP),
            text=_text_of(v),
        )
    if base == "time":
        return number_cell(compose("date_part('epoch', {}) / 86400", v), STYLE_TIME)
    return text_cell(_as_text(column, v))


def _text_of(v: str) -> str:
    return text_cell(compose("{}::text", v))


def cell_sql(column: Column, v: str) -> str:
    """SQL of one cell (``<c>...</c>``) of the value ``v``; ``<c/>`` for NULL."""
    # A composite of NULLs IS NULL, yet is a value, "(,)": num_nulls asks of the value itself.
    null = compose("num_nulls({}) = 1" if column.type_kind == "c" else "{} IS NULL", v)
    return compose("(CASE WHEN {} THEN '<c/>' ELSE {} END)", null, _cell(column, v))


class Markup(str):
    """A constant part of a row, which ``row_sql`` merges with its neighbours into one literal."""


def cell_parts(column: Column, v: str) -> list[str]:
    """One cell as concat() arguments: the cheap forms first. A plain integer goes to concat()
    itself, which prints it (no text made per cell); a NOT NULL text needs no CASE. NULL is an
    empty cell (``<c></c>`` or ``<c/>``), which keeps the next cells in their columns (cells carry
    no reference, so position is order)."""
    if not column.is_array and column.base_type in ("int2", "int4", "oid"):
        if not column.nullable:
            return [Markup("<c><v>"), v, Markup("</v></c>")]
        return [Markup("<c>"), compose("('<v>' || {} || '</v>')", v), Markup("</c>")]
    if not column.is_array and column.base_type in TEXTS and not column.nullable:
        return [Markup(TEXT_HEAD), text_body(compose("{}::text", v)), Markup(TEXT_TAIL)]
    if not column.is_array and column.base_type == "int8" and not column.nullable:
        # The cell's type is decided inside <c...>: a number, or beyond 15 digits text.
        return [
            Markup("<c"),
            compose(
                """CASE WHEN {v} BETWEEN -{most} AND {most} THEN '><v>' || {v} || '</v>' """
                """ELSE ' t="inlineStr"><is><t>' || {v} || '</t></is>' END""",
                v=v,
                most=Literal(EXACT_INTEGER),
            ),
            Markup("</c>"),
        ]
    return [cell_sql(column, v) if column.nullable else _cell(column, v)]


def row_sql(parts: list[str]) -> str:
    """``<row>`` + the cells' parts + ``</row>`` as one text: concat() of at most 90 arguments at a
    time (PostgreSQL functions take 100), neighbouring markup merged into one constant."""
    merged: list[str] = []
    for part in [Markup("<row>"), *parts, Markup("</row>")]:
        if isinstance(part, Markup) and merged and isinstance(merged[-1], Markup):
            merged[-1] = Markup(merged[-1] + part)
        else:
            merged.append(part)
    parts = [Literal(str(p)) if isinstance(p, Markup) else p for p in merged]
    while len(parts) > 90:
        parts = [compose("concat({})", join(", ", parts[i : i + 90])) for i in range(0, len(parts), 90)]
    return compose("concat({})", join(", ", parts))


# A row's text cells checked at once: the values joined by "|", which a value's leading or trailing
# white space always touches. A row that passes has no value needing escaping, no value with white
# space at an end, and none over Excel's limit, so each of its text cells is plain; a row that
# fails (or holds "| " or " |" inside a value) takes the cell-by-cell checks above, which decide
# exactly. One regular expression per row instead of one per text cell.
_PLAIN_ROW = _SPECIALS + r"|\|\s|\s\|"


def _is_text(column: Column) -> bool:
    return not column.is_array and column.base_type in TEXTS


def _plain_text_parts(column: Column, v: str) -> list[str]:
    """A text cell known to be plain: no CASE, no escaping."""
    text = _as_text(column, v)
    if not column.nullable:
        return [Markup(TEXT_HEAD + ">"), text, Markup(TEXT_TAIL)]
    return [compose("coalesce({} || {} || {}, '<c/>')", Literal(TEXT_HEAD + ">"), text, Literal(TEXT_TAIL))]


def sheet_row_sql(cells: list[tuple[Column, str]]) -> str:
    """SQL of one sheet row of ``cells`` (each a column and the SQL of its value): with two text
    cells or more, the plain row (one check for all) or else the row of checked cells."""
    checked = row_sql([part for column, v in cells for part in cell_parts(column, v)])
    texts = [_as_text(column, v) for column, v in cells if _is_text(column)]
    if len(texts) < 2:
        return checked
    joined = compose("('|' || {} || '|')", join(" || '|' || ", [compose("coalesce({}, '')", t) for t in texts]))
    plain = row_sql(
        [
            part
            for column, v in cells
            for part in (_plain_text_parts(column, v) if _is_text(column) else cell_parts(column, v))
        ]
    )
    return compose(
        "CASE WHEN octet_length({joined}) <= {limit} AND {joined} !~ {pattern} THEN {plain} ELSE {checked} END",
        joined=joined,
        limit=Literal(CELL_TEXT_LIMIT),
        pattern=Literal(_PLAIN_ROW),
        plain=plain,
        checked=checked,
    )
