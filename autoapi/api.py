"""A snapshot's API: per relation a model, a FilterSet, a viewset and its two view functions.

Built lazily, once per relation per snapshot (a database of thousands of relations pays only for
the ones that are asked for), and never per request. Everything here belongs to one snapshot and
is dropped with it.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from django.apps.registry import Apps

from autoapi.filtersets import build_filterset
from autoapi.models import build_model
from autoapi.openapi import build_document
from autoapi.snapshot import Relation, Snapshot
from autoapi.views import build_viewset


@dataclass(frozen=True)
class RelationEndpoints:
    viewset: type
    list_view: object
    detail_view: object


class PublishedAPI:
    def __init__(self, snapshot: Snapshot):
        self.snapshot = snapshot
        self.apps = Apps()  # private registry: never collides with another snapshot's classes
        self._index = {r.qualified_name: i for i, r in enumerate(snapshot.relations)}
        self._endpoints: dict[tuple[str, str], RelationEndpoints] = {}
        self._lock = threading.Lock()
        self._openapi_json: bytes | None = None

    def openapi_json(self) -> bytes:
        """The snapshot's OpenAPI document, serialised once."""
        if self._openapi_json is None:
            document = build_document(self.snapshot)
            self._openapi_json = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return self._openapi_json

    def endpoints(self, schema: str, name: str) -> RelationEndpoints | None:
        key = (schema, name)
        built = self._endpoints.get(key)
        if built is not None or key not in self._index:
            return built
        with self._lock:
            if key not in self._endpoints:
                self._endpoints[key] = self._build(self.snapshot.relations[self._index[key]], self._index[key])
            return self._endpoints[key]

    def _build(self, relation: Relation, index: int) -> RelationEndpoints:
        model = build_model(relation, index, self.apps)
        viewset = build_viewset(relation, model, build_filterset(relation, model), self.snapshot)
        return RelationEndpoints(
            viewset=viewset,
            list_view=viewset.as_view({"get": "list"}),
            detail_view=viewset.as_view({"get": "retrieve"}),
        )
