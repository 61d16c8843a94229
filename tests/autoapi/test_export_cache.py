"""Data-version validators (autoapi/web/validators.py) and the export cache (autoapi/freshness/exportcache.py):
304s that cost no query, stored whole-relation downloads with Range, one writer, no cut file,
the size cap."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from autoapi.formats import exports
from autoapi.web.registry import registry
from tests.autoapi.helpers import body
from tests.autoapi.test_dataversion import changes, known_tag

WHOLE = "/api/public/dv_t/?format=csv&limit=all"


@pytest.fixture
def cache_dir(settings, tmp_path):
    settings.PORTAL = {**settings.PORTAL, "EXPORT_CACHE_DIR": str(tmp_path), "API_CACHE_SECONDS": 0}
    return tmp_path


@pytest.fixture
def table(superuser_conn, cache_dir):
    superuser_conn.at_teardown("DROP TABLE IF EXISTS public.dv_t CASCADE")
    superuser_conn.execute("CREATE TABLE public.dv_t (id int PRIMARY KEY, label text)")
    superuser_conn.execute("INSERT INTO public.dv_t SELECT g, repeat('x', 100) || g FROM generate_series(1, 5000) g")
    registry.refresh_now()
    known_tag("public", "dv_t")
    return superuser_conn


@contextlib.contextmanager
def no_queries(monkeypatch):
    """Fails the test on any query: on this thread's published connection, or a download's own."""

    def refuse(*args, **kwargs):
        raise AssertionError("a download connection was opened")

    with monkeypatch.context() as patched:
        patched.setattr(exports, "_connect", refuse)
        with CaptureQueriesContext(connections["published"]) as captured:
            yield captured
    assert [q["sql"] for q in captured.captured_queries] == []


def stored_files(folder):
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix not in (".lock", ".meta"))


def test_a_page_gets_validators_and_a_304_costs_no_query(client, table, monkeypatch):
    first = client.get("/api/public/dv_t/?limit=5")
    etag, modified = first["ETag"], first.get("Last-Modified")
    assert etag.startswith('W/"dv-')
    gzip = client.get("/api/public/dv_t/?limit=5", HTTP_ACCEPT_ENCODING="gzip")
    assert gzip["ETag"] != etag  # one tag per content coding
    with CaptureQueriesContext(connections["published"]) as captured:
        again = client.get("/api/public/dv_t/?limit=5", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag
    assert captured.captured_queries == []
    if modified:
        assert client.get("/api/public/dv_t/?limit=5", HTTP_IF_MODIFIED_SINCE=modified).status_code == 304
    changes("public", "dv_t", "UPDATE public.dv_t SET label = 'new' WHERE id = 1")
    fresh = client.get("/api/public/dv_t/?limit=5", HTTP_IF_NONE_MATCH=etag)
    assert fresh.status_code == 200 and b"new" in body(fresh)


def test_a_whole_download_is_stored_once_then_served_with_ranges(client, table, cache_dir, monkeypatch):
    live = client.get(WHOLE)
    live_body = body(live)
    live.close()
    assert stored_files(cache_dir) != []
    with no_queries(monkeypatch):
        _served_from_the_file(client, live_body)


def _served_from_the_file(client, live_body: bytes):
    stored = client.get(WHOLE)
    assert stored.status_code == 200 and stored["Content-Length"] == str(len(live_body))
    assert stored["Accept-Ranges"] == "bytes" and stored["ETag"].startswith('"')
    assert body(stored) == live_body
    part = client.get(WHOLE, HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 100-199/{len(live_body)}"
    assert body(part) == live_body[100:200]
    assert body(client.get(WHOLE, HTTP_RANGE="bytes=-10")) == live_body[-10:]
    over = client.get(WHOLE, HTTP_RANGE=f"bytes={len(live_body)}-")
    assert over.status_code == 416 and over["Content-Range"] == f"bytes */{len(live_body)}"
    moved = client.get(WHOLE, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"another"')
    assert moved.status_code == 200 and body(moved) == live_body
    assert client.get(WHOLE, HTTP_IF_NONE_MATCH=stored["ETag"]).status_code == 304
    compressed = client.get(WHOLE, HTTP_ACCEPT_ENCODING="gzip")
    assert not compressed.has_header("Content-Encoding") and body(compressed) == live_body


def test_a_change_gives_a_fresh_file(client, table, cache_dir):
    before = body(client.get(WHOLE))
    old_tag = client.get(WHOLE)["ETag"]
    changes("public", "dv_t", "DELETE FROM public.dv_t WHERE id > 10")
    fresh = client.get(WHOLE, HTTP_IF_NONE_MATCH=old_tag)
    assert fresh.status_code == 200
    after = body(fresh)
    assert after != before and after.count(b"\n") == 11
    assert body(client.get(WHOLE)) == after
    assert len(stored_files(cache_dir)) == 1  # the older version's file is gone


def test_only_the_whole_relation_is_stored(client, table, cache_dir):
    for query in ("format=csv&limit=all&id__lt=5", "format=csv&limit=all&ordering=-id", "format=csv&limit=10"):
        body(client.get(f"/api/public/dv_t/?{query}"))
    assert stored_files(cache_dir) == []
    body(client.get("/api/public/dv_t/?limit=all", HTTP_ACCEPT="application/x-ndjson"))
    assert [name.rsplit(".", 1)[1] for name in stored_files(cache_dir)] == ["ndjson"]


def test_a_client_that_leaves_mid_way_leaves_no_file(client, table, cache_dir):
    response = client.get(WHOLE)
    stream = iter(response.streaming_content)
    next(stream)
    response.close()  # what the server does when the client goes away
    assert stored_files(cache_dir) == []
    assert not [p for p in cache_dir.iterdir() if p.name.startswith(".part-")]


def test_concurrent_first_downloads_make_one_file_and_identical_bodies(client, table, cache_dir):
    bodies, errors = [], []

    def download():
        try:
            response = client.get(WHOLE)
            bodies.append(body(response))
            response.close()
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=download) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(set(bodies)) == 1
    assert len(stored_files(cache_dir)) == 1
    assert (cache_dir / stored_files(cache_dir)[0]).read_bytes() == bodies[0]


def test_the_size_cap_evicts_the_least_recently_served(client, table, cache_dir, settings):
    body(client.get(WHOLE))
    first = stored_files(cache_dir)
    size = (cache_dir / first[0]).stat().st_size
    settings.PORTAL = {**settings.PORTAL, "EXPORT_CACHE_MB": 1}
    assert size < 1024 * 1024 < 3 * size  # the fixture's CSV is over a third of a MiB
    body(client.get("/api/public/dv_t/?format=json&limit=all"))
    body(client.get("/api/public/dv_t/?format=ndjson&limit=all"))
    kept = stored_files(cache_dir)
    assert first[0] not in kept and any(name.endswith(".ndjson") for name in kept)


def test_processes_date_a_version_alike_and_keep_the_date_across_restarts(table, cache_dir):
    """Two readers of the versions (two workers, or one before and after a restart) sharing the
    folder give a version the same first-seen second (autoapi/freshness/versionclock.py)."""
    from autoapi.freshness.dataversion import DataVersions

    snapshot = registry.current().snapshot
    found = snapshot.get("public", "dv_t")
    with connections["published"].cursor() as cursor:
        first = DataVersions()
        first.refresh(cursor, snapshot)
        time.sleep(1.1)  # a later process would date it a second later on its own
        second = DataVersions()
        second.refresh(cursor, snapshot)
    assert first.get(found).tag == second.get(found).tag
    assert first.get(found).observed == second.get(found).observed is not None


def test_a_download_the_database_cuts_leaves_no_file(client, superuser_conn, cache_dir):
    superuser_conn.at_teardown("DROP VIEW IF EXISTS public.dv_fails")
    superuser_conn.execute(
        "CREATE VIEW public.dv_fails AS SELECT g AS id, repeat('x', 100) AS pad, "
        "1 / (60000 - g) AS boom FROM generate_series(1, 100000) AS g"
    )
    registry.refresh_now()
    known_tag("public", "dv_fails")
    response = client.get("/api/public/dv_fails/?format=csv&limit=all")
    assert response.status_code == 200
    with pytest.raises(Exception, match="division by zero"):
        for _chunk in response.streaming_content:
            pass
    response.close()
    assert stored_files(cache_dir) == []
    assert not [p for p in cache_dir.iterdir() if p.name.startswith(".part-")]


def test_a_download_larger_than_the_cap_stops_being_written_at_once(client, superuser_conn, cache_dir, settings):
    """EXPORT_CACHE_MB bounds the temporary file too: past it, the file is gone while the client's
    download goes on, whole, live."""
    superuser_conn.at_teardown("DROP TABLE IF EXISTS public.dv_big")
    superuser_conn.execute("CREATE TABLE public.dv_big (id int PRIMARY KEY, label text)")
    superuser_conn.execute("INSERT INTO public.dv_big SELECT g, repeat('y', 100) || g FROM generate_series(1, 40000) g")
    registry.refresh_now()
    known_tag("public", "dv_big")
    settings.PORTAL = {**settings.PORTAL, "EXPORT_CACHE_MB": 1}
    response = client.get("/api/public/dv_big/?format=csv&limit=all")
    received, largest_part = [], 0
    for chunk in response.streaming_content:
        received.append(chunk)
        parts = [p.stat().st_size for p in cache_dir.iterdir() if p.name.startswith(".part-")]
        largest_part = max([largest_part, *parts])
        if sum(map(len, received)) > 2 * 1024 * 1024:
            assert parts == []  # dropped as soon as it would pass the cap, not at the end
    response.close()
    data = b"".join(received)
    assert len(data) > 4 * 1024 * 1024 and data.count(b"\n") == 40001  # the whole download, live
    assert largest_part <= 1024 * 1024
    assert stored_files(cache_dir) == []
    assert not [p for p in cache_dir.iterdir() if p.name.startswith(".part-")]


def test_lock_files_are_removed_by_their_writer_and_stale_ones_at_eviction(client, table, cache_dir):
    body(client.get(WHOLE))
    assert stored_files(cache_dir) != []
    assert [p.name for p in cache_dir.iterdir() if p.suffix == ".lock"] == []
    stale = cache_dir / "0123456789abcdef0123.lock"  # a writer that died
    stale.write_text("")
    body(client.get("/api/public/dv_t/?format=json&limit=all"))  # publishing evicts
    assert not stale.exists()
    assert [p.name for p in cache_dir.iterdir() if p.suffix == ".lock"] == []


def test_a_lock_held_elsewhere_is_kept_and_makes_others_stream_live(table, cache_dir):
    from autoapi.freshness import exportcache

    path = cache_dir / "fedcba9876543210fedc.lock"
    entry = exportcache.Entry(cache_dir, "fedcba9876543210fedc", "v1", "csv")
    writer = exportcache.claim(entry)
    assert writer is not None and path.exists()
    assert exportcache.claim(entry) is None  # taken
    exportcache.evict(cache_dir, 1024 * 1024)
    assert path.exists()  # held: never removed under its holder
    writer.release()
    assert not path.exists()
    again = exportcache.claim(entry)
    assert again is not None
    again.release()


def test_a_file_evicted_between_lookup_and_open_is_streamed_live(client, table, cache_dir, monkeypatch):
    from autoapi.freshness import exportcache
    from autoapi.web import validators

    live = body(client.get(WHOLE))
    assert stored_files(cache_dir) != []
    real_stored = exportcache.stored

    def stored_then_evicted(entry):
        found = real_stored(entry)
        if found is not None:  # another process evicts it right after this one looked
            found[0].unlink()
        return found

    monkeypatch.setattr(validators.exportcache, "stored", stored_then_evicted)
    response = client.get(WHOLE)
    assert response.status_code == 200
    assert body(response) == live
    response.close()


def test_the_stored_download_follows_the_views_own_negotiation(client, table, cache_dir):
    """Whatever Accept header picks the format, the stored file is the format the view renders
    (one negotiation, DRF's): for a list of types, what DRF chose (its first renderer among them:
    DRF orders by specificity, not by q)."""
    accept = "application/x-ndjson, application/json;q=0.5"
    live = client.get("/api/public/dv_t/?limit=all", HTTP_ACCEPT=accept)
    assert live["Content-Type"].startswith("application/json")
    live_body = body(live)
    assert [name.rsplit(".", 1)[1] for name in stored_files(cache_dir)] == ["json"]
    stored = client.get("/api/public/dv_t/?limit=all", HTTP_ACCEPT=accept)
    assert stored["Accept-Ranges"] == "bytes" and body(stored) == live_body
