"""``/sitemap.xml`` (https://www.sitemaps.org/protocol.html): the home page, each schema's list and
every relation page, with the last ANALYZE or VACUUM as ``lastmod`` (``opendata.modified``).

A sitemap holds at most SITEMAP_MAX_URLS URLs (the protocol's limit is 50,000). Past it,
``/sitemap.xml`` is a sitemap index naming one sitemap per schema (``/sitemaps/<schema>/<n>.xml``,
several when a schema alone passes the limit), so every relation stays reachable at any size.
Each sitemap is a whole-catalog document (``autoapi.web.documents``): built once per schema version,
rebuilt after DOCUMENT_REFRESH_SECONDS for its dates.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.html import escape

from autoapi.conf import portal_setting
from autoapi.public import api_url, decode_segment, encode_segment, get_snapshot, shared_document
from catalog import listing, metadata
from catalog.opendata import _activity_of_all, modified, pages_base

XML = "application/xml; charset=utf-8"
URLSET = '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'


def _chunks(snapshot) -> list[tuple[str, int, list]]:
    """(schema, number from 1, relations) for each sitemap of the index."""
    size = max(1, portal_setting("SITEMAP_MAX_URLS") - 2)  # the first of a schema also names home and its list
    chunks = []
    for schema, relations in listing.by_schema(snapshot).items():
        for start in range(0, len(relations), size):
            chunks.append((schema, start // size + 1, relations[start : start + size]))
    return chunks


def _needs_index(snapshot) -> bool:
    urls = 1 + len(snapshot.schemas) + len(snapshot.relations)
    return urls > portal_setting("SITEMAP_MAX_URLS")


def _urlset(request, snapshot, relations, extra: list[str]) -> HttpResponse:
    activity = _activity_of_all(relations)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', URLSET]
    lines += [f"<url><loc>{escape(request.build_absolute_uri(path))}</loc></url>" for path in extra]
    pages = pages_base(request)  # each page's URL: this, then its API path's tilde-encoded segments
    unknown = modified(None, snapshot.built_at)  # the date of every relation without statistics
    for relation in relations:
        loc = escape(pages + api_url(relation).removeprefix("/api/"))
        stats = activity.get(relation.qualified_name)
        lastmod = modified(stats, snapshot.built_at) if stats else unknown
        lines.append(f"<url><loc>{loc}</loc><lastmod>{lastmod}</lastmod></url>")
    lines.append("</urlset>")
    return HttpResponse("\n".join(lines) + "\n", content_type=XML)


@shared_document("sitemap", "DOCUMENT_REFRESH_SECONDS", metadata.stamp)
def sitemap_xml(request):
    """The one sitemap, or the index of the per-schema sitemaps past SITEMAP_MAX_URLS."""
    snapshot = get_snapshot()
    if not _needs_index(snapshot):
        relations = sorted(snapshot.relations, key=lambda r: (r.schema, r.name))
        return _urlset(request, snapshot, relations, ["/"] + [listing.schema_url(s) for s in snapshot.schemas])
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">',
    ]
    for schema, number, _relations in _chunks(snapshot):
        loc = request.build_absolute_uri(f"/sitemaps/{encode_segment(schema)}/{number}.xml")
        lines.append(f"<sitemap><loc>{escape(loc)}</loc></sitemap>")
    lines.append("</sitemapindex>")
    return HttpResponse("\n".join(lines) + "\n", content_type=XML)


@shared_document("sitemap-part", "DOCUMENT_REFRESH_SECONDS", metadata.stamp)
def schema_sitemap_xml(request, schema: str, number: int):
    """One sitemap of the index: a schema's list (in its first) and its relations' pages."""
    snapshot = get_snapshot()
    try:
        name = decode_segment(schema)
    except ValueError:
        name = None
    chosen = (
        next((c for c in _chunks(snapshot) if (c[0], c[1]) == (name, number)), None) if _needs_index(snapshot) else None
    )
    if chosen is None:
        from catalog.views import error_page  # the views import the catalog's other modules

        return error_page(
            request, 404, "Sitemap not found", "No sitemap of the index has this name; /sitemap.xml lists them."
        )
    extra = ["/", listing.schema_url(name)] if number == 1 else []
    return _urlset(request, snapshot, chosen[2], extra)
