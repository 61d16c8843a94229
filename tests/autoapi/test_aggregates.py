"""Grouping and aggregates (``?group_by=``, ``?aggregate=``, ``?having=``): every function on every
type against the same SQL run by PostgreSQL itself, and every rule of docs/api.md, "Aggregates"."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import psycopg2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoapi.formats.renderers import formats_for
from autoapi.query.aggregates import FUNCTIONS, groupable
from tests.autoapi.helpers import body, json_body, openapi_parameters, published_relations, readable, url
from tests.autoapi.test_values import SESSION

SALES = "/api/public/agg_sales/"
# How PostgreSQL writes each function, independently of the portal's code.
FUNCTION_SQL = {
    "count_distinct": "count(DISTINCT {c})",
    "sum": "sum({c})",
    "avg": "avg({c})",
    "median": "percentile_cont(0.5) WITHIN GROUP (ORDER BY {c})",
    "min": "min({c})",
    "max": "max({c})",
}


def postgres_json(conn, query: str, params=()) -> list:
    """Each row of ``query`` as PostgreSQL's own ``row_to_json``, parsed as the tests parse the API."""
    with conn.cursor() as cursor:
        cursor.execute(SESSION)
        cursor.execute(f"SELECT row_to_json(whole_row)::text FROM ({query}) AS whole_row", params)
        return [json.loads(row[0], parse_float=Decimal) for row in cursor.fetchall()]


def typed_relations():
    """The fixture relations that hold one column of each type, and the aggregates' own table."""
    return [
        r
        for r in published_relations()
        if r.schema == "public" and (r.name.startswith("types_") or r.name == "agg_sales") and readable(r)
    ]


def _column_sql(column) -> str:
    quoted = '"' + column.name.replace('"', '""') + '"'
    return f"{quoted}::numeric" if column.base_type == "money" else quoted


def _table(relation) -> str:
    return ".".join('"' + part.replace('"', '""') + '"' for part in (relation.schema, relation.name))


def test_every_function_on_every_type_is_postgresqls_own_result_or_a_400(client, superuser_conn):
    checked = refused = 0
    for relation in typed_relations():
        for column in relation.columns:
            for name, spec in FUNCTIONS.items():
                term = f"{name}:{column.name}".replace(",", "~2C")
                response = client.get(url(relation), {"aggregate": term})
                if not spec.allowed(column):
                    assert response.status_code == 400, (relation.name, column.name, name)
                    assert json_body(response)["parameter"] == "aggregate"
                    assert spec.allowed_on in json_body(response)["detail"]
                    refused += 1
                    continue
                output = '"' + f"{name}_{column.name}".replace('"', '""') + '"'
                try:
                    expected = postgres_json(
                        superuser_conn,
                        f"SELECT {FUNCTION_SQL[name].format(c=_column_sql(column))} AS {output} "
                        f"FROM {_table(relation)}",
                    )
                except psycopg2.DataError as exc:  # e.g. a numeric past double precision's range, for median
                    superuser_conn.rollback()
                    assert response.status_code == 400, (relation.name, column.name, name, body(response)[:300])
                    assert exc.diag.message_primary in json_body(response)["detail"]
                    continue
                assert response.status_code == 200, (relation.name, column.name, name, body(response)[:300])
                assert json_body(response)["results"] == expected, (relation.name, column.name, name)
                checked += 1
    assert checked > 60 and refused > 60, (checked, refused)


def test_group_by_every_groupable_column_is_postgresqls_group_by(client, superuser_conn):
    grouped = 0
    for relation in typed_relations():
        for column in relation.columns:
            term = column.name.replace(",", "~2C")
            response = client.get(url(relation), {"group_by": term, "limit": "all"})
            if not groupable(column):
                assert response.status_code == 400, (relation.name, column.name)
                continue
            quoted = _column_sql(column)
            name = '"' + column.name.replace('"', '""') + '"'
            count = "count_" if column.name == "count" else "count"  # the clash rule
            expected = postgres_json(
                superuser_conn,
                f"SELECT {quoted} AS {name}, count(*) AS {count} FROM {_table(relation)} GROUP BY 1 ORDER BY 1",
            )
            assert json.loads(body(response), parse_float=Decimal) == expected, (relation.name, column.name)
            grouped += 1
    assert grouped > 40


def test_the_issues_example_is_one_url(client, superuser_conn):
    response = client.get(
        SALES,
        {
            "region": "north",
            "group_by": "channel,region",
            "aggregate": "count,avg:amount,max:big,median:ratio",
            "ordering": "-count",
        },
    )
    assert response.status_code == 200
    expected = postgres_json(
        superuser_conn,
        """
        SELECT channel, region, count(*) AS count, avg(amount) AS avg_amount, max(big) AS max_big,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY ratio) AS median_ratio
        FROM public.agg_sales WHERE region = 'north' GROUP BY channel, region ORDER BY count(*) DESC, channel, region""",
    )
    page = json_body(response)
    assert page["results"] == expected and page["count"] == len(expected) and page["next"] is None
    # Exact: a numeric average keeps its digits, a bigint past 2^53 stays whole.
    assert all(isinstance(row["avg_amount"], Decimal) for row in page["results"])
    assert all(row["max_big"] > 2**53 for row in page["results"])
    assert list(page["results"][0]) == ["channel", "region", "count", "avg_amount", "max_big", "median_ratio"]


def test_aggregate_alone_is_one_row_over_the_selection_and_an_empty_one_still_answers(client, superuser_conn):
    whole = json_body(client.get(SALES, {"aggregate": "count,sum:amount,min:sold_on", "open": "true"}))
    assert whole["count"] == 1 and whole["results"] == postgres_json(
        superuser_conn,
        "SELECT count(*) AS count, sum(amount) AS sum_amount, min(sold_on) AS min_sold_on "
        "FROM public.agg_sales WHERE open",
    )
    empty = json_body(client.get(SALES, {"aggregate": "count,sum:amount", "id__lt": "0"}))
    assert empty["results"] == [{"count": 0, "sum_amount": None}]
    groups = json_body(client.get(SALES, {"group_by": "region", "id__lt": "0"}))
    assert groups == {"count": 0, "next": None, "previous": None, "results": []}


def test_null_is_a_group_of_its_own_and_sorts_last(client):
    rows = json_body(client.get(SALES, {"group_by": "region"}))["results"]
    assert [r["region"] for r in rows] == ["=east", "north", "south", None]
    assert sum(r["count"] for r in rows) == 60 and rows[-1]["count"] == 15
    descending = json_body(client.get(SALES, {"group_by": "region", "ordering": "-region"}))["results"]
    assert [r["region"] for r in descending] == ["south", "north", "=east", None]


def test_filters_apply_before_grouping_and_having_after(client, superuser_conn):
    response = client.get(
        SALES,
        {
            "channel!": "web",
            "id__gt": "5",
            "group_by": "region",
            "aggregate": "count,sum:count",
            "having": ["count__gte:9", "sum_count__lt:100"],
        },
    )
    expected = postgres_json(
        superuser_conn,
        """
        SELECT region, count(*) AS count, sum("count") AS sum_count FROM public.agg_sales
        WHERE channel IS DISTINCT FROM 'web' AND id > 5 GROUP BY region
        HAVING count(*) >= 9 AND sum("count") < 100 ORDER BY region""",
    )
    assert json_body(response)["results"] == expected and 0 < len(expected) < 4


@pytest.mark.parametrize(
    "having, condition",
    [
        ("count__exact:15", "count(*) = 15"),
        ("count__gt:15", "count(*) > 15"),
        ("avg_amount__lte:12345678901234567927.51", "avg(amount) <= 12345678901234567927.51"),
        ("max_sold_on__gte:2024-10-20", "max(sold_on) >= '2024-10-20'"),
        ("avg_amount__gt:1e2", "avg(amount) > 100"),
    ],
)
def test_having_compares_in_each_aggregates_own_type(client, superuser_conn, having, condition):
    response = client.get(SALES, {"group_by": "region", "aggregate": "count,avg:amount,max:sold_on", "having": having})
    assert response.status_code == 200, body(response)
    expected = postgres_json(
        superuser_conn,
        "SELECT region, count(*) AS count, avg(amount) AS avg_amount, "
        "max(sold_on) AS max_sold_on FROM public.agg_sales GROUP BY region "
        f"HAVING {condition} ORDER BY region",
    )
    assert json_body(response)["results"] == expected


def test_ordering_by_aggregates_and_groups(client, superuser_conn):
    rows = json_body(
        client.get(
            SALES, {"group_by": "channel,open", "aggregate": "count,avg:ratio", "ordering": "-avg_ratio,channel"}
        )
    )["results"]
    expected = postgres_json(
        superuser_conn,
        """
        SELECT channel, open, count(*) AS count, avg(ratio) AS avg_ratio FROM public.agg_sales
        GROUP BY channel, open ORDER BY avg(ratio) DESC NULLS LAST, channel, open""",
    )
    assert rows == expected


@pytest.mark.parametrize(
    "part, trunc", [("year", "year"), ("month", "month"), ("week", "week"), ("day", "day"), ("hour", "hour")]
)
def test_timestamps_truncate_in_utc(client, superuser_conn, part, trunc):
    rows = json.loads(
        body(client.get(SALES, {"group_by": f"sold_at__{part}", "aggregate": "count", "limit": "all"})),
        parse_float=Decimal,
    )
    expected = postgres_json(
        superuser_conn,
        f"""
        SELECT date_trunc('{trunc}', sold_at) AS "sold_at__{part}", count(*) AS count FROM public.agg_sales
        GROUP BY 1 ORDER BY 1""",
    )
    assert rows == expected and len(rows) > 1


def test_dates_truncate_to_dates(client):
    rows = json_body(client.get(SALES, {"group_by": "sold_on__month", "limit": "3"}))["results"]
    assert rows[:2] == [{"sold_on__month": "2023-12-01", "count": 2}, {"sold_on__month": "2024-01-01", "count": 6}]
    assert json_body(client.get(SALES, {"group_by": "sold_on__year"}))["results"] == [
        {"sold_on__year": "2023-01-01", "count": 2},
        {"sold_on__year": "2024-01-01", "count": 58},
    ]


def test_an_aggregate_named_like_a_group_column_gets_an_underscore(client):
    page = json_body(client.get(SALES, {"group_by": "count", "aggregate": "count,sum:count", "ordering": "-count_"}))
    assert list(page["results"][0]) == ["count", "count_", "sum_count"]
    assert [r["count_"] for r in page["results"]] == [20, 20, 20]
    assert [r["count"] for r in page["results"]] == [0, 1, 2]  # the tie-break: the group, ascending


def test_groups_page_with_the_usual_envelope_and_stream_with_limit_all(client):
    first = client.get(SALES, {"group_by": "sold_on__month", "limit": "4"})
    page = json_body(first)
    assert page["count"] == 11 and len(page["results"]) == 4 and "count_is_estimate" not in page
    assert 'rel="next"' in first["Link"]
    collected = page["results"]
    while page["next"]:
        page = json_body(client.get(page["next"]))
        collected += page["results"]
    everything = json.loads(body(client.get(SALES, {"group_by": "sold_on__month", "limit": "all"})))
    assert collected == everything and len(everything) == 11
    lines = body(client.get(SALES, {"group_by": "sold_on__month", "limit": "all", "format": "ndjson"})).splitlines()
    assert [json.loads(line) for line in lines] == everything


def test_the_number_of_groups_follows_the_rows_count_rule(client, settings):
    settings.PORTAL = {**settings.PORTAL, "EXACT_COUNT_THRESHOLD": 5}
    small = json_body(client.get(SALES, {"group_by": "channel", "limit": "2"}))
    assert small["count"] == 3 and "count_is_estimate" not in small  # counted exactly: at most the threshold
    large = json_body(client.get(SALES, {"group_by": "id", "limit": "2"}))
    assert large["count_is_estimate"] is True and large["count"] >= 6 and large["next"]
    unfull = json_body(client.get(SALES, {"group_by": "id", "limit": "100"}))
    assert unfull["count"] == 60 and "count_is_estimate" not in unfull  # a page that is not full ends the groups


def test_csv_is_copy_output_with_formula_cells_neutralised(client, superuser_conn, settings):
    settings.PORTAL = {**settings.PORTAL, "CSV_NEUTRALISE_FORMULAS": True}
    response = client.get(SALES, {"group_by": "region", "aggregate": "count,sum:price,avg:wait", "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(body(response).decode())))
    assert rows[0] == ["region", "count", "sum_price", "avg_wait"]
    out = io.BytesIO()
    with superuser_conn.cursor() as cursor:
        cursor.execute(SESSION)
        cursor.copy_expert(
            "COPY (SELECT region, count(*), sum(price::numeric), avg(wait) FROM public.agg_sales "
            "GROUP BY region ORDER BY region) TO STDOUT WITH (FORMAT csv)",
            out,
        )
    expected = list(csv.reader(io.StringIO(out.getvalue().decode())))
    expected[0][0] = "'=east"  # a spreadsheet would run it (csvsafety.py)
    assert rows[1:] == expected
    settings.PORTAL = {**settings.PORTAL, "CSV_NEUTRALISE_FORMULAS": False}
    raw = body(client.get(SALES, {"group_by": "region", "format": "csv", "limit": "all"})).decode()
    assert raw.splitlines()[1] == "=east,15"


def test_min_and_max_of_text_are_neutralised_in_grouped_csv(client, settings):
    """min/max give one of the column's own values: a text one is a formula cell like any other
    (grouping.py ``_csv_value``); JSON keeps the exact value."""
    query = {"group_by": "channel", "aggregate": "min:region,max:region,count", "format": "csv", "limit": "all"}
    settings.PORTAL = {**settings.PORTAL, "CSV_NEUTRALISE_FORMULAS": True}
    rows = list(csv.reader(io.StringIO(body(client.get(SALES, query)).decode())))
    assert rows[0] == ["channel", "min_region", "max_region", "count"]
    cells = [cell for row in rows[1:] for cell in row[1:3]]
    assert "'=east" in cells and not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@")], cells
    settings.PORTAL = {**settings.PORTAL, "CSV_NEUTRALISE_FORMULAS": False}
    # (another URL: the page cache keeps the first answer for its URL)
    raw = list(csv.reader(io.StringIO(body(client.get(SALES, {**query, "ordering": "channel"})).decode())))
    assert [[cell.lstrip("'") for cell in row] for row in rows] == raw and "=east" in [r[1] for r in raw[1:]]
    as_json = json.loads(body(client.get(SALES, {**query, "format": "json"})))  # limit=all: a list
    assert "=east" in [r["min_region"] for r in as_json]


def test_money_aggregates_are_numbers_not_locale_text(client):
    row = json_body(client.get(SALES, {"aggregate": "sum:price,max:price,avg:price"}))["results"][0]
    assert row == {"sum_price": Decimal("2745.00"), "max_price": Decimal("90.00"), "avg_price": Decimal("45.75")}


@pytest.mark.parametrize(
    "query, parameter",
    [
        ({"group_by": "nope"}, "group_by"),
        ({"group_by": ""}, "group_by"),
        ({"group_by": "region__month"}, "group_by"),
        ({"group_by": "sold_on__hour"}, "group_by"),
        ({"group_by": "sold_at__minute"}, "group_by"),
        ({"aggregate": "sum:region"}, "aggregate"),
        ({"aggregate": "avg:channel"}, "aggregate"),
        ({"aggregate": "median:sold_on"}, "aggregate"),
        ({"aggregate": "max:open"}, "aggregate"),
        ({"aggregate": "sum:tags"}, "aggregate"),
        ({"aggregate": "total:amount"}, "aggregate"),
        ({"aggregate": "sum"}, "aggregate"),
        ({"aggregate": "sum:nope"}, "aggregate"),
        ({"aggregate": ""}, "aggregate"),
        ({"group_by": "region", "having": "count__gt:many"}, "having"),
        ({"group_by": "region", "having": "count__like:3"}, "having"),
        ({"group_by": "region", "having": "sum_amount__gt:3"}, "having"),
        ({"group_by": "region", "having": ""}, "having"),
        ({"group_by": "region", "aggregate": "avg:amount", "having": "avg_amount__gt:lots"}, None),
        ({"group_by": "region", "ordering": "amount"}, "ordering"),
        ({"group_by": "region", "fields": "region"}, "fields"),
        ({"group_by": "region", "expand": "region"}, "expand"),
        ({"group_by": "region", "cursor": "abc"}, "cursor"),
        ({"group_by": "region", "limit": "100000"}, "limit"),
        ({"group_by": "region", "region__gt!": "x", "nope": "1"}, "nope"),
    ],
)
def test_every_misuse_is_a_400_naming_its_parameter(client, query, parameter):
    response = client.get(SALES, query)
    assert response.status_code == 400, (query, body(response)[:300])
    detail = json_body(response)
    assert detail["detail"]
    if parameter:
        assert detail["parameter"] == parameter, detail


def test_a_grouped_result_has_no_geojson(client):
    points = next(r for r in published_relations() if "geojson" in formats_for(r) and readable(r))
    column = next(c for c in points.columns if groupable(c))
    response = client.get(url(points), {"group_by": column.name, "format": "geojson"})
    assert response.status_code == 406 and json_body(response)["parameter"] == "format"


def test_openapi_documents_the_grouping_parameters(client):
    document = json.loads(client.get("/api/schema/").content)
    names = {p["name"] for p in openapi_parameters(document, document["paths"]["/api/public/agg_sales/"]["get"])}
    assert {"group_by", "aggregate", "having"} <= names


_SALES_COLUMNS = [
    "id",
    "region",
    "count",
    "amount",
    "big",
    "price",
    "ratio",
    "sold_at",
    "sold_on",
    "open",
    "channel",
    "wait",
    "tags",
]
_GROUP_TERMS = st.sampled_from(_SALES_COLUMNS + ["sold_at__month", "sold_on__week", "sold_at__hour", "region__year"])
_AGGREGATE_TERMS = st.one_of(
    st.just("count"),
    st.builds(lambda f, c: f"{f}:{c}", st.sampled_from(sorted(FUNCTIONS)), st.sampled_from(_SALES_COLUMNS)),
)


@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    groups=st.lists(_GROUP_TERMS, max_size=3),
    aggregates=st.lists(_AGGREGATE_TERMS, max_size=3),
    fmt=st.sampled_from(["json", "csv", "ndjson"]),
    limit=st.sampled_from(["2", "all", "100"]),
)
def test_any_grouping_answers_200_or_400_and_its_counts_add_up_to_the_rows(client, groups, aggregates, fmt, limit):
    query = {"format": fmt, "limit": limit, "aggregate": ",".join(["count", *aggregates])}
    if groups:
        query["group_by"] = ",".join(groups)
    response = client.get(SALES, query)
    assert response.status_code in (200, 400), (query, body(response)[:300])
    if response.status_code == 400:
        assert json_body(response)["parameter"] in ("group_by", "aggregate")
        return
    data = body(response)
    if 'rel="next"' in response.get("Link", ""):
        return  # a first page: its counts are part of the whole
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(data.decode())))
    elif fmt == "ndjson" or limit == "all":
        rows = [json.loads(line) for line in data.splitlines()] if fmt == "ndjson" else json.loads(data)
    else:
        rows = json.loads(data)["results"]
    counted = "count" + "_" * ("count" in groups)
    assert sum(int(row[counted]) for row in rows) == 60, query
