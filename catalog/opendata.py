"""Open-data metadata: ``/data-1.1.json`` (DCAT-US 1.1; ``/data.json`` is DCAT-US 3.0, in
``catalog/standards/dcat_us3.py``, which builds on ``dataset_facts``), ``/sitemap.xml``, and the schema.org
``Dataset`` that every relation page carries as JSON-LD.

Each relation is one dataset. Its facts come from the snapshot (names, comments, columns), the
optional metadata file (``catalog.metadata``: title, license, source, keywords, publisher,
contact) and PostgreSQL's statistics (``relation_activity``: the last ANALYZE or VACUUM stands in
for "modified", as PostgreSQL records no time of a data change). Called by ``catalog.urls`` (the
two views) and ``catalog.views`` (``dataset_jsonld``).
"""

from __future__ import annotations

import functools
import json
import logging
from datetime import UTC, datetime

from django.db import DatabaseError
from django.http import JsonResponse
from django.urls import reverse
from django.utils.safestring import mark_safe

from autoapi.db.context import origin_of
from autoapi.public import (
    Relation,
    api_url,
    format_records,
    get_snapshot,
    relation_activity,
    shared_document,
    web_url,
)
from catalog import metadata, present

log = logging.getLogger(__name__)

DCAT_US_SCHEMA = "https://project-open-data.cio.gov/v1.1/schema"
DCAT_US_CONTEXT = "https://project-open-data.cio.gov/v1.1/schema/catalog.jsonld"
DCAT_US_DESCRIBED_BY = "https://project-open-data.cio.gov/v1.1/schema/catalog.json"
# DCAT-US needs a contact with an e-mail; without a metadata file the portal says plainly that
# none was configured (the .invalid top-level domain can never be delivered to, RFC 2606).
UNCONFIGURED_CONTACT = {
    "name": "No contact configured (see PORTAL_METADATA_FILE)",
    "email": "no-contact-configured@example.invalid",
}
VARIABLES_LISTED = 300  # schema.org variableMeasured: enough for any sane table, bounded for a wide one


def _is_url(text: str | None) -> bool:
    return web_url(text) is not None  # the pages' rule for links from data (autoapi/web/weblinks.py)


def dataset_facts(
    request, relation: Relation, activity: dict | None, built_at: float, entry: dict | None = None
) -> dict:
    """What DCAT and schema.org both say of one relation, with absolute URLs. ``entry``: the
    relation's ``metadata.for_relation`` when the caller has it already."""
    if entry is None:
        entry = metadata.for_relation(relation)
    origin = site_origin(request)
    base = api_url(relation)  # /api/<schema>/<relation>/, tilde-encoded: the page's segments too
    page = pages_base(request) + base.removeprefix("/api/")
    description = (
        entry.get("description")
        or relation.comment
        or (f"The {relation.kind} {relation.schema}.{relation.name}, published read-only from PostgreSQL.")
    )
    downloads = []
    for record in format_records(relation):  # every API format, as its record describes it
        if not record.holds(relation.estimated_rows or 0):
            continue  # past its format's row cap (an Excel sheet's), no such download: the API says 400
        url = f"{origin}{base}?format={record.key}&limit=all"
        downloads.append({"url": url, "media_type": record.media_type, "format": record.format_name})
    return {
        "title": entry.get("title") or relation.name,
        "description": description,
        "keywords": entry.get("keywords") or [relation.schema, relation.kind],
        "modified": entry.get("modified") or modified(activity, built_at),
        "publisher": metadata.publisher_name(entry),
        "contact": entry.get("contact"),
        "license": entry.get("license"),
        "source": entry.get("source"),
        "page": page,
        "api": origin + base,
        "downloads": downloads,
    }


site_origin = origin_of  # the request's "scheme://host", worked out once (autoapi/db/context.py)


def pages_base(request) -> str:
    """The absolute URL the relation pages' paths follow (``present.catalog_url`` after the
    origin); both parts are worked out once (per request, per URL configuration)."""
    return origin_of(request) + present.relation_url_prefix()


def modified(activity: dict | None, built_at: float) -> str:
    """The latest sign of change PostgreSQL keeps (ANALYZE, VACUUM), else when the portal read
    the schema: an ISO 8601 date-time in UTC."""
    moments = [activity.get(key) for key in ("last_analyzed", "last_vacuumed")] if activity else []
    known = [m for m in moments if m is not None]
    return max(known).astimezone(UTC).isoformat(timespec="seconds") if known else _snapshot_date(built_at)


@functools.lru_cache(maxsize=8)
def _snapshot_date(built_at: float) -> str:
    """The snapshot's time as ``modified`` says it: the same for every relation of a document."""
    return datetime.fromtimestamp(built_at, tz=UTC).isoformat(timespec="seconds")


def dcat_dataset(facts: dict) -> dict:
    contact = facts["contact"] or UNCONFIGURED_CONTACT
    dataset = {
        "@type": "dcat:Dataset",
        "title": facts["title"],
        "description": facts["description"],
        "keyword": facts["keywords"],
        "modified": facts["modified"],
        "publisher": {"@type": "org:Organization", "name": facts["publisher"] or metadata.site()["title"]},
        "contactPoint": {
            "@type": "vcard:Contact",
            "fn": contact["name"],
            "hasEmail": "mailto:" + contact["email"].removeprefix("mailto:"),
        },
        "identifier": facts["page"],
        "accessLevel": "public",
        "landingPage": facts["page"],
        "distribution": [
            {
                "@type": "dcat:Distribution",
                "title": f"{facts['title']} as {d['format']}",
                "downloadURL": d["url"],
                "mediaType": d["media_type"],
                "format": d["format"],
            }
            for d in facts["downloads"]
        ],
    }
    if _is_url(facts["license"]):
        dataset["license"] = facts["license"]
    if _is_url(facts["source"]):
        dataset["references"] = [facts["source"]]
    return dataset


def dataset_jsonld(request, relation: Relation, activity: dict | None, built_at: float) -> dict:
    """The schema.org ``Dataset`` of a relation page (https://schema.org/Dataset)."""
    facts = dataset_facts(request, relation, activity, built_at)
    site = metadata.site()
    data = {
        "@context": "https://schema.org",
        "@type": "Dataset",
        "name": facts["title"],
        "description": facts["description"],
        "url": facts["page"],
        "identifier": facts["page"],
        "keywords": facts["keywords"],
        "isAccessibleForFree": True,
        "dateModified": facts["modified"],
        "variableMeasured": [
            {"@type": "PropertyValue", "name": c.name, **({"description": c.comment} if c.comment else {})}
            for c in relation.columns[:VARIABLES_LISTED]
        ],
        "distribution": [
            {"@type": "DataDownload", "encodingFormat": d["media_type"], "contentUrl": d["url"], "name": d["format"]}
            for d in facts["downloads"]
        ],
        "includedInDataCatalog": {
            "@type": "DataCatalog",
            "name": site["title"],
            "url": request.build_absolute_uri("/"),
        },
    }
    if facts["license"]:
        data["license"] = facts["license"]
    if facts["publisher"]:
        data["publisher"] = data["creator"] = {"@type": "Organization", "name": facts["publisher"]}
    if facts["source"]:
        data["isBasedOn"] = facts["source"]
    return data


def script_json(data: dict) -> str:
    """JSON safe inside ``<script type="application/ld+json">``: ``<``, ``>`` and ``&`` escaped
    as JSON unicode escapes (as Django's ``json_script`` does), so no value can close the tag."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return mark_safe(text)  # noqa: S308 - escaped just above


def _activity_of_all(relations) -> dict:
    try:
        return relation_activity(relations)
    except DatabaseError:  # dates fall back to the snapshot's; the catalog itself still answers
        log.warning("pg_stat_all_tables cannot be read: modified dates fall back to the snapshot's")
        return {}


@shared_document(
    "data-1.1.json", "DOCUMENT_REFRESH_SECONDS", metadata.stamp
)  # built once per version (autoapi/web/documents.py)
def data_json(request):
    """``/data-1.1.json``: the DCAT-US 1.1 catalog of every published relation (``/data.json`` is
    DCAT-US 3.0: ``catalog/standards/dcat_us3.py``)."""
    snapshot = get_snapshot()
    activity = _activity_of_all(snapshot.relations)
    datasets = [
        dcat_dataset(dataset_facts(request, r, activity.get(r.qualified_name), snapshot.built_at))
        for r in sorted(snapshot.relations, key=lambda r: (r.schema, r.name))
    ]
    body = {
        "@context": DCAT_US_CONTEXT,
        "@id": request.build_absolute_uri(reverse("data-json-1.1")),
        "@type": "dcat:Catalog",
        "conformsTo": DCAT_US_SCHEMA,
        "describedBy": DCAT_US_DESCRIBED_BY,
        "dataset": datasets,
    }
    return JsonResponse(body, json_dumps_params={"ensure_ascii": False})
