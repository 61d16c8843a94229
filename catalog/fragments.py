"""``/catalog/<schema>/<relation>/-/facets``: the facets of a relation page as an HTML fragment.

The page of a large relation (``catalog.facet_pages``) is sent before its facets are counted;
its script (``static/catalog/facets.js``) then fetches this fragment, with the page's own query
string, and puts it in place. The counting is the page's own (``facets.start``/``collect``: the
API's aggregate under FACET_TIME_LIMIT_MS per facet), so both ways show the same facets. A bad
filter is the 400 fragment that says why; the page itself says it too.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils.html import escape

from autoapi.public import PortalError, cached_page, column_statistics
from catalog import facet_pages
from catalog.views import of_relation, unavailable

log = logging.getLogger(__name__)


@cached_page
@of_relation
def facets_fragment(request, _snapshot, _checked, found):
    filters, asked = facet_pages.split(request.GET)
    for name in ("offset", "limit"):
        filters.pop(name, None)
    page_params = facet_pages.with_asked(filters, asked)
    try:
        statistics = column_statistics(found)
        planned = facet_pages.plan(request, found, filters, statistics, asked, inline=True, patient=True)
        context = facet_pages.context(request, planned, found, filters, page_params, statistics)
    except PortalError as error:
        body = f'<p class="facet-problem" role="status">The facets cannot be counted: {escape(error.detail)}.</p>'
        return HttpResponse(body, status=error.status_code)
    except DatabaseError:
        log.exception("counting the facets of %s.%s failed", found.schema, found.name)
        return unavailable(request)
    refused = next((f for f in context["facets"] if f.get("status") == 400), None)
    if refused is not None:  # a filter the API refuses: every facet says so, once is enough
        return HttpResponse(f'<p class="facet-problem" role="status">{escape(refused["problem"])}</p>', status=400)
    response = HttpResponse(render_to_string("catalog/facets.html", context, request=request))
    response["X-Robots-Tag"] = "noindex"  # a part of a page, not a page
    return response
