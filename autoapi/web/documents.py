"""Whole-catalog documents built once per schema version and shared: the home page, the schema
lists, ``/data.json``, the sitemaps and the OpenAPI documents.

These documents describe every relation, so at 10,000 relations each costs seconds of Python and
megabytes of memory to build. Built per request, a few dozen requests right after a schema change
took a process down (issue 23). Here each one is built at most once per (document, schema version)
per process, and shared:

- **Single flight.** The first request for a version builds it; the others wait for that build
  (at most DOCUMENT_WAIT_SECONDS, then a 503 with ``Retry-After``) or, when an earlier version of
  the same document is held, are answered with it at once (with its own ``ETag``): a schema change
  never makes a crowd wait.
- **Bounded builds.** At most DOCUMENT_BUILDS builds run at once per process (one by default), so
  builds never take every thread or every database connection: pages and ``/healthz`` keep
  answering while documents build.
- **A byte budget.** Built documents are kept in memory within DOCUMENT_CACHE_MB (least recently
  served first out); the latest version of each document stays while a newer one builds.
- **Shared across processes.** With the stored downloads' folder (``exportcache.directory()``) on,
  each document of STORE_MIN_BYTES or more is also written to ``<folder>/documents/`` (a temporary
  file renamed into place; the family's older version removed),
  under an ``flock`` taken for the build, so a second process (or host sharing the folder) waiting
  on the lock reads the first one's file instead of building again. A process that holds no
  version of the document and finds another one building it answers with the family's stored
  previous version meanwhile (``stale``) rather than waiting. A document too large for the
  memory budget is served from that file.
- **Freshness.** A document whose content also follows the data (modification dates) passes
  ``max_age``: past it, the next request rebuilds it while the others get the held version. With
  a ``freshness`` stamp too (what the data part follows: ``/data.json`` gives the change log's
  last entry), a version past ``max_age`` is rebuilt only when the stamp has moved since its
  build: ``max_age`` then bounds how often new data rebuilds it, and nothing changed, nothing is
  rebuilt. The stamp is kept with the stored file, so another process honours it too.

Every answer says how it was obtained in ``X-Portal-Document`` (``built``, ``memory``, ``stored``,
``shared`` or ``stale``): how the tests and ``make bench`` see the single flight.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, HttpResponse
from django.utils.cache import patch_vary_headers

from autoapi.boundedcache import MB, release_memory
from autoapi.conf import portal_setting
from autoapi.errors import DatabaseUnavailable, error_response
from autoapi.freshness import exportcache
from autoapi.web.compression import choose_coding, compress_bytes
from autoapi.web.registry import registry

log = logging.getLogger(__name__)

HEADER = "X-Portal-Document"
STORE_MIN_BYTES = 256 * 1024  # smaller documents build in milliseconds: kept in memory only


@dataclass(frozen=True)
class Built:
    """One built document: its bytes (or the file holding them), type, validator and age."""

    content_type: str
    etag: str
    built_at: float
    body: bytes | None = None
    freshness: str = ""  # repr() of the freshness stamp it was built at ("" without one)
    path: Path | None = None
    # Compressed once per coding on first demand (the compression middleware would compress the
    # megabytes again on every request): coding -> bytes, a few per cent of ``body``.
    encoded: dict = field(default_factory=dict, compare=False)

    @property
    def size(self) -> int:
        if self.body is not None:
            return len(self.body)
        try:
            return self.path.stat().st_size if self.path else 0
        except OSError:
            return 0


class Busy(Exception):
    """No version of the document could be had in time (another build holds the slot)."""


class Documents:
    """The documents of one process, by (family, version); ``family`` names the document and what
    its bytes depend on besides the schema (host and scheme for absolute links, a page number)."""

    def __init__(self):
        self._store: OrderedDict[tuple, Built] = OrderedDict()
        self._bytes = 0
        self._latest: dict[tuple, tuple] = {}  # family -> the key of its newest held version
        self._flights: dict[tuple, threading.Event] = {}
        self._lock = threading.Lock()
        self._slots: threading.BoundedSemaphore | None = None
        self._slots_size = 0
        self.builds = 0  # documents this process built (the bench and tests read it)

    # -- public -------------------------------------------------------------------------------

    def get(self, family: tuple, version: str, build: Callable[[], tuple[bytes, str]], **keeping) -> tuple[Built, str]:
        """The document ``family`` at ``version`` and how it was had (``X-Portal-Document``).
        ``build()`` returns (bytes, content type); it runs at most once at a time per key.
        ``keeping`` says how it is kept (``Keeping``): ``max_age`` and ``freshness`` (see the
        module's "Freshness"); ``bounded=False`` for a small document (milliseconds to build),
        which skips the build slot and the disk."""
        keep = Keeping(**keeping)
        key = (family, version)
        now = time.time()
        with self._lock:
            held = self._store.get(key)
            if held is not None and keep.current(held, now):
                self._store.move_to_end(key)
                return held, "memory"
            flight = self._flights.get(key)
            leader = flight is None
            if leader:
                flight = self._flights[key] = threading.Event()
            previous = held or self._store.get(self._latest.get(family, ()))
        if not leader:
            if previous is not None:
                return previous, "stale"
            if not flight.wait(portal_setting("DOCUMENT_WAIT_SECONDS")):
                raise Busy
            with self._lock:
                held = self._store.get(key)
                stale = self._store.get(self._latest.get(family, ()))
            if held is None and stale is not None:
                return stale, "stale"  # the leader found another process building: its previous version
            if held is None:
                raise Busy
            return held, "shared"
        try:
            built, how = self._build(key, build, keep) if keep.bounded else (self._run(key, build, keep), "built")
            # Another process's previous version is held as the family's latest, never as this
            # version (the next request tries again for this one).
            self._keep(family, (family, "stale:" + built.etag) if how == "stale" else key, built)
            return built, how
        finally:
            with self._lock:
                self._flights.pop(key, None)
            flight.set()

    def clear(self) -> None:
        with self._lock:
            self._store.clear()
            self._latest.clear()
            self._bytes = 0
        release_memory()

    @property
    def bytes(self) -> int:
        return self._bytes

    # -- building -----------------------------------------------------------------------------

    def _slot(self) -> threading.BoundedSemaphore:
        size = max(1, int(portal_setting("DOCUMENT_BUILDS")))
        with self._lock:
            if self._slots is None or self._slots_size != size:
                self._slots, self._slots_size = threading.BoundedSemaphore(size), size
            return self._slots

    def _build(self, key: tuple, build, keep: Keeping) -> tuple[Built, str]:
        slot = self._slot()
        if not slot.acquire(timeout=portal_setting("DOCUMENT_WAIT_SECONDS")):
            raise Busy
        try:
            folder = _folder()
            if folder is None:
                return self._run(key, build, keep), "built"
            family = digest(key[0])
            path = folder / f"{family}-{digest(key)}.doc"
            lock = folder / f"{family}.lock"
            with _flock(lock, block=False) as free:
                if not free:  # another process builds this document: its previous version meanwhile
                    stale = _read_latest(folder, family)
                    if stale is not None:
                        return stale, "stale"
            with _flock(lock):
                stored = _read_stored(path, keep)  # another process may have built it meanwhile
                if stored is not None:
                    return stored, "stored"
                built = self._run(key, build, keep)
                if len(built.body) < STORE_MIN_BYTES:
                    return built, "built"  # built in milliseconds: not worth a file
                built = _store(path, built)
                _remove_older(folder, family, path)
                return built, "built"
        finally:
            slot.release()

    def _run(self, key: tuple, build, keep: Keeping) -> Built:
        started = time.monotonic()
        body, content_type = build()
        self.builds += 1
        log.info("document %s built: %d bytes in %.2f s", key[0][0], len(body), time.monotonic() - started)
        return Built(content_type, _etag(key, body), time.time(), body=body, freshness=keep.stamp)

    def _keep(self, family: tuple, key: tuple, built: Built) -> None:
        budget = int(portal_setting("DOCUMENT_CACHE_MB") * MB)
        in_memory = built.body is not None
        size = built.size if in_memory else 0
        if in_memory and size > budget and built.path is None:
            return  # too large to hold and no folder: the next request builds it again
        if in_memory and size > budget:
            built = Built(built.content_type, built.etag, built.built_at, path=built.path, freshness=built.freshness)
            size = 0
        with self._lock:
            old = self._latest.get(family)
            if old is not None and old != key:
                self._drop(old)
            if key in self._store:
                self._drop(key)
            self._store[key] = built
            self._latest[family] = key
            self._bytes += size
            while self._bytes > budget and len(self._store) > 1:
                self._drop(next(iter(self._store)))

    def _drop(self, key: tuple) -> None:
        built = self._store.pop(key, None)
        if built is not None and built.body is not None:
            self._bytes -= len(built.body)
        if built is not None and self._latest.get(key[0]) == key:
            del self._latest[key[0]]


def settings_stamp() -> str:
    """The portal settings in effect (a test or an operator may change them without a restart)."""
    return repr(sorted(getattr(settings, "PORTAL", {}).items(), key=lambda item: item[0]))


@dataclass(frozen=True)
class Keeping:
    """How a document is kept: rebuilt past ``max_age`` seconds (None: never, its version names
    all it depends on), unless ``freshness`` (any value with a stable ``repr``) is given and has
    not moved since the build; ``bounded``: built in a build slot and stored on disk."""

    max_age: float | None = None
    freshness: object = None
    bounded: bool = True

    @property
    def stamp(self) -> str:
        return "" if self.freshness is None else repr(self.freshness)

    def current(self, built: Built, now: float) -> bool:
        if self.max_age is None or now - built.built_at < self.max_age:
            return True
        return self.freshness is not None and built.freshness == self.stamp


def digest(key: tuple) -> str:
    """A short stable name for a key (of strings, numbers and tuples of them)."""
    return hashlib.sha256(repr(key).encode()).hexdigest()[:24]


def _etag(key: tuple, body: bytes) -> str:
    return '"doc-' + hashlib.sha256(repr(key).encode() + hashlib.sha256(body).digest()).hexdigest()[:24] + '"'


def _folder() -> Path | None:
    base = exportcache.directory()
    if base is None:
        return None
    folder = base / "documents"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        log.warning("cannot create %s: documents are kept in memory only", folder)
        return None
    return folder


@contextlib.contextmanager
def _flock(path: Path, block: bool = True):
    """The build's lock across processes (held while building; released by the kernel if the
    process dies). Yields whether it is held: with ``block=False``, False when another process
    holds it (True when the folder allows no lock: the build goes on as without a folder)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if block else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _remove_older(folder: Path, family: str, kept: Path) -> None:
    """The other versions of the family's file go when a new one is stored."""
    for old in folder.glob(f"{family}-*.doc"):
        if old != kept:
            with contextlib.suppress(OSError):
                old.unlink()
                old.with_suffix(".type").unlink()


def _read_stored(path: Path, keep: Keeping) -> Built | None:
    meta = path.with_suffix(".type")
    try:
        content_type, etag, freshness = (meta.read_text().split("\n") + [""])[:3]
        modified = path.stat().st_mtime
    except (OSError, ValueError):
        return None
    if not keep.current(Built("", "", modified, freshness=freshness), time.time()):
        return None
    try:
        body = path.read_bytes()
    except OSError:
        return None
    return Built(content_type, etag, modified, body=body, path=path, freshness=freshness)


def _read_latest(folder: Path, family: str) -> Built | None:
    """The newest stored version of the family, whatever its version (None when there is none)."""
    try:
        newest = max(folder.glob(f"{family}-*.doc"), key=lambda p: p.stat().st_mtime, default=None)
    except OSError:  # removed while looked at: another process stored a newer one
        return None
    return _read_stored(newest, Keeping()) if newest is not None else None


def _store(path: Path, built: Built) -> Built:
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=exportcache.PART_PREFIX, delete=False) as part:
            part.write(built.body)
        # The stamp is a repr() of plain values: one line (a newline in it would be escaped).
        path.with_suffix(".type").write_text(f"{built.content_type}\n{built.etag}\n{built.freshness}\n")
        os.replace(part.name, path)
    except OSError:
        log.warning("cannot store the document %s; it stays in memory only", path, exc_info=True)
        with contextlib.suppress(OSError, NameError):
            os.unlink(part.name)
        return built
    return Built(built.content_type, built.etag, built.built_at, body=built.body, path=path, freshness=built.freshness)


documents = Documents()


def respond(request, family: tuple, version: str, build: Callable[[], tuple[bytes, str]], **keeping) -> HttpResponse:
    """The document as an answer: 304 for a matching ``If-None-Match``, its bytes (or its file),
    and a 503 with ``Retry-After`` when no version could be had in time. ``keeping``: as
    ``Documents.get`` takes it."""
    try:
        built, how = documents.get(family, version, build, **keeping)
    except Busy:
        return error_response(DatabaseUnavailable("this document is being built; retry in a few seconds"))
    if built.etag in request.META.get("HTTP_IF_NONE_MATCH", ""):
        response = HttpResponse(status=304)
    elif built.body is not None:
        coding, body = _encoded(request, built)
        response = HttpResponse(body, content_type=built.content_type)
        patch_vary_headers(response, ("Accept-Encoding",))
        if coding != "identity":
            response["Content-Encoding"] = coding
            response["ETag"] = "W/" + built.etag
    else:
        try:
            stored = open(built.path, "rb")  # noqa: SIM115 - closed when sent
        except OSError:  # replaced by a newer version's file meanwhile (another process stored it)
            return error_response(DatabaseUnavailable("this document is being built; retry in a few seconds"))
        response = FileResponse(stored, content_type=built.content_type)
    if not response.has_header("ETag"):
        response["ETag"] = built.etag
    response[HEADER] = how
    return response


def _encoded(request, built: Built) -> tuple[str, bytes]:
    """The body in the coding the client prefers, compressed once per document and coding."""
    coding = choose_coding(request.META.get("HTTP_ACCEPT_ENCODING"))
    if coding == "identity" or len(built.body) < 1024:
        return "identity", built.body
    encoded = built.encoded.get(coding)
    if encoded is None:
        encoded = built.encoded[coding] = compress_bytes(coding, built.body)
    return coding, encoded


class NotBuilt(Exception):
    """The view answered something other than a 200: passed on, never kept."""

    def __init__(self, response):
        self.response = response


def shared_document(
    name: str,
    max_age_setting: str | None = None,
    stamp: Callable[[], object] | None = None,
    freshness: Callable[[], object] | None = None,
):
    """Serve a whole-catalog view through ``documents``: built once per schema version, host and
    scheme (the query string is not part of the key, so varying it builds nothing new; a view
    whose answer depends on a parameter calls ``respond`` with it in ``family``). The version is
    the snapshot's, the portal settings' and ``stamp()``'s (what else the view reads, such as the
    metadata file). ``freshness()``: what the data in it follows (module docstring, "Freshness"),
    asked once per request, so it must be cheap. A view's answer other than a 200 is passed on
    and not kept."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in ("GET", "HEAD"):
                return view(request, *args, **kwargs)
            try:
                version = registry.current().snapshot.version
            except Exception:  # no snapshot (the database is down): the view answers as it does
                return view(request, *args, **kwargs)
            version = digest((version, settings_stamp(), stamp() if stamp else None))

            def build():
                response = view(request, *args, **kwargs)
                if response.status_code != 200 or response.streaming:
                    raise NotBuilt(response)
                return response.content, response["Content-Type"]

            family = (name, request.path, request.scheme, request.get_host(), *args, *sorted(kwargs.items()))
            max_age = portal_setting(max_age_setting) if max_age_setting else None
            try:
                return respond(
                    request, family, version, build, max_age=max_age, freshness=freshness() if freshness else None
                )
            except NotBuilt as passed:
                return passed.response

        return wrapper

    return decorate
