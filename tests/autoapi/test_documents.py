"""Whole-catalog documents' freshness (autoapi/web/documents.py, "Freshness"): a document past
``max_age`` is built again only when its freshness stamp (for ``/data.json``, the change log's
last entry) moved since its build, in memory and from the stored file another process wrote."""

from __future__ import annotations

import threading

import pytest

from autoapi.web.documents import STORE_MIN_BYTES, Documents


class Builds:
    """A document's builds, counted; each one's bytes say which build made them."""

    def __init__(self, size: int = 10):
        self.count, self.size = 0, size

    def __call__(self) -> tuple[bytes, str]:
        self.count += 1
        return str(self.count).encode().ljust(self.size, b"."), "application/json"


@pytest.fixture
def no_store(settings):
    settings.PORTAL = {**settings.PORTAL, "EXPORT_CACHE_MB": 0}


@pytest.fixture
def store(settings, tmp_path):
    settings.PORTAL = {**settings.PORTAL, "EXPORT_CACHE_MB": 64, "EXPORT_CACHE_DIR": str(tmp_path)}
    return tmp_path / "documents"


def test_past_max_age_a_document_is_rebuilt_only_when_its_freshness_moved(no_store):
    documents, build = Documents(), Builds()
    family = ("data.json", "/data.json", "http", "testserver")
    first, how = documents.get(family, "v1", build, max_age=0.0, freshness=7)
    assert (how, build.count) == ("built", 1)
    for _ in range(3):  # past max_age (0 s), the same stamp: the held version, nothing built
        again, how = documents.get(family, "v1", build, max_age=0.0, freshness=7)
        assert (how, again.etag, build.count) == ("memory", first.etag, 1)
    moved, how = documents.get(family, "v1", build, max_age=0.0, freshness=8)
    assert (how, build.count) == ("built", 2) and moved.body.startswith(b"2")
    assert documents.get(family, "v1", build, max_age=0.0, freshness=8)[1] == "memory"


def test_within_max_age_a_moved_stamp_waits_and_without_a_stamp_max_age_rules(no_store):
    documents, build = Documents(), Builds()
    family = ("data.json",)
    documents.get(family, "v1", build, max_age=3600.0, freshness=1)
    assert documents.get(family, "v1", build, max_age=3600.0, freshness=2)[1] == "memory"  # at most once per max_age
    assert build.count == 1
    plain = ("sitemap",)
    documents.get(plain, "v1", build, max_age=0.0)
    assert documents.get(plain, "v1", build, max_age=0.0)[1] == "built"  # no stamp: past max_age, built again
    assert build.count == 3


def test_the_stored_file_keeps_the_stamp_for_other_processes(store):
    build = Builds(size=STORE_MIN_BYTES)  # large enough to be stored
    family = ("data.json", "/data.json", "http", "testserver")
    built, how = Documents().get(family, "v1", build, max_age=0.0, freshness=5)
    assert how == "built" and any(store.glob("*.doc"))
    other = Documents()  # another process: nothing in memory, the folder shared
    found, how = other.get(family, "v1", build, max_age=0.0, freshness=5)
    assert (how, found.etag, found.body, build.count) == ("stored", built.etag, built.body, 1)
    newer, how = Documents().get(family, "v1", build, max_age=0.0, freshness=6)
    assert (how, build.count) == ("built", 2) and newer.body.startswith(b"2")


def test_while_another_process_builds_a_process_without_the_document_answers_its_previous_version(store):
    import fcntl
    import os

    from autoapi.web.documents import digest

    build = Builds(size=STORE_MIN_BYTES)
    family = ("data.json", "/data.json", "http", "testserver")
    first, _how = Documents().get(family, "v1", build)  # stored by one process
    other = Documents()  # a second process: holds nothing, the first builds v2 (holds the lock)
    fd = os.open(store / f"{digest(family)}.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        answers = []
        asking = threading.Thread(target=lambda: answers.append(other.get(family, "v2", build)))
        asking.start()
        asking.join(10)
        assert answers, "waited for the other process's build instead of answering its previous version"
        previous, how = answers[0]
        assert (how, previous.etag, previous.body, build.count) == ("stale", first.etag, first.body, 1)
        assert other.get(family, "v2", build)[1] == "stale"  # asked again: still not built here
    finally:
        os.close(fd)  # the build is over: the next request builds v2 (or reads it)
    latest, how = other.get(family, "v2", build)
    assert (how, build.count) == ("built", 2) and latest.body.startswith(b"2")
    assert other.get(family, "v2", build)[1] == "memory"


@pytest.mark.db  # response.close() sends request_finished: Django checks the thread's open connections
def test_a_document_served_from_its_file_answers_503_when_the_file_went_meanwhile(store, settings):
    """Past the memory budget a document is served from its stored file; when another process
    replaced that file meanwhile (its newer version removes the older's), the answer is the
    "being built" 503 with ``Retry-After``, never a 500."""
    from django.test import RequestFactory

    from autoapi.web import documents as module

    settings.PORTAL = {**settings.PORTAL, "DOCUMENT_CACHE_MB": 0}  # nothing held in memory: files only
    build = Builds(size=STORE_MIN_BYTES)
    family = ("test-file-only",)
    try:
        response = module.respond(RequestFactory().get("/x"), family, "v1", build)
        assert response.status_code == 200 and b"".join(response).startswith(b"1")
        response.close()
        response = module.respond(RequestFactory().get("/x"), family, "v1", build)  # now from the file
        assert response["X-Portal-Document"] == "memory" and b"".join(response).startswith(b"1")
        response.close()
        for stored in store.glob("*.doc"):
            stored.unlink()
        response = module.respond(RequestFactory().get("/x"), family, "v1", build)
        assert response.status_code == 503 and response.has_header("Retry-After")
    finally:
        module.documents.clear()
