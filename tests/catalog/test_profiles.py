"""Column profiles from pg_stats: the array-literal parser, ``column_statistics`` and
``relation_activity`` (autoapi.public), the profile maths (catalog.profiles) and the dictionary's
Profile column on relation pages.
"""

from __future__ import annotations

import re
import uuid
from types import SimpleNamespace

import pytest
from django.utils.html import escape

from autoapi.public import column_statistics, get_snapshot, parse_array_literal, relation_activity
from catalog import profiles
from tests.catalog.helpers import page_url, relation_named, text, wait_for_relation

# -- the PostgreSQL array literal parser ----------------------------------------------------------


@pytest.mark.parametrize(
    "literal, expected",
    [
        ("{}", []),
        ("{1,2,3}", ["1", "2", "3"]),
        ('{"a b","c,d","e}f","g\\"h","i\\\\j"}', ["a b", "c,d", "e}f", 'g"h', "i\\j"]),
        ('{NULL,null,"NULL",Null}', [None, None, "NULL", None]),
        ("{ a , b c }", ["a", "b c"]),
        ("{\\ a\\ ,b}", [" a ", "b"]),  # escaped spaces stay, plain ones around an element go
        ('{""}', [""]),
        ("{{1,2},{3,4}}", [["1", "2"], ["3", "4"]]),
        ("[0:1]={x,y}", ["x", "y"]),
        ('{"日本","🚀"}', ["日本", "🚀"]),
        ('{"2013-01-01 06:00:00+00","2013-01-01 07:00:00+00"}', ["2013-01-01 06:00:00+00", "2013-01-01 07:00:00+00"]),
    ],
)
def test_parse_array_literal(literal, expected):
    assert parse_array_literal(literal) == expected


def test_parse_array_literal_with_another_delimiter():
    assert parse_array_literal("{(1,1),(0,0);(2,2),(1,1)}", delimiter=";") == ["(1,1),(0,0)", "(2,2),(1,1)"]


@pytest.mark.parametrize("literal", ["", "{", "{a", '{"a}', "{a,}", "{,a}", "{a}b", "a,b", '{a"b}', "{a\\"])
def test_parse_array_literal_rejects_what_postgresql_would(literal):
    with pytest.raises(ValueError):
        parse_array_literal(literal)


def test_parse_array_literal_reads_what_postgresql_prints(reader_conn):
    """Round trip through PostgreSQL's own array_out for awkward text elements."""
    values = [
        "plain",
        "with space",
        "com,ma",
        'quo"te',
        "back\\slash",
        "{brace}",
        "",
        "NULL",
        "  padded  ",
        "ünï 🚀",
        None,
    ]
    with reader_conn.cursor() as cursor:
        cursor.execute("SELECT %s::text[]::text", [values])
        literal = cursor.fetchone()[0]
    assert parse_array_literal(literal) == values


# -- column_statistics and relation_activity ------------------------------------------------------


@pytest.mark.db
def test_column_statistics_of_an_analysed_table():
    relation = relation_named("public", "big_2500")  # id 1..2500, grp = id % 7, amount NULL when id % 10 = 0
    stats = column_statistics(relation)
    assert set(stats) == {c.name for c in relation.columns}
    assert stats["amount"]["null_fraction"] == pytest.approx(0.1, abs=0.001)
    assert stats["id"]["null_fraction"] == 0
    assert stats["id"]["n_distinct"] == -1  # all different: PostgreSQL stores minus a share
    assert stats["id"]["distinct_values"] == pytest.approx(2500, rel=0.01)
    assert stats["grp"]["n_distinct"] == 7
    assert sorted(stats["grp"]["most_common_values"]) == [str(n) for n in range(7)]
    assert sum(stats["grp"]["most_common_freqs"]) == pytest.approx(1, abs=0.001)
    bounds = stats["id"]["histogram_bounds"]
    assert bounds[0] == "1" and bounds[-1] == "2500"
    assert stats["created"]["histogram_bounds"][0] == "2020-01-02"


@pytest.mark.db
def test_column_statistics_hide_columns_the_role_cannot_read():
    relation = relation_named("public", "partial_columns")
    stats = column_statistics(relation)
    assert "secret_col" not in stats
    assert set(stats) <= {c.name for c in relation.columns}


@pytest.mark.db
def test_views_have_no_statistics_and_no_activity():
    view = relation_named("public", "v_single")
    assert column_statistics(view) == {}
    activity = relation_activity([view])
    assert not activity.get(view.qualified_name, {}).get("tracked")


@pytest.mark.db
def test_relation_activity_reads_all_relations_at_once():
    snapshot = get_snapshot()
    activity = relation_activity(snapshot.relations)
    table = relation_named("public", "big_2500")
    facts = activity[table.qualified_name]
    assert facts["tracked"] is True
    assert facts["last_analyzed"] is not None  # the fixtures end with ANALYZE
    assert facts["changed_since_analyze"] == 0
    assert facts["live_rows"] == 2500
    assert set(activity) <= {r.qualified_name for r in snapshot.relations}


def test_a_table_never_analysed_says_so(client, superuser_conn):
    name = f"never_analysed_{uuid.uuid4().hex[:8]}"
    superuser_conn.at_teardown(f"DROP TABLE IF EXISTS public.{name}")
    # Fewer rows than autovacuum's analyze threshold (50), so no ANALYZE can run behind our back.
    superuser_conn.execute(f"CREATE TABLE public.{name} (id integer PRIMARY KEY, label text)")
    superuser_conn.execute(f"INSERT INTO public.{name} SELECT g, 'x' || g FROM generate_series(1, 10) g")
    superuser_conn.execute(f"GRANT SELECT ON public.{name} TO portal_reader")
    relation = wait_for_relation(client, "public", name)
    assert column_statistics(relation) == {}
    body = text(client.get(page_url(relation)))
    assert "never been analysed" in body
    assert "no statistics" in body
    superuser_conn.execute(f"ANALYZE public.{name}")
    stats = column_statistics(relation)
    assert stats["id"]["n_distinct"] == -1
    body = text(client.get(page_url(relation)))
    assert "never been analysed" not in body
    assert "all different" in body


# -- the profile maths ----------------------------------------------------------------------------


def column(name="c", base_type="int4", category="N", is_array=False):
    return SimpleNamespace(name=name, base_type=base_type, type_category=category, is_array=is_array)


def stats(**values):
    base = {
        "null_fraction": 0.0,
        "n_distinct": None,
        "distinct_values": None,
        "most_common_values": (),
        "most_common_freqs": (),
        "histogram_bounds": (),
    }
    return {**base, **values}


def test_profile_without_statistics_is_none():
    assert profiles.profile(column(), None) is None


def test_profile_of_small_integers_has_one_bar_per_value():
    result = profiles.profile(
        column(),
        stats(
            n_distinct=3.0,
            distinct_values=3.0,
            null_fraction=0.25,
            most_common_values=("1", "2", "5"),
            most_common_freqs=(0.5, 0.15, 0.1),
        ),
    )
    assert result["nulls"] == "25%"
    assert result["distinct"] == "3"
    assert result["range"] == {"low": "1", "high": "5"}
    histogram = result["histogram"]
    assert len(histogram["bars"]) == 5  # 1, 2, 3, 4, 5
    heights = [bar["height"] for bar in histogram["bars"]]
    assert heights[0] == histogram["height"] and heights[2] == heights[3] == 0
    assert heights[1] == pytest.approx(histogram["height"] * 0.3, abs=0.01)
    assert "tallest, 1, holds 66.7% of the values" in histogram["summary"]
    assert [v["value"] for v in result["common"]] == ["1", "2", "5"]
    assert result["common"][0]["share"] == "50%" and result["common"][0]["width"] == 100


def test_profile_spreads_histogram_buckets_and_clips_a_long_tail():
    # 100 equally populated buckets from 0 to 99, then one far outlier bucket up to 10,000.
    bounds = tuple(str(n) for n in range(100)) + ("10000",)
    result = profiles.profile(
        column(base_type="float8"), stats(n_distinct=-1.0, distinct_values=1000.0, histogram_bounds=bounds)
    )
    histogram = result["histogram"]
    assert result["distinct"] == "all different"
    assert result["range"] == {"low": "0", "high": "10000"}
    assert float(histogram["high"]) < 100  # the tail is left out, and said to be
    assert "Not drawn: 1% above" in histogram["summary"]
    heights = [bar["height"] for bar in histogram["bars"]]
    assert min(heights) > 0.8 * max(heights)  # a flat distribution stays flat


def test_profile_of_dates_labels_bars_with_dates():
    bounds = ("2020-01-01", "2020-04-01", "2020-07-01", "2020-10-01", "2021-01-01")
    result = profiles.profile(
        column(base_type="date", category="D"), stats(n_distinct=-0.5, distinct_values=1000.0, histogram_bounds=bounds)
    )
    assert result["distinct"] == "≈ 1,000 (50% of rows)"
    assert result["histogram"]["low"] == "2020-01-01" and result["histogram"]["high"] == "2021-01-01"
    assert re.search(r"\d{4}-\d{2}-\d{2} to \d{4}-\d{2}-\d{2}: ", result["histogram"]["bars"][0]["label"])


def test_profile_of_text_lists_common_values_without_a_histogram():
    result = profiles.profile(
        column(base_type="text", category="S"),
        stats(n_distinct=2.0, most_common_values=("yes", ""), most_common_freqs=(0.9, 0.1), null_fraction=0.0004),
    )
    assert result["histogram"] is None
    assert result["nulls"] == "< 0.1%"
    assert result["common"][1]["empty"] is True
    assert result["range"] is None  # text order is the collation's: only histogram bounds tell it


def test_profile_hides_noise_common_values():
    result = profiles.profile(
        column(base_type="text", category="S"),
        stats(
            n_distinct=-0.9,
            most_common_values=("a", "b"),
            most_common_freqs=(0.002, 0.001),
            histogram_bounds=("a", "z"),
        ),
    )
    assert result["common"] == []
    assert result["range"] == {"low": "a", "high": "z"}


def test_profile_survives_values_python_cannot_read():
    result = profiles.profile(
        column(base_type="numeric"),
        stats(n_distinct=3.0, most_common_values=("NaN", "Infinity", "1"), most_common_freqs=(0.4, 0.3, 0.3)),
    )
    assert result["histogram"] is None  # one readable value draws no histogram
    assert result["range"] == {"low": "1", "high": "1"}


# -- the Profile column on relation pages ---------------------------------------------------------


def test_relation_page_shows_profiles_with_text_alternatives(client):
    relation = relation_named("public", "big_2500")
    body = text(client.get(page_url(relation)))
    assert "Profiles come from the statistics PostgreSQL keeps" in body
    charts = re.findall(r'<svg role="img" aria-label="([^"]+)"', body)
    assert charts, "no histogram drawn"
    assert any("Histogram of id" in label for label in charts)
    assert "Nulls</dt><dd>10%" in body  # amount
    assert "Distinct</dt><dd>7<" in body  # grp


def test_view_page_says_views_have_no_statistics(client):
    relation = relation_named("public", "v_single")
    body = text(client.get(page_url(relation)))
    assert "keeps no statistics for views" in body
    assert escape("a view has none of its own") in body


def test_profile_of_a_small_table_whose_bounds_are_all_its_values():
    # id 1..5, each once: PostgreSQL keeps no common values and lists all five as bounds.
    result = profiles.profile(
        column(), stats(n_distinct=-1.0, distinct_values=5.0, histogram_bounds=("1", "2", "3", "4", "5"))
    )
    heights = [bar["height"] for bar in result["histogram"]["bars"]]
    assert heights == [result["histogram"]["height"]] * 5  # flat, as the data is
