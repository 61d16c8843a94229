"""Rows by key (single, text with odd characters, composite), and clean 4xx for bad input."""

from __future__ import annotations

import pytest

from autoapi.public import api_url
from tests.autoapi.helpers import json_body, published_relations, url


def relation(name, schema="public"):
    return next(r for r in published_relations() if r.name == name and r.schema == schema)


def test_single_key_row_and_missing_row(client):
    rel = relation("single_pk")
    row = json_body(client.get(api_url(rel, (1,))))
    assert row["id"] == 1
    missing = client.get(api_url(rel, (123456,)))
    assert missing.status_code == 404 and missing.json()["detail"]
    assert client.get(api_url(rel, ("not-a-number",))).status_code == 404


def test_text_keys_with_every_awkward_character(client, superuser_conn):
    rel = relation("text_pk")
    codes = [row[0] for row in superuser_conn.execute("SELECT code FROM public.text_pk")]
    assert any(ch in "".join(codes) for ch in "/,~. ")
    for code in codes:
        response = client.get(api_url(rel, (code,)))
        assert response.status_code == 200, code
        assert json_body(response)["code"] == code


def test_composite_key(client, superuser_conn):
    rel = relation("composite_pk")
    assert rel.key.columns == ("region_id", "code")
    for region_id, code, amount in superuser_conn.execute("SELECT region_id, code, amount FROM public.composite_pk"):
        row = json_body(client.get(api_url(rel, (region_id, code))))
        assert (row["region_id"], row["code"], row["amount"]) == (region_id, code, amount)
    assert client.get(url(rel) + "1/").status_code == 404  # one value for a two-column key


def test_unique_key_names_rows_when_there_is_no_primary_key(client, superuser_conn):
    rel = relation("unique_only")
    assert rel.primary_key is None and rel.key.columns == ("email",)
    email = superuser_conn.execute("SELECT email FROM public.unique_only LIMIT 1")[0][0]
    assert json_body(client.get(api_url(rel, (email,))))["email"] == email


def test_relations_without_key_are_list_only(client):
    rel = relation("no_key_dupes")
    assert rel.key is None
    response = client.get(url(rel) + "1/")
    assert response.status_code == 404 and "no primary or unique key" in response.json()["detail"]
    assert client.get(url(rel)).status_code == 200


@pytest.mark.parametrize(
    "query, parameter",
    [
        ("bogus=1", "bogus"),
        ("id__nope=1", "id__nope"),
        ("id__gt=abc", None),
        ("limit=-1", "limit"),
        ("limit=abc", "limit"),
        ("limit=100000", "limit"),
        ("offset=-5", "offset"),
        ("ordering=nope", "ordering"),
        ("format=xml", "format"),
        ("score__in=1,zz", None),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(client, query, parameter):
    response = client.get(url(relation("single_pk"), query))
    assert 400 <= response.status_code < 500
    payload = response.json()
    assert payload["detail"]
    if parameter:
        assert payload.get("parameter") == parameter
    else:
        assert payload.get("errors")


def test_geojson_without_geometry_is_406(client):
    response = client.get(url(relation("single_pk"), "format=geojson"))
    assert response.status_code == 406 and "geometry" in response.json()["detail"]


def test_invalid_values_postgresql_rejects_are_400(client):
    rel = relation("types_network_bits")
    inet_column = next(c for c in rel.columns if c.base_type == "inet")
    response = client.get(url(rel, f"{inet_column.name}=not-an-address"))
    assert response.status_code == 400
    assert "invalid" in response.json()["detail"]


def test_unknown_relations_and_bad_encodings_are_404(client):
    assert client.get("/api/public/no_such_relation/").status_code == 404
    assert client.get("/api/public/bad~ZZ/").status_code == 404
    assert client.get("/api/no_such_schema/x/").json()["detail"]


def test_filters_and_ordering_match_sql(client, superuser_conn):
    rel = relation("big_2500")
    numeric = next(c for c in rel.columns if c.base_type in ("int4", "int8", "numeric") and c.name != "id")
    ours = json_body(
        client.get(url(rel, f"{numeric.name}__gte=10&{numeric.name}__lt=500&ordering=-{numeric.name}&limit=all"))
    )
    theirs = superuser_conn.execute(
        f'SELECT id FROM public.big_2500 WHERE "{numeric.name}" >= 10 AND "{numeric.name}" < 500 ORDER BY "{numeric.name}" DESC NULLS LAST, id'
    )
    assert [row["id"] for row in ours] == [row[0] for row in theirs]


def test_pages_tell_the_truth(client):
    rel = relation("big_2500")
    first = client.get(url(rel, "limit=1000"))
    page = json_body(first)
    assert page["count"] == 2500 and len(page["results"]) == 1000
    assert page["previous"] is None and 'rel="next"' in first["Link"]
    ids = [r["id"] for r in page["results"]]
    while page["next"]:  # keyset cursors, by default
        page = json_body(client.get(page["next"]))
        ids += [r["id"] for r in page["results"]]
    assert ids == sorted(ids) and len(set(ids)) == 2500


def test_offset_pages(client):
    rel = relation("big_2500")
    page = json_body(client.get(url(rel, "limit=1000&offset=1000")))
    assert page["next"].endswith("limit=1000&offset=2000") and page["previous"].endswith("limit=1000&offset=0")
    last = json_body(client.get(url(rel, "limit=1000&offset=2000")))
    assert len(last["results"]) == 500 and last["next"] is None


def test_count_is_estimated_above_the_threshold(client, settings):
    settings.PORTAL = {**settings.PORTAL, "EXACT_COUNT_THRESHOLD": 100}
    page = json_body(client.get(url(relation("big_2500"), "limit=5")))
    assert page["count_is_estimate"] is True and page["count"] >= 101
