"""The OpenAPI documents sized for their readers: ``/api/schema/`` and one document per relation.

``/api/schema/`` is what Swagger UI, client generators and schemathesis load first. Up to
OPENAPI_INLINE_RELATIONS relations it holds every path (one document, as small databases want);
past that it holds the index, the OGC paths and the shared components, plus
``x-relation-documents``: per schema, each relation's own document (``/api/schema/<schema>/
<relation>/openapi.json``), so it stays small at any size (about 60 bytes per relation). Each
relation's document holds its list, row and tile paths and its row schema, and is one link away
from every list answer: ``Link: <...>; rel="service-desc"`` (RFC 8631), always, whichever mode the
root is in.

Both are built through ``autoapi.web.documents``: once per schema version per process, single flight.
A relation's document costs milliseconds, so it skips the build slot (``bounded=False``) and is
never written to disk.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from autoapi.conf import portal_setting
from autoapi.formats import renderers
from autoapi.ogc import openapi as ogc_openapi
from autoapi.schema.naming import encode_segment
from autoapi.schema.snapshot import Relation, Snapshot
from autoapi.web import documents, openapi, openapi_parameters
from autoapi.web.openapi import build_document

MEDIA_TYPE = "application/vnd.oai.openapi+json"
CONTENT_TYPE = MEDIA_TYPE + "; charset=utf-8"


def relation_document_url(relation: Relation) -> str:
    return f"/api/schema/{encode_segment(relation.schema)}/{encode_segment(relation.name)}/openapi.json"


def service_desc_link(relation: Relation) -> str:
    """The ``Link`` value naming the relation's OpenAPI document (RFC 8631 ``service-desc``)."""
    return f'<{relation_document_url(relation)}>; rel="service-desc"; type="{MEDIA_TYPE}"'


def is_split(snapshot: Snapshot) -> bool:
    return len(snapshot.relations) > portal_setting("OPENAPI_INLINE_RELATIONS")


def root_document(snapshot: Snapshot) -> dict:
    if not is_split(snapshot):
        return build_document(snapshot)
    listing: dict[str, dict[str, str]] = {}
    for relation in sorted(snapshot.relations, key=lambda r: (r.schema, r.name)):
        listing.setdefault(relation.schema, {})[relation.name] = relation_document_url(relation)
    tags = [
        {
            "name": schema,
            "description": f"{len(names)} relations; each one's paths are in its own document, "
            "listed under `x-relation-documents`",
        }
        for schema, names in listing.items()
    ]
    document = build_document(snapshot, relations=[], extra={"tags": tags, "x-relation-documents": listing})
    document["info"]["description"] += (
        f" This database publishes {len(snapshot.relations)} relations: this document holds the index and the "
        "shared components, and each relation's paths are in its own document (`x-relation-documents`, and the "
        '`Link: rel="service-desc"` header of its list answers).'
    )
    return document


def relation_document(snapshot: Snapshot, relation: Relation) -> dict:
    index = next(i for i, r in enumerate(snapshot.relations) if r is relation)
    return build_document(snapshot, relations=[(index, relation)], with_index=False)


def _json(document: dict) -> tuple[bytes, str]:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), CONTENT_TYPE


# The code that writes the documents: a stored document written by an older release is not
# served by a newer one (the documents are stored across restarts, ``documents.respond``).
CODE_STAMP = hashlib.sha256(
    b"".join(Path(module.__file__).read_bytes() for module in (openapi, openapi_parameters, ogc_openapi))
).hexdigest()[:24]


def _version(snapshot: Snapshot) -> str:
    """The snapshot's version, the settings', the code's and the formats of the renderers'
    registry (a format registered at run time changes every operation's content types)."""
    return documents.digest(
        (snapshot.version, documents.settings_stamp(), CODE_STAMP, tuple(r.format for r in renderers.ROW_RENDERERS))
    )


def respond_root(request, snapshot: Snapshot):
    return documents.respond(request, ("openapi",), _version(snapshot), lambda: _json(root_document(snapshot)))


def respond_relation(request, snapshot: Snapshot, relation: Relation):
    return documents.respond(
        request,
        ("openapi", relation.schema, relation.name),
        _version(snapshot),
        lambda: _json(relation_document(snapshot, relation)),
        bounded=False,
    )
