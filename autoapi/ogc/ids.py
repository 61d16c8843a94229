"""Collection ids: ``<schema>.<relation>``, each part tilde-encoded as in the API's paths.

Tilde encoding turns every ``.`` inside a name into ``~2E``, so the one literal dot splits the id
unambiguously, and the id is safe in a URL path and as a GDAL layer name.
"""

from __future__ import annotations

from autoapi.query.queries import geometry_source
from autoapi.schema.naming import decode_segment, encode_segment
from autoapi.schema.snapshot import Relation, Snapshot


def collection_id(relation: Relation) -> str:
    return f"{encode_segment(relation.schema)}.{encode_segment(relation.name)}"


def is_collection(relation: Relation) -> bool:
    """A relation is a feature collection when the API gives it a GeoJSON form: a geometry or
    geography column, or a latitude/longitude pair."""
    return geometry_source(relation) is not None


def collections(snapshot: Snapshot) -> list[Relation]:
    return [r for r in snapshot.relations if is_collection(r)]


def find(snapshot: Snapshot, collection: str) -> Relation | None:
    """The relation a collection id names, or None (malformed, unknown, or not spatial)."""
    schema, dot, name = collection.partition(".")
    if not dot:
        return None
    try:
        relation = snapshot.get(decode_segment(schema), decode_segment(name))
    except ValueError:
        return None
    return relation if relation is not None and is_collection(relation) else None
