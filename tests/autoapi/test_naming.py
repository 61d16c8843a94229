"""Unit tests of ``autoapi/schema/naming.py`` (and of ``autoapi/db/sql.py``'s quoting): tilde encoding of path segments, identifier quoting, and
the Python attribute names and model class names given to hostile PostgreSQL names.

The hostile names are those of tests/fixtures/10_names.sql and 15_dollar_names.sql; the quoting
is checked against the real server (a quoted name must come back from PostgreSQL unchanged).
"""

from __future__ import annotations

import csv
import io
import keyword
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from psycopg2 import sql as psycopg2_sql

from autoapi.db import sql
from autoapi.db.sql import identifier
from autoapi.schema.naming import (
    EMPTY,
    decode_segment,
    encode_segment,
    model_class_name,
    python_attname,
)

SIXTY_THREE_BYTES = "this_relation_name_is_exactly_sixty_three_bytes_long_0123456789"
HOSTILE_NAMES = [
    "",
    "~",
    "~7E",
    "%2F",
    "pct%2Fescaped",
    "per%cent",
    "til~de",
    "slash/ed",
    "back\\slash",
    'quote"d',
    "dot.ted",
    ".",
    "..",
    "com,ma",
    "a?b#c&d=e",
    "<i>html</i>",
    " padded ",
    "table with spaces",
    "📈 emoji",
    "Café_données",
    "price$list",
    "a$$b",
    "?column?",
    "select",
    "MixedCase",
    "1st_table",
    SIXTY_THREE_BYTES,
    "é" * 31 + "a",  # 63 bytes of UTF-8 in 32 characters
    'all/the.hazards, 100% ~ "quoted" 📈',
    "line\nbreak",
    "tab\there",
    "+plus",
    "-",
]
ENCODED_ALPHABET = re.compile(r"^[A-Za-z0-9_~-]+$")


# -- encode_segment / decode_segment ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "segment"),
    [
        ("flights", "flights"),
        ("", "~"),
        ("~", "~7E"),
        ("%2F", "~252F"),
        ("a/b.c", "a~2Fb~2Ec"),
        ("Odd Schema", "Odd~20Schema"),
        ("hy-phen_1", "hy-phen_1"),
        ("é", "~C3~A9"),
        ("📈", "~F0~9F~93~88"),
        ("2013-01-01 06:00:00+00", "2013-01-01~2006~3A00~3A00~2B00"),  # the example in docs/api.md
    ],
)
def test_encode_segment_known_values(name, segment):
    assert encode_segment(name) == segment
    assert decode_segment(segment) == name


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_round_trip_and_use_only_safe_characters(name):
    segment = encode_segment(name)
    assert ENCODED_ALPHABET.match(segment), segment
    assert decode_segment(segment) == name


def test_63_byte_names_round_trip_at_full_length():
    assert len(SIXTY_THREE_BYTES.encode()) == 63
    assert encode_segment(SIXTY_THREE_BYTES) == SIXTY_THREE_BYTES  # nothing to escape
    multibyte = "é" * 31 + "a"
    assert len(multibyte.encode()) == 63
    assert encode_segment(multibyte) == "~C3~A9" * 31 + "a"
    assert decode_segment(encode_segment(multibyte)) == multibyte


@settings(max_examples=300, deadline=None)
@given(st.text())
@example("")
@example("~")
@example("~~7E")
@example("%2F")
def test_round_trip_property(name):
    segment = encode_segment(name)
    assert segment != ""
    assert ENCODED_ALPHABET.match(segment)
    assert decode_segment(segment) == name


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text())
def test_encoding_is_injective(a, b):
    if a != b:
        assert encode_segment(a) != encode_segment(b)


@pytest.mark.parametrize(
    "segment",
    [
        "%2F",  # percent-encoding is not tilde encoding
        "a.b",  # a dot is always encoded
        "a b",
        "a/b",
        "~7e",  # lower-case hex is never produced
        "~7",  # truncated escape
        "a~",
        "~~",
        "~G0",
        "~FF",  # not UTF-8
        "~C3",  # a truncated UTF-8 sequence
        "~C0~AF",  # overlong UTF-8 for "/"
        "é",  # raw non-ASCII
    ],
)
def test_decode_rejects_what_encode_cannot_produce(segment):
    with pytest.raises(ValueError):
        decode_segment(segment)


@pytest.mark.parametrize("segment", ["~41", "fo~6F", "~5F", "~2D", ""])
def test_decode_rejects_non_canonical_encodings(segment):
    with pytest.raises(ValueError):
        decode_segment(segment)


def test_empty_marker_is_a_lone_tilde():
    assert EMPTY == "~"
    assert encode_segment("") == EMPTY
    assert decode_segment(EMPTY) == ""


# -- identifier ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("plain", '"plain"'),
        ('quote"d', '"quote""d"'),
        ('""', '""""""'),
        ("per%cent", '"per%%cent"'),
        ("%(x)s", '"%%(x)s"'),
        ('100% "q"', '"100%% ""q"""'),
        ("", '""'),
    ],
)
def test_identifier_doubles_quotes_and_percent_signs(name, quoted):
    assert identifier(name) == quoted


@pytest.mark.parametrize("name", [n for n in HOSTILE_NAMES if n] + ["%s", "%(schemas)s", "$1"])
def test_quoted_names_come_back_unchanged_from_postgresql(reader_conn, name):
    # The statement has a parameter, so psycopg2 formats it and turns %% back into %.
    with reader_conn.cursor() as cursor:
        cursor.execute(f"SELECT %s AS {identifier(name)}", ("value",))
        assert cursor.description[0].name == name
        assert cursor.fetchone() == ("value",)


# -- python_attname ----------------------------------------------------------------------------


def attnames(columns: list[str]) -> list[str]:
    taken: set[str] = set()
    return [python_attname(c, taken) for c in columns]


def is_valid_attname(name: str) -> bool:
    return (
        name.isidentifier()
        and name.isascii()
        and not keyword.iskeyword(name)
        and "__" not in name
        and not name.startswith("_")
        and not name.endswith("_")
        and name != "pk"
    )


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (["Value", "VALUE", "value"], ["value", "value_2", "value_3"]),
        (["a b", "a_b", "a-b", "a__b"], ["a_b", "a_b_2", "a_b_3", "a_b_4"]),
        (["value$", "value%", "value."], ["value", "value_2", "value_3"]),
        (
            ["class", "from", "import", "lambda", "None", "True"],
            ["class_field", "from_field", "import_field", "lambda_field", "none", "true"],
        ),
        (
            ["pk", "objects", "check", "clean", "save", "delete"],
            ["pk_field", "objects_field", "check_field", "clean_field", "save_field", "delete_field"],
        ),
        (["9lives", "1st_table"], ["n_9lives", "n_1st_table"]),
        (["__dunder__", "_leading", "trailing_", "_meta"], ["dunder", "leading", "trailing", "meta"]),
        (["📈", "?column?", "", "$", "Café"], ["col", "column", "col_2", "col_3", "caf"]),
        (["id$", "$1", "SYS$CREATED"], ["id", "n_1", "sys_created"]),
    ],
)
def test_python_attname_follows_inspectdb_rules(columns, expected):
    assert attnames(columns) == expected


def test_python_attname_on_the_fixture_hazard_columns():
    columns = [
        "row_id",
        "with space",
        'quote"d',
        "dot.ted",
        "slash/ed",
        "back\\slash",
        "per%cent",
        "til~de",
        "com,ma",
        "a?b#c&d=e",
        "<i>html</i>",
        "UPPER",
        "MixedCase",
        "mixedcase",
        "📈",
        "Café",
        "column_name_that_is_exactly_sixty_three_bytes_long_abcdefghijkl",
        "9lives",
        "a__b",
        "__dunder__",
        "_leading",
        "trailing_",
        "a b",
        "a_b",
        "a-b",
        "?column?",
        " padded ",
    ]
    names = attnames(columns)
    assert len(set(names)) == len(columns)
    assert all(is_valid_attname(n) for n in names), names
    assert names[columns.index("MixedCase")] == "mixedcase"
    assert names[columns.index("mixedcase")] == "mixedcase_2"


def test_python_attname_does_not_reuse_a_name_already_taken():
    taken = {"value", "value_2"}
    assert python_attname("Value", taken) == "value_3"
    assert taken == {"value", "value_2", "value_3"}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=20), max_size=12))
@example(["pk", "PK", "pk_field", "_pk_", "p k"])
@example(["a", "a_2", "A", "a"])
def test_python_attname_is_always_a_unique_valid_identifier(columns):
    names = attnames(columns)
    assert len(set(names)) == len(names)
    assert all(is_valid_attname(n) for n in names), names


# -- model_class_name ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "relation"),
    [
        ("public", "flights"),
        ("Odd Schema", 'all/the.hazards, 100% ~ "quoted" 📈'),
        ("", ""),
        ("public", "📈 emoji"),
        ("public", SIXTY_THREE_BYTES),
        ("public", "1st_table"),
    ],
)
def test_model_class_name_is_an_identifier(schema, relation):
    name = model_class_name(7, schema, relation)
    assert name.isidentifier() and name.isascii()
    assert name.startswith("R7_")
    assert len(name) <= len("R7_") + 60


def test_model_class_names_differ_by_index_even_for_colliding_relations():
    assert model_class_name(1, "public", "Foo") == "R1_PublicFoo"
    assert model_class_name(2, "public", "foo") == "R2_PublicFoo"
    assert model_class_name(1, "public", "hy-phen") != model_class_name(2, "public", "hy_phen")


# -- autoapi.db.sql: constants and composed statements ------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "plain",
        "it's",
        "back\\slash",
        "100%",
        "%s",
        "%(x)s",
        "$1",
        "$$dollar$$",
        "tab\there\nnew\rline",
        "\x01\x1f",
        "ünïcødé ✓",
        "\ufffe\uffff",
        "E'x'",
        "'; DROP TABLE t; --",
    ],
)
def test_literals_come_back_unchanged_from_postgresql(reader_conn, text):
    with reader_conn.cursor() as cursor:
        cursor.execute(f"SELECT %s, {sql.literal(text)}", ("value",))
        assert cursor.fetchone() == ("value", text)


@pytest.mark.parametrize("value", [None, True, False, 0, -7, 2**62, 1.5])
def test_other_literals(reader_conn, value):
    with reader_conn.cursor() as cursor:
        cursor.execute(f"SELECT %s, {sql.literal(value)}", ("value",))
        assert cursor.fetchone() == ("value", value)


def test_only_this_module_renders_sql_without_a_connection():
    assert sql.identifier("s", 'n"%') == '"s"."n""%%"'
    with pytest.raises(TypeError):
        sql.literal(float("nan"))
    with pytest.raises(ValueError):
        sql.literal("nul\x00")
    with pytest.raises(TypeError):  # psycopg2's own Identifier needs a connection: quoting stays in one place
        sql.render(psycopg2_sql.SQL("SELECT {}").format(psycopg2_sql.Identifier("x")))


@pytest.mark.parametrize("name", [n for n in HOSTILE_NAMES if n])
def test_the_one_copy_count_and_explain_wrappers_run_on_hostile_names(reader_conn, name):
    rows = sql.Statement(sql.compose("SELECT %s AS {}", sql.Identifier(name)), ("v%",))
    with reader_conn.cursor() as cursor:
        for statement, expected in ((sql.count(rows), (1,)), (sql.count(rows, 0), (0,))):
            cursor.execute(statement.sql, statement.params)
            assert cursor.fetchone() == expected
        explain = sql.explain(rows)
        cursor.execute(explain.sql, explain.params)
        assert cursor.fetchone()[0][0]["Plan"]
        copy = sql.copy(sql.compose("x.{}", sql.Identifier(name)), rows)
        out = io.StringIO()
        cursor.copy_expert(cursor.mogrify(copy.sql, copy.params).decode(), out)
        assert list(csv.reader(io.StringIO(out.getvalue()))) == [[name], ["v%"]]


@pytest.mark.parametrize(
    ("template", "parts", "named"),
    [
        ("SELECT {} FROM {}", ("x", sql.Identifier("s", 't"%')), {}),
        ("""SELECT '{{"type":"Feature",' || {}""", (sql.Literal("it's"),), {}),
        ("{p}.f({v}, {v}) AS {n}", (), {"p": sql.Identifier("ext"), "v": "x.a", "n": sql.Identifier("%s")}),
        ("{1} {0}", ("a", sql.Literal(7)), {}),
    ],
)
def test_compose_writes_what_psycopg2s_format_writes(template, parts, named):
    def as_sql(part):
        return part if isinstance(part, psycopg2_sql.Composable) else psycopg2_sql.SQL(part)

    expected = sql.render(
        psycopg2_sql.SQL(template).format(*map(as_sql, parts), **{k: as_sql(v) for k, v in named.items()})
    )
    assert sql.compose(template, *parts, **named) == expected
