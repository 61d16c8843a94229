"""The OpenAPI documents at 10,000 relations (a synthetic snapshot, no database): ``/api/schema/``
and each relation's own document (its ``service-desc``) stay under 2 MB, because the parameters
every list operation shares are components named by ``$ref``, not copies (issue 23)."""

from __future__ import annotations

import json

from autoapi.web import openapi_documents
from bench.standards_probe import synthetic_snapshot

LIMIT = 2_000_000


def size(document: dict) -> int:
    return len(openapi_documents._json(document)[0])


def test_documents_stay_small_at_ten_thousand_relations():
    snapshot = synthetic_snapshot("v1")
    assert openapi_documents.is_split(snapshot)
    root = openapi_documents.root_document(snapshot)
    assert size(root) < LIMIT
    relation = snapshot.relations[4242]
    own = openapi_documents.relation_document(snapshot, relation)
    assert size(own) < LIMIT
    operation = own["paths"][f"/api/{relation.schema}/{relation.name}/"]["get"]
    refs = [p["$ref"].rsplit("/", 1)[1] for p in operation["parameters"] if "$ref" in p]
    assert {"limit", "offset", "cursor", "filter", "filter-lang"} <= set(refs)
    assert set(refs) <= set(own["components"]["parameters"])
    # Shared, not repeated: the limit parameter is written once in the whole document.
    assert json.dumps(own).count('"name": "limit"') == 1
