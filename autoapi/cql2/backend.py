"""``?filter=`` and ``?filter-lang=`` read from a request's parameters.

``RelationQuery.filter`` applies it (``condition``) after the simple filters, so a CQL2 filter is
ANDed with them and applies wherever rows are selected: pages, cursors, counts, ``limit=all``
streams in every format, aggregates, the catalog's preview, its facets and its maps.
"""

from __future__ import annotations

from autoapi.cql2 import conditions, json, text
from autoapi.cql2.text import CQL2Error
from autoapi.errors import BadRequest

LANGUAGES = {"cql2-text": text.parse, "cql2-json": json.parse}
LANGUAGE_PARAMETER = "filter-lang"


def parse(params):
    """The request's parsed filter, or None; a 400 naming ``filter`` (with the position and what
    was expected) when it cannot be read."""
    raw = params.get(conditions.PARAMETER)
    language = params.get(LANGUAGE_PARAMETER, "cql2-text")
    if language not in LANGUAGES:
        raise BadRequest(f"unknown filter language {language!r}", parameter=LANGUAGE_PARAMETER, allowed=list(LANGUAGES))
    if raw is None:
        return None
    try:
        return LANGUAGES[language](raw)
    except CQL2Error as exc:
        extra = {"position": exc.position} if exc.position else {}
        if exc.expected:
            extra["expected"] = exc.expected
        raise BadRequest(f"filter: {exc}", parameter=conditions.PARAMETER, **extra) from None


def condition(params, relation, snapshot):
    """The request's ``?filter=`` as a Q object on ``relation``'s rows, or None (no filter): one of
    the ``PublishedRelation.filters`` the API's RelationQuery applies (``web/api.py``)."""
    node = parse(params)
    return None if node is None else conditions.build(node, relation, snapshot)
