"""``?fields=`` and ``?expand=``: which columns each row holds and which foreign keys it embeds.

Also decides which foreign keys get a URL in the row's ``_links`` (every one whose referenced
relation is published). Names are exact column names, comma-separated; a name that itself holds a
comma is given tilde-encoded (``a~2Cb``).
"""

from __future__ import annotations

from autoapi.errors import BadRequest
from autoapi.query.queries import Expansion, RowShape
from autoapi.schema.naming import decode_segment
from autoapi.schema.snapshot import Relation, Snapshot


def _names(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def resolve_column(relation: Relation, name: str):
    """The column named ``name``, or tilde-encoded as ``name`` (a name holding a comma); None."""
    column = relation.column(name)
    if column is None and "~" in name:
        try:
            column = relation.column(decode_segment(name))
        except ValueError:
            column = None
    return column


def parse_fields(params, relation: Relation):
    raw = params.get("fields")
    if raw is None:
        return relation.columns
    chosen = []
    for name in _names(raw):
        column = resolve_column(relation, name)
        if column is None:
            raise BadRequest(
                f"unknown column {name!r} in fields", parameter="fields", allowed=[c.name for c in relation.columns]
            )
        if column not in chosen:
            chosen.append(column)
    if not chosen:
        raise BadRequest(
            "fields must name at least one column", parameter="fields", allowed=[c.name for c in relation.columns]
        )
    return tuple(chosen)


def link_targets(relation: Relation, snapshot: Snapshot) -> dict[str, Expansion]:
    """Foreign keys whose referenced relation is published, by each of their column names and
    by constraint name."""
    found = {}
    for fk in relation.foreign_keys:
        target = snapshot.get(fk.ref_schema, fk.ref_relation)
        if target is None or any(target.column(c) is None for c in fk.ref_columns):
            continue
        expansion = Expansion(fk, target)
        found.setdefault(fk.name, expansion)
        for name in fk.columns:
            found.setdefault(name, expansion)
    return found


def parse_shape(params, relation: Relation, snapshot: Snapshot, link_base: str, *, embeds_allowed: bool) -> RowShape:
    columns = parse_fields(params, relation)
    targets = link_targets(relation, snapshot)
    expansions = []
    raw = params.get("expand")
    if raw is not None:
        if not embeds_allowed:
            raise BadRequest("expand works with the JSON, NDJSON and GeoJSON formats", parameter="expand")
        for name in _names(raw):
            expansion = targets.get(name) or targets.get(decode_or_none(name))
            if expansion is None:
                raise BadRequest(
                    f"{name!r} is not a foreign key to a published relation",
                    parameter="expand",
                    allowed=sorted({fk.columns[0] for fk in (e.foreign_key for e in targets.values())}),
                )
            if relation.column(expansion.foreign_key.columns[0]) not in columns:
                raise BadRequest(f"expand {name!r} needs its column in fields", parameter="expand")
            if expansion not in expansions:
                expansions.append(expansion)
    chosen = {c.name for c in columns}
    links = (
        tuple(e for e in dict.fromkeys(targets.values()) if set(e.foreign_key.columns) <= chosen)
        if embeds_allowed
        else ()
    )
    return RowShape(relation, columns, tuple(expansions), links, link_base)


def decode_or_none(name: str):
    try:
        return decode_segment(name)
    except ValueError:
        return None
