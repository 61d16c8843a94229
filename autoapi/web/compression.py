"""Compresses answers for clients that ask (``Accept-Encoding``): zstd, brotli or gzip.

``CompressionMiddleware`` sits just inside ``ConditionalGetMiddleware`` (settings.MIDDLEWARE), so
a page's ETag is computed over the bytes actually sent: each coding gets its own strong ETag, and
``If-None-Match`` gives a ``304`` exactly when the client holds those bytes (RFC 9110 8.8.3). The
codings are deterministic (no time stamp, no random padding), so the same page compresses to the
same bytes and keeps its ETag. Whitenoise sits outside: static files come precompressed from
``collectstatic`` and never pass through here.

Pages are compressed whole at moderate levels. Streams (``?limit=all``) are compressed chunk by
chunk at fast levels, each chunk flushed (gzip ``Z_SYNC_FLUSH``, zstd ``FLUSH_BLOCK``, brotli
``flush``) so the client receives data as PostgreSQL produces it and memory stays constant. A
stream whose source fails mid-way is never finished: the compressed body then lacks its trailer
(gzip CRC and length, zstd frame end, brotli last block), one more sign of truncation besides the
missing final chunk of the chunked transfer encoding (docs/downloads.md, "Downloads").

Why not django-http-compression: it streams gzip at level 6 (six times the CPU of level 1 on the
flights CSV, which would slow exports), does not know ``application/x-ndjson``, and adds a random
``X-Noise`` header against BREACH, which matters for pages with secrets; the portal has none
(no cookies, no sessions, no CSRF tokens). The codecs come from zlib, Google's ``brotli`` and
``backports.zstd`` (the Python 3.14 ``compression.zstd`` module, for older Pythons).
"""

from __future__ import annotations

import re
import sys
import zlib
from collections.abc import Iterator
from functools import lru_cache

import brotli
from django.utils.cache import patch_vary_headers

from autoapi.formats.renderers import ROW_RENDERERS

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

# In order of preference when the client's q-values tie: zstd compresses better and faster than
# the others at these levels; brotli next; gzip is what every client has.
CODINGS = ("zstd", "br", "gzip")
ALIASES = {"x-gzip": "gzip"}  # RFC 9110 8.4.1.3
MIN_SIZE = 200  # bytes: below this the framing outweighs the gain (Django's GZipMiddleware too)
MAX_HEADER = 1000  # longer Accept-Encoding headers are not parsed (identity is always fine)
# What is worth compressing: any text, each data format whose record says it does not compress
# itself (formats/records.py: JSON, NDJSON, GeoJSON; not Parquet nor XLSX), and the portal's other
# documents (JSON-LD, JSON Schema, OpenAPI, scripts, XML, SVG). Matched as a prefix of Content-Type.
DOCUMENT_TYPES = (
    "application/ld+json",
    "application/schema+json",
    "application/vnd.oai.openapi",
    "application/javascript",
    "application/xml",
    "image/svg+xml",
)
_DATA_TYPES = tuple(renderer.record.media_type for renderer in ROW_RENDERERS if not renderer.record.compressed)
COMPRESSIBLE = re.compile("^(text/|" + "|".join(map(re.escape, _DATA_TYPES + DOCUMENT_TYPES)) + ")", re.IGNORECASE)
# Pages: good ratios for little CPU (brotli 4 and zstd 3 are Cloudflare's defaults).
PAGE_LEVELS = {"gzip": 6, "br": 4, "zstd": 3}
# Streams: fast levels, so that a compressed CSV export keeps up with COPY (docs/benchmarks.md).
STREAM_LEVELS = {"gzip": 1, "br": 1, "zstd": 3}


@lru_cache(maxsize=256)
def _negotiate(header: str) -> str:
    q_values: dict[str, float] = {}
    for item in header.lower().split(","):
        name, _, params = item.partition(";")
        name = ALIASES.get(name.strip(), name.strip())
        q = 1.0
        params = params.strip()
        if params:
            match = re.fullmatch(r"q\s*=\s*([01](\.\d{0,3})?)", params)
            if not match:
                continue  # a malformed item is ignored, not trusted
            q = min(float(match.group(1)), 1.0)
        if name:
            q_values[name] = q
    wildcard = q_values.get("*", 0.0)
    best, best_q = "identity", 0.0
    for coding in CODINGS:
        q = q_values.get(coding, wildcard)
        if q > best_q:
            best, best_q = coding, q
    if q_values.get("identity", 0.0) > best_q:  # "gzip;q=0.5, identity": uncompressed preferred
        return "identity"
    return best


def choose_coding(accept_encoding: str | None) -> str:
    """The coding to send: the supported one with the highest q-value above 0 (``*`` stands for
    those not named), ties going to the order of ``CODINGS``; ``identity`` when none is
    acceptable or when ``identity`` is named with a higher q-value. Even ``identity;q=0`` with nothing else acceptable gets ``identity``: RFC 9110
    12.5.3 lets a server send it rather than a ``406``, and a download should not fail on it."""
    if not accept_encoding or len(accept_encoding) > MAX_HEADER:
        return "identity"
    return _negotiate(accept_encoding)


def compress_bytes(coding: str, data: bytes) -> bytes:
    level = PAGE_LEVELS[coding]
    if coding == "gzip":
        # wbits 31: a gzip header with no file name and mtime 0, so equal pages compress equally.
        return zlib.compress(data, level, wbits=31)
    if coding == "br":
        return brotli.compress(data, quality=level)
    return zstd.compress(data, level=level)


class _StreamCompressor:
    """One coding's incremental compressor: ``chunk()`` returns everything decodable so far."""

    def __init__(self, coding: str):
        level = STREAM_LEVELS[coding]
        self.coding = coding
        if coding == "gzip":
            self.engine = zlib.compressobj(level, zlib.DEFLATED, 31)
        elif coding == "br":
            self.engine = brotli.Compressor(quality=level)
        else:
            self.engine = zstd.ZstdCompressor(level=level)

    def chunk(self, data: bytes) -> bytes:
        if self.coding == "gzip":
            return self.engine.compress(data) + self.engine.flush(zlib.Z_SYNC_FLUSH)
        if self.coding == "br":
            return self.engine.process(data) + self.engine.flush()
        return self.engine.compress(data, mode=zstd.ZstdCompressor.FLUSH_BLOCK)

    def finish(self) -> bytes:
        if self.coding == "gzip":
            return self.engine.flush(zlib.Z_FINISH)
        if self.coding == "br":
            return self.engine.finish()
        return self.engine.flush(mode=zstd.ZstdCompressor.FLUSH_FRAME)


def compress_stream(coding: str, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """``chunks`` compressed one by one, each flushed. The trailer is written only after the last
    chunk: an exception from ``chunks`` propagates with the compressed body left unfinished."""
    compressor = _StreamCompressor(coding)
    for data in chunks:
        if data:
            out = compressor.chunk(data)
            if out:
                yield out
    yield compressor.finish()


class CompressionMiddleware:
    """Compress a response's body with the coding ``Accept-Encoding`` prefers (see module doc).

    Left alone: answers without a body (204, 304), bodies under ``MIN_SIZE``, types that do not
    compress (images, archives, ``application/octet-stream``), responses already encoded, and
    async streams (the portal runs under WSGI and has none).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not self._compressible(response):
            return response
        patch_vary_headers(response, ("Accept-Encoding",))
        coding = choose_coding(request.META.get("HTTP_ACCEPT_ENCODING"))
        if coding == "identity":
            return response
        if response.streaming:
            response.streaming_content = compress_stream(coding, response.streaming_content)
            del response["Content-Length"]
        else:
            compressed = compress_bytes(coding, response.content)
            if len(compressed) >= len(response.content):
                return response
            response.content = compressed
            response["Content-Length"] = str(len(compressed))
        etag = response.get("ETag")
        if etag and not etag.startswith("W/"):
            # A view's own strong ETag named the uncompressed bytes (RFC 9110 8.8.1): weaken it.
            response["ETag"] = "W/" + etag
        response["Content-Encoding"] = coding
        return response

    @staticmethod
    def _compressible(response) -> bool:
        if response.status_code in (204, 304) or response.has_header("Content-Encoding"):
            return False
        if response.get("Accept-Ranges") == "bytes":
            # A stored file served with byte ranges (autoapi/freshness/fileranges.py): ranges of a body
            # compressed on the fly would not name the same bytes twice.
            return False
        if response.streaming and getattr(response, "is_async", False):
            return False
        if not COMPRESSIBLE.match(response.get("Content-Type", "")):
            return False
        return response.streaming or len(response.content) >= MIN_SIZE
