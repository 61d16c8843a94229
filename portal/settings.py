"""Settings for the portal, read from the environment with safe defaults.

Every portal-specific knob lives in the one ``PORTAL`` dict, named, defaulted and explained in
``autoapi/conf.py`` (DEFAULTS) and read through
``autoapi.conf.portal_setting``; each is documented in docs/configuration.md (a test checks that).
"""

import os
import secrets
from pathlib import Path

from whitenoise.compress import Compressor

from autoapi.conf import env_bool, env_list, portal_settings_from_environment
from portal.dburl import parse_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


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
    "portal.fairshare.apps.FairShareConfig",  # its system checks (portal/fairshare/checks.py)
]

# Outermost first; portal/middleware.py explains why each sits where it does.
MIDDLEWARE = [
    "portal.logs.RequestLogMiddleware",
    "autoapi.db.disconnect.CancelOnDisconnectMiddleware",
    "portal.pgpool.middleware.ReleaseConnectionsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.CorsMiddleware",
    "portal.fairshare.middleware.FairShareMiddleware",
    "portal.middleware.ReadOnlyMethodsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.middleware.ConditionalGetMiddleware",  # Django's, quicker for unconditional requests
    "autoapi.web.compression.CompressionMiddleware",
    # Cache-Control, Django's common and frame-options middleware, the hostile-input guard and CSVW's
    # Link: rel="describedby" on CSV answers, in one layer.
    "portal.middleware.ViewGuardMiddleware",
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

# The portal's own settings: every one is named, defaulted, explained and parsed in one place,
# autoapi/conf.py (each read from the environment variable PORTAL_<NAME>).
PORTAL = portal_settings_from_environment()


def database_entry(url: str) -> dict:
    """A DATABASES entry for one server of the published database: read-only, timed, fast to give
    up connecting. The primary and every replica get exactly the same session settings."""
    entry = parse_database_url(url)
    entry["OPTIONS"]["options"] = " ".join(
        [
            entry["OPTIONS"].get("options", ""),
            # Read-only at the session level: the second of the three guarantees (docs/setup.md).
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
    # Connections come from a bounded pool per process (portal/pgpool): Django "closes" a
    # connection at the end of each request, which gives it back; the pool keeps it open for
    # PORTAL_CONN_MAX_AGE seconds and checks it before lending it again after a pause.
    entry["ENGINE"] = "portal.pgpool"  # autoapi.db (portal/dburl.py) with the pool
    entry["CONN_MAX_AGE"] = 0
    entry["CONN_HEALTH_CHECKS"] = False
    entry["POOL"] = {
        "SIZE": max(1, PORTAL["DB_CONNECTIONS"]),
        "MAX_AGE": int(os.environ.get("PORTAL_CONN_MAX_AGE", "60")),
        # A request waits for a free connection at most as long as one statement may run.
        "TIMEOUT": PORTAL["STATEMENT_TIMEOUT_MS"] / 1000,
    }
    return entry


# Streaming replicas of the published database (docs/operations.md: "Read replicas"): each becomes an alias
# replica_0, replica_1, ... that serves the rows and counts of requests (autoapi/db/replicas.py); the
# schema snapshot and everything else stay on the primary ("published").
DATABASE_REPLICA_URLS = env_list("DATABASE_REPLICA_URLS", [])

DATABASES = {
    # Django's own bookkeeping never touches the published database: it has no apps that need
    # tables, and this in-memory SQLite stands in for "default".
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    "published": database_entry(DATABASE_URL or UNCONFIGURED_DATABASE_URL),
    **{f"replica_{i}": database_entry(url) for i, url in enumerate(DATABASE_REPLICA_URLS)},
}
DATABASE_ROUTERS = ["autoapi.schema.routers.PublishedDatabaseRouter"]

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
# collectstatic's target; whitenoise serves it (PORTAL_STATIC_ROOT: another folder, e.g. on a shared volume)
STATIC_ROOT = Path(os.environ.get("PORTAL_STATIC_ROOT") or BASE_DIR / "var" / "static")
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
# Leaflet, installed from npm by `make install-js` (package.json), served as static/vendor/leaflet/.
# Only its dist/ folder: nothing else under node_modules (test tools included) is ever served.
LEAFLET_DIST = BASE_DIR / "node_modules" / "leaflet" / "dist"
if LEAFLET_DIST.is_dir():
    STATICFILES_DIRS.append(("vendor/leaflet", LEAFLET_DIST))
# Chart.js likewise, as static/vendor/chartjs/ (the facet charts use its UMD build, chart.umd.min.js).
CHARTJS_DIST = BASE_DIR / "node_modules" / "chart.js" / "dist"
if CHARTJS_DIST.is_dir():
    STATICFILES_DIRS.append(("vendor/chartjs", CHARTJS_DIST))
# Single files of other npm packages (portal.staticfiles.NpmFilesFinder): only what the map needs.
# Natural Earth's countries and land (world-atlas: 1:110m for the world, 1:50m and 1:10m closer in) and
# topojson-client to read them: the base map under the catalog's maps, with no tile server;
# Leaflet.VectorGrid (its bundle, the protobuf reader included) draws the API's vector tiles.
NODE_MODULES = BASE_DIR / "node_modules"
NPM_STATIC_FILES = [
    (
        "vendor/world-atlas",
        NODE_MODULES / "world-atlas",
        ("countries-110m.json", "countries-50m.json", "countries-10m.json"),
    ),
    ("vendor/topojson-client", NODE_MODULES / "topojson-client" / "dist", ("topojson-client.min.js",)),
    ("vendor/leaflet.vectorgrid", NODE_MODULES / "leaflet.vectorgrid" / "dist", ("Leaflet.VectorGrid.bundled.min.js",)),
]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "portal.staticfiles.NpmFilesFinder",
]
# `manage.py collectstatic` (run by `make demo`, `make serve` and the tests' set-up) copies every
# file under a content-hashed name (portal.a1b2c3d4e5f6.css) with gzip and brotli copies beside it;
# {% static %} links to the hashed names, which whitenoise serves with a ten-year
# "Cache-Control: max-age=315360000, public, immutable" (a changed file gets a new name), and the
# precompressed copy the client's Accept-Encoding allows. Nothing is compressed per request.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # whitenoise's CompressedManifestStaticFilesStorage, linking a name not in the manifest unhashed
    "staticfiles": {"BACKEND": "portal.staticfiles.PortalStaticFilesStorage"},
}
# Served from STATIC_ROOT only (finders only with PORTAL_DEBUG, whitenoise's default), so what is
# served is what collectstatic hashed and compressed; only hashed names are kept (compressing the
# unhashed copies too would double collectstatic's time), and source maps are not compressed.
# Before the first `make static` (no manifest: a newcomer's `manage.py runserver` or gunicorn),
# the pages link to the plain names and whitenoise serves them from the sources (its finders),
# rather than every page failing; `manage.py check` (portal.W001) and the log say to run it.
WHITENOISE_USE_FINDERS = DEBUG or not (STATIC_ROOT / "staticfiles.json").exists()
WHITENOISE_KEEP_ONLY_HASHED_FILES = True
WHITENOISE_SKIP_COMPRESS_EXTENSIONS = (*Compressor.SKIP_COMPRESS_EXTENSIONS, "map")

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Behind a TLS-terminating reverse proxy (docs/operations.md): PORTAL_HTTPS=1 turns on the HTTPS
# redirect, HSTS and trust in the proxy's X-Forwarded-Proto. The proxy MUST set that header itself
# (overwriting the client's), or a client could claim https.
PORTAL_HTTPS = env_bool("PORTAL_HTTPS", False)
# No CSRF middleware: every method but GET, HEAD and OPTIONS is a 405 (portal.middleware), and the
# portal sets no cookies, so there is no request a forged form could make count.
# No XFrameOptionsMiddleware of its own (security.W002): portal.middleware.ViewGuardMiddleware runs it,
# so every answer still carries X-Frame-Options: DENY (tests/production/test_deploy.py).
SILENCED_SYSTEM_CHECKS: list[str] = ["security.W003", "security.W002"]
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
