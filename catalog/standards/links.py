"""``Link: <…/csv-metadata.json>; rel="describedby"; type="application/csvm+json"`` on the API's CSV
answers of a relation (CSVW "Locating Metadata" 5.2), live or stored, unless the answer's columns
differ from the relation's (``fields``, grouping, ``expand``): the metadata describes every
column. Added on the way out (by ``portal.middleware.ViewGuardMiddleware``, the last edge before the
views); costs a regular expression per CSV answer."""

from __future__ import annotations

import re

RELATION_PATH = re.compile(r"^/api/[^/]+/[^/]+/$")
RESHAPING = frozenset({"fields", "group_by", "aggregate", "having", "expand"})
LINK = '<{path}csv-metadata.json>; rel="describedby"; type="application/csvm+json"'


def add_describedby(request, response):
    """``response``, with the describedby link when it is a relation's full-width CSV."""
    if (
        response.status_code in (200, 206)
        and response.get("Content-Type", "").startswith("text/csv")
        and RELATION_PATH.match(request.path)
        and not RESHAPING & set(request.GET)
    ):
        link = LINK.format(path=request.path)
        existing = response.get("Link")
        response["Link"] = f"{existing}, {link}" if existing else link
    return response


class DescribedByMiddleware:
    """``add_describedby`` as a middleware of its own (the portal calls the function from its view
    guard instead: one layer fewer)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return add_describedby(request, self.get_response(request))
