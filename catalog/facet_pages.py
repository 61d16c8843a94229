"""Facets on a relation page: counted with the page, or fetched by its script afterwards.

A relation of at most FACET_INLINE_ROWS estimated rows has its facets counted while the page
renders (``facets.start`` then ``facets.collect``): they cost a few milliseconds. A larger one (or a
view, whose size the planner does not know) gets the page at once, with a placeholder that
``static/catalog/facets.js`` fills from the facets fragment (``catalog.fragments``), so counting
hundreds of thousands of rows never holds the page back. Without JavaScript the placeholder links
to each facet's counts in the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.http import QueryDict
from django.urls import reverse

from autoapi.conf import portal_setting
from autoapi.public import Relation, relation_segments
from catalog import facets, present, sections


def split(request_params: QueryDict) -> tuple[QueryDict, list[str]]:
    """(the parameters without ``_facet``, the facets asked for): ``_facet`` never reaches the API."""
    filters = request_params.copy()
    return filters, filters.pop(facets.FACET_PARAMETER, [])


def with_asked(params: QueryDict, asked: list[str]) -> QueryDict:
    """``params`` plus the facets asked for, which every link of the page keeps."""
    kept = params.copy()
    if asked:
        kept.setlist(facets.FACET_PARAMETER, asked)
    return kept


def counted_with_the_page(relation: Relation) -> bool:
    return relation.estimated_rows is not None and relation.estimated_rows <= portal_setting("FACET_INLINE_ROWS")


@dataclass
class PageFacets:
    chosen: list
    counting: list = field(default_factory=list)  # facets.start's jobs, when counted with the page
    deferred: bool = False
    patient: bool = False  # the facets fragment: it waits for samples (facets.collect)


def plan(
    request,
    relation: Relation,
    filters: QueryDict,
    statistics: dict,
    asked: list[str],
    *,
    inline: bool | None = None,
    patient: bool = False,
) -> PageFacets:
    """Choose the page's facets and, when they are counted with the page, start counting them
    (``patient``: the fragment, which waits for estimates from samples)."""
    refused = ("format", "group_by", "aggregate", "having")  # the page answers 400 (catalog.views)
    chosen = facets.choose(relation, statistics, asked) if not any(n in filters for n in refused) else []
    if inline is None:
        inline = counted_with_the_page(relation)
    if not chosen or not inline:
        return PageFacets(chosen, deferred=bool(chosen))
    return PageFacets(chosen, facets.start(request, relation, filters, chosen, statistics), patient=patient)


def context(
    request, planned: PageFacets, relation: Relation, filters: QueryDict, page_params: QueryDict, statistics: dict
) -> dict:
    """What the templates show: counted facets, or the placeholder of deferred ones; links to
    further facets; and each facet's aggregate API URL, for the "Downloads and API" section."""
    catalog_url = present.catalog_url(relation)
    shown = {
        "filtered": any(name != "ordering" for name in filters),
        "facets": (
            facets.collect(planned.counting, page_params, relation, statistics, planned.patient)
            if planned.counting
            else []
        ),
        "more_facets": [
            {"name": name, "url": sections.query_url(catalog_url, _plus_facet(page_params, name))}
            for name in facets.suggestions(relation, statistics, planned.chosen)
        ],
    }
    shown["aggregate_urls"] = [
        {
            "name": f.column.name,
            "part": f.part,
            "url": request.build_absolute_uri(facets.api_url_of(f, filters, relation, paged=False)),
        }
        for f in planned.chosen
    ]
    if planned.deferred:
        schema, name = relation_segments(relation)
        shown["facets_deferred"] = {
            "url": sections.query_url(reverse("facets", args=[schema, name]), page_params),
            "pending": [
                {"name": f.column.name, "part": f.part, "api_url": facets.api_url_of(f, filters, relation)}
                for f in planned.chosen
            ],
        }
    return shown


def _plus_facet(page_params: QueryDict, name: str) -> QueryDict:
    params = page_params.copy()
    params.appendlist(facets.FACET_PARAMETER, name)
    return params
