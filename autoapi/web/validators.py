"""ETags and Last-Modified from the data version, so that a revalidation costs no query.

Wraps the API's list, row and tile views (``urls.py``). When the relation's data version is
known (``dataversion.py``), the answer's validators are derived from it before anything is read:

- ``ETag: W/"dv-<hash>"`` of the data version, the schema snapshot, the URL, host and scheme, the
  ``Accept`` header and the content coding the client will get. Weak, because
  ``autoapi.web.compression`` may still decide (body size) to send it uncompressed; different per
  coding all the same, so no two representations share one (RFC 9110 8.8.3).
- ``Last-Modified``: the second this process first saw the version (rounded up, see
  ``dataversion.py``).

A request whose ``If-None-Match`` names that tag (or, without one, whose ``If-Modified-Since`` is
not older) is answered ``304`` here, from memory. The version is read before the rows, so an
answer is never older than its validators say. With read replicas, pages and rows keep the
body-hash ETag of ``ConditionalGetMiddleware`` (a replica may lag behind the primary's counters);
whole-relation downloads from the export cache, filled from the primary, keep their validators.
"""

from __future__ import annotations

import hashlib

from django.http import HttpResponseNotModified
from django.utils.cache import patch_vary_headers
from django.utils.http import http_date, parse_etags, parse_http_date_safe

from autoapi.db import replicas
from autoapi.db.context import context_of, full_path_of, host_of
from autoapi.formats.filenames import content_disposition
from autoapi.freshness import exportcache, fileranges
from autoapi.web.compression import choose_coding
from autoapi.web.registry import registry


def serve(request, found, snapshot_version: str, answer):
    """``answer(data_tag)``'s response with data validators, or a 304 without calling it.
    ``found``: the relation the URL names in the snapshot of ``snapshot_version`` (None: not
    published); ``data_tag``: its data version's tag when known (the page cache keys on it)."""
    found = found if request.method in ("GET", "HEAD") else None
    version = registry.data_version(found) if found is not None else None
    known = version is not None and version.known
    inner = _admitted(request, lambda: answer(version.tag if known else None))
    if not known:
        return inner()
    fmt = exportcache.whole_relation_format(request, found)
    entry = exportcache.entry_for(request, found, fmt, version.tag, snapshot_version) if fmt else None
    if entry is None and replicas.replica_aliases():
        return inner()
    etag = _etag(request, version.tag, snapshot_version)
    last_modified = version.last_modified()
    stored = exportcache.stored(entry) if entry is not None else None
    matched = _not_modified(request, [etag] + ([entry.etag] if stored else []), last_modified)
    if matched:
        return _answer_304(matched, last_modified)
    if stored:
        exportcache.touch(stored[0])
        try:
            response = fileranges.file_response(request, stored[0], stored[1], entry.etag, last_modified)
        except FileNotFoundError:  # evicted since stored() looked: served live (and stored again)
            response = None
        if response is not None:
            response["Content-Disposition"] = _disposition(found, fmt)
            return response
    return _live(request, inner, entry, etag, last_modified)


def _admitted(request, inner):
    """``inner``, preceded by the request's download admission when it has one: set by the
    fair-share middleware on a whole-relation download (``RequestContext.download_admission``),
    called just before the download queries (not for a 304 nor a stored file, which hold no
    connection)."""
    admit = context_of(request).download_admission
    if admit is None:
        return inner

    def admitted_inner():
        refused = admit()
        return refused if refused is not None else inner()

    return admitted_inner


def _live(request, inner, entry, etag: str, last_modified: int | None):
    """The view's own answer, labelled, and kept as the stored download when this request may
    write it (``entry``: a whole-relation download not stored yet)."""
    writer = exportcache.claim(entry) if entry is not None and request.method == "GET" else None
    if writer is not None:
        replicas.use_primary(request)  # the file must hold what the version counts: the primary's rows
    try:
        response = inner()
    except BaseException:
        if writer is not None:
            writer.release()
        raise
    if response.status_code == 200 and (writer is not None or not replicas.replica_aliases()):
        response["ETag"] = etag  # a replica's rows may be older than the primary's counters: no label
        if last_modified is not None:
            response["Last-Modified"] = http_date(last_modified)
    if writer is not None:
        _write_while_sending(response, writer)
    return response


def _write_while_sending(response, writer) -> None:
    if response.status_code != 200 or not response.streaming:
        writer.release()
        return
    response.streaming_content = exportcache.tee(response.streaming_content, writer, response["Content-Type"])
    response._resource_closers.append(writer.release)  # a body never read releases it too


def _etag(request, data_tag: str, snapshot_version: str) -> str:
    coding = choose_coding(request.META.get("HTTP_ACCEPT_ENCODING"))
    material = "\x00".join(
        (
            data_tag,
            snapshot_version,
            full_path_of(request),
            host_of(request),
            request.scheme,
            request.META.get("HTTP_ACCEPT", ""),
            coding,
        )
    )
    return f'W/"dv-{hashlib.sha256(material.encode()).hexdigest()[:32]}"'


def _not_modified(request, etags: list[str], last_modified: int | None) -> str | None:
    """The tag to answer a 304 with, or None. If-None-Match, when sent, decides alone (RFC 9110
    13.2.2), by weak comparison; If-Modified-Since only without it."""
    header = request.META.get("HTTP_IF_NONE_MATCH")
    if header:
        sent = {tag.removeprefix("W/") for tag in parse_etags(header)}
        if "*" in sent:
            return etags[-1]
        return next((tag for tag in reversed(etags) if tag.removeprefix("W/") in sent), None)
    header = request.META.get("HTTP_IF_MODIFIED_SINCE")
    if not header:
        return None
    since = parse_http_date_safe(header)
    if since is not None and last_modified is not None and last_modified <= since:
        return etags[-1]
    return None


def _answer_304(etag: str, last_modified: int | None):
    response = HttpResponseNotModified()
    response["ETag"] = etag
    if last_modified is not None:
        response["Last-Modified"] = http_date(last_modified)
    patch_vary_headers(response, ("Accept-Encoding",))
    return response


def _disposition(relation, fmt: str) -> str:
    return content_disposition(relation, fmt, True)
