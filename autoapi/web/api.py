"""A snapshot's API: per relation a model, a FilterSet, a viewset and its two view functions.

Built lazily, once per relation per snapshot (a database of thousands of relations pays only for
the ones that are asked for), and never per request. Everything here belongs to one snapshot and
is dropped with it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

from django.apps.registry import Apps

from autoapi.conf import portal_setting
from autoapi.cql2 import backend as cql2_backend
from autoapi.query.filtersets import build_filterset
from autoapi.query.relation_query import PublishedRelation
from autoapi.schema.models import build_model
from autoapi.schema.snapshot import Relation, Snapshot
from autoapi.web.views import build_viewset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RelationEndpoints:
    published: PublishedRelation  # what ``RelationQuery`` reads: relation, snapshot, model, FilterSet
    viewset: type
    list_view: object
    detail_view: object
    tile_view: object
    tilejson_view: object


# What a relation's built endpoints hold (its Django model and fields, FilterSet and filters,
# viewset and views), measured with tracemalloc: about 28 KB, and 4 KB more per column
# (tests/autoapi/test_snapshot_memory.py keeps the estimate within a factor of the measure).
ENDPOINT_BASE_BYTES = 28 * 1024
ENDPOINT_COLUMN_BYTES = 4 * 1024


def endpoint_bytes(relation: Relation) -> int:
    """The memory a relation's built endpoints are charged against ENDPOINTS_MB."""
    return ENDPOINT_BASE_BYTES + ENDPOINT_COLUMN_BYTES * len(relation.columns)


class PublishedAPI:
    def __init__(self, snapshot: Snapshot):
        self.snapshot = snapshot
        self.apps = Apps()  # private registry: never collides with another snapshot's classes
        self._index = {r.qualified_name: i for i, r in enumerate(snapshot.relations)}
        # Built on first use, least recently used first; within ENDPOINTS_MB (by endpoint_bytes).
        self._endpoints: OrderedDict[tuple[str, str], RelationEndpoints] = OrderedDict()
        self._endpoint_bytes = 0
        self._failures: dict[tuple[str, str], str] = {}  # relations whose endpoints could not be built
        self._lock = threading.Lock()

    def endpoints(self, schema: str, name: str) -> RelationEndpoints | None:
        """The relation's endpoints, built on first use; None when it is not published or they
        could not be built (``why_unpublished`` says why)."""
        key = (schema, name)
        built = self._endpoints.get(key)
        if built is not None:
            with self._lock, contextlib.suppress(KeyError):  # most recently used last
                self._endpoints.move_to_end(key)
            return built
        if key not in self._index or key in self._failures:
            return None
        with self._lock:
            if key not in self._endpoints and key not in self._failures:
                self._build_isolated(key)
                self._evict()
            return self._endpoints.get(key)

    def _evict(self) -> None:
        """Past ENDPOINTS_MB, drop the least recently used relations' endpoints, and their model
        classes from this snapshot's app registry, so that they can be freed (issue 23: a crawler
        visiting every one of 10,000 relations made a worker hold all their models). The one just
        built always stays."""
        budget = portal_setting("ENDPOINTS_MB") * 1024 * 1024
        if budget <= 0 or self._endpoint_bytes <= budget:
            return
        while self._endpoint_bytes > budget and len(self._endpoints) > 1:
            _key, dropped = self._endpoints.popitem(last=False)
            self._endpoint_bytes -= endpoint_bytes(dropped.published.relation)
            meta = dropped.published.model._meta
            self.apps.all_models[meta.app_label].pop(meta.model_name, None)
        self.apps.clear_cache()

    def why_unpublished(self, schema: str, name: str) -> str | None:
        """Why a relation the role may read has no API: left out by introspection, or its
        endpoints failed to build. None for a published relation or an unknown name."""
        return self.snapshot.why_skipped(schema, name) or self._failures.get((schema, name))

    def build_all(self) -> dict[tuple[str, str], str]:
        """Build every relation's endpoints now (``manage.py check``, ``dump_snapshot``); returns
        the failures, (schema, name) -> why."""
        for relation in self.snapshot.relations:
            self.endpoints(relation.schema, relation.name)
        return dict(self._failures)

    def _build_isolated(self, key: tuple[str, str]) -> None:
        # One relation the portal cannot handle never takes the others down: it is left out,
        # with the reason logged once per snapshot and given at its URLs.
        relation = self.snapshot.relations[self._index[key]]
        try:
            self._endpoints[key] = self._build(relation, self._index[key])
            self._endpoint_bytes += endpoint_bytes(relation)
        except Exception as exc:
            reason = f"the portal cannot publish it: {type(exc).__name__}: {str(exc).strip()[:300]}"
            self._failures[key] = reason
            log.warning("relation %s.%s left out of snapshot %s: %s", *key, self.snapshot.version[:8], reason)

    def _build(self, relation: Relation, index: int) -> RelationEndpoints:
        model = build_model(relation, index, self.apps)
        published = PublishedRelation.build(
            relation, self.snapshot, model, build_filterset(relation, model), filters=(cql2_backend.condition,)
        )
        viewset = build_viewset(published)
        return RelationEndpoints(
            published=published,
            viewset=viewset,
            list_view=viewset.as_view({"get": "list"}),
            detail_view=viewset.as_view({"get": "retrieve"}),
            tile_view=viewset.as_view({"get": "tile"}),
            tilejson_view=viewset.as_view({"get": "tilejson"}),
        )
