"""PostgreSQL's JSON read back into Python for a page (the catalog's rows, the OGC HTML).

Python's parser recurses once per nesting level and fails past its recursion limit (about 1,000
levels: ``RecursionError``), while PostgreSQL stores a jsonb nested far deeper. ``loads()`` parses
as ``json.loads`` does and, only when that fails so, again with each array or object deeper than
``MAX_DEPTH`` levels replaced by a JSON string of its first characters: the page shows that part
as text instead of failing. The API's own answers never pass through here: they are PostgreSQL's
text, untouched.
"""

from __future__ import annotations

import json

MAX_DEPTH = 100  # levels kept as they are; far below Python's recursion limit
SHOWN = 200  # characters of a too-deep part shown


def loads(text: bytes | str, **options):
    """``json.loads(text, **options)``, with parts nested too deep for Python as text."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    try:
        return json.loads(text, **options)
    except RecursionError:
        return json.loads(deep_as_text(text), **options)


def deep_as_text(text: str, limit: int = MAX_DEPTH) -> str:
    """``text`` (valid JSON) with each array or object deeper than ``limit`` written as a JSON
    string of its first characters. One pass, no recursion."""
    out, start, depth, deep_start, in_string, escaped = [], 0, 0, -1, False, False
    for i, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth == limit + 1:
                deep_start = i
        elif char in "]}":
            if depth == limit + 1:
                part = text[deep_start : i + 1]
                out += [text[start:deep_start], json.dumps(part if len(part) <= SHOWN else part[:SHOWN] + " …")]
                start = i + 1
            depth -= 1
    out.append(text[start:])
    return "".join(out)
