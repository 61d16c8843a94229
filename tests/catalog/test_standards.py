"""Every open-data document read back by its standard's own reader, over real HTTP from a real
gunicorn (docs/opendata.md): Data Package v2 by ``frictionless validate`` (reading the
data), CSVW by the ``csvw`` package given only the CSV's URL, Croissant 1.1 by ``mlcroissant``
(records counted against PostgreSQL), DCAT-US 3.0 against rules stated below, the Atom feed by
``feedparser`` and the JSON Feed against JSON Feed 1.1's rules. On relations with hostile names
(quotes, spaces, dollar signs, dots, slashes), varied types, and simple, composite,
self-referencing, dollar-named and cross-schema foreign keys."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import feedparser
import jsonschema
import pytest
import requests

from autoapi.public import api_url, encode_segment, get_snapshot
from tests.catalog.helpers import page_url
from tests.conftest import connect_superuser, running_server

# (schema, relation): hostile names, varied types, and every kind of foreign key of the fixtures.
RELATIONS = [
    ("sales", "orders"),  # NOT NULL, numeric, timestamptz, a foreign key to sales.customers
    ("public", "price$list"),  # dollar signs in every name, timestamptz
    ("public", "order$line"),  # a foreign key between dollar names, a column named qty%
    ("public", 'quote"d'),
    ("public", "table with spaces"),
    ("public", "dot.ted"),
    ("public", "slash/ed"),
    ("public", "case_and_mapping_collisions"),
    ("public", "fk_composite"),  # a composite foreign key
    ("public", "tree_nodes"),  # a foreign key to itself
    ("public", "fk_cross_schema"),  # to another schema
    ("public", "types_numeric"),  # NaN, Infinity, 1000-digit numerics, bigint extremes
    ("public", "types_text"),  # newlines, quotes, commas, unicode, formulas, empty strings
]
PYTHON_BIN = Path(sys.executable).parent


def relation(schema: str, name: str):
    found = get_snapshot().get(schema, name)
    assert found is not None, f"{schema}.{name} is not published"
    return found


def rows_in_postgres(schema: str, name: str) -> int:
    conn = connect_superuser()
    try:
        quoted = '"{}"."{}"'.format(schema.replace('"', '""'), name.replace('"', '""'))
        return conn.execute(f"SELECT count(*) FROM {quoted}")[0][0]
    finally:
        conn.close()


@pytest.fixture(scope="module")
def base(live_server_url):
    return live_server_url


# -- Data Package v2 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("schema,name", RELATIONS)
def test_frictionless_validates_each_relations_data_package_reading_the_data(base, schema, name):
    from frictionless import Package, validate

    url = base + api_url(relation(schema, name)) + "datapackage.json"
    report = validate(url)
    assert report.valid, report.flatten(["rowNumber", "fieldNumber", "type", "note"])
    package = Package(url)
    resource = package.resources[0]
    assert resource.schema.field_names == [c.name for c in relation(schema, name).columns]
    with resource:
        assert len(resource.read_rows()) == rows_in_postgres(schema, name)


def test_data_package_states_keys_foreign_keys_and_constraints(base):
    body = requests.get(base + api_url(relation("sales", "orders")) + "datapackage.json", timeout=30).json()
    assert body["$schema"] == "https://datapackage.org/profiles/2.0/datapackage.json"
    orders, customers = body["resources"]
    assert orders["path"] == base + api_url(relation("sales", "orders")) + "?format=csv&limit=all"
    schema = orders["schema"]
    assert schema["primaryKey"] == ["id"]
    assert schema["foreignKeys"] == [
        {"fields": ["customer_id"], "reference": {"resource": customers["name"], "fields": ["id"]}}
    ]
    fields = {f["name"]: f for f in schema["fields"]}
    assert fields["total"]["type"] == "number" and fields["total"]["constraints"] == {"required": True}
    assert fields["ordered_at"]["type"] == "datetime"
    tree = requests.get(base + api_url(relation("public", "tree_nodes")) + "datapackage.json", timeout=30).json()
    assert tree["resources"][0]["schema"]["foreignKeys"] == [{"fields": ["parent_id"], "reference": {"fields": ["id"]}}]


def test_frictionless_cli_validates_a_whole_schemas_data_package(base):
    url = f"{base}/api/sales/datapackage.json"
    done = subprocess.run(
        [str(PYTHON_BIN / "frictionless"), "validate", "--json", url], capture_output=True, text=True, timeout=300
    )
    report = json.loads(done.stdout)
    assert report["valid"], done.stdout[-3000:]
    names = {t["name"] for t in report["tasks"]}
    assert len(names) == len([r for r in get_snapshot().relations if r.schema == "sales"])


def test_out_of_range_dates_are_the_documented_limit(base):
    """infinity, BC dates and years past 9999 fit no standard's date type (docs/opendata.md): frictionless
    reports exactly those cells, and nothing else of types_datetime."""
    from frictionless import validate

    report = validate(base + api_url(relation("public", "types_datetime")) + "datapackage.json")
    errors = report.flatten(["rowNumber", "fieldName", "type", "cell"])
    assert errors and {e[2] for e in errors} == {"type-error"}
    assert {e[1] for e in errors} <= {"d", "ts", "tstz"}
    assert all(re.search(r"infinity|BC|^10000", str(e[3])) for e in errors), errors


# -- CSV on the Web ---------------------------------------------------------------------------------


@pytest.mark.parametrize("schema,name", RELATIONS)
def test_csvw_finds_the_metadata_from_the_csv_url_alone_and_every_row_is_valid(base, schema, name):
    from csvw import CSVW

    found = relation(schema, name)
    csv_url = base + api_url(found) + "?format=csv&limit=all"
    # strict=False: the csvw package's strict mode (its own, beyond CSVW) refuses a NULL foreign key,
    # which PostgreSQL allows (MATCH SIMPLE); referential integrity is checked all the same.
    reader = CSVW(csv_url, validate=True, strict=False)
    assert not reader.no_metadata, "the Link header did not lead to the metadata"
    # csvw warns once for every Link that is not a describedby (here RFC 8631's service-desc, which
    # every list answer carries): a note about the header, not a finding about the data.
    reader.warnings = [w for w in reader.warnings if "Ignoring linked metadata" not in str(w.message)]
    assert reader.is_valid, reader.warnings
    table = reader.tables[0]
    assert str(table.url) == csv_url
    assert [c.titles.getfirst() if c.titles else None for c in table.tableSchema.columns] == [
        c.name for c in found.columns
    ]
    assert sum(1 for _ in table.iterdicts()) == rows_in_postgres(schema, name)


def test_csv_answers_carry_the_describedby_link(base):
    found = relation("public", "price$list")
    for method in (requests.get, requests.head):
        response = method(base + api_url(found) + "?format=csv&limit=all", timeout=30)
        assert response.status_code == 200
        # Beside it, RFC 8631's service-desc link that every list answer carries (issue 23).
        links = [part.strip() for part in response.headers["Link"].split(", <")]
        assert f'{api_url(found)}csv-metadata.json>; rel="describedby"; type="application/csvm+json"' in [
            part.removeprefix("<") for part in links
        ]
    reshaped = requests.get(base + api_url(found) + "?format=csv&fields=id$", timeout=30)
    assert "describedby" not in reshaped.headers.get("Link", "")
    assert (
        "Link" not in requests.get(base + api_url(found) + "?format=json", timeout=30).headers
        or "describedby" not in requests.get(base + api_url(found) + "?format=json", timeout=30).headers["Link"]
    )


# -- Croissant 1.1 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("schema,name", RELATIONS)
def test_mlcroissant_loads_the_croissant_and_yields_every_record(base, schema, name, tmp_path, monkeypatch):
    import mlcroissant

    monkeypatch.setenv("CROISSANT_CACHE", str(tmp_path))
    found = relation(schema, name)
    csv = requests.get(base + api_url(found) + "?format=csv&limit=all", timeout=60)  # stored from now on
    assert csv.status_code == 200
    url = base + api_url(found) + "croissant.json"
    document = requests.get(url, timeout=30).json()
    assert document["conformsTo"] == "http://mlcommons.org/croissant/1.1"
    csv_file = next(f for f in document["distribution"] if f["@id"] == "csv")
    if "sha256" in csv_file:  # the stored file's (it may be evicted or rewritten meanwhile)
        assert (
            csv_file["sha256"] == hashlib.sha256(requests.get(csv_file["contentUrl"], timeout=60).content).hexdigest()
        )
    dataset = mlcroissant.Dataset(jsonld=url)
    records = list(dataset.records(record_set="rows"))
    assert len(records) == rows_in_postgres(schema, name)
    assert len(records[0]) == len(found.columns)


def test_croissant_checksums_come_from_the_stored_download(base):
    found = relation("sales", "customers")
    url = base + api_url(found) + "croissant.json"
    first = requests.get(url, timeout=30).json()
    parquet = next(f for f in first["distribution"] if f["@id"] == "parquet")
    if "sha256" not in parquet:  # not stored yet: the dataset is declared live, no checksum
        assert first["isLiveDataset"] is True
    body = requests.get(parquet["contentUrl"], timeout=60).content
    again = requests.get(url, timeout=30).json()
    parquet = next(f for f in again["distribution"] if f["@id"] == "parquet")
    assert parquet["sha256"] == hashlib.sha256(body).hexdigest()
    assert parquet["contentSize"] == f"{len(body)} B"


# -- DCAT-US 3.0 -------------------------------------------------------------------------------------

DATE = {
    "anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "string", "format": "date"},
        {"type": "string", "pattern": "^[0-9]{4}(-[0-9]{2})?$"},
    ]
}
STANDARD = {"type": "object", "required": ["@type", "@id"], "properties": {"@type": {"const": "Standard"}}}
DISTRIBUTION = {
    "type": "object",
    "required": ["@type", "mediaType"],
    "properties": {
        "@type": {"const": "Distribution"},
        "downloadURL": {"type": "string", "format": "uri"},
        "mediaType": {"type": "string", "pattern": r"^[a-z]+/[a-z0-9.+-]+$"},
        "conformsTo": {"type": "array", "items": STANDARD},
        "title": {"type": "string"},
    },
}
# DCAT-US 3.0's rules that /data.json must meet, stated here from GSA/dcat-us jsonschema/
# (Catalog.json: dataset required; definitions/Dataset.json: title, description, identifier,
# publisher and contactPoint required; Organization: name; Kind: fn and hasEmail with its mailto:
# pattern; Identifier, Document (title required), Distribution, Standard as objects).
DCAT_US_3 = {
    "type": "object",
    "required": ["@type", "dataset", "conformsTo"],
    "properties": {
        "@type": {"const": "Catalog"},
        "conformsTo": {
            "type": "object",
            "required": ["@type", "@id"],
            "properties": {
                "@type": {"const": "Standard"},
                "@id": {"const": "https://resources.data.gov/dcat-us/3.0.0/catalog"},
            },
        },
        "dataset": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["@type", "title", "description", "identifier", "publisher", "contactPoint"],
                "properties": {
                    "@type": {"const": "Dataset"},
                    "title": {"type": "string", "minLength": 1},
                    "description": {"type": "string", "minLength": 1},
                    "identifier": {
                        "type": "object",
                        "required": ["@type", "notation"],
                        "properties": {"@type": {"const": "Identifier"}, "notation": {"type": "string"}},
                    },
                    "publisher": {
                        "type": "object",
                        "required": ["@type", "name"],
                        "properties": {"@type": {"const": "Organization"}, "name": {"type": "string", "minLength": 1}},
                    },
                    "contactPoint": {
                        "type": "object",
                        "required": ["@type", "fn", "hasEmail"],
                        "properties": {
                            "@type": {"const": "Kind"},
                            "fn": {"type": "string"},
                            "hasEmail": {
                                "type": "string",
                                "pattern": r"^mailto:[\w\_\~\!\$\&\'\(\)\*\+\,\;\=\:.-]+@[\w.-]+\.[\w.-]+?$",
                            },
                        },
                    },
                    "keyword": {"type": "array", "items": {"type": "string", "minLength": 1}},
                    "modified": DATE,
                    "landingPage": {
                        "type": "object",
                        "required": ["@type", "title"],
                        "properties": {"@type": {"const": "Document"}},
                    },
                    "distribution": {"type": "array", "items": DISTRIBUTION},
                    "describedBy": DISTRIBUTION,
                    "accessRights": {"type": "string"},
                },
            },
        },
    },
}


def test_data_json_meets_dcat_us_3_rules_and_links_the_other_standards(base):
    catalog = requests.get(base + "/data.json", timeout=60).json()
    jsonschema.validate(catalog, DCAT_US_3, format_checker=jsonschema.FormatChecker())
    datasets = {d["@id"]: d for d in catalog["dataset"]}
    assert len(datasets) == len(get_snapshot().relations)
    found = relation("public", "price$list")
    dataset = datasets[base + page_url(found)]
    assert dataset["describedBy"]["downloadURL"] == base + api_url(found) + "datapackage.json"
    csv = next(d for d in dataset["distribution"] if d["mediaType"] == "text/csv")
    assert csv["describedBy"]["downloadURL"] == base + api_url(found) + "csv-metadata.json"
    assert csv["describedBy"]["conformsTo"][0]["@id"] == "http://www.w3.org/ns/csvw"
    for linked in (dataset["describedBy"]["downloadURL"], csv["describedBy"]["downloadURL"], csv["downloadURL"]):
        assert requests.get(linked, timeout=60).status_code == 200
    old = requests.get(base + "/data-1.1.json", timeout=60).json()
    assert old["conformsTo"] == "https://project-open-data.cio.gov/v1.1/schema"


def test_the_dcat_us_3_rules_really_check(base):
    catalog = requests.get(base + "/data.json", timeout=60).json()
    broken = json.loads(json.dumps(catalog))
    broken["dataset"][0]["contactPoint"]["hasEmail"] = "nobody"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, DCAT_US_3)
    del catalog["dataset"][0]["publisher"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(catalog, DCAT_US_3)


# -- bad input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/changes.atom?before=abc",
        "/changes.json?before=-1",
        "/changes.json?before=0",
        "/changes.atom?before=99999999999999999999999",
        "/changes.atom?page=2",
        "/changes.atom?before=%C2%B2",
        "/changes.json?before=" + "9" * 25,
        "/changes.json?before=1.5",
        "/changes.json?before=1&before=2",
    ],
)
def test_bad_feed_parameters_are_a_400(base, path):
    """A page on the catalog's feeds (outside /api/), the API's JSON naming the parameter under it."""
    response = requests.get(base + path, timeout=30)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")
    found = relation("sales", "orders")
    path = api_url(found) + path.lstrip("/")
    response = requests.get(base + path, timeout=30)
    assert response.status_code == 400, path
    assert response.json()["parameter"] in ("before", "page")


@pytest.mark.parametrize("path", ["/changes/?before=x", "/changes/?what=1"])
def test_bad_recent_changes_parameters_are_a_400_page(base, path):
    response = requests.get(base + path, timeout=30)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "path",
    [
        "/api/nowhere/datapackage.json",
        "/api/public/nowhere/croissant.json",
        "/api/public/secret_table/csv-metadata.json",
        "/api/public/secret_table/changes.atom",
        "/api/public/nowhere/datapackage.json",
    ],
)
def test_unpublished_relations_have_no_documents(base, path):
    response = requests.get(base + path, timeout=30)
    assert response.status_code == 404
    assert "secret_table" not in response.text


# -- the catalog -------------------------------------------------------------------------------------


def test_relation_pages_link_every_document_and_feed(base):
    found = relation("public", "price$list")
    body = requests.get(base + page_url(found), timeout=30).text
    for document, media_type in (
        ("datapackage.json", "application/json"),
        ("csv-metadata.json", "application/csvm+json"),
        ("croissant.json", "application/ld+json"),
        ("changes.atom", "application/atom+xml"),
        ("changes.json", "application/feed+json"),
    ):
        href = api_url(found) + document
        assert re.search(
            rf'<link rel="alternate" type="{re.escape(media_type)}"[^>]* href="{re.escape(href)}">', body
        ), document
        assert f'<a href="{href}">' in body, document
    assert '<h3 id="metadata">Metadata</h3>' in body and 'id="changes-title"' in body
    home = requests.get(base + "/", timeout=30).text
    assert '<link rel="alternate" type="application/atom+xml"' in home and 'href="/changes.atom"' in home
    page = requests.get(base + "/changes/", timeout=30)
    assert page.status_code == 200 and "<h1>Recent changes</h1>" in page.text
    assert "<script>" not in page.text and "style=" not in page.text  # nothing the CSP would block


# -- the change feed ---------------------------------------------------------------------------------


def wait_for(check, timeout: float = 15.0, what: str = "a change"):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not show within {timeout} s")
        time.sleep(0.25)


def atom_entries(url: str) -> list:
    parsed = feedparser.parse(requests.get(url, timeout=30).content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed.entries


def json_feed(url: str) -> dict:
    response = requests.get(url, timeout=30)
    assert response.headers["Content-Type"].startswith("application/feed+json")
    feed = response.json()
    # JSON Feed 1.1's rules: version, title, items; each item an id and content_html or content_text.
    assert feed["version"] == "https://jsonfeed.org/version/1.1" and feed["title"] and isinstance(feed["items"], list)
    for item in feed["items"]:
        assert isinstance(item["id"], str) and item["id"] and ("content_text" in item or "content_html" in item)
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", item["date_published"])
        assert all(
            k.startswith("_")
            for k in item
            if k
            not in {
                "id",
                "url",
                "external_url",
                "title",
                "content_html",
                "content_text",
                "summary",
                "image",
                "banner_image",
                "date_published",
                "date_modified",
                "authors",
                "tags",
                "language",
                "attachments",
            }
        )
    return feed


@pytest.fixture
def change_server(tmp_path_factory):
    """A gunicorn of two workers with a change log of its own, and how to start it again."""
    log_dir = tmp_path_factory.mktemp("changes")
    env = {"PORTAL_CHANGE_LOG_DIR": str(log_dir / "log"), "PORTAL_REFRESH_INTERVAL": "0.3"}

    def start():
        return running_server(tmp_path_factory.mktemp("change_server"), env_overrides=env)

    with start() as url:
        # A process's schema watcher starts with its first request, and its first check only stores
        # the state: wait for that before changing anything.
        wait_for(
            lambda: requests.get(url + "/changes.atom", timeout=30).ok and list((log_dir / "log").glob("*.sqlite3")),
            what="the change log",
        )
        time.sleep(1)
        yield url, start


@pytest.mark.db
def test_schema_and_data_changes_show_in_both_feeds_from_every_process_and_after_a_restart(change_server):
    url, start = change_server
    name = f'std feed "{uuid.uuid4().hex[:8]}" <&> $1'  # every character a feed must escape
    hidden = f"std_hidden_{uuid.uuid4().hex[:8]}"
    conn = connect_superuser()
    try:
        quoted = '"' + name.replace('"', '""') + '"'
        conn.execute(f"CREATE TABLE public.{quoted} (id integer PRIMARY KEY, label text)")
        conn.execute(f'CREATE TABLE public."{hidden}" (id integer PRIMARY KEY, secret text)')
        conn.execute(f'REVOKE ALL ON public."{hidden}" FROM portal_reader')
        published = wait_for(
            lambda: [e for e in atom_entries(url + "/changes.atom") if e.title.startswith(f"public.{name} published")],
            what="the new relation",
        )
        conn.execute(f'ALTER TABLE public.{quoted} ADD COLUMN "odd $ name" numeric')
        relation_path = f"/api/public/{encode_segment(name)}/"
        added = wait_for(
            lambda: [
                e
                for e in atom_entries(url + relation_path + "changes.atom")
                if "column odd $ name added (numeric)" in e.title
            ],
            what="the added column",
        )
        conn.execute(f"INSERT INTO public.{quoted} SELECT g, g::text, g FROM generate_series(1, 25) AS g")
        data = wait_for(
            lambda: [
                e
                for e in atom_entries(url + relation_path + "changes.atom")
                if e.title.startswith(f"public.{name}: new data")
            ],
            timeout=30,
            what="the new data",
        )
        feed = json_feed(url + "/changes.json")
        ids = {item["id"] for item in feed["items"]}
        assert {published[0].id, added[0].id, data[0].id} <= ids
        assert data[0].title == f"public.{name}: new data (25 rows)" or "25 after" in data[0].title
        # Every request may land on either worker: each answers the same entries.
        seen = {tuple(e.id for e in atom_entries(url + "/changes.atom")) for _ in range(12)}
        assert len(seen) == 1
        assert hidden not in requests.get(url + "/changes.json", timeout=30).text
        assert hidden not in requests.get(url + "/changes/", timeout=30).text
        conn.execute(f"DROP TABLE public.{quoted}")
        wait_for(
            lambda: [
                e
                for e in atom_entries(url + "/changes.atom")
                if e.title == f"public.{name} withdrawn: no longer published"
            ],
            what="the withdrawal",
        )
        # The withdrawal is written by the first worker to see the drop; the other follows within
        # its own refresh (each process keeps its snapshot): then every answer is a 404.
        wait_for(
            lambda: all(
                requests.get(url + relation_path + "changes.atom", timeout=30).status_code == 404 for _ in range(6)
            ),
            timeout=5,
            what="the withdrawn relation's feed answering 404 from both workers",
        )
        before_restart = [e.id for e in atom_entries(url + "/changes.atom")]
    finally:
        conn.execute(f"DROP TABLE IF EXISTS public.{quoted}")
        conn.execute(f'DROP TABLE IF EXISTS public."{hidden}"')
        conn.close()
    with start() as again:
        after = [e.id for e in atom_entries(again + "/changes.atom")]
        assert before_restart == after[: len(before_restart)] or set(before_restart) <= set(after)


def test_openapi_documents_the_documents_and_feeds(base):
    from openapi_spec_validator import validate

    document = requests.get(base + "/api/schema/", timeout=60).json()
    validate(document)
    for path in (
        "/api/{schema}/datapackage.json",
        "/api/{schema}/{relation}/datapackage.json",
        "/api/{schema}/{relation}/csv-metadata.json",
        "/api/{schema}/{relation}/croissant.json",
        "/api/{schema}/{relation}/changes.atom",
        "/api/{schema}/{relation}/changes.json",
        "/changes.atom",
        "/changes.json",
        "/data.json",
        "/data-1.1.json",
    ):
        assert path in document["paths"], path


def test_every_document_follows_the_live_schema(base, superuser_conn):
    superuser_conn.execute('CREATE TABLE public."std live$" (id integer PRIMARY KEY)')
    superuser_conn.at_teardown('DROP TABLE IF EXISTS public."std live$"')
    path = f"/api/public/{encode_segment('std live$')}/"
    wait_for(lambda: requests.get(base + path + "datapackage.json", timeout=30).ok, what="the new relation")
    superuser_conn.execute('ALTER TABLE public."std live$" ADD COLUMN "new ""col""" date NOT NULL DEFAULT now()')

    def everywhere():
        documents = [
            path + "datapackage.json",
            path + "csv-metadata.json",
            path + "croissant.json",
            "/api/public/datapackage.json",
        ]
        bodies = [requests.get(base + d, timeout=60).text for d in documents]
        return all('new \\"col\\"' in b for b in bodies)

    wait_for(everywhere, what="the new column in every document")
    package = requests.get(base + path + "datapackage.json", timeout=30).json()
    assert package["resources"][0]["schema"]["fields"][1] == {
        "name": 'new "col"',
        "type": "date",
        "constraints": {"required": True},
    }
