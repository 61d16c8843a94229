"""The answer cache (autoapi/web/responsecache.py): a page is reused for a few seconds under its
snapshot and URL, never across a schema change, and never for errors."""

from __future__ import annotations

import pytest

from autoapi.web.responsecache import pages


@pytest.fixture
def cache_on(settings):
    settings.PORTAL = {**settings.PORTAL, "CATALOG_CACHE_SECONDS": 30, "API_CACHE_SECONDS": 30}
    pages.clear()
    yield
    pages.clear()


def count_shown(client, path: str) -> str:
    return client.get(path).content.decode()


@pytest.fixture
def probe_table(superuser_conn):
    """public.cache_probe with one row (1, 'first-label'), published; dropped afterwards."""
    from autoapi.web.registry import registry

    superuser_conn.execute("CREATE TABLE public.cache_probe (id integer PRIMARY KEY, label text)")
    superuser_conn.at_teardown("DROP TABLE IF EXISTS public.cache_probe")
    superuser_conn.execute("INSERT INTO public.cache_probe VALUES (1, 'first-label')")
    registry.refresh_now()
    return registry


def test_a_page_is_reused_until_the_schema_changes(client, superuser_conn, cache_on, probe_table):
    registry = probe_table
    path = "/catalog/public/cache_probe/"
    assert "first-label" in count_shown(client, path)
    superuser_conn.execute("UPDATE public.cache_probe SET label = 'second-label'")
    assert "first-label" in count_shown(client, path)  # the same page, from the cache
    assert "second-label" in count_shown(client, path + "?limit=5")  # another URL is another page
    superuser_conn.execute("COMMENT ON TABLE public.cache_probe IS 'a schema change'")
    registry.refresh_now()
    assert "second-label" in count_shown(client, path)  # a new snapshot: a new page


def test_errors_and_other_methods_are_never_cached(client, cache_on):
    bad = "/catalog/public/big_2500/?id__gt=not-a-number"
    assert client.get(bad).status_code == 400
    assert len(pages._pages) == 0
    assert client.get("/catalog/public/big_2500/").status_code == 200
    assert len(pages._pages) == 1
    assert client.post("/catalog/public/big_2500/").status_code == 405


def test_off_by_setting(client, settings):
    settings.PORTAL = {**settings.PORTAL, "CATALOG_CACHE_SECONDS": 0}
    pages.clear()
    client.get("/catalog/public/big_2500/")
    assert len(pages._pages) == 0


def test_api_pages_are_reused_per_url_and_format_but_downloads_never(client, superuser_conn, cache_on, probe_table):
    path = "/api/public/cache_probe/"
    first = client.get(path)
    assert first.json()["results"] == [{"id": 1, "label": "first-label"}]
    superuser_conn.execute("UPDATE public.cache_probe SET label = 'two'")
    again = client.get(path)
    assert again.json()["results"] == [{"id": 1, "label": "first-label"}]  # reused
    assert again["Content-Type"] == first["Content-Type"] and again["Vary"] == first["Vary"]
    assert b"two" in client.get(path + "?format=csv").content  # another format is another answer
    stream = client.get(path + "?limit=all")
    assert stream.streaming and b"two" in b"".join(stream.streaming_content)
    assert all("limit=all" not in key[1] for key in pages._pages)
