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

Built once per snapshot version, host, scheme and metadata file and shared
(``shared_document``); when the change log has moved since (new data), built again for the new
dates, at most once per DOCUMENT_REFRESH_SECONDS: at 10,000 relations a build costs about a
third of a second of one core (docs/operations.md, "Catalog documents at scale"). Nothing is read
from the database.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.urls import reverse

from autoapi.public import Relation, data_last_changed, get_snapshot, shared_document
from catalog import metadata, opendata
from catalog.standards import changelog, common

CONFORMS_TO = "https://resources.data.gov/dcat-us/3.0.0/catalog"
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


class Datasets:
    """The ``Dataset`` of each relation of one catalog. What every dataset shares (the metadata
    file's content, the site's title, the default contact, the dates already written) is worked
    out once per catalog, not once per relation: at 10,000 relations the per-relation work is
    the whole cost of ``/data.json`` (docs/operations.md, "Catalog documents at scale")."""

    def __init__(self, request, built_at: float, site: dict):
        self.request = request
        self.built_at = built_at
        self.data = metadata.load()
        self.site_title = site["title"]
        self.unconfigured = contact_point(opendata.UNCONFIGURED_CONTACT)
        self.dates: dict[float, str] = {}  # Unix time -> ISO text (many relations share a second)

    def date(self, moment: float) -> str:
        text = self.dates.get(moment)
        if text is None:
            text = self.dates[moment] = _iso(moment)
        return text

    def of(self, relation: Relation) -> dict:
        entry = metadata.for_relation(relation, self.data)
        facts = opendata.dataset_facts(self.request, relation, None, self.built_at, entry)
        title = facts["title"]
        base = facts["api"]
        distributions = []
        for download in facts["downloads"]:
            fmt = download["format"]
            item = {
                "@type": "Distribution",
                "title": f"{title} as {fmt}",
                "downloadURL": download["url"],
                "mediaType": download["media_type"],
            }
            if fmt == "CSV":
                item["describedBy"] = described_by(
                    base,
                    "csv-metadata.json",
                    "csvw",
                    "application/csvm+json",
                    "CSV on the Web metadata of the CSV download",
                )
            elif fmt == "Parquet":
                item["describedBy"] = described_by(
                    base, "croissant.json", "croissant", "application/ld+json", "Croissant description of the downloads"
                )
            distributions.append(item)
        page = facts["page"]
        result = {
            "@type": "Dataset",
            "@id": page,
            "title": title,
            "description": facts["description"],
            "identifier": {"@type": "Identifier", "notation": page},
            "publisher": {"@type": "Organization", "name": facts["publisher"] or self.site_title},
            "contactPoint": contact_point(facts["contact"]) if facts["contact"] else self.unconfigured,
            "keyword": [k for k in facts["keywords"] if k],
            "modified": entry.get("modified") or self.date(data_last_changed(relation)["at"] or self.built_at),
            "landingPage": {"@type": "Document", "title": title, "accessURL": page},
            "accessRights": "public",
            "distribution": distributions,
            "describedBy": described_by(
                base,
                "datapackage.json",
                "datapackage",
                "application/json",
                "Data Package (Table Schema) of the dataset",
            ),
        }
        if facts["source"] is not None and common.is_url(facts["source"]):
            result["relation"] = [facts["source"]]
        return result


def contact_point(contact: dict) -> dict:
    return {"@type": "Kind", "fn": contact["name"], "hasEmail": "mailto:" + contact["email"].removeprefix("mailto:")}


def catalog(request) -> dict:
    snapshot = get_snapshot()
    site = metadata.site()
    datasets = Datasets(request, snapshot.built_at, site)
    body = {
        "@id": request.build_absolute_uri(reverse("data-json")),
        "@type": "Catalog",
        "conformsTo": {"@type": "Standard", "@id": CONFORMS_TO, "title": "DCAT-US 3.0"},
        "title": site["title"],
        "dataset": [datasets.of(r) for r in sorted(snapshot.relations, key=lambda r: (r.schema, r.name))],
    }
    if site.get("description"):
        body["description"] = site["description"]
    return body


# Built once per version (snapshot, settings, metadata file) and shared by every request
# (autoapi/web/documents.py: single flight, a byte budget, stored beside the downloads); its
# modification dates follow the change log: a version held for DOCUMENT_REFRESH_SECONDS is built
# again when the log has a new entry since, and kept as it is when not.
@shared_document("data.json", "DOCUMENT_REFRESH_SECONDS", metadata.stamp, freshness=changelog.last_seq)
def data_json(request):
    """``/data.json``: the DCAT-US 3.0 catalog of every published relation."""
    return common.json_answer(catalog(request))
