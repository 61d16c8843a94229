"""Settings for the portal, read from the environment with safe defaults.

Every portal-specific knob lives in the one ``PORTAL`` dict below and is read through
``autoapi.conf.portal_setting``; each is documented in README.md (a test checks that).
"""
import json
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from whitenoise.compress import Compressor

from portal.dburl import parse_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


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


DEBUG = env_bool("PORTAL_DEBUG", False)
# A fresh random key per process is fine: the portal has no sessions, logins or signed cookies.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    "portal.staticfiles.PortalStaticFilesConfig",  # django.contrib.staticfiles, minus unused apps' files
    "rest_framework",
    "django_filters",
    "drf_spectacular_sidecar",
    "autoapi",
    "catalog",
]

# Outermost first; portal/middleware.py explains why each sits where it does.
MIDDLEWARE = [
    "portal.logs.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.CorsMiddleware",
    "portal.fairshare.middleware.FairShareMiddleware",
    "portal.middleware.ReadOnlyMethodsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.http.ConditionalGetMiddleware",
    "portal.compression.CompressionMiddleware",
    "portal.middleware.CacheControlMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.middleware.RejectHostileInputMiddleware",
    "portal.middleware.DatabaseErrorMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

# The published database. Importing the settings starts nothing: without DATABASE_URL the portal
# has no database (its connections fail at once, on a socket folder that cannot exist, and
# `manage.py check` says how to start the demo: `make demo`, or `python -m portal.embedded start`,
# which starts the embedded server and prints the URL to use).
DATABASE_URL = os.environ.get("DATABASE_URL", "")
UNCONFIGURED_DATABASE_URL = "postgresql:///unconfigured?host=/nonexistent/pg-portal-without-DATABASE_URL"

PORTAL = {
    # Schemas to publish; empty means every non-system schema the role may use.
    "SCHEMAS": env_list("PORTAL_SCHEMAS", []),
    # Milliseconds any one statement may run (pages, catalog, introspection).
    "STATEMENT_TIMEOUT_MS": int(os.environ.get("PORTAL_STATEMENT_TIMEOUT_MS", "5000")),
    # Milliseconds a whole-relation export (?limit=all) may run.
    "EXPORT_STATEMENT_TIMEOUT_MS": int(os.environ.get("PORTAL_EXPORT_STATEMENT_TIMEOUT_MS", "600000")),
    # Rows per page when ?limit= is not given, and the most a page may ask for.
    "PAGE_SIZE": int(os.environ.get("PORTAL_PAGE_SIZE", "100")),
    "MAX_PAGE_SIZE": int(os.environ.get("PORTAL_MAX_PAGE_SIZE", "1000")),
    # Seconds between two checks of the schema fingerprint.
    "REFRESH_INTERVAL": float(os.environ.get("PORTAL_REFRESH_INTERVAL", "0.5")),
    # LISTEN on this channel and refresh at once on a NOTIFY (README: "Following the schema live");
    # empty turns the listener off. Polling works without it.
    "NOTIFY_CHANNEL": os.environ.get("PORTAL_NOTIFY_CHANNEL", "portal_schema_changed"),
    # Rows shown in the catalog's preview of a relation.
    "PREVIEW_ROWS": int(os.environ.get("PORTAL_PREVIEW_ROWS", "20")),
    # Counts are exact up to this many rows, then the planner's estimate (marked as such).
    "EXACT_COUNT_THRESHOLD": int(os.environ.get("PORTAL_EXACT_COUNT_THRESHOLD", "10000")),
    # Seconds browsers, proxies and CDNs may reuse a successful answer (Cache-Control max-age).
    "CACHE_MAX_AGE": int(os.environ.get("PORTAL_CACHE_MAX_AGE", "60")),
    # CSV: when on, a text cell starting with = + - @ tab or CR gets a leading ' so that
    # spreadsheets do not run it as a formula (OWASP "CSV injection"); numbers and other types are
    # never altered. Off by default: CSV is then PostgreSQL's COPY output, byte for byte.
    "CSV_NEUTRALISE_FORMULAS": env_bool("PORTAL_CSV_NEUTRALISE_FORMULAS", False),
    # The catalog's maps draw the data on a plain background; a tile URL template
    # ("https://tile.example.org/{z}/{x}/{y}.png") adds a base map, with its attribution text.
    "MAP_TILE_URL": os.environ.get("PORTAL_MAP_TILE_URL", ""),
    "MAP_TILE_ATTRIBUTION": os.environ.get("PORTAL_MAP_TILE_ATTRIBUTION", ""),
    # A JSON file of titles, licenses, publisher and contact for /data.json and the catalog
    # (README: "Metadata file"); empty means none.
    "METADATA_FILE": os.environ.get("PORTAL_METADATA_FILE", ""),
    # Seconds a read replica whose connection failed is left out before it is tried again
    # (its requests go to the primary meanwhile).
    "REPLICA_RETRY_SECONDS": float(os.environ.get("PORTAL_REPLICA_RETRY_SECONDS", "5")),
    # Fair share (README: "Fair share"). Requests per client per window (0: no limit), and the
    # window in seconds: 600 a minute is ten a second, far above a person browsing the catalog.
    "RATE_LIMIT": int(os.environ.get("PORTAL_RATE_LIMIT", "600")),
    "RATE_LIMIT_WINDOW": int(os.environ.get("PORTAL_RATE_LIMIT_WINDOW", "60")),
    # Concurrent whole-relation downloads (?limit=all) per client (429 beyond) and per process
    # (503 beyond); 0: no limit. Each download holds a worker thread: keep PROCESS_DOWNLOADS below
    # GUNICORN_THREADS (4) so that pages are still served while downloads run.
    "CLIENT_DOWNLOADS": int(os.environ.get("PORTAL_CLIENT_DOWNLOADS", "2")),
    "PROCESS_DOWNLOADS": int(os.environ.get("PORTAL_PROCESS_DOWNLOADS", "2")),
    # redis://host:6379/0: the counters are shared by every process and host; empty: per process.
    "REDIS_URL": os.environ.get("PORTAL_REDIS_URL", ""),
    # Addresses or networks of reverse proxies whose X-Forwarded-For names the client.
    "TRUSTED_PROXIES": env_list("PORTAL_TRUSTED_PROXIES", []),
    # API keys, as SHA-256 hashes with their own limits: a JSON list here and/or in a file.
    "API_KEYS": env_json("PORTAL_API_KEYS", []),
    "API_KEYS_FILE": os.environ.get("PORTAL_API_KEYS_FILE", ""),
}

def database_entry(url: str) -> dict:
    """A DATABASES entry for one server of the published database: read-only, timed, fast to give
    up connecting. The primary and every replica get exactly the same session settings."""
    entry = parse_database_url(url)
    entry["OPTIONS"]["options"] = " ".join(
        [
            entry["OPTIONS"].get("options", ""),
            # Read-only at the session level: the second of the three guarantees (README).
            "-c default_transaction_read_only=on",
            f"-c statement_timeout={PORTAL['STATEMENT_TIMEOUT_MS']}",
            "-c idle_in_transaction_session_timeout=60000",
            # Stable text forms for dates and intervals in CSV, whatever the server's defaults.
            "-c DateStyle=ISO,MDY -c IntervalStyle=postgres -c TimeZone=UTC",
            "-c extra_float_digits=1",
        ]
    ).strip()
    entry["OPTIONS"].setdefault("application_name", "pg-portal")
    # An unreachable database must give a fast 503, not a hung worker: give up connecting after a
    # few seconds, and notice a silently vanished server (no RST) through TCP keepalives.
    entry["OPTIONS"].setdefault("connect_timeout", os.environ.get("PORTAL_CONNECT_TIMEOUT", "3"))
    entry["OPTIONS"].setdefault("keepalives", "1")
    entry["OPTIONS"].setdefault("keepalives_idle", "30")
    entry["OPTIONS"].setdefault("keepalives_interval", "10")
    entry["OPTIONS"].setdefault("keepalives_count", "3")
    entry["CONN_MAX_AGE"] = int(os.environ.get("PORTAL_CONN_MAX_AGE", "60"))
    entry["CONN_HEALTH_CHECKS"] = True
    return entry


# Streaming replicas of the published database (README: "Read replicas"): each becomes an alias
# replica_0, replica_1, ... that serves the rows and counts of requests (autoapi/replicas.py); the
# schema snapshot and everything else stay on the primary ("published").
DATABASE_REPLICA_URLS = env_list("DATABASE_REPLICA_URLS", [])

DATABASES = {
    # Django's own bookkeeping never touches the published database: it has no apps that need
    # tables, and this in-memory SQLite stands in for "default".
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    "published": database_entry(DATABASE_URL or UNCONFIGURED_DATABASE_URL),
    **{f"replica_{i}": database_entry(url) for i, url in enumerate(DATABASE_REPLICA_URLS)},
}
DATABASE_ROUTERS = ["autoapi.routers.PublishedDatabaseRouter"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "autoapi.errors.exception_handler",
    "URL_FORMAT_OVERRIDE": "format",
}

USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"  # collectstatic's target; whitenoise serves it
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
# Leaflet, installed from npm by `make install-js` (package.json), served as static/vendor/leaflet/.
# Only its dist/ folder: nothing else under node_modules (test tools included) is ever served.
LEAFLET_DIST = BASE_DIR / "node_modules" / "leaflet" / "dist"
if LEAFLET_DIST.is_dir():
    STATICFILES_DIRS.append(("vendor/leaflet", LEAFLET_DIST))
# `manage.py collectstatic` (run by `make demo`, `make serve` and the tests' set-up) copies every
# file under a content-hashed name (portal.a1b2c3d4e5f6.css) with gzip and brotli copies beside it;
# {% static %} links to the hashed names, which whitenoise serves with a ten-year
# "Cache-Control: max-age=315360000, public, immutable" (a changed file gets a new name), and the
# precompressed copy the client's Accept-Encoding allows. Nothing is compressed per request.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Served from STATIC_ROOT only (finders only with PORTAL_DEBUG, whitenoise's default), so what is
# served is what collectstatic hashed and compressed; only hashed names are kept (compressing the
# unhashed copies too would double collectstatic's time), and source maps are not compressed.
WHITENOISE_KEEP_ONLY_HASHED_FILES = True
WHITENOISE_SKIP_COMPRESS_EXTENSIONS = (*Compressor.SKIP_COMPRESS_EXTENSIONS, "map")

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Behind a TLS-terminating reverse proxy (README "Production"): PORTAL_HTTPS=1 turns on the HTTPS
# redirect, HSTS and trust in the proxy's X-Forwarded-Proto. The proxy MUST set that header itself
# (overwriting the client's), or a client could claim https.
PORTAL_HTTPS = env_bool("PORTAL_HTTPS", False)
# No CSRF middleware: every method but GET, HEAD and OPTIONS is a 405 (portal.middleware), and the
# portal sets no cookies, so there is no request a forged form could make count.
SILENCED_SYSTEM_CHECKS: list[str] = ["security.W003"]
if PORTAL_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # load balancers probe over plain HTTP
    SECURE_HSTS_SECONDS = int(os.environ.get("PORTAL_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("PORTAL_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("PORTAL_HSTS_PRELOAD", True)
    # The portal sets no cookies; should one ever appear, it is HTTPS-only.
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    # Turning an HSTS option off is a deliberate choice for this domain: do not warn about it.
    if not SECURE_HSTS_INCLUDE_SUBDOMAINS:
        SILENCED_SYSTEM_CHECKS.append("security.W005")
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS.append("security.W021")

# One JSON object per line (portal/logs.py), with the request id of the request being served;
# PORTAL_LOG_FORMAT=text for a terminal.
LOG_FORMAT = os.environ.get("PORTAL_LOG_FORMAT", "json").strip().lower()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "portal.logs.JSONFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "filters": {"skip_503": {"()": "portal.logs.SkipServiceUnavailable"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "text" if LOG_FORMAT == "text" else "json"},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("PORTAL_LOG_LEVEL", "INFO")},
    "loggers": {
        # 4xx are the client's business and 503s a database outage's (portal.request logs every
        # request anyway); 500s keep their traceback here.
        "django.request": {"level": "ERROR", "filters": ["skip_503"]},
    },
}
