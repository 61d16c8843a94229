"""A stored file as an HTTP answer: ``Content-Length``, ``ETag``, ``Last-Modified`` and byte
ranges (RFC 9110 section 14): ``206`` for one satisfiable range, ``416`` with ``Content-Range:
bytes */<size>`` for an unsatisfiable one, the whole file (``200``) for several ranges, a
malformed header, or an ``If-Range`` that no longer matches. Called by ``validators.py`` for the
export cache; the body is read from the file in blocks, never whole into memory.

Such answers are sent as they are stored (identity): ``autoapi.web.compression`` leaves answers with
``Accept-Ranges`` alone, because byte ranges of a body compressed on the fly would name bytes that
differ from one request to the next.
"""

from __future__ import annotations

import os
import re

from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.http import http_date, parse_http_date_safe

BLOCK = 256 * 1024
_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", re.IGNORECASE)
UNSATISFIABLE = "unsatisfiable"


class _BlockFileResponse(FileResponse):
    block_size = BLOCK


def requested_range(request, size: int, etag: str, last_modified: int | None):
    """``(first, last)`` byte positions, None for the whole file, or ``UNSATISFIABLE``."""
    header = request.META.get("HTTP_RANGE")
    if not header or request.method not in ("GET", "HEAD"):
        return None
    if_range = request.META.get("HTTP_IF_RANGE", "").strip()
    if if_range and not _if_range_holds(if_range, etag, last_modified):
        return None
    match = _RANGE.fullmatch(header)
    if not match or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":  # the last N bytes
        wanted = int(last)
        return UNSATISFIABLE if wanted == 0 or size == 0 else (max(size - wanted, 0), size - 1)
    start = int(first)
    if last and int(last) < start:
        return None  # invalid: ignored, as RFC 9110 14.1.1 allows
    if start >= size:
        return UNSATISFIABLE
    return start, min(int(last), size - 1) if last else size - 1


def _if_range_holds(if_range: str, etag: str, last_modified: int | None) -> bool:
    if if_range.startswith(('"', "W/")):
        return if_range == etag  # strong comparison only (RFC 9110 13.1.5)
    date = parse_http_date_safe(if_range)
    return date is not None and last_modified is not None and date == last_modified


def file_response(request, path, content_type: str, etag: str, last_modified: int | None) -> HttpResponse:
    """``path`` served whole or in part; the file is opened first, so eviction cannot cut it."""
    handle = open(path, "rb")  # noqa: SIM115 - the response closes it when sent
    size = os.fstat(handle.fileno()).st_size
    wanted = requested_range(request, size, etag, last_modified)
    if wanted == UNSATISFIABLE:
        handle.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
    elif wanted is None:
        response = _BlockFileResponse(handle, content_type=content_type)
        response["Content-Length"] = str(size)
    else:
        first, last = wanted
        response = StreamingHttpResponse(_blocks(handle, first, last), status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
        response["Content-Length"] = str(last - first + 1)
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    if last_modified is not None:
        response["Last-Modified"] = http_date(last_modified)
    patch_vary_headers(response, ("Accept-Encoding",))  # the same URL is compressed when not stored
    return response


def _blocks(handle, first: int, last: int):
    try:
        handle.seek(first)
        left = last - first + 1
        while left > 0:
            block = handle.read(min(BLOCK, left))
            if not block:
                break
            left -= len(block)
            yield block
    finally:
        handle.close()
