"""Unit tests of ``autoapi/query/cursors.py``: the keyset cursor format and the "strictly after" condition.

``encode``/``decode`` are checked for round trips and for every way a client can tamper with a
cursor (each must be the 400 ``BadRequest`` naming ``cursor``). ``keyset_condition`` is checked on
the fixture database: for an ordering and a row, the rows the ORM returns after the cursor must be
exactly the rows a hand-written ``ORDER BY ... NULLS LAST`` puts after that row.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import pytest
from django.db.models import F
from hypothesis import given, settings
from hypothesis import strategies as st

from autoapi.errors import BadRequest
from autoapi.query import cursors
from autoapi.query.queries import compiled
from autoapi.schema.typemap import type_info
from tests.autoapi.unit_helpers import fetch, q, queryset_for, relation, table


def raw_cursor(payload) -> str:
    text = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


# -- encode / decode ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signature", "values_json", "values"),
    [
        ("id", "[1]", [1]),
        ("-amount,id", "[12.50, 7]", [Decimal("12.50"), 7]),
        ("-amount,id", "[null, 10]", [None, 10]),
        ("code", '["ünï 日本 🚀"]', ["ünï 日本 🚀"]),
        (
            '"quoted",-Label',
            '["a/b,c~d", "2024-02-29T12:34:56.789+00:00"]',
            ["a/b,c~d", "2024-02-29T12:34:56.789+00:00"],
        ),
        ("n", "[9007199254740993]", [9007199254740993]),
        ("n", "[0.1000000000000000000000000000000000000001]", [Decimal("0.1000000000000000000000000000000000000001")]),
    ],
)
def test_round_trip(signature, values_json, values):
    cursor = cursors.encode(signature, values_json)
    assert "=" not in cursor and "+" not in cursor and "/" not in cursor
    assert cursors.decode(cursor, signature) == values


@settings(max_examples=200, deadline=None)
@given(st.text(), st.lists(st.one_of(st.none(), st.booleans(), st.integers(), st.text()), max_size=5))
def test_round_trip_property(signature, values):
    cursor = cursors.encode(signature, json.dumps(values))
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert cursors.decode(cursor, signature) == values


def assert_cursor_error(cursor: str, signature: str = "id", words: str = "not valid"):
    with pytest.raises(BadRequest) as caught:
        cursors.decode(cursor, signature)
    assert caught.value.status_code == 400
    assert caught.value.as_dict()["parameter"] == "cursor"
    assert words in caught.value.detail


@pytest.mark.parametrize(
    "cursor",
    [
        "",  # nothing at all
        "garbage!",
        "eyJ",  # truncated base64
        raw_cursor("not json"),
        raw_cursor(b"\xff\xfe{"),  # not UTF-8
        raw_cursor({"v": [1]}),  # no ordering
        raw_cursor({"o": "id"}),  # no values
        raw_cursor([1, 2]),  # not an object
        raw_cursor('"a string"'),
        raw_cursor("12"),
        raw_cursor("null"),
    ],
)
def test_tampered_cursors_are_400(cursor):
    assert_cursor_error(cursor)


@pytest.mark.parametrize(
    "payload",
    [
        {"o": "-id", "v": [1]},
        {"o": "id,name", "v": [1]},
        {"o": "ID", "v": [1]},
        {"o": "id", "v": {"id": 1}},
        {"o": "id", "v": 1},
        {"o": "id", "v": None},
    ],
)
def test_cursor_of_another_ordering_or_without_a_list_is_400(payload):
    assert_cursor_error(raw_cursor(payload), words="another ordering")


def test_a_cursor_edited_by_one_character_is_rejected_or_decodes_differently():
    cursor = cursors.encode("id", "[42]")
    for i in range(len(cursor)):
        for replacement in "A_-":
            edited = cursor[:i] + replacement + cursor[i + 1 :]
            if edited == cursor:
                continue
            try:
                assert cursors.decode(edited, "id") != [42]
            except BadRequest as exc:
                assert exc.status_code == 400


def test_deeply_nested_cursor_is_400():
    assert_cursor_error(raw_cursor('{"o":"id","v":' + "[" * 1500 + "]" * 1500 + "}"))


# -- keyset_condition: structure ----------------------------------------------------------------


def where_of(rel, terms, values) -> str:
    sql, _params = compiled(queryset_for(rel).filter(cursors.keyset_condition(terms, values)))
    return sql[sql.index(" WHERE ") :]


@pytest.mark.db
def test_wrong_number_of_values_is_400():
    rel = relation("big_2500")
    terms = [(rel.column("id"), False)]
    for values in ([], [1, 2]):
        with pytest.raises(BadRequest) as caught:
            cursors.keyset_condition(terms, values)
        assert caught.value.as_dict()["parameter"] == "cursor"


@pytest.mark.db
def test_not_null_columns_get_no_is_null_branch():
    rel = relation("big_2500")
    terms = [(rel.column("grp"), True), (rel.column("id"), False)]
    where = where_of(rel, terms, [3, 10])
    assert "IS NULL" not in where
    assert '"grp" < ' in where and '"id" > ' in where


@pytest.mark.db
def test_nullable_columns_keep_null_rows_after_every_value():
    rel = relation("big_2500")
    for descending, operator in ((False, " > "), (True, " < ")):
        where = where_of(rel, [(rel.column("amount"), descending), (rel.column("id"), False)], ["5.00", 4])
        assert '"amount"' + operator in where
        assert '"amount" IS NULL' in where


@pytest.mark.db
def test_after_a_null_only_ties_follow():
    rel = relation("big_2500")
    where = where_of(rel, [(rel.column("amount"), False), (rel.column("id"), False)], [None, 10])
    assert '"amount" IS NULL AND' in where and '"id" > ' in where
    assert '"amount" > ' not in where


@pytest.mark.db
def test_invalid_value_for_the_column_type_is_400():
    rel = relation("big_2500")
    condition = cursors.keyset_condition([(rel.column("id"), False)], ["not a number"])
    with pytest.raises(BadRequest) as caught:
        cursors.apply(queryset_for(rel), condition)
    assert caught.value.as_dict()["parameter"] == "cursor"


# -- keyset_condition on the database: rows after a cursor == rows after it in ORDER BY ----------


def ordered(rel, terms) -> list[tuple[str, object]]:
    """(cursor values as the API writes them, key value) of every row, in the API's order."""
    key = q(rel.key.columns[0])
    order = ", ".join(f"{q(c.name)} {'DESC' if d else 'ASC'} NULLS LAST" for c, d in terms)
    values = ", ".join(q(c.name) for c, _ in terms)
    return fetch(f"SELECT json_build_array({values})::text, {key} FROM {table(rel)} ORDER BY {order}")


def django_order(terms):
    return [
        (F(c.attname).desc(nulls_last=True) if c.nullable else F(c.attname).desc()) if d else F(c.attname).asc()
        for c, d in terms
    ]


def keys_after(rel, terms, values_json: str) -> list:
    signature = ",".join(("-" if d else "") + c.name for c, d in terms)
    values = cursors.decode(cursors.encode(signature, values_json), signature)
    queryset = cursors.apply(queryset_for(rel), cursors.keyset_condition(terms, values))
    key_attname = rel.column(rel.key.columns[0]).attname
    return list(queryset.order_by(*django_order(terms)).values_list(key_attname, flat=True))


def check_every_position(rel, terms, positions=None):
    rows = ordered(rel, terms)
    assert len(rows) >= 3
    for k in positions if positions is not None else range(len(rows)):
        values_json, _key = rows[k]
        assert keys_after(rel, terms, values_json) == [key for _, key in rows[k + 1 :]], (k, values_json)


ORDERINGS = [
    ("big_2500", [("amount", False)]),
    ("big_2500", [("amount", True)]),
    ("big_2500", [("grp", True), ("created", False)]),
    ("big_2500", [("label", True)]),
    ("single_pk", [("score", True)]),
    ("single_pk", [("score", False), ("name", True)]),
    ("text_pk", [("label", False)]),
    ("text_pk", [("code", True)]),
    ("composite_pk", [("amount", True)]),
    ("citext_keyed", [("handle", False)]),
    ("citext_keyed", [("handle", True)]),
    ("types_numeric", [("n_free", False)]),
    ("types_numeric", [("n_big", True)]),
    ("types_numeric", [("f8", False)]),
    ("types_numeric", [("i8", False)]),
    ("types_text", [("c", False)]),
    ("types_text", [("t", False)]),
    ("types_text", [("nm", True)]),
    ("types_text", [("ch", False)]),
    ("types_text", [("vc", True)]),
    ("types_misc", [("flag", True)]),
    ("types_misc", [("oid_col", False)]),
    ("types_datetime", [("ttz", False)]),
    ("types_network_bits", [("b", True)]),
    ("types_network_bits", [("vb", False)]),
    ("types_network_bits", [("mac8", False)]),
    ("extension_types", [("email", True)]),
    ("price$list", [("amount$usd", True)]),
    ("column_name_hazards", [("per%cent", False), ("📈", True)]),
    ("types_misc", [("u", True)]),
    ("types_misc", [("m", False)]),
    ("types_network_bits", [("ip", False)]),
    ("types_custom", [("mood", False)]),
    ("types_datetime", [("iv", False)]),
    ("types_datetime", [("t", True)]),
]


def terms_for(rel, ordering):
    terms = [(rel.column(name), descending) for name, descending in ordering]
    used = {name for name, _ in ordering}
    return terms + [(rel.column(name), False) for name in rel.key.columns if name not in used]


@pytest.mark.db
@pytest.mark.parametrize(
    ("table_name", "ordering"),
    ORDERINGS,
    ids=[f"{t}:{','.join(('-' if d else '') + c for c, d in o)}" for t, o in ORDERINGS],
)
def test_rows_after_a_cursor_are_the_rows_after_it_in_sql(table_name, ordering):
    rel = relation(table_name)
    terms = terms_for(rel, ordering)
    assert all(type_info(c).kind in cursors.CURSOR_KINDS for c, _ in terms)  # the API pages these by cursor
    if rel.name == "big_2500":
        # Both ends, and both sides of the NULL amounts (id % 10 = 0, sorted last).
        check_every_position(rel, terms, [0, 1, 2, 1000, 2248, 2249, 2250, 2251, 2498, 2499])
    else:
        check_every_position(rel, terms)


@pytest.mark.db
def test_cursor_kinds_leave_out_values_whose_json_is_ambiguous():
    # jsonb 'null' and SQL NULL both become JSON null in a cursor; arrays, ranges, tsvector and
    # bytea have no JSON form a filter takes back. The API pages those orderings by offset.
    sortable_kinds = {
        type_info(relation("types_json").column("jb")).kind,
        type_info(relation("types_ranges").column("r4")).kind,
        type_info(relation("types_arrays").column("ia")).kind,
        type_info(relation("types_custom").column("tsv")).kind,
        type_info(relation("types_misc").column("bin")).kind,
    }
    assert sortable_kinds == {"jsonb", "range", "array", "tsvector", "bytes"}
    assert not sortable_kinds & cursors.CURSOR_KINDS


@pytest.mark.db
def test_composite_key_pages_cover_every_row_once():
    rel = relation("composite_pk")
    terms = terms_for(rel, [])
    assert [c.name for c, _ in terms] == ["region_id", "code"]
    rows = fetch(f"SELECT json_build_array(region_id, code)::text FROM {table(rel)} ORDER BY region_id, code")
    seen, values_json = [], None
    queryset = queryset_for(rel).order_by(*django_order(terms))
    while True:
        page = queryset
        if values_json is not None:
            page = queryset.filter(cursors.keyset_condition(terms, json.loads(values_json)))
        batch = list(page.values_list("region_id", "code")[:2])
        if not batch:
            break
        seen += batch
        values_json = json.dumps(list(batch[-1]))
    assert seen == [tuple(json.loads(r[0])) for r in rows]


@pytest.mark.db
@pytest.mark.parametrize("descending", [False, True], ids=["r4", "-r4"])
def test_cursors_on_a_real_column(descending):
    rel = relation("types_numeric")
    check_every_position(rel, terms_for(rel, [("r4", descending)]))


DATETIME_ORDERINGS = [("d", False), ("d", True), ("ts", False), ("tstz", True)]


@pytest.mark.db
@pytest.mark.parametrize(
    ("column", "descending"), DATETIME_ORDERINGS, ids=[("-" if d else "") + c for c, d in DATETIME_ORDERINGS]
)
def test_cursors_after_infinite_and_out_of_range_dates(column, descending):
    rel = relation("types_datetime")
    check_every_position(rel, terms_for(rel, [(column, descending)]))
