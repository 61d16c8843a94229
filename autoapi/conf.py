"""The portal's settings: one namespaced ``PORTAL`` dict in Django settings, read with defaults."""
from django.conf import settings

DEFAULTS = {
    "SCHEMAS": [],
    "STATEMENT_TIMEOUT_MS": 5000,
    "EXPORT_STATEMENT_TIMEOUT_MS": 600000,
    "PAGE_SIZE": 100,
    "MAX_PAGE_SIZE": 1000,
    "REFRESH_INTERVAL": 0.5,
    "PREVIEW_ROWS": 20,
    "EXACT_COUNT_THRESHOLD": 10000,
    "NOTIFY_CHANNEL": "portal_schema_changed",
    "CACHE_MAX_AGE": 60,
    "CSV_NEUTRALISE_FORMULAS": False,
    "MAP_TILE_URL": "",
    "MAP_TILE_ATTRIBUTION": "",
    "METADATA_FILE": "",
    "REPLICA_RETRY_SECONDS": 5.0,
    "RATE_LIMIT": 600,
    "RATE_LIMIT_WINDOW": 60,
    "CLIENT_DOWNLOADS": 2,
    "PROCESS_DOWNLOADS": 2,
    "REDIS_URL": "",
    "TRUSTED_PROXIES": [],
    "API_KEYS": [],
    "API_KEYS_FILE": "",
}

# Name of the Django database alias that points at the published database.
DATABASE_ALIAS = "published"


def portal_setting(name: str):
    """The value of ``settings.PORTAL[name]``, or its default."""
    if name not in DEFAULTS:
        raise KeyError(f"unknown portal setting {name!r}; known: {', '.join(sorted(DEFAULTS))}")
    return getattr(settings, "PORTAL", {}).get(name, DEFAULTS[name])
