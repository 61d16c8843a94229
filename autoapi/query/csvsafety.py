"""CSV formula neutralisation ("CSV injection", OWASP): SQL for the cells PostgreSQL's COPY writes.

A spreadsheet opening a CSV runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some
programs, a tab or a carriage return followed by one) as a formula: ``=HYPERLINK(...)``,
``=WEBSERVICE(...)``, DDE payloads. An open-data portal republishes text that anybody may have
typed, to people who open downloads in spreadsheets, so with the setting
``PORTAL["CSV_NEUTRALISE_FORMULAS"]`` on (environment ``PORTAL_CSV_NEUTRALISE_FORMULAS``; off by
default, when CSV is COPY's output byte for byte) the CSV form of a *text* value starting with one of those six characters gets a leading ``'``
(OWASP's rule), which spreadsheets show as text and do not evaluate:

========================  ==========================
value in PostgreSQL       CSV cell
========================  ==========================
``=1+1``                  ``'=1+1``
``-5`` (a text column)    ``'-5``
``@SUM(A1)``              ``'@SUM(A1)``
``a=b``, ``safe``         unchanged
NULL, empty string        unchanged (empty, ``""``)
``-5`` (a number column)  unchanged: numbers, dates, JSON, arrays... are never altered
========================  ==========================

Only the CSV format is affected; JSON, NDJSON and GeoJSON always carry the exact value. Columns
treated: text, varchar, char(n) (padding kept), name, "char", citext, xml, enums, and domains over
any of these; never arrays, composites, JSON or any numeric, date/time, network or geometric type,
none of whose text forms can start a formula beyond a plain value.

How ``autoapi/query/queries.py`` uses it: in ``csv_copy()``, each output column is written as
``csv_cell(column, _inner(column))`` instead of ``_inner(column)`` (and, optionally, each header
name as ``csv_header(column.name)`` instead of ``column.name``).
"""

from __future__ import annotations

from autoapi.conf import portal_setting
from autoapi.db.sql import compose
from autoapi.schema.snapshot import Column
from autoapi.schema.typemap import type_info

#: A cell starting with one of these is run by spreadsheets (OWASP's list): = + - @ tab CR.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

# The same test in SQL; chr() keeps tab and CR out of string literals (and there is no % that
# psycopg2's parameter formatting of the whole statement would need doubled).
_TRIGGERS_SQL = "('=', '+', '-', '@', chr(9), chr(13))"


def neutralises(column: Column) -> bool:
    """True when the column's CSV cells are checked for formulas (text-like, not an array)."""
    if column.is_array:
        return False
    return type_info(column).free_text  # text types, enums and xml (typemap.py)


def _as_text(column: Column, quoted: str) -> str:
    if column.base_type == "bpchar":
        # bpchar::text drops the padding that COPY would print; concat() uses the type's output
        # function (padding kept) but turns NULL into '', hence the guard.
        return compose("(CASE WHEN {v} IS NULL THEN NULL ELSE concat({v}) END)", v=quoted)
    return compose("{}::text", quoted)


def csv_cell(column: Column, quoted: str, enabled: bool | None = None) -> str:
    """SQL for the column's CSV cell, given ``quoted``, the SQL that reads the column (``x."a"``).

    Returns ``quoted`` itself when neutralisation is off (``enabled``, default: the setting
    ``CSV_NEUTRALISE_FORMULAS``) or the column is not text; else an expression of type text that
    is the value with a ``'`` in front when it starts with = + - @ tab or CR, the value unchanged
    otherwise, and NULL for NULL.
    """
    if enabled is None:
        enabled = bool(portal_setting("CSV_NEUTRALISE_FORMULAS"))
    if not enabled or not neutralises(column):
        return quoted
    text = _as_text(column, quoted)
    return compose(
        "(CASE WHEN left({v}, 1) IN {triggers} THEN '''' || {v} ELSE {v} END)", v=text, triggers=_TRIGGERS_SQL
    )


def csv_header(name: str, enabled: bool | None = None) -> str:
    """A column name as the CSV header shows it: with a ``'`` in front when it starts a formula.

    Column names come from the database's owner rather than the public, so this is optional;
    it is the same rule for the header row.
    """
    if enabled is None:
        enabled = bool(portal_setting("CSV_NEUTRALISE_FORMULAS"))
    if enabled and name[:1] in FORMULA_TRIGGERS:
        return "'" + name
    return name
