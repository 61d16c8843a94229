"""Names: PostgreSQL identifiers to URL path segments and to Python attribute names.

Path segments use tilde encoding (as Datasette does): every byte of the UTF-8 name outside
``A-Za-z0-9_-`` becomes ``~XX``, and the empty string is a lone ``~``. It is reversible, survives every proxy (no ``%2F`` or ``.``
surprises) and leaves ordinary names readable.
"""

import functools
import keyword
import re

_SAFE = re.compile(r"[A-Za-z0-9_-]")
_ENCODED = re.compile(r"^(?:[A-Za-z0-9_-]|~[0-9A-F]{2})*$")


EMPTY = "~"  # the empty string (a key value may be empty; a path segment may not)


_ALL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


def encode_segment(name: str) -> str:
    if name == "":
        return EMPTY
    if _ALL_SAFE.fullmatch(name):  # most names: one regex instead of one per character
        return name
    out = []
    for ch in name:
        if _SAFE.fullmatch(ch):
            out.append(ch)
        else:
            out.extend(f"~{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


def decode_segment(segment: str) -> str:
    """Reverse ``encode_segment``; raises ValueError on anything it could not have produced."""
    if segment == EMPTY:
        return ""
    if _ALL_SAFE.fullmatch(segment):  # most segments: nothing encoded, the name itself (and canonical)
        return segment
    if not _ENCODED.match(segment):
        raise ValueError(f"not a tilde-encoded name: {segment!r}")
    raw = bytearray()
    i = 0
    while i < len(segment):
        if segment[i] == "~":
            raw.append(int(segment[i + 1 : i + 3], 16))
            i += 3
        else:
            raw.append(ord(segment[i]))
            i += 1
    name = raw.decode("utf-8")  # UnicodeDecodeError is a ValueError
    if encode_segment(name) != segment:  # "fo~6F" or "": one name, one segment
        raise ValueError(f"not the canonical encoding of {name!r}: {segment!r}")
    return name


def decode_key(segment: str) -> list[str]:
    """A row's key in a URL: each value tilde-encoded, joined by commas (as Datasette does).
    Raises ValueError on a value that is not validly encoded."""
    return [decode_segment(part) for part in segment.split(",")]


# Names Django or the portal reserve on a model or in the query string.
_RESERVED_ATTNAMES = {"pk", "objects", "DoesNotExist", "MultipleObjectsReturned", "check", "clean", "save", "delete"}


def python_attname(column_name: str, taken: set[str]) -> str:
    """A valid, unique Python identifier for a column, after Django's ``inspectdb`` rules.

    The real name always stays in ``db_column``; this is only the model attribute.
    """
    name = _identifier(column_name)
    candidate, n = name, 2
    while candidate in taken:
        candidate = f"{name}_{n}"
        n += 1
    taken.add(candidate)
    return candidate


@functools.lru_cache(maxsize=4096)
def _identifier(column_name: str) -> str:
    # Cached: 10,000 tables have 30,000 columns but few distinct names (id, name...), and the
    # snapshot read called these regular expressions for each (0.6 s of its 2 s, issue 23).
    name = re.sub(r"\W", "_", column_name.lower(), flags=re.ASCII)
    name = re.sub(r"_+", "_", name).strip("_")  # no "__" (lookup separator), no edge underscores
    if not name:
        name = "col"
    if name[0].isdigit():
        name = f"n_{name}"
    if keyword.iskeyword(name) or name in _RESERVED_ATTNAMES:
        name = f"{name}_field"
    return name


def model_class_name(index: int, schema: str, relation: str) -> str:
    """A unique class name: readable where it can be, numbered so that no two ever collide."""
    stem = re.sub(r"\W", "", f"{schema.title()}{relation.title()}", flags=re.ASCII) or "Relation"
    return f"R{index}_{stem[:60]}"


def relation_segments(relation) -> tuple[str, str]:
    """The relation's schema and name as URL path segments (tilde-encoded)."""
    return encode_segment(relation.schema), encode_segment(relation.name)


def api_url(relation, key_values: tuple | None = None, format: str | None = None) -> str:
    schema, name = relation_segments(relation)
    url = f"/api/{schema}/{name}/"
    if key_values is not None:
        url += ",".join(encode_segment(str(v)) for v in key_values) + "/"
    if format:
        url += f"?format={format}"
    return url
