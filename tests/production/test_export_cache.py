"""The export cache under gunicorn (two workers sharing the folder): simultaneous first downloads
give one file and identical bodies, then the stored file is served with its length, byte ranges
and validators, while a filtered download stays a compressed live stream."""

from __future__ import annotations

import concurrent.futures
import gzip
import time

import psycopg2
import pytest
import requests
from django.utils.http import http_date

from tests.conftest import superuser_url
from tests.production.support import portal_server

pytestmark = pytest.mark.db  # every test here reads the fixture database

WHOLE = "/api/public/dv_http/?format=csv&limit=all"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # In a session closed at once: it flushes its statistics as it ends (an open one may keep
    # them up to 10 s, and the version would move under the test).
    run(
        "DROP TABLE IF EXISTS public.dv_http",
        "CREATE TABLE public.dv_http (id int PRIMARY KEY, label text)",
        "INSERT INTO public.dv_http SELECT g, 'label ' || g FROM generate_series(1, 20000) g",
    )
    folder = tmp_path_factory.mktemp("export-cache")
    try:
        with portal_server(
            tmp_path_factory.mktemp("logs"),
            PORTAL_EXPORT_CACHE_DIR=str(folder),
            PORTAL_RATE_LIMIT="0",
            PORTAL_CLIENT_DOWNLOADS="0",
            PORTAL_PROCESS_DOWNLOADS="0",
            PORTAL_CLIENT_REQUESTS="0",
            PORTAL_CLIENT_POOL_SHARE="0",
        ) as running:
            yield running.base_url, folder
    finally:
        run("DROP TABLE IF EXISTS public.dv_http")


def run(*statements: str) -> None:
    conn = psycopg2.connect(superuser_url())
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        conn.close()


def stored(folder):
    return [p for p in folder.iterdir() if p.suffix == ".csv"]


def wait_for_version(base: str) -> None:
    """Until the workers know the new table's data version (its answers get a data ETag)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        response = requests.get(base + "/api/public/dv_http/?limit=1", timeout=10)
        if response.status_code == 200 and response.headers.get("ETag", "").startswith('W/"dv-'):
            return
        time.sleep(0.1)
    raise AssertionError("no data-version ETag within 20 s")


def test_first_downloads_then_the_stored_file_with_ranges(server):
    base, folder = server
    wait_for_version(base)
    wait_for_version(base)  # both workers, most likely
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        bodies = list(pool.map(lambda _: requests.get(base + WHOLE, timeout=60).content, range(4)))
    assert len(set(bodies)) == 1 and bodies[0].count(b"\n") == 20001
    assert len(stored(folder)) == 1 and stored(folder)[0].read_bytes() == bodies[0]

    whole = requests.get(base + WHOLE, headers={"Accept-Encoding": "gzip"}, timeout=60)
    assert whole.headers["Content-Length"] == str(len(bodies[0])) and "Content-Encoding" not in whole.headers
    assert whole.headers["Accept-Ranges"] == "bytes" and whole.content == bodies[0]
    etag, modified = whole.headers["ETag"], whole.headers.get("Last-Modified")
    part = requests.get(base + WHOLE, headers={"Range": "bytes=1000-1999", "If-Range": etag}, timeout=60)
    assert part.status_code == 206 and part.content == bodies[0][1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(bodies[0])}"
    assert requests.get(base + WHOLE, headers={"Range": "bytes=99999999-"}, timeout=60).status_code == 416
    assert requests.get(base + WHOLE, headers={"If-None-Match": etag}, timeout=60).status_code == 304
    # Each worker dates the version from when it first saw it: a client's date from now is not
    # older than either worker's.
    # (A version's Last-Modified is its first second rounded up, given once that second began.)
    time.sleep(0 if modified else 1.1)
    assert (
        requests.get(base + WHOLE, headers={"If-Modified-Since": http_date(time.time())}, timeout=60).status_code == 304
    )


def test_a_filtered_download_stays_a_compressed_live_stream(server):
    base, folder = server
    response = requests.get(
        base + "/api/public/dv_http/?format=csv&limit=all&id__lt=100",
        headers={"Accept-Encoding": "gzip"},
        stream=True,
        timeout=60,
    )
    raw = response.raw.read()
    assert response.headers["Content-Encoding"] == "gzip" and "Accept-Ranges" not in response.headers
    assert gzip.decompress(raw).count(b"\n") == 100
