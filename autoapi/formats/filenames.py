"""The file names downloads are saved under, and the ``Content-Disposition`` header that gives them.

Used by the list view (every format) and, through ``autoapi.public``, by the catalog's command
line examples, so the name a browser saves and the name ``curl -o`` writes are the same:
``public.flights.csv``.

Relation names may hold anything (quotes, slashes, emoji, spaces; see tests/fixtures/10_names.sql),
so the header carries two names (RFC 6266 section 4.3): ``filename=`` an ASCII fallback that any
client can use safely, and, when the real name differs, ``filename*=UTF-8''...`` (RFC 8187
encoding) with the name as PostgreSQL spells it, minus what no file name may hold.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from autoapi.formats.renderers import record_of
from autoapi.schema.snapshot import Relation

MAX_PART = 100  # characters of the schema and of the name: file systems cap names at 255 bytes
# Never in a file name: path separators, controls, and the characters Windows refuses.
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
# RFC 8187 attr-char, besides letters and digits (which quote() always keeps).
_ATTR_CHARS = "!#$&+-.^_`|~"


def _ascii_part(text: str) -> str:
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "_" for ch in text)
    return safe[:MAX_PART]


def _unicode_part(text: str) -> str:
    # Dots would make "a.b" + "c" and "a" + "b.c" the same file; a leading dot hides a file.
    return _UNSAFE.sub("_", text).replace(".", "_")[:MAX_PART]


def _extension(fmt: str) -> str:
    """The file extension of the format's record (``records.py``), else the format's name."""
    record = record_of(fmt)
    return record.extension if record is not None else fmt


def download_filename(relation: Relation, fmt: str) -> str:
    """``schema.name.ext`` in ASCII letters, digits, ``-`` and ``_`` (anything else becomes
    ``_``), e.g. ``public.flights.csv``: safe in a shell, a URL and every file system."""
    return f"{_ascii_part(relation.schema)}.{_ascii_part(relation.name)}.{_extension(fmt)}"


def unicode_filename(relation: Relation, fmt: str) -> str:
    """The name as PostgreSQL spells it, with only path separators, controls, dots and the
    characters Windows refuses replaced by ``_``."""
    return f"{_unicode_part(relation.schema)}.{_unicode_part(relation.name)}.{_extension(fmt)}"


def content_disposition(relation: Relation, fmt: str, attachment: bool) -> str:
    """``attachment`` for whole-relation downloads (``?limit=all``: the browser saves the file),
    ``inline`` for pages (shown where the browser can, saved under the same name otherwise)."""
    fallback = download_filename(relation, fmt)
    value = f'{"attachment" if attachment else "inline"}; filename="{fallback}"'
    exact = unicode_filename(relation, fmt)
    if exact != fallback:
        value += f"; filename*=UTF-8''{quote(exact, safe=_ATTR_CHARS)}"
    return value
