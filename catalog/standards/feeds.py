"""The change feeds: ``/changes.atom`` (Atom 1.0, RFC 4287) and ``/changes.json`` (JSON Feed 1.1)
for the whole portal, the same per relation under ``/api/<schema>/<relation>/``, and the catalog's
"Recent changes" page (``/changes/``), all read from the change log (``changelog.py``).

**Permissions.** A feed shows an entry only when its relation is published now, that is readable
by the portal's role (the snapshot holds nothing else), or when the entry is the relation's
``withdrawn`` entry: a relation that left shows that it left (it was published until then), and
nothing else of its history. The per-relation feeds of an unpublished relation are a 404, as its
other URLs are.

**Paging** (RFC 5005): the newest ``FEED_PAGE`` entries, then ``?before=<entry number>`` for
older ones (Atom ``rel="next"``, JSON Feed ``next_url``). ``before`` must be a positive integer
(a 400 otherwise). The whole-portal pages are built once per snapshot version, newest entry,
page, host and scheme, and shared (``autoapi.public.document_response``); a relation's are one
indexed read.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from datetime import UTC, datetime
from xml.sax.saxutils import escape, quoteattr

from django.http import HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse

from autoapi.conf import portal_setting
from autoapi.public import document_response, get_snapshot
from catalog import metadata, present
from catalog.standards import changelog, common

log = logging.getLogger(__name__)

FEED_PAGE = 50
MAX_BEFORE = 1 << 62
ATOM = "application/atom+xml"
JSON_FEED = "application/feed+json"
_ENTRY_NUMBER = re.compile(r"[0-9]{1,19}")  # ASCII digits only (str.isdigit takes "²", int() refuses it)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


class BadParameter(ValueError):
    pass


def before_parameter(request) -> int | None:
    values = request.GET.getlist("before")
    if not values:
        return None
    if len(values) > 1:
        raise BadParameter("give before= once")
    text = values[0]
    if not _ENTRY_NUMBER.fullmatch(text) or not 0 < int(text) < MAX_BEFORE:
        raise BadParameter("before= must be an entry number, a positive integer (from a feed's next link)")
    return int(text)


def unknown_parameters(request, allowed=("before",)) -> list[str]:
    return sorted(set(request.GET) - set(allowed))


def visible_in(snapshot):
    published = {r.oid for r in snapshot.relations}
    return lambda entry: entry["oid"] in published or entry["kind"] == "withdrawn"


def _rows(d: dict) -> str:
    before, after = d.get("rows_before"), d.get("rows_after")
    if before is not None and after is not None:
        return f" ({before:,} rows before, {after:,} after)"
    return f" ({after:,} rows)" if after is not None else ""


# Each kind of entry in words, after the relation's name (one table, as the type map is).
WORDS = {
    "published": lambda d: f" published ({d.get('columns', 0)} columns)",
    "withdrawn": lambda d: " withdrawn: no longer published",
    "column_added": lambda d: f": column {d['column']} added ({d['type']})",
    "column_dropped": lambda d: f": column {d['column']} dropped (was {d['type']})",
    "column_renamed": lambda d: f": column {d['from']} renamed to {d['column']}",
    "column_retyped": lambda d: f": column {d['column']} changed type from {d['before']} to {d['after']}",
    "comment_changed": lambda d: (
        f": comment of column {d['column']} changed" if d.get("column") else ": comment changed"
    ),
    "data_changed": lambda d: ": new data" + _rows(d),
}


def describe(entry: dict) -> str:
    """The entry in words: "public.flights: column dep_delay added (integer)"."""
    d, kind = entry["detail"], entry["kind"]
    name = f"{entry['schema']}.{entry['name']}"
    if kind == "renamed":
        return f"{'.'.join(d['from'])} renamed to {name}"
    words = WORDS.get(kind)
    return name + (words(d) if words else f": {kind}")


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def entry_link(request, entry: dict, snapshot) -> str:
    relation = snapshot.get(entry["schema"], entry["name"])
    if relation is not None and relation.oid == entry["oid"]:
        return request.build_absolute_uri(present.catalog_url(relation))
    return request.build_absolute_uri(reverse("changes"))


def xml_text(text) -> str:
    return escape(_NOT_XML.sub("\ufffd", str(text)))


def xml_attr(text) -> str:
    return quoteattr(_NOT_XML.sub("\ufffd", str(text)))


def atom(
    request, title: str, feed_id: str, self_url: str, alternate: str, items: list[dict], next_url: str | None
) -> bytes:
    snapshot = get_snapshot()
    updated = iso(max((e["at"] for e in items), default=snapshot.built_at))
    author = metadata.publisher_name(metadata.site()) or metadata.site()["title"]
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<id>{xml_text(feed_id)}</id>",
        f"<title>{xml_text(title)}</title>",
        f"<updated>{updated}</updated>",
        f"<author><name>{xml_text(author)}</name></author>",
        f'<link rel="self" type="{ATOM}" href={xml_attr(self_url)}/>',
        f'<link rel="alternate" type="text/html" href={xml_attr(alternate)}/>',
    ]
    if next_url:
        parts.append(f'<link rel="next" type="{ATOM}" href={xml_attr(next_url)}/>')
    for entry in items:
        text = describe(entry)
        parts.append(
            f"<entry><id>urn:uuid:{entry['id']}</id><title>{xml_text(text)}</title>"
            f"<updated>{iso(entry['at'])}</updated><published>{iso(entry['at'])}</published>"
            f'<link rel="alternate" type="text/html" href={xml_attr(entry_link(request, entry, snapshot))}/>'
            f"<category term={xml_attr(entry['kind'])}/>"
            f"<summary>{xml_text(text)}</summary></entry>"
        )
    parts.append("</feed>")
    return ("\n".join(parts) + "\n").encode()


def json_feed(request, title: str, self_url: str, home: str, items: list[dict], next_url: str | None) -> bytes:
    snapshot = get_snapshot()
    body = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": title,
        "home_page_url": home,
        "feed_url": self_url,
        "items": [
            {
                "id": f"urn:uuid:{e['id']}",
                "url": entry_link(request, e, snapshot),
                "title": describe(e),
                "content_text": describe(e),
                "date_published": iso(e["at"]),
                "tags": [e["kind"]],
                "_portal": {
                    "entry": e["seq"],
                    "kind": e["kind"],
                    "schema": e["schema"],
                    "relation": e["name"],
                    "detail": e["detail"],
                },
            }
            for e in items
        ],
    }
    if next_url:
        body["next_url"] = next_url
    return common.json_answer(body).content


def _refused(request, base_path: str, detail: str, parameter: str):
    """A 400 in its surface's form: JSON naming the parameter under /api/, a page elsewhere."""
    if base_path.startswith("/api/"):
        return common.bad_request(detail, parameter)
    from catalog.views import error_page

    return error_page(request, 400, "Bad request", detail[:1].upper() + detail[1:] + ".")


def _page(request, fmt: str, oid: int | None, title: str, base_path: str, home: str, feed_key: str):
    try:
        before = before_parameter(request)
    except BadParameter as exc:
        return _refused(request, base_path, str(exc), "before")
    unknown = unknown_parameters(request)
    if unknown:
        return _refused(
            request, base_path, f"unknown parameter: {', '.join(unknown)} (a feed takes before= only)", unknown[0]
        )
    snapshot = get_snapshot()

    def build():
        try:
            items = changelog.entries(visible_in(snapshot), before=before, limit=FEED_PAGE, oid=oid)
        except (sqlite3.Error, OSError):  # the log cannot be read (its folder is missing or unreadable)
            log.warning("the change log cannot be read; the feed answers without entries", exc_info=True)
            items = []
        self_url = request.build_absolute_uri(base_path + (f"?before={before}" if before else ""))
        next_url = (
            request.build_absolute_uri(f"{base_path}?before={items[-1]['seq']}") if len(items) == FEED_PAGE else None
        )
        if fmt == "atom":
            return atom(request, title, feed_key, self_url, home, items, next_url)
        return json_feed(request, title, self_url, home, items, next_url)

    content_type = (ATOM if fmt == "atom" else JSON_FEED) + "; charset=utf-8"
    if oid is None:  # the whole portal's page: built once per log entry and shared (a few ms)
        family = ("feed", fmt, before, request.scheme, request.get_host())
        version = repr((snapshot.version, changelog.last_seq(), metadata.stamp()))
        return document_response(request, family, version, lambda: (build(), content_type), bounded=False)
    return HttpResponse(build(), content_type=content_type)


def portal_feed(request, fmt: str):
    title = f"{metadata.site()['title']}: changes"
    return _page(
        request,
        fmt,
        None,
        title,
        f"/changes.{fmt}",
        request.build_absolute_uri(reverse("changes")),
        f"urn:uuid:{changelog.entry_id('feed', changelog.path().name)}",
    )


def relation_feed(request, schema: str, relation: str, fmt: str):
    found = common.find_relation(schema, relation)
    if found is None:
        return common.not_found("no such published relation")
    title = f"{found.schema}.{found.name}: changes"
    return _page(
        request,
        fmt,
        found.oid,
        title,
        common.relation_base(found) + f"changes.{fmt}",
        request.build_absolute_uri(present.catalog_url(found)),
        f"urn:uuid:{changelog.entry_id('feed', changelog.path().name, found.oid)}",
    )


def recent(relation, limit: int = 5) -> list[dict]:
    """A relation's last changes, for its catalog page (newest first, in words)."""
    try:
        items = changelog.entries(lambda e: True, limit=limit, oid=relation.oid)
    except Exception:  # the log cannot be read: the page goes on without it
        return []
    return [{"text": describe(e), "kind": e["kind"], "iso": iso(e["at"]), "at": _when(e["at"])} for e in items]


def _when(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def recent_changes(request):
    """The catalog's "Recent changes": the whole-portal feed as a page."""
    from catalog.views import error_page

    try:
        before = before_parameter(request)
    except BadParameter as exc:
        return error_page(request, 400, "Bad request", str(exc))
    unknown = unknown_parameters(request)
    if unknown:
        return error_page(
            request, 400, "Bad request", f"Unknown parameter: {', '.join(unknown)}. This page takes before= only."
        )
    snapshot = get_snapshot()
    try:
        items = changelog.entries(visible_in(snapshot), before=before, limit=FEED_PAGE)
    except Exception:
        items = []
    rows = []
    for e in items:
        relation = snapshot.get(e["schema"], e["name"])
        url = present.catalog_url(relation) if relation is not None and relation.oid == e["oid"] else None
        rows.append(
            {
                "text": describe(e),
                "kind": e["kind"].replace("_", " "),
                "iso": iso(e["at"]),
                "at": _when(e["at"]),
                "url": url,
            }
        )
    context = {
        "items": rows,
        "next": f"?before={items[-1]['seq']}" if len(items) == FEED_PAGE else None,
        "paged": before is not None,
        "site": metadata.site(),
        "days": portal_setting("CHANGE_LOG_DAYS"),
    }
    return HttpResponse(render_to_string("catalog/changes.html", context, request=request))
