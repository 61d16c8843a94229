"""Whole-relation downloads kept as files, once per data version: a repeated download costs the
database nothing, has a size before it starts, and resumes (``Range``).

Only the whole relation is kept: ``?limit=all`` with at most ``format`` besides (or the format
chosen by an ``Accept`` header naming exactly one), in every format of ``renderers.ROW_RENDERERS``,
for relations whose data version is known (``dataversion.py``). A filter, ``fields``, ``ordering``
or any other parameter makes it an ordinary live download.

- **Files** live in EXPORT_CACHE_DIR, named ``<download>-<version>.<format>`` (the download: the
  relation, format, host and scheme, since JSON rows carry absolute links; the version: the schema
  snapshot and the data version), with a ``.meta`` file holding the Content-Type. A new version's
  file replaces the older ones of the same download; beyond EXPORT_CACHE_MB the least recently
  served files go (each serve touches its file's mtime).
- **Writing** happens while the first requester downloads: its live stream is copied into a
  hidden temporary file, renamed into place only once the stream ended normally. A client that
  leaves, or a database error mid-way, deletes the temporary file, so a cut download is never
  served as whole. One writer per download at a time, across processes and hosts sharing the
  folder: ``fcntl.flock`` on ``<download>.lock``, taken before the query runs and never waited
  for; whoever finds it taken streams live as before (from a read replica, if any: only the
  writer reads the primary, whose rows the data version counts). The writer removes the lock file
  when it is done (a lock file left by a writer that died goes at a later eviction, as its
  temporary file does). A download that grows past EXPORT_CACHE_MB stops being written at once
  (its temporary file removed; the client's download goes on live).
- **Reading** is ``fileranges.file_response``: identity, ``Content-Length``, ``Range``; a file
  evicted between the lookup and the open is streamed live instead (``validators.serve``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from autoapi.conf import portal_setting
from autoapi.formats.negotiation import accepted_format
from autoapi.formats.renderers import ROW_RENDERERS

log = logging.getLogger(__name__)

PART_PREFIX = ".part-"
STALE_PART_SECONDS = 3600  # a temporary file untouched this long belongs to a writer that died


@dataclass(frozen=True)
class Entry:
    directory: Path
    download: str  # the relation, format, host and scheme
    version: str  # the schema snapshot and the data version
    format: str

    @property
    def path(self) -> Path:
        return self.directory / f"{self.download}-{self.version}.{self.format}"

    @property
    def meta_path(self) -> Path:
        return self.directory / f"{self.download}-{self.version}.meta"

    @property
    def etag(self) -> str:
        return f'"{self.download}-{self.version}"'  # strong: these exact bytes, identity only


def directory() -> Path | None:
    """The cache folder, or None when the cache is off (EXPORT_CACHE_MB = 0)."""
    if portal_setting("EXPORT_CACHE_MB") <= 0:
        return None
    return Path(portal_setting("EXPORT_CACHE_DIR") or Path(settings.BASE_DIR) / "var" / "export-cache")


def whole_relation_format(request, relation) -> str | None:
    """The format of a whole-relation download request, or None when it is anything else."""
    params = request.GET
    if request.method not in ("GET", "HEAD") or set(params) - {"limit", "format"}:
        return None
    if params.getlist("limit") != ["all"] or len(params.getlist("format")) > 1:
        return None
    fmt = accepted_format(request)  # the viewset's own negotiation (DRF's), so both agree
    renderer = next((r for r in ROW_RENDERERS if r.format == fmt), None)
    return fmt if renderer is not None and renderer.available_for(relation) else None


def entry_for(request, relation, fmt: str, data_tag: str, snapshot_version: str) -> Entry | None:
    folder = directory()
    if folder is None:
        return None
    download = _digest(
        relation.schema,
        relation.name,
        str(relation.oid),
        fmt,
        request.scheme,
        request.get_host(),
        str(portal_setting("CSV_NEUTRALISE_FORMULAS")),
    )
    return Entry(folder, download, _digest(snapshot_version, data_tag), fmt)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:20]


def stored(entry: Entry) -> tuple[Path, str] | None:
    """The entry's file and Content-Type when it is complete on disk."""
    try:
        meta = json.loads(entry.meta_path.read_text())
    except (OSError, ValueError):
        return None
    return (entry.path, meta["content_type"]) if entry.path.exists() else None


def touch(path: Path) -> None:
    """Mark a file as just served (least recently served goes first)."""
    with contextlib.suppress(OSError):
        os.utime(path)


class Writer:
    """The right to write one download's file: its lock, held until ``release`` (idempotent)."""

    def __init__(self, entry: Entry, lock: int):
        self.entry, self._lock = entry, lock

    def release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            # Removed while still held: whoever opened the old file and locks it after this
            # finds it no longer at its path (``_try_lock``) and streams live.
            with contextlib.suppress(OSError):
                os.unlink(_lock_path(self.entry.directory, self.entry.download))
            os.close(lock)


def claim(entry: Entry) -> Writer | None:
    """The writer of ``entry``'s file, or None when another request (in any process sharing the
    folder) is writing it, or it was written since the caller looked."""
    lock = _try_lock(entry)
    if lock is None:
        return None
    writer = Writer(entry, lock)
    if entry.path.exists():
        writer.release()
        return None
    return writer


def tee(chunks, writer: Writer, content_type: str):
    """Yield ``chunks`` and keep them as the writer's file once they all came."""
    part = _Part(writer.entry)
    try:
        for chunk in chunks:
            part.write(chunk)
            yield chunk
        part.publish(content_type)
    finally:
        part.discard()
        writer.release()


class _Part:
    """The file being written. A failure to write (a full disk) only stops the writing: the client's
    download goes on. Discarded unless published: the stream ended early (the client left, the
    database failed), and a cut file is never served."""

    def __init__(self, entry: Entry):
        self.entry = entry
        self.size, self.cap = 0, portal_setting("EXPORT_CACHE_MB") * 1024 * 1024
        try:
            fd, self.path = tempfile.mkstemp(dir=entry.directory, prefix=PART_PREFIX)
            self.out = os.fdopen(fd, "wb")
        except OSError:
            log.warning("cannot write a stored download in %s", entry.directory, exc_info=True)
            self.out = self.path = None

    def write(self, chunk: bytes) -> None:
        if self.out is None:
            return
        self.size += len(chunk)
        if self.size > self.cap:  # never kept: stop at once rather than fill the disk first
            log.info("not storing %s: larger than EXPORT_CACHE_MB", self.entry.path)
            self.discard()
            return
        try:
            self.out.write(chunk)
        except OSError:
            log.warning("stopped storing %s", self.entry.path, exc_info=True)
            self.discard()

    def publish(self, content_type: str) -> None:
        if self.out is None:
            return
        try:
            self.out.close()
            self.out = None
            _publish(Path(self.path), self.entry, content_type)
        except OSError:  # the client has every byte already: a cache that fails only logs
            log.warning("could not keep the download as %s", self.entry.path, exc_info=True)

    def discard(self) -> None:
        if self.out is not None:
            with contextlib.suppress(OSError):
                self.out.close()
            self.out = None
        if self.path is not None:  # gone already once published
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            self.path = None


def _lock_path(folder: Path, download: str) -> Path:
    return folder / f"{download}.lock"


def _try_lock(entry: Entry) -> int | None:
    try:
        entry.directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return _lock_file(_lock_path(entry.directory, entry.download), create=True)


def _lock_file(path: Path, create: bool) -> int | None:
    """An exclusive ``flock`` on the lock file at ``path`` (never waited for), or None. The lock
    counts only while the file is still the one at ``path``: its holder removes it when done."""
    try:
        fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o644)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(fd).st_ino != os.stat(path).st_ino:
            raise FileNotFoundError(path)  # removed (or replaced) since we opened it
    except OSError:
        os.close(fd)
        return None
    return fd


def _publish(part: Path, entry: Entry, content_type: str) -> None:
    cap = portal_setting("EXPORT_CACHE_MB") * 1024 * 1024
    if part.stat().st_size > cap:
        part.unlink()
        return
    meta_part = part.with_name(part.name + ".meta")
    meta_part.write_text(json.dumps({"content_type": content_type}))
    os.replace(meta_part, entry.meta_path)
    os.replace(part, entry.path)  # atomic: a reader sees no file or the whole file
    for older in entry.directory.glob(f"{entry.download}-*"):
        if older.stem != entry.path.stem:
            with contextlib.suppress(OSError):
                older.unlink()
    evict(entry.directory, cap)


def _remove_unheld_lock(path: Path) -> None:
    """Remove a lock file nobody holds (left by a writer that died, or one of an older version)."""
    fd = _lock_file(path, create=False)
    if fd is not None:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


def evict(folder: Path, cap: int) -> None:
    """Remove the least recently served files until the folder holds at most ``cap`` bytes."""
    files, total = [], 0
    for path in folder.iterdir():
        try:
            info = path.stat()
        except OSError:
            continue
        if path.is_dir():  # versions/ (versionclock.py)
            continue
        if path.name.startswith(PART_PREFIX):
            if info.st_mtime < time.time() - STALE_PART_SECONDS:
                with contextlib.suppress(OSError):
                    path.unlink()
            continue
        if path.suffix == ".lock":
            _remove_unheld_lock(path)
            continue
        if path.suffix == ".meta":
            continue
        files.append((info.st_mtime, info.st_size, path))
        total += info.st_size
    for _mtime, size, path in sorted(files):
        if total <= cap:
            break
        with contextlib.suppress(OSError):
            path.unlink()
            path.with_suffix(".meta").unlink()
        total -= size
