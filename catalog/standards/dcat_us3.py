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

from django.http import HttpResponse
from django.urls import reverse

from autoapi.public import Relation, data_last_changed, get_snapshot, shared_document
from catalog import metadata, opendata
from catalog.standards import changelog, common
from catalog.standards.common import JSONTemplate, json_text

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


# The documents that describe a dataset and its downloads: (document, standard, media type, title).
PACKAGE = ("datapackage.json", "datapackage", "application/json", "Data Package (Table Schema) of the dataset")
DESCRIBED_BY = {  # a download's format -> the document that describes it
    "CSV": ("csv-metadata.json", "csvw", "application/csvm+json", "CSV on the Web metadata of the CSV download"),
    "Parquet": ("croissant.json", "croissant", "application/ld+json", "Croissant description of the downloads"),
}

# Each part of the catalog as JSON text with holes (common.JSONTemplate): written once, filled per
# relation. The models are the documents' shapes; a hole's number is its place in ``fill``.
_ = JSONTemplate.hole
DESCRIBER = {
    fmt: JSONTemplate(described_by(_(0), "", standard, media_type, title))
    for fmt, (_document, standard, media_type, title) in {**DESCRIBED_BY, "package": PACKAGE}.items()
}
DISTRIBUTION = JSONTemplate({"@type": "Distribution", "title": _(0), "downloadURL": _(1), "mediaType": _(2)})
DESCRIBED_DISTRIBUTION = JSONTemplate(
    {"@type": "Distribution", "title": _(0), "downloadURL": _(1), "mediaType": _(2), "describedBy": _(3)}
)
_DATASET = {
    "@type": "Dataset",
    "@id": _(0),
    "title": _(1),
    "description": _(2),
    "identifier": {"@type": "Identifier", "notation": _(0)},
    "publisher": {"@type": "Organization", "name": _(3)},
    "contactPoint": _(4),
    "keyword": _(5),
    "modified": _(6),
    "landingPage": {"@type": "Document", "title": _(1), "accessURL": _(0)},
    "accessRights": "public",
    "distribution": _(7),
    "describedBy": _(8),
}
DATASET = JSONTemplate(_DATASET)
DATASET_WITH_SOURCE = JSONTemplate({**_DATASET, "relation": _(9)})


class Datasets:
    """The ``Dataset`` of each relation of one catalog, as JSON text. What every dataset shares
    (the metadata file's content, the site's title, the default contact, the dates already
    written, the JSON around the values) is worked out once per catalog, not once per relation:
    at 10,000 relations the per-relation work is the whole cost of ``/data.json``
    (docs/operations.md, "Catalog documents at scale")."""

    def __init__(self, request, built_at: float, site: dict):
        self.request = request
        self.built_at = built_at
        self.data = metadata.load()
        self.site_title = site["title"]
        self.unconfigured = json_text(contact_point(opendata.UNCONFIGURED_CONTACT))
        self.dates: dict[float, str] = {}  # Unix time -> JSON text of its ISO date (many share a second)

    def date(self, moment: float) -> str:
        text = self.dates.get(moment)
        if text is None:
            text = self.dates[moment] = json_text(_iso(moment))
        return text

    def of(self, relation: Relation) -> str:
        entry = metadata.for_relation(relation, self.data)
        facts = opendata.dataset_facts(self.request, relation, None, self.built_at, entry)
        title, base, page = facts["title"], facts["api"], json_text(facts["page"])
        title_text = json_text(title)
        distributions = []
        for download in facts["downloads"]:
            fmt = download["format"]
            texts = (json_text(f"{title} as {fmt}"), json_text(download["url"]), json_text(download["media_type"]))
            described = DESCRIBED_BY.get(fmt)
            if described is None:
                distributions.append(DISTRIBUTION.fill(*texts))
            else:
                describer = DESCRIBER[fmt].fill(json_text(base + described[0]))
                distributions.append(DESCRIBED_DISTRIBUTION.fill(*texts, describer))
        modified = entry.get("modified")
        texts = [
            page,
            title_text,
            json_text(facts["description"]),
            json_text(facts["publisher"] or self.site_title),
            json_text(contact_point(facts["contact"])) if facts["contact"] else self.unconfigured,
            "[" + ",".join(json_text(k) for k in facts["keywords"] if k) + "]",
            json_text(modified) if modified else self.date(data_last_changed(relation)["at"] or self.built_at),
            "[" + ",".join(distributions) + "]",
            DESCRIBER["package"].fill(json_text(base + PACKAGE[0])),
        ]
        if facts["source"] is not None and common.is_url(facts["source"]):
            return DATASET_WITH_SOURCE.fill(*texts, "[" + json_text(facts["source"]) + "]")
        return DATASET.fill(*texts)


def contact_point(contact: dict) -> dict:
    return {"@type": "Kind", "fn": contact["name"], "hasEmail": "mailto:" + contact["email"].removeprefix("mailto:")}


def catalog(request) -> str:
    """The catalog as JSON text (what ``common.dumps`` writes for it)."""
    snapshot = get_snapshot()
    site = metadata.site()
    datasets = Datasets(request, snapshot.built_at, site)
    model = {
        "@id": request.build_absolute_uri(reverse("data-json")),
        "@type": "Catalog",
        "conformsTo": {"@type": "Standard", "@id": CONFORMS_TO, "title": "DCAT-US 3.0"},
        "title": site["title"],
        "dataset": [],
    }
    if site.get("description"):
        model["description"] = site["description"]
    relations = sorted(snapshot.relations, key=lambda r: (r.schema, r.name))
    # The first '"dataset":[]' is the key's (a string's quotes are escaped, \"), and no hole is
    # made in text from the metadata file.
    empty = '"dataset":[]'
    return common.dumps(model).replace(empty, empty[:-1] + ",".join(datasets.of(r) for r in relations) + "]", 1)


# Built once per version (snapshot, settings, metadata file) and shared by every request
# (autoapi/web/documents.py: single flight, a byte budget, stored beside the downloads); its
# modification dates follow the change log: a version held for DOCUMENT_REFRESH_SECONDS is built
# again when the log has a new entry since, and kept as it is when not.
@shared_document("data.json", "DOCUMENT_REFRESH_SECONDS", metadata.stamp, freshness=changelog.last_seq)
def data_json(request):
    """``/data.json``: the DCAT-US 3.0 catalog of every published relation."""
    return HttpResponse(catalog(request).encode(), content_type="application/json; charset=utf-8")
