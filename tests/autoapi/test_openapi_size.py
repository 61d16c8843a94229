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


def test_the_benchmarks_standards_probe_runs_without_a_database():
    # `make bench` runs the probe as its own process with no database settings; a registry that
    # reaches for the database when its snapshot was installed by hand broke the section once.
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "PORTAL_", "DATABASE_URL"))}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.standards_probe"], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["relations"] == 10_000
    assert figures["data_json_bytes"] > 1_000_000
    assert figures["feed_bytes"] > 0
