"""The portal's settings: one namespaced ``PORTAL`` dict in Django settings, read with defaults.

The defaults live here and nowhere else; ``portal/settings.py`` fills ``PORTAL`` from the
environment with ``portal_settings_from_environment`` and starts nothing.
"""

import json
import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Every portal setting: its default, and what it means (docs/configuration.md says the same
# for operators; a test checks that each is documented there). Each is read from the environment
# variable PORTAL_<NAME> by ``portal_settings_from_environment`` (portal/settings.py), parsed as
# its default's type: a comma-separated list, an integer, a number, on/off, or text.
DEFAULTS = {
    # Schemas to publish; empty means every non-system schema the role may use.
    "SCHEMAS": [],
    # Milliseconds any one statement may run (pages, catalog, introspection).
    "STATEMENT_TIMEOUT_MS": 5000,
    # Milliseconds a whole-relation export (?limit=all) may run.
    "EXPORT_STATEMENT_TIMEOUT_MS": 600000,
    # Rows per page when ?limit= is not given, and the most a page may ask for.
    "PAGE_SIZE": 100,
    "MAX_PAGE_SIZE": 1000,
    # Seconds between two checks of the schema fingerprint.
    "REFRESH_INTERVAL": 0.5,
    # Rows shown in the catalog's preview of a relation.
    "PREVIEW_ROWS": 20,
    # Counts are exact up to this many rows, then the planner's estimate (marked as such).
    "EXACT_COUNT_THRESHOLD": 10000,
    # LISTEN on this channel and refresh at once on a NOTIFY (docs/downloads.md: "Following the schema live");
    # empty turns the listener off. Polling works without it.
    "NOTIFY_CHANNEL": "portal_schema_changed",
    # Seconds browsers, proxies and CDNs may reuse a successful answer (Cache-Control max-age).
    "CACHE_MAX_AGE": 60,
    # CSV: when on, a text cell starting with = + - @ tab or CR gets a leading ' so that
    # spreadsheets do not run it as a formula (OWASP "CSV injection"); numbers and other types are
    # never altered. Off by default: CSV is then PostgreSQL's COPY output, byte for byte.
    "CSV_NEUTRALISE_FORMULAS": False,
    # The catalog's maps draw the data on a plain background; a tile URL template
    # ("https://tile.example.org/{z}/{x}/{y}.png") adds a base map, with its attribution text.
    "MAP_TILE_URL": "",
    "MAP_TILE_ATTRIBUTION": "",
    # A JSON file of titles, licenses, publisher and contact for /data.json and the catalog
    # (docs/catalog.md: "Metadata file"); empty means none.
    "METADATA_FILE": "",
    # Seconds a read replica whose connection failed is left out before it is tried again
    # (its requests go to the primary meanwhile).
    "REPLICA_RETRY_SECONDS": 5.0,
    # Fair share (docs/operations.md: "Fair share"). Requests per client per window (0: no limit), and the
    # window in seconds: 600 a minute is ten a second, far above a person browsing the catalog.
    "RATE_LIMIT": 600,
    "RATE_LIMIT_WINDOW": 60,
    # Concurrent whole-relation downloads (?limit=all) per client (429 beyond) and per process
    # (503 beyond); 0: no limit.
    "CLIENT_DOWNLOADS": 2,
    "PROCESS_DOWNLOADS": 2,
    # Requests one client may have in flight at once (pages, downloads, catalog; 429 beyond), and
    # the share of a process's DB_CONNECTIONS one client may hold when its requests take long or
    # fewer than a quarter of them are free (429 beyond; 0: no share kept). docs/operations.md, "Fair share".
    "CLIENT_REQUESTS": 8,
    "CLIENT_POOL_SHARE": 0.25,
    # redis://host:6379/0: the counters are shared by every process and host; empty: per process.
    "REDIS_URL": "",
    # Addresses or networks of reverse proxies whose X-Forwarded-For names the client.
    "TRUSTED_PROXIES": [],
    # API keys, as SHA-256 hashes with their own limits: a JSON list (the environment variable
    # holds JSON) here and/or in a file.
    "API_KEYS": [],
    "API_KEYS_FILE": "",
    # The shortest key accepted (shorter ones are refused unhashed), and the refused keys one
    # address may send per RATE_LIMIT_WINDOW before it may send no key at all until the window ends.
    "API_KEY_MIN_LENGTH": 32,
    "API_KEY_FAILURES": 10,
    # Seconds a rendered catalog page, and an API page, is reused by its process
    # (autoapi/web/responsecache.py), keyed by the schema snapshot and the URL; 0 turns it off.
    "CATALOG_CACHE_SECONDS": 30.0,
    "API_CACHE_SECONDS": 2.0,
    # MiB each process's in-memory caches may hold (autoapi/boundedcache.py; docs/operations.md, "Memory"):
    # those answers, the plans of list requests and tiles, and the planner's count estimates. The
    # least recently used entries go first; 0 keeps nothing.
    "PAGE_CACHE_MB": 16,
    "PLAN_CACHE_MB": 4,
    "COUNT_CACHE_MB": 1,
    # PostgreSQL connections each process keeps for pages, the catalog and the schema checks (per
    # server), shared by all its request threads (portal/pgpool); a request waits for a free one.
    "DB_CONNECTIONS": 8,
    # MiB of the server's memory each of those connections may hold in prepared statements
    # (autoapi/db/prepared.py; estimated at 100 bytes per character of their text): a statement run
    # twice on a connection is prepared and then skips PostgreSQL's parse and plan; least recently
    # used are deallocated past it. 0: every statement runs as text.
    "PREPARED_STATEMENTS_MB": 4,
    # Whole-relation downloads one process streams at once, each on a connection of its own: the
    # bound on PostgreSQL connections (docs/operations.md: "Slow clients"), whatever PROCESS_DOWNLOADS says;
    # the next download is a 503 with Retry-After.
    "EXPORT_CONNECTIONS": 8,
    # The catalog's facets (docs/catalog.md: "Facets and charts"): milliseconds each facet's query may run
    # (a facet that runs out says so; the page does not wait for it), values shown per facet, and
    # how many facets a relation page shows by itself (0: none; more are a click away).
    "FACET_TIME_LIMIT_MS": 200,
    "FACET_SIZE": 10,
    "FACETS_SUGGESTED": 3,
    # Relations of at most this many (estimated) rows have their facets counted with the page;
    # larger ones and views get the page at once and their facets from its script just after.
    "FACET_INLINE_ROWS": 100000,
    # A facet that runs out of FACET_TIME_LIMIT_MS on a filtered page (or without statistics to stand
    # in) is estimated from a sample of about this many rows (0: never), under a time limit of its own.
    "FACET_SAMPLE_ROWS": 100000,
    "FACET_SAMPLE_TIME_LIMIT_MS": 500,
    # Features a vector tile holds at most (/api/<schema>/<relation>/tiles/{z}/{x}/{y}.mvt); a
    # tile that had more says so in an X-Tile-Truncated header.
    "TILE_FEATURE_LIMIT": 10000,
    # Whole-relation downloads kept as files, once per data version (autoapi/freshness/exportcache.py): the
    # folder (empty: var/export-cache in the project) and its size cap in MiB, the least recently
    # served files going first (0 turns the cache off).
    "EXPORT_CACHE_DIR": "",
    "EXPORT_CACHE_MB": 2048,
    # Bad input (docs/operations.md: "Bad input", autoapi/query/limits.py): how much one request may ask for; beyond,
    # a 400 naming the parameter. CQL2 nesting of AND/OR/NOT and CASEI (at most 30), predicates
    # in one filter, values in an IN list (CQL2's IN and ?<column>__in=), % wildcards in one LIKE
    # pattern, and words in ?search= (each an OR over every text column).
    "FILTER_MAX_DEPTH": 20,
    "FILTER_MAX_CONDITIONS": 250,
    "FILTER_MAX_LIST": 1000,
    "LIKE_MAX_WILDCARDS": 10,
    "SEARCH_MAX_WORDS": 8,
    # The change log behind the feeds (catalog/standards/changelog.py): its folder (empty: changes/
    # in EXPORT_CACHE_DIR's folder) and the days an entry is kept (0 turns the log off).
    "CHANGE_LOG_DIR": "",
    "CHANGE_LOG_DAYS": 365,
    # Whole-catalog documents (autoapi/web/documents.py; docs/operations.md, "Catalog documents at scale"): builds
    # one process runs at once, seconds a request waits for one (then a 503), MiB of built
    # documents kept per process, and seconds after which a document that follows the data too
    # (/data.json, sitemaps: modification dates) is rebuilt while the held one keeps being served.
    "DOCUMENT_BUILDS": 1,
    # MiB of relations' built endpoints (model, FilterSet, views: about 28 KB + 4 KB per column each) a
    # process keeps; the least recently used go past it and are built again when asked for (0: no limit).
    "ENDPOINTS_MB": 80,
    "DOCUMENT_WAIT_SECONDS": 30.0,
    "DOCUMENT_CACHE_MB": 64,
    "DOCUMENT_REFRESH_SECONDS": 300.0,
    # The catalog's lists: relations shown per schema on the home page (then "and N more"), per
    # page of a schema's list, and URLs per sitemap (the protocol's limit is 50,000; past it,
    # /sitemap.xml becomes an index of sitemaps).
    "HOME_RELATIONS": 20,
    # Up to this many relations, /api/schema/ holds every path; past it, the index, the shared
    # components and a link to each relation's own document (autoapi/web/openapi_documents.py).
    "OPENAPI_INLINE_RELATIONS": 200,
    "CATALOG_PAGE_SIZE": 100,
    "SITEMAP_MAX_URLS": 50000,
}
JSON_SETTINGS = {"API_KEYS"}  # read as JSON, not as a comma-separated list

# Name of the Django database alias that points at the published database.
DATABASE_ALIAS = "published"


def portal_setting(name: str):
    """The value of ``settings.PORTAL[name]``, or its default."""
    if name not in DEFAULTS:
        raise KeyError(f"unknown portal setting {name!r}; known: {', '.join(sorted(DEFAULTS))}")
    return getattr(settings, "PORTAL", {}).get(name, DEFAULTS[name])


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_json(name: str, default):
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return json.loads(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is not valid JSON: {exc}") from None


def _from_environment(name: str, default):
    variable = f"PORTAL_{name}"
    if name in JSON_SETTINGS:
        return env_json(variable, default)
    if isinstance(default, bool):
        return env_bool(variable, default)
    if isinstance(default, list):
        return env_list(variable, default)
    raw = os.environ.get(variable)
    if raw is None:
        return default
    return type(default)(raw)  # int, float or str, as the default is


def portal_settings_from_environment() -> dict:
    """Every setting of DEFAULTS, from its environment variable ``PORTAL_<NAME>`` or its default."""
    return {name: _from_environment(name, default) for name, default in DEFAULTS.items()}
