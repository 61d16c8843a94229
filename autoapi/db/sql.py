"""SQL composed from objects: the one place where names and constants are quoted, and where the
statements around a selection (COPY, count, EXPLAIN) are written.

Statements are built from ``psycopg2.sql`` objects (``SQL``, ``Identifier``, ``Literal``,
``Composed``) and rendered to text once, without a connection: a plan is built (and cached, see
``query/plans.py``) before the request borrows one. So ``Identifier`` and ``Literal`` here are
psycopg2's, rendered by ``as_string()`` without a context:

- an identifier in double quotes, ``"`` doubled (PostgreSQL's rule; the hostile names of
  ``tests/fixtures/10_names.sql`` and ``15_dollar_names.sql`` go through it);
- a constant as ``E'...'`` (backslash and quote doubled, control characters spelled ``\\xNN``), so
  it reads the same whatever ``standard_conforming_strings`` says; numbers as numbers;
- and in both, ``%`` doubled: every statement runs with parameters (Django's cursor and
  ``cursor.mogrify`` format it with ``%s``), so a ``%`` in a name or a constant must survive that.

``Statement`` is rendered SQL with its parameters; ``copy``, ``count`` and ``explain`` wrap one.
"""

from __future__ import annotations

import functools
import math
import string
from dataclasses import dataclass

from psycopg2 import sql
from psycopg2.sql import SQL, Composable, Composed  # noqa: F401 (the vocabulary callers compose with)

CSV_WITH_HEADER = SQL("WITH (FORMAT csv, HEADER true)")


@dataclass(frozen=True)
class Statement:
    sql: str
    params: tuple


def _quoted_name(name: str) -> str:
    return '"' + name.replace('"', '""').replace("%", "%%") + '"'


def _constant(text: str) -> str:
    if "\x00" in text:
        raise ValueError("PostgreSQL text cannot hold a NUL character")
    body = "".join(
        f"\\x{ord(ch):02x}"
        if ord(ch) < 32
        else "\\\\"
        if ch == "\\"
        else "''"
        if ch == "'"
        else "%%"
        if ch == "%"
        else ch
        for ch in text
    )
    return f"E'{body}'"


class Identifier(sql.Identifier):
    """A name, or a dotted name (``Identifier(schema, name)``), quoted without a connection."""

    def as_string(self, context=None) -> str:
        return ".".join(_quoted_name(s) for s in self.strings)


class Literal(sql.Literal):
    """A constant: text, a whole number, a finite float, a boolean or None (``NULL``)."""

    def as_string(self, context=None) -> str:
        value = self.wrapped
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float) and math.isfinite(value):
            return repr(value)
        if isinstance(value, str):
            return _constant(value)
        raise TypeError(f"no SQL constant for {value!r}")


def render(composable: Composable) -> str:
    """The text of composed SQL (only this module's ``Identifier`` and ``Literal`` render without
    a connection; psycopg2's own would raise here, which is what keeps quoting in one place)."""
    return composable.as_string(None)


def identifier(*names: str) -> str:
    """``"name"`` (or ``"schema"."name"``) as text, for SQL that is written into Django's."""
    return render(Identifier(*names))


def literal(value) -> str:
    return render(Literal(value))


_formatter = string.Formatter()


@functools.lru_cache(maxsize=1024)
def _template(template: str) -> tuple[tuple[str, int | str | None], ...]:
    """``template`` parsed once (the templates are the code's own constants): (text, field) pairs,
    as ``SQL.format`` reads them (``{}``, ``{0}``, ``{name}``; ``{{`` is a brace)."""
    pieces, auto = [], 0
    for text, name, spec, conversion in _formatter.parse(template):
        if spec or conversion:
            raise ValueError(f"no format spec or conversion in SQL templates: {template!r}")
        if name is None:
            pieces.append((text, None))
        elif name == "":
            pieces.append((text, auto))
            auto += 1
        else:
            pieces.append((text, int(name) if name.isdigit() else name))
    return tuple(pieces)


def _text(part) -> str:
    return part.as_string(None) if isinstance(part, Composable) else str(part)


def compose(template: str, *parts, **named) -> str:
    """``template`` (``{}`` / ``{name}`` fields, as ``SQL(template).format(...)``) with its parts: a
    ``Composable`` (``Identifier``, ``Literal``, ``SQL``) rendered here, a string taken as SQL text
    already written (a subquery, an expression). The same text as ``render(SQL(template).format(...))``,
    with the template parsed once: statements are composed per plan, some per column."""
    out = []
    for text, field in _template(template):
        out.append(text)
        if field is not None:
            out.append(_text(parts[field] if isinstance(field, int) else named[field]))
    return "".join(out)


def join(separator: str, parts) -> str:
    return separator.join(map(_text, parts))


def copy(select, inner: Statement, options: Composable = CSV_WITH_HEADER) -> Statement:
    """``COPY (SELECT <select> FROM (<inner>) AS x) TO STDOUT <options>``: the one COPY every
    format's rows go through (CSV pages and downloads, grouped CSV, Parquet, XLSX)."""
    return Statement(
        compose("COPY (SELECT {} FROM ({}) AS x) TO STDOUT {}", select, inner.sql, options), tuple(inner.params)
    )


def count(rows: Statement, limit: int | None = None) -> Statement:
    """How many rows ``rows`` gives, counting at most ``limit`` (None: all of them). ``rows`` may
    carry its own LIMIT/OFFSET (a window): the cap is applied outside it."""
    if limit is None:
        return Statement(compose("SELECT count(*) FROM ({}) AS c", rows.sql), tuple(rows.params))
    return Statement(
        compose("SELECT count(*) FROM (SELECT 1 FROM ({}) AS x LIMIT {}) AS c", rows.sql, Literal(int(limit))),
        tuple(rows.params),
    )


def explain(rows: Statement) -> Statement:
    """The planner's JSON plan of ``rows`` (its row estimate decides whether a page counts)."""
    return Statement(compose("EXPLAIN (FORMAT JSON) {}", rows.sql), tuple(rows.params))


# Server-side prepared statements (``prepared.py``). These run without parameters, so the text is
# final: the statement's own ``%`` stay single, and names are ``portal_<hex digest>``, with no
# ``%`` or quote to double.
def prepare(name: str, text: str) -> str:
    """``PREPARE <name> AS <text>``, ``text`` a whole statement with its values written in."""
    return "PREPARE " + _quoted_name(name) + " AS " + text


def execute_prepared(name: str) -> str:
    return "EXECUTE " + _quoted_name(name)


def deallocate(name: str) -> str:
    return "DEALLOCATE " + _quoted_name(name)
