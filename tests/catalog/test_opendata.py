"""Open-data metadata: DCAT-US 1.1 (``/data-1.1.json``; ``/data.json`` is DCAT-US 3.0, tested in
test_standards.py) against the DCAT-US 1.1 schema shipped beside this file, ``/sitemap.xml``, the schema.org JSON-LD of every relation page, and the metadata file."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from django.core import checks

from autoapi.public import encode_segment, formats, get_snapshot
from catalog import metadata
from tests.catalog.helpers import page_url, relation_named, text

SCHEMA = json.loads((Path(__file__).parent / "dcat_us_1_1.schema.json").read_text())
BASE = "http://testserver"
JSONLD = re.compile(r'<script type="application/ld\+json">(.*?)</script>', re.S)


def data_json(client) -> dict:
    response = client.get("/data-1.1.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    return json.loads(response.content)


def jsonld(body: str) -> dict:
    blocks = JSONLD.findall(body)
    assert len(blocks) == 1, f"{len(blocks)} JSON-LD blocks"
    return json.loads(blocks[0])


@pytest.fixture
def metadata_file(tmp_path, settings):
    """Write a metadata file and point PORTAL["METADATA_FILE"] at it; returns the writer."""

    def write(content) -> Path:
        path = tmp_path / "metadata.json"
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
        settings.PORTAL = {**settings.PORTAL, "METADATA_FILE": str(path)}
        return path

    yield write
    metadata._cache.update(key=None, data=None)


# -- /data.json ---------------------------------------------------------------------------------------


def test_data_json_validates_against_dcat_us_1_1(client):
    catalog = data_json(client)
    jsonschema.validate(catalog, SCHEMA)
    assert catalog["conformsTo"] == "https://project-open-data.cio.gov/v1.1/schema"


def test_the_schema_really_checks():
    """The shipped schema rejects what DCAT-US rejects (so a passing test above means something)."""
    dataset = {
        "title": "t",
        "description": "d",
        "keyword": ["k"],
        "modified": "2024-05-01",
        "publisher": {"name": "p"},
        "contactPoint": {"fn": "c", "hasEmail": "mailto:c@example.org"},
        "identifier": "i",
        "accessLevel": "public",
        "distribution": [{"downloadURL": "https://example.org/x.csv", "mediaType": "text/csv", "format": "CSV"}],
    }
    catalog = {
        "@context": "https://project-open-data.cio.gov/v1.1/schema/catalog.jsonld",
        "@type": "dcat:Catalog",
        "conformsTo": "https://project-open-data.cio.gov/v1.1/schema",
        "dataset": [dataset],
    }
    jsonschema.validate(catalog, SCHEMA)
    breakages = [
        lambda d: d.pop("contactPoint"),
        lambda d: d.update(keyword=[]),
        lambda d: d.update(accessLevel="open"),
        lambda d: d["contactPoint"].update(hasEmail="c@example.org"),
        lambda d: d.update(modified="last Tuesday"),
        lambda d: d["distribution"][0].pop("mediaType"),
        lambda d: d.update(license="CC-BY"),
    ]
    for breakage in breakages:
        broken = copy.deepcopy(catalog)
        breakage(broken["dataset"][0])
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCHEMA)


def test_data_json_has_every_relation_with_its_distributions(client):
    snapshot = get_snapshot()
    datasets = {d["identifier"]: d for d in data_json(client)["dataset"]}
    assert len(datasets) == len(snapshot.relations)
    for relation in snapshot.relations:
        dataset = datasets[BASE + page_url(relation)]
        assert dataset["landingPage"] == BASE + page_url(relation)
        kinds = {d["format"]: d for d in dataset["distribution"]}
        expected = {"CSV", "JSON", "NDJSON", "Parquet", "XLSX"} | (
            {"GeoJSON"} if "geojson" in formats(relation) else set()
        )
        assert set(kinds) == expected, f"{relation.schema}.{relation.name}"
        assert kinds["CSV"]["mediaType"] == "text/csv"
        assert kinds["Parquet"]["mediaType"] == "application/vnd.apache.parquet"
        assert kinds["NDJSON"]["mediaType"] == "application/x-ndjson"  # every API format, as its record says
        if "GeoJSON" in kinds:
            assert kinds["GeoJSON"]["mediaType"] == "application/geo+json"


def test_data_json_download_urls_work(client):
    relation = relation_named("public", "places_latlon")
    dataset = next(d for d in data_json(client)["dataset"] if d["identifier"] == BASE + page_url(relation))
    for distribution in dataset["distribution"]:
        response = client.get(distribution["downloadURL"].removeprefix(BASE))
        assert response.status_code == 200, distribution["downloadURL"]
        assert response["Content-Type"].startswith(distribution["mediaType"])
        if response.streaming:
            b"".join(response.streaming_content)


def test_data_json_without_a_metadata_file_says_no_contact_is_configured(client):
    dataset = data_json(client)["dataset"][0]
    assert dataset["contactPoint"]["hasEmail"].endswith(".invalid")
    assert dataset["publisher"]["name"] == "Open Data Portal"


def test_data_json_names_nothing_unreadable(client, secret_sentinels):
    body = client.get("/data.json").content.decode()
    for sentinel in secret_sentinels:
        assert sentinel not in body


# -- the metadata file -------------------------------------------------------------------------------


def test_metadata_file_feeds_data_json_jsonld_and_the_page(client, metadata_file):
    relation = relation_named("public", "big_2500")
    metadata_file(
        {
            "site": {
                "title": "Fixture City open data",
                "publisher": "Fixture City",
                "contact": {"name": "Open data team", "email": "opendata@fixture.example.org"},
                "license": "https://creativecommons.org/licenses/by/4.0/",
                "keywords": ["fixtures"],
            },
            "relations": {
                "public": {
                    "big_2500": {
                        "title": "Two thousand five hundred rows",
                        "keywords": ["paging", "numbers"],
                        "source": "https://example.org/source",
                        "modified": "2024-05-01",
                    }
                }
            },
        }
    )
    catalog = data_json(client)
    jsonschema.validate(catalog, SCHEMA)
    datasets = {d["identifier"]: d for d in catalog["dataset"]}
    dataset = datasets[BASE + page_url(relation)]
    assert dataset["title"] == "Two thousand five hundred rows"
    assert dataset["keyword"] == ["paging", "numbers"]
    assert dataset["modified"] == "2024-05-01"
    assert dataset["publisher"]["name"] == "Fixture City"
    assert dataset["contactPoint"] == {
        "@type": "vcard:Contact",
        "fn": "Open data team",
        "hasEmail": "mailto:opendata@fixture.example.org",
    }
    assert dataset["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert dataset["references"] == ["https://example.org/source"]
    other = next(d for i, d in datasets.items() if i != BASE + page_url(relation))
    assert other["keyword"] == ["fixtures"] and other["publisher"]["name"] == "Fixture City"

    body = text(client.get(page_url(relation)))
    assert re.search(r"<h1[^>]*>Two thousand five hundred rows</h1>", body)
    assert 'rel="license"' in body and "Open data team" in body
    assert "Fixture City open data" in body  # the site's title in the header
    data = jsonld(body)
    assert data["name"] == "Two thousand five hundred rows"
    assert data["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert data["publisher"]["name"] == "Fixture City"


def test_a_broken_metadata_file_is_a_check_error_and_never_a_500(client, metadata_file):
    metadata_file('{"site": {"contact": "nobody"}, "relations": {"public": {"big_2500": {"colour": "blue"}}}}')
    errors = [m for m in checks.run_checks() if m.id == "catalog.E001"]
    assert len(errors) == 1
    assert "contact must be an object" in errors[0].msg and "unknown field 'colour'" in errors[0].msg
    assert client.get("/data.json").status_code == 200
    assert client.get(page_url(relation_named("public", "big_2500"))).status_code == 200
    metadata_file("{not json")
    assert [m.id for m in checks.run_checks() if m.id.startswith("catalog.")] == ["catalog.E001"]


@pytest.mark.db  # run_checks() runs the database checks too, which connect when DATABASE_URL is set
def test_map_tile_url_is_checked(settings):
    settings.PORTAL = {**settings.PORTAL, "MAP_TILE_URL": "ftp://tiles/{z}/{x}.png"}
    errors = [m for m in checks.run_checks() if m.id == "catalog.E002"]
    assert len(errors) == 1 and "{y}" in errors[0].msg
    settings.PORTAL = {**settings.PORTAL, "MAP_TILE_URL": "https://tiles.example.org/{z}/{x}/{y}.png"}
    assert not [m for m in checks.run_checks() if m.id == "catalog.E002"]


# -- /sitemap.xml and JSON-LD --------------------------------------------------------------------------


def test_sitemap_lists_home_and_every_relation_page(client):
    response = client.get("/sitemap.xml")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    namespace = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    locations = [loc.text for loc in root.findall("s:url/s:loc", namespace)]
    snapshot = get_snapshot()
    expected = (
        {BASE + "/"}
        | {BASE + page_url(r) for r in snapshot.relations}
        | {BASE + f"/catalog/{encode_segment(s)}/" for s in snapshot.schemas}
    )  # each schema's list
    assert set(locations) == expected and len(locations) == len(expected)
    for lastmod in root.findall("s:url/s:lastmod", namespace):
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00", lastmod.text)


def test_every_relation_page_carries_a_schema_org_dataset(client):
    for relation in get_snapshot().relations:
        response = client.get(page_url(relation))
        assert response.status_code in (200, 409)
        data = jsonld(text(response))
        label = f"{relation.schema}.{relation.name}"
        assert data["@context"] == "https://schema.org" and data["@type"] == "Dataset", label
        assert data["name"] == relation.name, label
        assert data["description"], label
        assert data["url"] == BASE + page_url(relation), label
        assert {d["encodingFormat"] for d in data["distribution"]} >= {"text/csv", "application/json"}, label
        for distribution in data["distribution"]:
            assert distribution["@type"] == "DataDownload"
            assert distribution["contentUrl"].startswith(BASE + "/api/"), label
        assert [v["name"] for v in data["variableMeasured"]] == [c.name for c in relation.columns], label


def test_jsonld_cannot_be_closed_by_a_name(client):
    """A relation named <i>html</i>, or a comment holding </script>, stays inside the JSON."""
    relation = relation_named("public", "<i>html</i>")
    body = text(client.get(page_url(relation)))
    raw = JSONLD.search(body).group(1)
    assert "<" not in raw and ">" not in raw
    assert jsonld(body)["name"] == "<i>html</i>"


@pytest.mark.parametrize("script_prefix", ["/", "/portal/"])
def test_relation_page_urls_made_without_reverse_are_what_reverse_makes(client, script_prefix):
    """The whole-catalog documents make each relation page's URL from one ``reverse`` per script
    prefix (``present.relation_url_prefix``) and the relation's tilde-encoded segments; for every
    published relation (quotes, spaces, dots, slashes, dollars, unicode) it is ``reverse``'s own."""
    from django.test import RequestFactory
    from django.urls import reverse, set_script_prefix

    from autoapi.public import relation_segments
    from catalog import opendata, present

    set_script_prefix(script_prefix)
    try:
        request = RequestFactory().get("/data.json")
        for relation in get_snapshot().relations:
            schema, name = relation_segments(relation)
            expected = reverse("relation", kwargs={"schema": schema, "relation": name})
            assert expected.startswith(script_prefix)
            assert present.catalog_url(relation) == expected
            facts = opendata.dataset_facts(request, relation, None, 0.0)
            assert facts["page"] == request.build_absolute_uri(expected)
    finally:
        set_script_prefix("/")


def test_data_json_is_exactly_what_json_dumps_writes_for_it(client, metadata_file):
    """``/data.json`` is written from JSON templates filled with each relation's values
    (``common.JSONTemplate``): its bytes are exactly those ``json.dumps`` writes for the document
    it holds, with hostile text in the metadata file (quotes, backslashes, controls, a line
    separator, text shaped like a template's hole)."""
    hostile = 'Quote " back\\\\slash \\t tab \u2028 ü \x000\x00 "dataset":[] </script>'
    relation = relation_named("public", "big_2500")
    metadata_file(
        {
            "site": {"title": hostile, "description": hostile, "keywords": [hostile], "publisher": hostile},
            "relations": {
                "public": {
                    "big_2500": {
                        "title": hostile,
                        "description": hostile,
                        "source": "https://example.org/a?b=1&c=%22",
                        "contact": {"name": hostile, "email": "x@example.org"},
                    }
                }
            },
        }
    )
    response = client.get("/data.json")
    assert response.status_code == 200
    body = response.content
    catalog = json.loads(body)
    assert json.dumps(catalog, ensure_ascii=False, separators=(",", ":")).encode() == body
    assert catalog["title"] == hostile and catalog["description"] == hostile
    dataset = next(d for d in catalog["dataset"] if d["@id"] == BASE + page_url(relation))
    assert dataset["title"] == hostile and dataset["contactPoint"]["fn"] == hostile
    assert dataset["relation"] == ["https://example.org/a?b=1&c=%22"]
    assert len(catalog["dataset"]) == len(get_snapshot().relations)
