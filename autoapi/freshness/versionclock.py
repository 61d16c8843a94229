"""When a relation's data version was first seen, shared by every process (and kept across
restarts) through the export cache's folder: one small JSON file per relation,
``versions/<oid>.json``. Called by ``dataversion.py`` only when a process meets a version new to
it. Without the folder (EXPORT_CACHE_MB = 0) each process keeps its own dates.

So every worker gives a version the same ``Last-Modified`` (two workers meeting a new version in
the same instant may still write dates a second apart; the later one wins), and the catalog's
"Data last changed" does not move when the portal restarts.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile

from autoapi.freshness import exportcache


def _path(oid: int):
    folder = exportcache.directory()
    return None if folder is None else folder / "versions" / f"{oid}.json"


def recall(oid: int, tag: str) -> int | None:
    """The second ``tag`` was first seen for relation ``oid`` by any process, or None."""
    path = _path(oid)
    if path is None:
        return None
    try:
        stored = json.loads(path.read_text())
        return int(stored["observed"]) if stored.get("tag") == tag else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def record(oid: int, tag: str, observed: int) -> None:
    path = _path(oid)
    if path is None:
        return
    with contextlib.suppress(OSError):  # a folder that cannot be written: dates stay per process
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, part = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        with os.fdopen(fd, "w") as out:
            json.dump({"tag": tag, "observed": observed}, out)
        os.replace(part, path)
