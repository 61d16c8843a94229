"""Adding an output format is one renderer class with its record (``records.py``) and its place in
the registry (``renderers.ROW_RENDERERS``): the viewset, the API index, the catalog's downloads,
``/data.json`` and the OpenAPI document pick it up, with no other change. Shown with a
pipe-separated format made in the test."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from rest_framework import renderers as drf_renderers

from autoapi.formats import records, renderers
from autoapi.formats.rowsources import CopyRows
from autoapi.query import queries
from autoapi.web.registry import registry
from catalog import opendata
from tests.autoapi.helpers import body, json_body, openapi_parameters, published_relations, url


class PipeSeparatedRenderer(CopyRows, drf_renderers.BaseRenderer):
    """COPY's CSV with '|' between values: the whole format, framing included."""

    record = records.Format(
        "psv",
        "text/plain",
        "Pipe-separated",
        "PSV",
        "txt",
        row_bytes=records.csv_row_bytes,
        openapi_body={"type": "string"},
    )
    media_type, format, label = record.media_type, record.key, record.label
    charset = "utf-8"

    def statement(self, queryset, shape, cursor_columns=()):
        copy = queries.csv_copy(queryset, shape.columns)
        return queries.Statement(copy.sql.replace("FORMAT csv,", "FORMAT csv, DELIMITER '|',"), copy.params)

    def page_body(self, chunks, envelope):
        return b"".join(chunks)

    def stream_body(self, chunks):
        yield from chunks


@pytest.fixture
def with_pipe_format(monkeypatch):
    monkeypatch.setattr(renderers, "ROW_RENDERERS", renderers.ROW_RENDERERS + (PipeSeparatedRenderer,))
    registry.rebuild()  # viewsets take the registry as it is when a snapshot builds them
    yield
    monkeypatch.undo()
    registry.rebuild()


def test_a_new_format_is_served_listed_and_documented(client, with_pipe_format):
    relation = next(r for r in published_relations() if r.name == "big_2500")
    page = body(client.get(url(relation, "format=psv&limit=2&fields=id,label")))
    assert page == b"id|label\n1|row 0001\n2|row 0002\n"
    streamed = client.get(url(relation, "format=psv&limit=all&fields=id"))
    assert streamed.streaming and body(streamed).count(b"\n") == 2501
    # The file is named with the record's extension, not the format's key.
    assert (
        streamed["Content-Disposition"].startswith("attachment") and "big_2500.txt" in streamed["Content-Disposition"]
    )
    index = json_body(client.get("/api/"))
    entry = next(r for r in index["relations"] if r["name"] == "big_2500")
    assert entry["formats"]["psv"].endswith("?format=psv")
    document = json_body(client.get("/api/schema/"))
    operation = document["paths"]["/api/public/big_2500/"]["get"]
    assert "text/plain" in operation["responses"]["200"]["content"]
    assert "psv" in next(p for p in openapi_parameters(document, operation) if p["name"] == "format")["schema"]["enum"]
    catalog = client.get("/catalog/public/big_2500/").content.decode()
    assert "Pipe-separated" in catalog and "format=psv" in catalog
    # The open-data documents (/data.json, the page's JSON-LD) list it, as its record describes it.
    downloads = opendata.dataset_facts(RequestFactory().get("/data.json"), relation, None, 0.0)["downloads"]
    psv = next(d for d in downloads if "/api/public/big_2500/?format=psv" in d["url"])
    assert (psv["media_type"], psv["format"]) == ("text/plain", "PSV")
    assert '"encodingFormat":"text/plain"' in catalog


def test_without_it_nothing_knows_the_format(client):
    relation = next(r for r in published_relations() if r.name == "big_2500")
    assert client.get(url(relation, "format=psv")).status_code == 406
    assert "psv" not in json_body(client.get("/api/"))["relations"][0]["formats"]
