"""Old snapshots are freed: swapping 100 of them leaves memory and live model classes flat."""

from __future__ import annotations

import gc

from django.db.models.base import ModelBase

from autoapi.schema.models import MODULE
from autoapi.web.registry import registry

SAMPLE = ("single_pk", "composite_pk", "fk_simple")


def live_model_classes() -> int:
    gc.collect()
    # type(obj), not isinstance(): the latter wakes lazy objects (django.contrib.admin.site).
    return sum(1 for obj in gc.get_objects() if type(obj) is ModelBase and obj.__module__ == MODULE)


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def use_snapshot(client, round_number: int):
    api = registry.rebuild()
    for name in SAMPLE:
        assert client.get(f"/api/public/{name}/?limit=5").status_code == 200
    if round_number % 10 == 0:
        assert client.get("/api/public/single_pk/?limit=5&format=csv").status_code == 200
        assert client.get("/api/schema/").status_code == 200
    return api


def test_swapping_100_snapshots_keeps_memory_flat(client):
    for n in range(10):  # warm up caches that legitimately fill once
        use_snapshot(client, n)
    models_before, rss_before = live_model_classes(), rss_kb()
    for n in range(100):
        use_snapshot(client, n)
    models_after, rss_after = live_model_classes(), rss_kb()
    assert models_after <= max(models_before, len(SAMPLE) * 2), (models_before, models_after)
    assert rss_after - rss_before < 20_000, f"RSS grew by {rss_after - rss_before} kB over 100 snapshots"


def test_built_endpoints_are_bounded_and_the_dropped_ones_freed(client, settings, monkeypatch):
    """ENDPOINTS_MB: a process keeps the endpoints of relations within that budget (about 40 KB
    each: at 10,000 relations a crawler would otherwise make a worker hold 400 MB of models);
    the least recently used go, their model classes are freed, and they answer again on demand."""
    from autoapi.web import api as api_module
    from autoapi.web.api import PublishedAPI

    api = PublishedAPI(registry.current().snapshot)
    relations = [r for r in api.snapshot.relations if r.schema == "public"][:6]
    assert len(relations) == 6
    # A budget of 1 MiB that holds three of these relations, and not four.
    widest = max(len(r.columns) for r in relations)
    monkeypatch.setattr(api_module, "ENDPOINT_COLUMN_BYTES", 0)
    monkeypatch.setattr(api_module, "ENDPOINT_BASE_BYTES", 1024 * 1024 // 3 - widest)
    settings.PORTAL = {**settings.PORTAL, "ENDPOINTS_MB": 1}
    for relation in relations[:3]:
        assert api.endpoints(relation.schema, relation.name) is not None
    api.endpoints(relations[0].schema, relations[0].name)  # used again: the most recent
    for relation in relations[3:5]:
        assert api.endpoints(relation.schema, relation.name) is not None
    assert list(api._endpoints) == [relations[0].qualified_name, *(r.qualified_name for r in relations[3:5])]
    gc.collect()
    assert sum(len(models) for models in api.apps.all_models.values()) == 3
    alive = sum(
        1
        for obj in gc.get_objects()
        if type(obj) is ModelBase and getattr(obj, "_meta", None) and obj._meta.apps is api.apps
    )
    assert alive == 3, "the dropped relations' model classes are freed"
    again = api.endpoints(relations[1].schema, relations[1].name)  # dropped: built again
    assert again is not None and again.published.model._meta.db_table
    assert client.get(f"/api/public/{relations[1].name}/?limit=1").status_code == 200


def test_the_endpoint_estimate_is_near_what_they_hold(pg_cluster):
    """ENDPOINTS_MB charges each relation ``endpoint_bytes``: within a factor of two of what
    building its endpoints allocates (tracemalloc), for narrow and wide relations."""
    import tracemalloc

    from autoapi.web.api import PublishedAPI, endpoint_bytes

    snapshot = registry.current().snapshot
    by_width = sorted((r for r in snapshot.relations if r.schema == "public"), key=lambda r: len(r.columns))
    sample = [by_width[0], by_width[len(by_width) // 2], by_width[-1]]
    assert len(sample[-1].columns) >= 8, [len(r.columns) for r in sample]
    warm = next(r for r in by_width if r not in sample)
    for relation in sample:
        api = PublishedAPI(snapshot)
        api.endpoints(warm.schema, warm.name)  # the registry's own first-use costs
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            built = api.endpoints(relation.schema, relation.name)
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert built is not None
        estimate = endpoint_bytes(relation)
        assert estimate / 2 <= held <= estimate * 2, (relation.name, len(relation.columns), held, estimate)
