"""CQL2's text encoding (OGC 21-065, Annex A's BNF), parsed by lark's LALR parser into ``nodes``.

The nodes are built as the parser reduces each rule (lark's ``transformer=`` with LALR), never by
a recursive walk, so deep input cannot overflow the stack; ``nodes.depth_and_size`` then refuses
what is nested too deeply or asks for too much (``nodes.bounded``, the one check every parsed
filter passes before anything walks it). Keywords are case-insensitive; the function-like ones
(``DATE``, ``CASEI``, ``S_INTERSECTS``, ``POINT``...) are keywords only before ``(``, so a column may
be called ``date`` or ``point``; a name that is a reserved word (``and``, ``not``...) or holds other
characters is written in double quotes (``"Größe (m)"``, ``""`` for a quote inside).
"""

from __future__ import annotations

import math
from pathlib import Path

from lark import Lark, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from autoapi.cql2 import nodes
from autoapi.cql2.nodes import CQL2Error

GRAMMAR = (Path(__file__).parent / "grammar.lark").read_text(encoding="utf-8")


def _string(token) -> str:
    return str(token)[1:-1].replace("''", "'")


@v_args(inline=True)
class _ToNodes(Transformer):
    def any_of(self, *terms):
        return terms[0] if len(terms) == 1 else nodes.Or(tuple(_flatten(terms, nodes.Or)))

    def all_of(self, *terms):
        return terms[0] if len(terms) == 1 else nodes.And(tuple(_flatten(terms, nodes.And)))

    def negation(self, term):
        return nodes.Not(term)

    def true(self, _):
        return nodes.BooleanValue(True)

    def false(self, _):
        return nodes.BooleanValue(False)

    def comparison(self, left, op, right):
        return nodes.Comparison("<>" if str(op) == "<>" else str(op), left, right)

    def like(self, operand, _, pattern):
        return nodes.Like(operand, pattern)

    def not_like(self, operand, _, pattern):
        return nodes.Like(operand, pattern, negated=True)

    def between(self, operand, _, low, high):
        return nodes.Between(operand, low, high)

    def not_between(self, operand, _, low, high):
        return nodes.Between(operand, low, high, negated=True)

    def in_list(self, operand, _, *items):
        return nodes.InList(operand, items)

    def not_in_list(self, operand, _, *items):
        return nodes.InList(operand, items, negated=True)

    def is_null(self, operand, _is, _null):
        return nodes.IsNull(operand)

    def is_not_null(self, operand, _is, _null):
        return nodes.IsNull(operand, negated=True)

    def spatial(self, name, left, right):
        return nodes.Spatial(str(name).lower(), left, right)

    def temporal(self, name, left, right):
        return nodes.Temporal(str(name).lower(), left, right)

    def identifier(self, token):
        return nodes.Property(str(token))

    def quoted_identifier(self, token):
        return nodes.Property(str(token)[1:-1].replace('""', '"'))

    def string(self, token):
        return _string(token)

    def number(self, token):
        return nodes.Number(str(token))

    def true_value(self, _):
        return True

    def false_value(self, _):
        return False

    def casei(self, _, operand):
        return nodes.CaseInsensitive(operand)

    def accenti(self, _, operand):
        raise CQL2Error("ACCENTI is not supported: PostgreSQL needs the unaccent extension for it")

    def date(self, _, text):
        return nodes.Instant("date", _string(text))

    def timestamp(self, _, text):
        return nodes.Instant("timestamp", _string(text))

    def interval(self, _, start, end):
        return nodes.Interval(_interval_end(start), _interval_end(end))

    def bbox(self, _, *numbers):
        return box_geometry(*(float(str(n)) for n in numbers))

    def wkt(self, kind, body):
        text, points = body
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        bounds = (min(xs), min(ys), max(xs), max(ys)) if points else (0.0, 0.0, 0.0, 0.0)
        return nodes.Geometry(f"{' '.join(str(kind).upper().split())}{text}", bounds)

    def wkt_body(self, *parts):
        if len(parts) == 1 and not isinstance(parts[0], tuple) and not isinstance(parts[0], nodes.Geometry):
            return " EMPTY", []  # the EMPTY token
        texts, points = [], []
        for part in parts:
            if isinstance(part, nodes.Geometry):  # a member of a GEOMETRYCOLLECTION
                texts.append(part.wkt)
                points += [(part.bounds[0], part.bounds[1]), (part.bounds[2], part.bounds[3])]
            else:
                texts.append(part[0])
                points += part[1]
        return "(" + ",".join(texts) + ")", points

    def coordinate(self, *numbers):
        values = [float(str(n)) for n in numbers]
        return " ".join(str(n) for n in numbers), [(values[0], values[1])]


def box_geometry(west: float, south: float, east: float, north: float) -> nodes.Geometry:
    """``BBOX(w, s, e, n)`` as a polygon (and its own bounds)."""
    if not all(map(math.isfinite, (west, south, east, north))) or west > east or south > north:
        raise CQL2Error("a bbox takes west, south, east, north, with west <= east and south <= north")
    wkt = f"POLYGON(({west} {south},{east} {south},{east} {north},{west} {north},{west} {south}))"
    return nodes.Geometry(wkt, (west, south, east, north), is_box=True)


def _interval_end(value):
    if isinstance(value, nodes.Instant):
        return value
    text = _string(value)
    if text == "..":
        return None
    return nodes.Instant("timestamp" if "T" in text.upper() else "date", text)


def _flatten(terms, kind):
    """``a OR (b OR c)`` is one OR of three terms: shallower, and the same condition."""
    for term in terms:
        if isinstance(term, kind):
            yield from term.terms
        else:
            yield term


_PARSER = Lark(GRAMMAR, parser="lalr", transformer=_ToNodes(), maybe_placeholders=False)
MAX_LENGTH = 20000  # characters of one filter


def parse(text: str):
    """``text`` as nodes; raises CQL2Error with the position and what was expected."""
    if len(text) > MAX_LENGTH:
        raise CQL2Error(f"the filter is {len(text)} characters long; at most {MAX_LENGTH} are read")
    if not text.strip():
        raise CQL2Error("the filter is empty")
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    except VisitError as exc:  # raised inside a rule: a value the rule refused
        if isinstance(exc.orig_exc, CQL2Error):
            raise exc.orig_exc from None
        raise CQL2Error(f"cannot read the filter: {exc.orig_exc}") from None
    except CQL2Error:
        raise
    except RecursionError:
        raise CQL2Error("the filter is nested too deeply") from None
    return nodes.bounded(tree)


def _syntax_error(text: str, exc: UnexpectedInput) -> CQL2Error:
    position = getattr(exc, "pos_in_stream", None)
    at_end = isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END")
    if position is None or at_end:
        position = len(text.rstrip())  # just after the last word: where more was expected
    if isinstance(exc, UnexpectedCharacters):
        found = f"the character {text[position]!r}"
        expected = sorted(exc.allowed or ())
    elif isinstance(exc, UnexpectedToken):
        found = "the end of the filter" if exc.token.type == "$END" else repr(str(exc.token))
        expected = sorted(exc.accepts or exc.expected or ())
    else:
        found, expected = "the end of the filter", sorted(getattr(exc, "expected", ()) or ())
    words = sorted({_EXPECTED_WORDS.get(name, name.lower()) for name in expected})
    hint = f"; expected {', '.join(words)}" if words else ""
    return CQL2Error(f"syntax error at character {position + 1}: unexpected {found}{hint}", position + 1, words)


# How the grammar's terminal names read in an error message.
_EXPECTED_WORDS = {
    "IDENTIFIER": "a column name",
    "QUOTED_IDENTIFIER": 'a "quoted" column name',
    "STRING": "a 'string'",
    "NUMBER": "a number",
    "LPAR": "(",
    "RPAR": ")",
    "COMMA": ",",
    "COMPARE": "a comparison (= <> < <= > >=)",
    "_AND": "AND",
    "_OR": "OR",
    "_NOT": "NOT",
    "$END": "the end of the filter",
    "DATE": "DATE(...)",
    "TIMESTAMP": "TIMESTAMP(...)",
    "INTERVAL": "INTERVAL(...)",
    "BBOX": "BBOX(...)",
    "WKT_TYPE": "a WKT geometry",
    "SPATIAL_FN": "S_INTERSECTS(...)",
    "TEMPORAL_FN": "T_BEFORE(...)",
    "CASEI": "CASEI(...)",
    "ACCENTI": "ACCENTI(...)",
    "TRUE": "TRUE",
    "FALSE": "FALSE",
    "LIKE": "LIKE",
    "BETWEEN": "BETWEEN",
    "IN": "IN",
    "IS": "IS",
    "NULL": "NULL",
    "EMPTY": "EMPTY",
}
