"""Helpers shared by the catalog's tests: page URLs, layout and safety assertions, and finding
fixture relations by the hazard they carry (skipping when the fixture database lacks one)."""

from __future__ import annotations

import json
import re
import time
from html import unescape

import pytest

from autoapi.public import get_snapshot, relation_segments

LAYOUT_MARKERS = ("Open Data Portal", '<main id="main"', 'href="/api/"', 'href="/static/portal.')  # portal.<hash>.css
INTEGER_TYPES = {"int2", "int4", "int8"}


# -- helpers ------------------------------------------------------------------------------------


def page_url(relation) -> str:
    schema, name = relation_segments(relation)
    return f"/catalog/{schema}/{name}/"


def text(response) -> str:
    return response.content.decode("utf-8")


def assert_in_layout(response):
    body = text(response)
    for marker in LAYOUT_MARKERS:
        assert marker in body, f"{marker!r} missing: the page is not in the site layout"
    assert "Traceback" not in body


ALLOWED_SCRIPTS = (
    re.compile(r'<script type="application/ld\+json">(.*?)</script>', re.S),  # data: parsed below
    re.compile(r'<script src="/static/[A-Za-z0-9_./-]+\.js" defer></script>'),  # the site's own files
)


def without_allowed_scripts(body: str) -> str:
    """The page without its own script tags; the JSON-LD must parse as JSON."""
    for match in ALLOWED_SCRIPTS[0].finditer(body):
        json.loads(match.group(1))
    for pattern in ALLOWED_SCRIPTS:
        body = pattern.sub("", body)
    return body


def assert_safe_html(response):
    """No value, name or comment from the database ever reaches the page unescaped, and the only
    scripts are the site's own files and JSON-LD data."""
    body = without_allowed_scripts(text(response))
    assert "<script" not in body.lower()
    assert "<i>html</i>" not in body
    assert "<b>not bold</b>" not in body


def relation_named(schema: str, name: str):
    relation = get_snapshot().get(schema, name)
    if relation is None:
        pytest.skip(f"the fixture database publishes no {schema}.{name}")
    return relation


def readable_relations(client, predicate=lambda r: True):
    """Relations whose bare page renders 200, that satisfy ``predicate`` (in snapshot order)."""
    for relation in get_snapshot().relations:
        if relation.is_populated and predicate(relation) and client.get(page_url(relation)).status_code == 200:
            yield relation


def first_readable(client, predicate, what: str):
    relation = next(readable_relations(client, predicate), None)
    if relation is None:
        pytest.skip(f"no readable relation has {what}")
    return relation


def simple_name(name: str) -> bool:
    return re.fullmatch(r"[a-z_][a-z0-9_]*", name) is not None


def preview_header_links(body: str) -> list[str]:
    """The hrefs of the preview table's column headings, unescaped."""
    match = re.search(r'<table class="preview">.*?<thead>(.*?)</thead>', body, re.S)
    assert match, "the page has no preview table"
    return [unescape(href) for href in re.findall(r'<a class="sort-link[^"]*" href="([^"]*)"', match.group(1))]


def download_links(body: str) -> dict[str, str]:
    match = re.search(r'<ul class="downloads">(.*?)</ul>', body, re.S)
    assert match, "the page has no download links"
    # By the link's format= (a label is for people: "Excel" downloads format=xlsx).
    links = re.findall(r'<a class="button" href="([^"]*)">\w+<', match.group(1))
    return {re.search(r"format=(\w+)", unescape(href)).group(1): unescape(href) for href in links}


def wait_for_relation(client, schema: str, name: str, timeout: float = 15):
    """The relation once the snapshot has it (created during the test); fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while get_snapshot().get(schema, name) is None and time.monotonic() < deadline:
        client.get("/")  # keeps the snapshot watcher running
        time.sleep(0.2)
    relation = get_snapshot().get(schema, name)
    assert relation is not None, f"{schema}.{name} never reached the snapshot"
    return relation
