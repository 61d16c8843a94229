"""MLCommons Croissant 1.1 (https://docs.mlcommons.org/croissant/docs/croissant-spec-1.1.html):
``/api/<schema>/<relation>/croissant.json``, the JSON-LD that machine-learning tools (Hugging
Face, Kaggle, TensorFlow Datasets, Google Dataset Search, ``mlcroissant``) read.

Its distribution is two ``cr:FileObject``s, the whole-relation CSV and Parquet downloads, and one
``cr:RecordSet`` whose fields follow the columns (types from ``types.py``), read from the CSV's
columns, keyed by the primary key.

**Checksums.** A FileObject gets the ``sha256`` of the stored download (``autoapi/freshness/exportcache.py``:
the exact bytes ``?format=…&limit=all`` sends for the current data version), computed once per
stored file and process. When a download is not stored yet (nobody asked for it since the data
last changed, the data version is unknown, or the cache is off) its FileObject has no checksum,
and the dataset says ``"isLiveDataset": true``, Croissant's statement that its files change, under
which readers do not require one. Downloading the file stores it: the next Croissant document has
the checksum. Nothing is ever read from the database to build the document.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from urllib.parse import quote

from autoapi.public import Relation, csv_header, formats, stored_download_path
from catalog import metadata, present
from catalog.standards import common
from catalog.standards.types import standard_types

CONFORMS_TO = "http://mlcommons.org/croissant/1.1"
CONTEXT = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
FILES = {"csv": "text/csv", "parquet": "application/x-parquet"}
RECORDS = "rows"

_digests: OrderedDict = OrderedDict()
_digests_lock = threading.Lock()
DIGESTS_KEPT = 4096


def sha256_of(path) -> str | None:
    """The file's SHA-256 (hex), once per stored file (its name holds its version) and process."""
    key = str(path)
    with _digests_lock:
        if key in _digests:
            _digests.move_to_end(key)
            return _digests[key]
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:  # evicted meanwhile
        return None
    value = digest.hexdigest()
    with _digests_lock:
        _digests[key] = value
        while len(_digests) > DIGESTS_KEPT:
            _digests.popitem(last=False)
    return value


def field_id(name: str) -> str:
    return f"{RECORDS}/{quote(name, safe='')}"


def document(request, relation: Relation) -> dict:
    entry = metadata.for_relation(relation)
    page = request.build_absolute_uri(present.catalog_url(relation))
    files, live = [], False
    for fmt, media_type in FILES.items():
        if fmt not in formats(relation):
            continue
        item = {
            "@type": "cr:FileObject",
            "@id": fmt,
            "name": fmt,
            "contentUrl": common.download_url(request, relation, fmt),
            "encodingFormat": media_type,
        }
        stored = stored_download_path(request, relation, fmt)
        digest = sha256_of(stored) if stored is not None else None
        if digest:
            item["sha256"] = digest
            try:
                item["contentSize"] = f"{stored.stat().st_size} B"
            except OSError:
                pass
        else:
            live = True
        files.append(item)
    fields = []
    for column in relation.columns:
        item = {
            "@type": "cr:Field",
            "@id": field_id(column.name),
            "name": column.name,
            "dataType": standard_types(column).croissant,
            "source": {"fileObject": {"@id": "csv"}, "extract": {"column": csv_header(column.name)}},
        }
        if column.comment:
            item["description"] = column.comment
        fields.append(item)
    record_set = {
        "@type": "cr:RecordSet",
        "@id": RECORDS,
        "name": RECORDS,
        "description": f"One record per row of {relation.schema}.{relation.name}.",
        "field": fields,
    }
    if relation.primary_key:
        record_set["key"] = [{"@id": field_id(n)} for n in relation.primary_key.columns]
    body = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": entry.get("title") or f"{relation.schema}.{relation.name}",
        "description": entry.get("description")
        or relation.comment
        or (f"The {relation.kind} {relation.schema}.{relation.name}, published read-only from PostgreSQL."),
        "url": page,
        "distribution": files,
        "recordSet": [record_set],
    }
    if live:
        body["isLiveDataset"] = True
    if entry.get("license"):
        body["license"] = entry["license"]
    publisher = metadata.publisher_name(entry)
    if publisher:
        body["publisher"] = body["creator"] = {"@type": "sc:Organization", "name": publisher}
    keywords = entry.get("keywords")
    if keywords:
        body["keywords"] = keywords
    return body


def croissant_view(request, schema: str, relation: str):
    found = common.find_relation(schema, relation)
    if found is None:
        return common.not_found("no such published relation")
    return common.json_answer(document(request, found), "application/ld+json")
