"""Every lookup, per type, returns exactly the rows the same condition written in SQL returns."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.autoapi.helpers import json_body, published_relations, url

# (relation, query string, the same condition in SQL); every relation here has an "id" key.
CASES = [
    # text
    ("types_text", "t=007", "t = '007'"),
    ("types_text", "t__exact=", "t = ''"),
    ("types_text", "t__iexact=null", "lower(t) = 'null'"),
    ("types_text", "t__contains=,", "strpos(t, ',') > 0"),
    ("types_text", "t__icontains=LINE", "t ILIKE '%line%'"),
    ("types_text", "t__startswith=line", "t LIKE 'line%'"),
    ("types_text", "t__endswith=spaces  ", "t LIKE '%spaces  '"),
    ("types_text", "t__regex=^[0-9]+$", "t ~ '^[0-9]+$'"),
    ("types_text", "vc__in=short,0,ünï", "vc IN ('short', '0', 'ünï')"),
    ("types_text", "t__isnull=true", "t IS NULL"),
    ("types_text", "t__isnull=false", "t IS NOT NULL"),
    ("types_text", "t__gt=line", "t > 'line'"),
    ("types_text", "t!=007", "t IS DISTINCT FROM '007'"),
    ("types_text", "t__contains!=e", "NOT coalesce(strpos(t, 'e') > 0, false)"),
    ("types_text", "search=LINE two", "t ILIKE '%line%' AND t ILIKE '%two%' OR c ILIKE '%line%' AND c ILIKE '%two%'"),
    # numbers
    ("types_numeric", "n_free__gt=1", "n_free > 1"),
    (
        "types_numeric",
        "n_big__lte=0.1000000000000000000000000000000000000001",
        "n_big <= 0.1000000000000000000000000000000000000001",
    ),
    ("types_numeric", "i8__gte=9007199254740993", "i8 >= 9007199254740993"),
    ("types_numeric", "i8=-9223372036854775808", "i8 = -9223372036854775808"),
    ("types_numeric", "n_money__range=0,100", "n_money BETWEEN 0 AND 100"),
    ("types_numeric", "f8__lt=1", "f8 < 1"),
    ("types_numeric", "i4__in=0,1,-1", "i4 IN (0, 1, -1)"),
    ("types_numeric", "i2__isnull=true", "i2 IS NULL"),
    ("types_numeric", "i4__gt!=0", "NOT coalesce(i4 > 0, false)"),
    # dates and times
    ("types_datetime", "d__gte=2000-01-01", "d >= '2000-01-01'"),
    ("types_datetime", "d__range=1900-01-01,2100-01-01", "d BETWEEN '1900-01-01' AND '2100-01-01'"),
    ("types_datetime", "tstz__lt=2020-01-01T00:00:00Z", "tstz < '2020-01-01T00:00:00Z'"),
    ("types_datetime", "ts__gt=2000-01-01T00:00:00", "ts > '2000-01-01T00:00:00'"),
    ("types_datetime", "t__lte=12:00:00", "t <= '12:00:00'"),
    ("types_datetime", "iv__gt=1 day", "iv > '1 day'"),
    # network, bits
    ("types_network_bits", "ip=10.1.2.3", "ip = '10.1.2.3'"),
    (
        "types_network_bits",
        "mac__in=ff:ff:ff:ff:ff:ff,00:00:00:00:00:00",
        "mac IN ('ff:ff:ff:ff:ff:ff', '00:00:00:00:00:00')",
    ),
    ("types_network_bits", "b__gt=10000000", "b > B'10000000'"),
    # booleans, uuid, money
    ("types_misc", "flag=true", "flag"),
    ("types_misc", "flag=f", "NOT flag"),
    ("types_misc", "flag__isnull=true", "flag IS NULL"),
    ("types_misc", "u=a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "u = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"),
    ("types_misc", "m__gt=0", "m > '0'::money"),
    # json and jsonb
    ("types_json", "jb__has_key=big", "jb ? 'big'"),
    ("types_json", 'jb__contains={"a": 2}', """jb @> '{"a": 2}'"""),
    ("types_json", "j__has_key=nested", "j::jsonb ? 'nested'"),
    ("types_json", "jb__isnull=false", "jb IS NOT NULL"),
    # arrays
    ("types_arrays", "ia__contains=1,2", "ia @> '{1,2}'"),
    ("types_arrays", "ia__overlap=3,7", "ia && '{3,7}'"),
    ("types_arrays", 'ta__contains=["a,b"]', """ta @> ARRAY['a,b']"""),
    # enum, domain, ranges, tsvector
    ("types_custom", "mood=happy", "mood = 'happy'"),
    ("types_custom", "mood__in=happy,ÜBER", "mood IN ('happy', 'ÜBER')"),
    ("types_custom", "positive__gt=100", "positive > 100"),
    ("types_custom", "tsv__search=fox", "tsv @@ websearch_to_tsquery('fox')"),
    ("types_custom", "search=quick fox", "tsv @@ websearch_to_tsquery('quick fox')"),
    ("types_ranges", "r4=[1,10)", "r4 = '[1,10)'"),
    # views, partitioned tables
    ("v_single", "score__gt=1", "score > 1"),
    ("measurements", "taken_on__gte=2024-01-01", "taken_on >= '2024-01-01'"),
]


def _relation(name):
    return next(r for r in published_relations() if r.name == name)


@pytest.mark.parametrize("name, query, where", CASES, ids=[f"{c[0]}?{c[1]}" for c in CASES])
def test_lookup_matches_sql(client, superuser_conn, name, query, where):
    relation = _relation(name)
    key, _, value = query.partition("=")
    response = client.get(url(relation, f"{quote(key, safe='_!')}={quote(value, safe='')}&limit=all"))
    assert response.status_code == 200, response.content[:300]
    ours = sorted(row["id"] for row in json_body(response))
    schema = '"' + relation.schema + '"'
    theirs = sorted(row[0] for row in superuser_conn.execute(f'SELECT id FROM {schema}."{name}" WHERE {where}'))
    assert ours == theirs


def test_every_type_has_its_lookups_offered(client):
    """The 400 for an unknown lookup lists what the column offers."""
    relation = _relation("types_json")
    payload = client.get(url(relation, "jb__gt=1")).json()
    assert payload["parameter"] == "jb__gt" and set(payload["allowed_lookups"]) == {"has_key", "contains", "isnull"}


@pytest.mark.parametrize(
    "query",
    [
        "jb__contains={not json",
        "ia__contains=[1,[2]]",
        "flag=maybe",
        "i4__isnull=perhaps",
        "d__gte=yesterday",
        "u=not-a-uuid",
        "i8__gte=1.5",
        "mood=furious-not-a-label",
        "iv__gt=fortnight",
    ],
)
def test_malformed_values_are_400(client, query):
    table = {
        "jb": "types_json",
        "ia": "types_arrays",
        "flag": "types_misc",
        "i4": "types_numeric",
        "d": "types_datetime",
        "u": "types_misc",
        "i8": "types_numeric",
        "mood": "types_custom",
        "iv": "types_datetime",
    }
    relation = _relation(table[query.split("_")[0].split("=")[0]])
    key, _, value = query.partition("=")
    response = client.get(url(relation, f"{key}={quote(value, safe='')}"))
    assert response.status_code == 400, response.content[:300]
    assert response.json()["detail"]
