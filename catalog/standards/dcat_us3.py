"""DCAT-US 3.0 (https://github.com/DOI-DO/dcat-us, JSON Schema in GSA/dcat-us ``jsonschema/``) at
``/data.json``: the catalog data.gov's harvester reads. DCAT-US 1.1 stays at ``/data-1.1.json``
(``catalog.opendata``) for harvesters that still read 1.1.

One ``Dataset`` per published relation: title and description (metadata file, else the COMMENT),
an ``Identifier`` (its catalog page), ``publisher`` (an ``Organization``) and ``contactPoint`` (a
vCard ``Kind`` with an e-mail) from the metadata file (docs/catalog.md, "Metadata file"), keywords, the
date its data last changed (the data version's first-seen time, else the metadata file's
``modified``, else when the portal read the schema), its catalog page as ``landingPage``, one
``Distribution`` per whole-relation download, and the documents that describe it: the Data
Package as the dataset's ``describedBy``, the CSVW metadata as the CSV distribution's, the
Croissant document as the Parquet distribution's, each a ``Distribution`` that ``conformsTo`` its
``Standard``. The catalog ``conformsTo`` DCAT-US 3.0 as a ``Standard`` object; it has no
``@context`` (DCAT-US 3.0 dropped 1.1's ``@context`` and ``describedBy``).

Built once per snapshot version, host, scheme and metadata file per process and kept in
``common.memo``; when the change log has moved since (new data), built again for the new dates,
at most once a minute (``DATES_SECONDS``): at 10,000 relations a build costs about a second of
one core (docs/opendata.md). Nothing is read from the database.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from django.urls import reverse

from autoapi.public import Relation, data_last_changed, get_snapshot, shared_document
from catalog import metadata, opendata
from catalog.standards import changelog, common

CONFORMS_TO = "https://resources.data.gov/dcat-us/3.0.0/catalog"
# A data change (a new entry in the change log) rebuilds the catalog for its dates at most this
# often per process; a schema change, at once (the snapshot version is in the key).
DATES_SECONDS = 60
STANDARDS = {
    "datapackage": {
        "@type": "Standard",
        "@id": "https://datapackage.org/standard/data-package/",
        "title": "Data Package v2 (Frictionless Data)",
    },
    "csvw": {"@type": "Standard", "@id": "http://www.w3.org/ns/csvw", "title": "CSV on the Web (W3C)"},
    "croissant": {
        "@type": "Standard",
        "@id": "http://mlcommons.org/croissant/1.1",
        "title": "Croissant 1.1 (MLCommons)",
    },
}


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=UTC).isoformat(timespec="seconds")


def described_by(base: str, document: str, standard: str, media_type: str, title: str) -> dict:
    return {
        "@type": "Distribution",
        "title": title,
        "downloadURL": base + document,
        "mediaType": media_type,
        "conformsTo": [STANDARDS[standard]],
    }


def dataset(request, relation: Relation, built_at: float) -> dict:
    facts = opendata.dataset_facts(request, relation, None, built_at)
    entry = metadata.for_relation(relation)
    changed = data_last_changed(relation)
    modified = entry.get("modified") or (_iso(changed["at"]) if changed["at"] else _iso(built_at))
    contact = facts["contact"] or opendata.UNCONFIGURED_CONTACT
    base = facts["api"]
    distributions = []
    for download in facts["downloads"]:
        item = {
            "@type": "Distribution",
            "title": f"{facts['title']} as {download['format']}",
            "downloadURL": download["url"],
            "mediaType": download["media_type"],
        }
        if download["format"] == "CSV":
            item["describedBy"] = described_by(
                base,
                "csv-metadata.json",
                "csvw",
                "application/csvm+json",
                "CSV on the Web metadata of the CSV download",
            )
        elif download["format"] == "Parquet":
            item["describedBy"] = described_by(
                base, "croissant.json", "croissant", "application/ld+json", "Croissant description of the downloads"
            )
        distributions.append(item)
    result = {
        "@type": "Dataset",
        "@id": facts["page"],
        "title": facts["title"],
        "description": facts["description"],
        "identifier": {"@type": "Identifier", "notation": facts["page"]},
        "publisher": {"@type": "Organization", "name": facts["publisher"] or metadata.site()["title"]},
        "contactPoint": {
            "@type": "Kind",
            "fn": contact["name"],
            "hasEmail": "mailto:" + contact["email"].removeprefix("mailto:"),
        },
        "keyword": [k for k in facts["keywords"] if k],
        "modified": modified,
        "landingPage": {"@type": "Document", "title": facts["title"], "accessURL": facts["page"]},
        "accessRights": "public",
        "distribution": distributions,
        "describedBy": described_by(
            base, "datapackage.json", "datapackage", "application/json", "Data Package (Table Schema) of the dataset"
        ),
    }
    if common.is_url(facts["source"]):
        result["relation"] = [facts["source"]]
    return result


def catalog(request) -> dict:
    snapshot = get_snapshot()
    site = metadata.site()
    body = {
        "@id": request.build_absolute_uri(reverse("data-json")),
        "@type": "Catalog",
        "conformsTo": {"@type": "Standard", "@id": CONFORMS_TO, "title": "DCAT-US 3.0"},
        "title": site["title"],
        "dataset": [
            dataset(request, r, snapshot.built_at) for r in sorted(snapshot.relations, key=lambda r: (r.schema, r.name))
        ],
    }
    if site.get("description"):
        body["description"] = site["description"]
    return body


# Built once per version and shared by every request (autoapi/web/documents.py: single flight, a
# byte budget); inside, the memo below follows the change log for newer modification dates.
@shared_document("data.json", "DOCUMENT_REFRESH_SECONDS", metadata.stamp)
def data_json(request):
    """``/data.json``: the DCAT-US 3.0 catalog of every published relation."""
    snapshot = get_snapshot()
    key = ("dcat-us-3", snapshot.version, request.scheme, request.get_host(), metadata.signature())
    seq = changelog.last_seq()
    kept = common.memo.get(key)
    if kept is None or (kept[2] != seq and time.monotonic() - kept[1] >= DATES_SECONDS):
        kept = (common.json_answer(catalog(request)).content, time.monotonic(), seq)
        common.memo.put(key, kept)
    return common.bytes_answer(kept[0], "application/json; charset=utf-8")
