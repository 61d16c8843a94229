"""The CQL2 writers (``autoapi/cql2/words.py``): a parsed filter written back as CQL2 text, which
must parse to the same filter, and in words for the catalog. No database: parsing and writing are
pure functions."""

from __future__ import annotations

import json

import pytest

from autoapi.cql2 import json as cql2_json
from autoapi.cql2 import nodes, text, words

# (filter, the words the catalog shows): every predicate, negated or not, and every operand kind.
CASES = [
    ("a = 1", "a = 1"),
    ("a <> 'x''y'", "a ≠ “x'y”"),
    ("a < 1 AND b >= 2.50", "a < 1 and b ≥ 2.50"),
    ("a <= 1 OR b > 2 OR c = TRUE", "a ≤ 1 or b > 2 or c = TRUE"),
    ("NOT a = 1", "not a = 1"),
    ("NOT (a = 1 OR b = 2)", "not (a = 1 or b = 2)"),
    ("NOT a BETWEEN 1 AND 2", "not (a is between 1 and 2)"),
    ("a LIKE 'x%'", "a matches the pattern “x%”"),
    ("a NOT LIKE CASEI('X%')", "a does not match the pattern “X%” (ignoring case)"),
    ("a BETWEEN 1 AND 2", "a is between 1 and 2"),
    ("a NOT BETWEEN 1 AND 2", "a is not between 1 and 2"),
    ("a IN (1, 2, 'x')", "a is one of 1, 2, “x”"),
    ("a NOT IN ('x')", "a is none of “x”"),
    ("a IS NULL", "a is null"),
    ("a IS NOT NULL", "a is not null"),
    ("TRUE", "every row"),
    ("FALSE", "no row"),
    ("NOT TRUE", "not (every row)"),
    ("S_INTERSECTS(geom, POINT(1 2))", "geom intersects the given shape"),
    ("S_WITHIN(geom, BBOX(1, 2, 3, 4))", "geom lies within the box from (1.0, 2.0) to (3.0, 4.0)"),
    ("s_disjoint(geom, POLYGON((0 0,1 0,1 1,0 0)))", "geom does not intersect the given shape"),
    ("T_BEFORE(d, DATE('2020-01-01'))", "d is before 2020-01-01"),
    ("T_DURING(ts, INTERVAL('2020-01-01', '..'))", "ts is strictly within 2020-01-01 on"),
    (
        "T_INTERSECTS(ts, INTERVAL('..', TIMESTAMP('2020-01-01T00:00:00Z')))",
        "ts is within the beginning to 2020-01-01T00:00:00Z",
    ),
    ("T_AFTER(d, INTERVAL('2020-01-01','2021-01-01'))", "d is after 2020-01-01 to 2021-01-01"),
    ("CASEI(a) = CASEI('X')", "a (ignoring case) = “X” (ignoring case)"),
    ('"Größe (m)" > 3', "Größe (m) > 3"),
    ("a = 1 AND (b = 2 OR NOT c IS NULL)", "a = 1 and (b = 2 or not (c is null))"),
    ("(a = 1 AND b = 2) OR c = 3", "(a = 1 and b = 2) or c = 3"),
    ("a = b", "a = b"),
]


@pytest.mark.parametrize("cql, expected", CASES, ids=[c[0][:50] for c in CASES])
def test_text_parses_back_to_the_same_filter_and_words_read_it(cql, expected):
    node = text.parse(cql)
    assert text.parse(words.text(node)) == node
    assert words.words(node) == expected


def test_text_writes_every_predicate_in_cql2_text():
    node = text.parse("NOT a = 1 AND b NOT IN (1, 2) AND c IS NOT NULL AND T_EQUALS(d, DATE('2020-01-01')) OR FALSE")
    assert words.text(node) == (
        '(NOT ("a" = 1) AND "b" NOT IN (1, 2) AND "c" IS NOT NULL AND T_EQUALS("d", DATE(\'2020-01-01\'))) OR FALSE'
    )


def test_the_kinds_of_a_family_stay_apart():
    """Comparison, spatial and temporal predicates share one record (``nodes.Binary``), AND and OR
    another (``nodes.Junction``): the class still tells them apart, in equality and in writing."""
    left, right = nodes.Property("a"), nodes.Property("b")
    assert nodes.And((left,)) != nodes.Or((left,))
    assert nodes.Spatial("s_equals", left, right) != nodes.Temporal("s_equals", left, right)
    assert isinstance(text.parse("a = 1"), nodes.Binary) and isinstance(text.parse("a = 1 OR b = 2"), nodes.Junction)
    node = nodes.Like(left, "x%", negated=True)
    assert (node.operand, node.pattern, node.negated) == (left, "x%", True)


def test_a_geojson_literal_is_named_not_written_out():
    document = {"op": "s_intersects", "args": [{"property": "geom"}, {"type": "Point", "coordinates": [1, 2]}]}
    node = cql2_json.parse(json.dumps(document))
    assert words.text(node) == 'S_INTERSECTS("geom", a GeoJSON geometry)'
    assert words.words(node) == "geom intersects the given shape"
