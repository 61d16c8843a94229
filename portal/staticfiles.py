"""Static files: what ``collectstatic`` leaves out, and running it only when something changed.

``PortalStaticFilesConfig`` is listed in INSTALLED_APPS in place of ``django.contrib.staticfiles``.
Every collected file is hashed and compressed twice (gzip and brotli at their highest levels, by
whitenoise), so leaving out DRF's browsable-API files (the portal renders JSON only) and
drf-spectacular-sidecar's ReDoc (/api/docs/ is Swagger UI) keeps collectstatic at seconds rather
than a minute.

``NpmFilesFinder`` serves single files of npm packages (``settings.NPM_STATIC_FILES``), for packages
whose needed files do not sit alone in a ``dist/`` folder: world-atlas's two Natural Earth files
without its README, package.json and 7 MB of 1:10m data, VectorGrid's one bundle without its
sources and source maps.

``python -m portal.staticfiles`` (``make static``, run by ``make demo`` and ``make serve``) and the
tests' set-up call ``collect_if_stale()``: collectstatic when the manifest is missing or older
than any source file, else nothing.

``PortalStaticFilesStorage`` keeps a server started before ``make static`` (``manage.py runserver``
or gunicorn on a fresh checkout) from failing every page, error pages included, on a missing
manifest entry: a name the manifest does not hold is linked unhashed (``/static/portal.css``) with
a warning naming ``make static``, and settings turn on whitenoise's finders when there is no
manifest (``WHITENOISE_USE_FINDERS``), so those unhashed names are served from the sources.
"""

from __future__ import annotations

import logging
import os

from django.contrib.staticfiles.apps import StaticFilesConfig
from django.contrib.staticfiles.finders import BaseFinder
from django.core import checks
from django.core.files.storage import FileSystemStorage
from whitenoise.storage import CompressedManifestStaticFilesStorage

log = logging.getLogger(__name__)
MANIFEST = "staticfiles.json"  # ManifestFilesMixin.manifest_name


class PortalStaticFilesConfig(StaticFilesConfig):
    ignore_patterns = [*StaticFilesConfig.ignore_patterns, "rest_framework", "redoc"]

    def ready(self):
        super().ready()
        # Tagged "portal", not "staticfiles": collectstatic runs only those, and must run without a manifest.
        checks.register(check_collected, "portal")


class NpmFilesFinder(BaseFinder):
    """Exactly the files named in ``settings.NPM_STATIC_FILES``, a list of ``(prefix, folder,
    names)``: ``folder/name`` is served as ``prefix/name``; a file that is not there is left out."""

    def __init__(self, *args, **kwargs):
        from django.conf import settings

        self.files = {}  # served path -> (storage, name in the folder)
        for prefix, folder, names in getattr(settings, "NPM_STATIC_FILES", ()):
            storage = FileSystemStorage(location=folder)
            storage.prefix = prefix  # collectstatic copies ``name`` to ``prefix/name``
            for name in names:
                if os.path.isfile(os.path.join(folder, name)):
                    self.files[f"{prefix}/{name}"] = (storage, name)
        super().__init__(*args, **kwargs)

    def find(self, path, find_all=False, **kwargs):
        found = self.files.get(path)
        match = found[0].path(found[1]) if found else None
        if find_all:
            return [match] if match else []
        return match

    def list(self, ignore_patterns):
        for storage, name in self.files.values():
            yield name, storage


class PortalStaticFilesStorage(CompressedManifestStaticFilesStorage):
    """whitenoise's hashed and compressed files; a name missing from the manifest (no manifest
    yet, or a file added since the last ``make static``) is linked by its plain name instead of
    raising, so that no page, and above all no error page, depends on the manifest."""

    _warned: set[str] = set()  # names warned about (or "" for the missing manifest), once per process

    def url(self, name, force=False):
        try:
            return super().url(name, force)
        except ValueError:
            # No manifest: one warning (whitenoise asks for every file's URL at start-up).
            warning = "" if not self.hashed_files else name
            if warning not in self._warned:
                self._warned.add(warning)
                log.warning(
                    "%s: static files are linked unhashed, served without long-lived caching or "
                    "precompression; run `make static` (python -m portal.staticfiles)",
                    f"{name!r} is not in {self.location}'s manifest"
                    if warning
                    else f"no manifest of collected static files in {self.location}",
                )
            return FileSystemStorage.url(self, name)


def manifest_exists(static_root) -> bool:
    return os.path.exists(os.path.join(static_root, MANIFEST))


def check_collected(app_configs=None, **kwargs):
    """``portal.W001``: without collectstatic's manifest, pages link to unhashed source files."""
    from django.conf import settings

    if settings.DEBUG or manifest_exists(settings.STATIC_ROOT):
        return []
    return [
        checks.Warning(
            f"static files have not been collected into {settings.STATIC_ROOT}: pages link to the "
            "source files by their plain names, served without long-lived caching or precompression",
            hint="Run `make static` (python -m portal.staticfiles) before starting the server.",
            id="portal.W001",
        )
    ]


def _newest_source() -> float:
    from django.apps import apps
    from django.contrib.staticfiles.finders import get_finders

    ignore = apps.get_app_config("staticfiles").ignore_patterns
    newest = 0.0
    for finder in get_finders():
        for path, storage in finder.list(ignore):
            newest = max(newest, os.stat(storage.path(path)).st_mtime)
    return newest


def collect_if_stale(verbosity: int = 1) -> bool:
    """Run ``collectstatic`` unless its manifest is newer than every source file; True if run."""
    from django.conf import settings
    from django.core.management import call_command

    manifest = os.path.join(settings.STATIC_ROOT, MANIFEST)
    if os.path.exists(manifest) and os.stat(manifest).st_mtime >= _newest_source():
        return False
    # No --clear: earlier hashed names stay servable for pages and caches that still link to them.
    call_command("collectstatic", "--noinput", verbosity=verbosity)
    return True


if __name__ == "__main__":
    # collectstatic reads no database: a placeholder keeps settings from starting the demo's.
    os.environ.setdefault("DATABASE_URL", "postgresql://collectstatic.invalid/none")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    print("static files collected" if collect_if_stale() else "static files up to date")
