"""System checks for the catalog's settings (``manage.py check``), so that a broken metadata file
or map tile URL is reported when the portal is deployed, not discovered on a page.

Registered by ``catalog.apps.CatalogConfig.ready``.
"""

from django.core import checks

from autoapi.conf import portal_setting
from catalog import metadata


@checks.register()
def check_metadata_file(app_configs=None, **kwargs):
    path = portal_setting("METADATA_FILE")
    if not path:
        return []
    try:
        metadata.read(path)
    except metadata.MetadataError as exc:
        return [
            checks.Error(
                str(exc),
                hint='Fix the file, or unset PORTAL_METADATA_FILE (docs/catalog.md, "Metadata file").',
                id="catalog.E001",
            )
        ]
    return []


@checks.register()
def check_map_tile_url(app_configs=None, **kwargs):
    url = portal_setting("MAP_TILE_URL")
    if not url:
        return []
    problems = []
    if not url.startswith(("https://", "http://", "/")):
        problems.append("it must be an http(s) URL or a path on this site")
    missing = [part for part in ("{z}", "{x}", "{y}") if part not in url]
    if missing:
        problems.append(f"it lacks {', '.join(missing)}")
    if problems:
        return [
            checks.Error(
                f"PORTAL['MAP_TILE_URL'] ({url!r}) is not a tile URL template: " + "; ".join(problems),
                hint="For example https://tile.example.org/{z}/{x}/{y}.png, or empty for no base map.",
                id="catalog.E002",
            )
        ]
    return []
