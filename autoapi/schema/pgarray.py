"""PostgreSQL's array text form (``array_out``) read into Python lists.

Used for what PostgreSQL hands over as text: ``pg_stats``' most common values and histogram
bounds (``statistics.py``), whose element type varies by column.
"""

from __future__ import annotations


def parse_array_literal(text: str, delimiter: str = ",") -> list:
    """A PostgreSQL array's text form (``array_out``) as a Python list of strings, None for NULL
    and nested lists for more dimensions. Follows the rules of the PostgreSQL manual, "Arrays",
    section "Array Input and Output Syntax": elements separated by ``delimiter`` (``;`` for box),
    double quotes around elements with special characters, backslash escaping any character,
    unquoted ``NULL`` (any case) for a null, whitespace around elements ignored, an optional
    ``[lower:upper]=`` dimension decoration. Raises ValueError on anything else."""
    source = text.strip()
    if source.startswith("["):
        equals = source.find("=")
        if equals < 0:
            raise ValueError("array dimensions without '='")
        source = source[equals + 1 :].lstrip()
    value, end = _parse_array(source, 0, delimiter)
    if source[end:].strip():
        raise ValueError(f"junk after the array at {end}")
    return value


def _skip_spaces(source: str, i: int) -> int:
    while i < len(source) and source[i].isspace():
        i += 1
    return i


def _parse_array(source: str, i: int, delimiter: str) -> tuple[list, int]:
    if i >= len(source) or source[i] != "{":
        raise ValueError(f"expected '{{' at {i}")
    items: list = []
    i = _skip_spaces(source, i + 1)
    if i < len(source) and source[i] == "}":
        return items, i + 1
    while True:
        i = _skip_spaces(source, i)
        if i >= len(source):
            raise ValueError("unterminated array")
        if source[i] == "{":
            item, i = _parse_array(source, i, delimiter)
        elif source[i] == '"':
            item, i = _parse_quoted(source, i + 1)
        else:
            item, i = _parse_unquoted(source, i, delimiter)
        items.append(item)
        i = _skip_spaces(source, i)
        if i >= len(source):
            raise ValueError("unterminated array")
        if source[i] == delimiter:
            i += 1
        elif source[i] == "}":
            return items, i + 1
        else:
            raise ValueError(f"unexpected {source[i]!r} at {i}")


def _parse_quoted(source: str, i: int) -> tuple[str, int]:
    out = []
    while i < len(source):
        ch = source[i]
        if ch == "\\":
            if i + 1 >= len(source):
                break
            out.append(source[i + 1])
            i += 2
        elif ch == '"':
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise ValueError("unterminated quoted element")


def _parse_unquoted(source: str, i: int, delimiter: str) -> tuple[str | None, int]:
    out = []
    kept = 0  # length of ``out`` up to its last escaped character: trailing spaces after it stay
    while i < len(source) and source[i] not in (delimiter, "}"):
        ch = source[i]
        if ch == "\\":
            if i + 1 >= len(source):
                raise ValueError("backslash at the end")
            out.append(source[i + 1])
            kept = len(out)
            i += 2
        elif ch in '{"':
            raise ValueError(f"unexpected {ch!r} in an unquoted element at {i}")
        else:
            out.append(ch)
            i += 1
    while len(out) > kept and out[-1].isspace():
        out.pop()
    if not out:
        raise ValueError(f"empty element at {i}")
    word = "".join(out)
    if kept == 0 and word.upper() == "NULL":
        return None, i
    return word, i
