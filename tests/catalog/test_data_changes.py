"""The relation page says when the data last changed (or why it cannot tell) and offers the
stored whole-relation downloads with their exact size."""

from __future__ import annotations

import pytest

from autoapi.web.registry import registry
from tests.autoapi.helpers import body
from tests.autoapi.test_dataversion import known_tag


@pytest.fixture
def table(superuser_conn, settings, tmp_path):
    settings.PORTAL = {**settings.PORTAL, "EXPORT_CACHE_DIR": str(tmp_path), "CATALOG_CACHE_SECONDS": 0}
    superuser_conn.at_teardown("DROP TABLE IF EXISTS public.dv_page CASCADE")
    superuser_conn.execute("CREATE TABLE public.dv_page (id int PRIMARY KEY, label text)")
    superuser_conn.execute("INSERT INTO public.dv_page SELECT g, 'label ' || g FROM generate_series(1, 2000) g")
    registry.refresh_now()
    known_tag("public", "dv_page")
    return tmp_path


def test_the_page_says_when_the_data_last_changed_and_offers_stored_files(client, table):
    page = client.get("/catalog/public/dv_page/").content.decode()
    assert "Data last changed" in page
    assert "when the portal first saw this data" in page or "a moment ago" in page
    assert "stored for the current data" not in page
    csv = body(client.get("/api/public/dv_page/?format=csv&limit=all"))
    page = client.get("/catalog/public/dv_page/").content.decode()
    assert f"2,000 rows, {len(csv) / 1e3:.1f} kB: stored for the current data" in page
    filtered = client.get("/catalog/public/dv_page/?id__lt=10").content.decode()
    assert "stored for the current data" not in filtered


def test_a_foreign_table_says_unknown(client):
    if registry.current().snapshot.get("public", "foreign_csv") is None:
        pytest.skip("no file_fdw on this server")
    registry.refresh_now()
    page = client.get("/catalog/public/foreign_csv/").content.decode()
    assert "unknown: a foreign table" in page
