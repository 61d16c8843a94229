"""The optional metadata file (``PORTAL["METADATA_FILE"]``): what the database cannot say about
its data: who publishes it, whom to contact, under which license, where it comes from.

Read by ``catalog.views`` (relation pages), ``catalog.opendata`` (``/data.json``, JSON-LD) and
``catalog.checks`` (a broken file is a ``manage.py check`` error). The file is re-read when its
modification time changes; a file that breaks while the portal runs is logged and ignored (the
pages fall back to the database's comments), never a 500. The format is in docs/catalog.md::

    {"site": {"title": ..., "description": ..., "publisher": ..., "contact": {"name": ..., "email": ...},
              "license": ..., "source": ..., "keywords": [...]},
     "relations": {"<schema>": {"<relation>": {<the same fields but site-only ones>, "modified": ...}}}}
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import date, datetime

from autoapi.conf import portal_setting
from autoapi.public import Relation

log = logging.getLogger(__name__)

SITE_TITLE = "Open Data Portal"
TEXT_FIELDS = ("title", "description", "license", "source", "modified")
RELATION_FIELDS = TEXT_FIELDS + ("keywords", "publisher", "contact")
SITE_FIELDS = ("title", "description", "license", "source", "keywords", "publisher", "contact")
INHERITED = ("license", "source", "keywords", "publisher", "contact")  # from "site" to each relation

_cache: dict = {"key": None, "data": None}
_lock = threading.Lock()


class MetadataError(ValueError):
    """The metadata file cannot be used; the message says where and why."""


def problems(data) -> list[str]:
    """What is wrong with a parsed metadata file ([] when nothing is)."""
    if not isinstance(data, dict):
        return ['the file must hold a JSON object with "site" and/or "relations"']
    found = [
        f'unknown top-level key {key!r} (expected "site", "relations")'
        for key in data
        if key not in ("site", "relations")
    ]
    site = data.get("site", {})
    if not isinstance(site, dict):
        found.append('"site" must be an object')
    else:
        found += _entry_problems("site", site, SITE_FIELDS)
    relations = data.get("relations", {})
    if not isinstance(relations, dict):
        return found + ['"relations" must be an object of schemas, each an object of relations']
    for schema, members in relations.items():
        if not isinstance(members, dict):
            found.append(f"relations[{schema!r}] must be an object whose keys are relation names")
            continue
        for name, entry in members.items():
            where = f"relations[{schema!r}][{name!r}]"
            if not isinstance(entry, dict):
                found.append(f"{where} must be an object")
            else:
                found += _entry_problems(where, entry, RELATION_FIELDS)
    return found


def _entry_problems(where: str, entry: dict, allowed: tuple[str, ...]) -> list[str]:
    found = [f"{where}: unknown field {key!r} (allowed: {', '.join(allowed)})" for key in entry if key not in allowed]
    for key in TEXT_FIELDS:
        if key in entry and not (isinstance(entry[key], str) and entry[key].strip()):
            found.append(f"{where}.{key} must be a non-empty string")
    if "modified" in entry and isinstance(entry["modified"], str) and not _is_iso_date(entry["modified"]):
        found.append(f"{where}.modified must be an ISO 8601 date or date-time, e.g. 2024-05-01")
    keywords = entry.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) and k.strip() for k in keywords):
        found.append(f"{where}.keywords must be a list of non-empty strings")
    publisher = entry.get("publisher")
    if publisher is not None and not (
        (isinstance(publisher, str) and publisher.strip())
        or (isinstance(publisher, dict) and isinstance(publisher.get("name"), str) and publisher["name"].strip())
    ):
        found.append(f'{where}.publisher must be a name, or an object with a "name"')
    contact = entry.get("contact")
    if contact is not None:
        if (
            not isinstance(contact, dict)
            or not isinstance(contact.get("name"), str)
            or not isinstance(contact.get("email"), str)
        ):
            found.append(f'{where}.contact must be an object with "name" and "email"')
        elif "@" not in contact["email"].removeprefix("mailto:"):
            found.append(f"{where}.contact.email must be an e-mail address")
    return found


def _is_iso_date(text: str) -> bool:
    try:
        (datetime if "T" in text or " " in text else date).fromisoformat(text)
    except ValueError:
        return False
    return True


def read(path: str) -> dict:
    """The file's content, checked; raises MetadataError."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise MetadataError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise MetadataError(f"{path} is not valid JSON: {exc}") from None
    found = problems(data)
    if found:
        raise MetadataError(f"{path}: " + "; ".join(found))
    return data


def stamp() -> tuple:
    """What names the metadata file's current content (its path and modification time): part of
    the version of the documents built from it (``autoapi.web.documents.shared_document``)."""
    path = portal_setting("METADATA_FILE")
    try:
        return (path, os.stat(path).st_mtime_ns) if path else ()
    except OSError:
        return (path, None)


def load() -> dict:
    """The metadata file's content ({} without one, or when it is broken: the error is logged)."""
    path = portal_setting("METADATA_FILE")
    if not path:
        return {}
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        stamp = None
    key = (path, stamp)
    with _lock:
        if _cache["key"] == key:
            return _cache["data"]
        try:
            data = read(path)
        except MetadataError as exc:
            log.error("metadata file ignored: %s", exc)
            data = {}
        _cache.update(key=key, data=data)
        return data


def site() -> dict:
    """Site-wide metadata, with the portal's name as the default title."""
    data = load().get("site", {})
    return {"title": SITE_TITLE, **data}


def for_relation(relation: Relation, data: dict | None = None) -> dict:
    """The relation's entry, with the site's license, source, keywords, publisher and contact
    where the entry has none. Keys are those of the file; absent ones are absent. ``data``: the
    file's content (``load()``) when the caller read it once for many relations."""
    if data is None:
        data = load()
    entry = data.get("relations", {}).get(relation.schema, {}).get(relation.name, {})
    defaults = {key: value for key, value in data.get("site", {}).items() if key in INHERITED}
    return {**defaults, **entry}


def publisher_name(entry: dict) -> str | None:
    publisher = entry.get("publisher")
    if isinstance(publisher, dict):
        return publisher.get("name")
    return publisher


def contact_email(entry: dict) -> str | None:
    contact = entry.get("contact") or {}
    email = contact.get("email")
    return email.removeprefix("mailto:") if email else None


def signature():
    """What changes when the file does (its path and modification time): part of the keys of
    documents built from it (catalog/standards)."""
    load()
    with _lock:
        return _cache["key"]
