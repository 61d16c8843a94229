"""The change log's recording (catalog/standards/changelog.py) on a real SQLite file: what each
kind of schema change writes, that the first check only stores the state, that two processes
seeing the same change write it once with the same id, that an older snapshot writes nothing, that
data versions write entries but a schema change's new versions do not, and retention."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from autoapi.schema.snapshot import Column, Relation, Snapshot
from catalog.standards import changelog, feeds


def column(position, name, type_="integer", base="int4", comment=None):
    return Column(name, name.replace(" ", "_"), position, type_, base, "b", "N", comment=comment)


def table(oid, name, *columns, comment=None, schema="public"):
    return Relation(oid, schema, name, "table", comment, 10, tuple(columns))


def snapshot(version, *relations, built_at=None):
    return Snapshot(version, built_at or time.time(), "15", tuple(relations))


@pytest.fixture
def log(settings, tmp_path):
    settings.PORTAL = {**settings.PORTAL, "CHANGE_LOG_DIR": str(tmp_path), "CHANGE_LOG_DAYS": 365}
    changelog._local.__dict__.clear()  # this thread's connections: to the new folder
    yield tmp_path
    changelog._local.__dict__.clear()


def no_versions(relation):
    return None, None


def kinds(**filters):
    entries = changelog.entries(lambda e: True, limit=1000, **filters)
    return [(e["kind"], e["name"], e["detail"]) for e in reversed(entries)]


def test_the_first_check_only_stores_the_state_then_each_schema_change_is_an_entry(log):
    a = table(1, "a", column(1, "id"), column(2, "x"), column(3, "y", comment="why"))
    assert changelog.record(snapshot("v1", a), {1: (None, None)}, time.time()) == 0
    assert kinds() == []
    changed = table(
        1,
        "a",
        column(1, "id"),
        column(2, "x renamed"),
        column(3, "y", "text", "text", comment="because"),
        column(4, "z"),
        comment="now commented",
    )
    b = table(2, "b", column(1, "id"))
    changelog.record(snapshot("v2", changed, b), {}, time.time())
    assert kinds() == [
        ("comment_changed", "a", {"column": None, "before": None, "after": "now commented"}),
        ("column_renamed", "a", {"column": "x renamed", "from": "x"}),
        ("column_retyped", "a", {"column": "y", "before": "integer", "after": "text"}),
        ("comment_changed", "a", {"column": "y", "before": "why", "after": "because"}),
        ("column_added", "a", {"column": "z", "type": "integer"}),
        ("published", "b", {"columns": 1}),
    ]
    moved = table(2, "b moved", column(1, "id"), schema="sales")
    changelog.record(snapshot("v3", moved), {}, time.time())
    assert kinds()[-2:] == [
        ("withdrawn", "a", {}),
        ("renamed", "b moved", {"from": ["public", "b"], "to": ["sales", "b moved"]}),
    ]
    dropped = table(2, "b moved", schema="sales")
    changelog.record(snapshot("v4", dropped), {}, time.time())
    assert kinds(oid=2)[-1] == ("column_dropped", "b moved", {"column": "id", "type": "integer"})
    assert (
        feeds.describe(changelog.entries(lambda e: True, limit=1, oid=2)[0])
        == "sales.b moved: column id dropped (was integer)"
    )


def test_two_processes_write_a_change_once_and_an_older_snapshot_writes_nothing(log):
    a = table(1, "a", column(1, "id"))
    first, second = changelog.Recorder(), changelog.Recorder()
    first(snapshot("v1", a, built_at=100.0), no_versions, time.time(), 1)
    newer = snapshot("v2", table(1, "a", column(1, "id"), column(2, "new")), built_at=200.0)
    first(newer, no_versions, time.time(), 1)
    second(newer, no_versions, time.time(), 1)  # the other process sees the same change
    assert [k for k, *_ in kinds()] == ["column_added"]
    second(snapshot("v1", a, built_at=150.0), no_versions, time.time(), 2)  # a process that lags behind
    assert [k for k, *_ in kinds()] == ["column_added"]
    ids = [e["id"] for e in changelog.entries(lambda e: True)]
    changelog._local.__dict__.clear()  # a restart: a new connection to the same file
    assert [e["id"] for e in changelog.entries(lambda e: True)] == ids


@pytest.mark.db
def test_data_versions_write_entries_but_a_new_snapshots_versions_do_not(log):
    a = table(1, "a", column(1, "id"))
    seen = int(time.time())
    changelog.record(snapshot("v1", a), {1: ("t1", seen - 10)}, time.time())
    changelog.record(snapshot("v1", a), {1: ("t2", seen)}, time.time())
    assert kinds() == [("data_changed", "a", {"rows_before": None, "rows_after": None})]
    entry = changelog.entries(lambda e: True)[0]
    assert entry["at"] == float(seen) and entry["id"] == changelog.entry_id("data", 1, "t2")
    changelog.record(snapshot("v1", a), {1: ("t2", seen)}, time.time())  # seen again: nothing new
    changelog.record(snapshot("v2", table(1, "a", column(1, "id"), column(2, "b"))), {1: ("t3", seen + 1)}, time.time())
    changelog.record(snapshot("v2", table(1, "a", column(1, "id"), column(2, "b"))), {1: ("t3", seen + 1)}, time.time())
    assert [k for k, *_ in kinds()] == ["data_changed", "column_added"]


@pytest.mark.db
def test_old_entries_are_deleted_after_the_retention(log, settings):
    a = table(1, "a", column(1, "id"))
    changelog.record(snapshot("v1", a), {1: ("t1", time.time() - 4 * 86400)}, time.time())
    changelog.record(snapshot("v1", a), {1: ("t2", time.time() - 3 * 86400)}, time.time())
    assert len(kinds()) == 1
    settings.PORTAL = {**settings.PORTAL, "CHANGE_LOG_DAYS": 2}
    changelog.record(snapshot("v1", a), {1: ("t3", time.time())}, time.time())
    assert [e["detail"] for e in changelog.entries(lambda e: True)] == [{"rows_before": None, "rows_after": None}]


def test_visibility_hides_what_is_not_published_except_its_withdrawal(log):
    a, b = table(1, "a", column(1, "id")), table(2, "b", column(1, "id"))
    changelog.record(snapshot("v1", a), {}, time.time())
    changelog.record(snapshot("v2", a, b), {}, time.time())
    changelog.record(snapshot("v3", a, replace(b, columns=(column(1, "id"), column(2, "c")))), {}, time.time())
    changelog.record(snapshot("v4", a), {}, time.time())
    shown = changelog.entries(feeds.visible_in(snapshot("v4", a)))
    assert [(e["kind"], e["name"]) for e in shown] == [("withdrawn", "b")]
