"""System checks: misconfiguration shows up in ``manage.py check`` (and ``check --deploy``).

Registered by ``AutoapiConfig.ready()`` under the tag ``portal``, so ``manage.py check --tag
portal`` runs only these. Two groups:

- ``check_settings`` (no database): every ``PORTAL`` value has the right type and a sane range.
- ``check_published_database``: the published database answers, publishes something, and the
  portal's role is as harmless as docs/setup.md asks (no superuser, no CREATE, no write privilege).
  It connects, so it is not tagged ``database`` (Django runs those only with ``--database``): a
  portal whose database cannot be reached is misconfigured, and plain ``manage.py check`` says so.

| id | level | what |
|---|---|---|
| autoapi.E001 | Error | the published database cannot be reached (PostgreSQL's or libpq's own message) |
| autoapi.E003 | Error | DATABASE_URL is not set (the hint says how to start the demo database) |
| autoapi.E002 | Error | the database answers but its catalog cannot be read (never expected: report it) |
| autoapi.W001 | Warning | the role can read no relation (nothing is published) |
| autoapi.W002 | Warning | the role is a superuser |
| autoapi.W003 | Warning | the role may CREATE in a published schema |
| autoapi.W004 | Warning | the role may INSERT, UPDATE, DELETE or TRUNCATE a published relation |
| autoapi.W005 | Warning | some relation (or catalog read) was left out; the rest is published |
| autoapi.E010 | Error | a PORTAL setting has the wrong type |
| autoapi.E011 | Error | a PORTAL setting is out of range (PAGE_SIZE > MAX_PAGE_SIZE, a timeout of 0, a bad Redis URL, trusted proxy or API key entry, API_KEY_MIN_LENGTH below 16, ...) |
| autoapi.W010 | Warning | PORTAL holds a name the portal does not know (a typo?) |
| autoapi.W011 | Warning | EXPORT_STATEMENT_TIMEOUT_MS is shorter than STATEMENT_TIMEOUT_MS |
"""

from __future__ import annotations

import numbers

from django.conf import settings
from django.core import checks

from autoapi.checks_database import check_published_database  # noqa: F401 (registered below; tests import it here)
from autoapi.conf import DEFAULTS, portal_setting

TAG = "portal"

_INTEGERS = (
    "STATEMENT_TIMEOUT_MS",
    "EXPORT_STATEMENT_TIMEOUT_MS",
    "PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "PREVIEW_ROWS",
    "EXACT_COUNT_THRESHOLD",
    "CACHE_MAX_AGE",
    "RATE_LIMIT",
    "RATE_LIMIT_WINDOW",
    "CLIENT_DOWNLOADS",
    "PROCESS_DOWNLOADS",
    "DB_CONNECTIONS",
    "PREPARED_STATEMENTS_MB",
    "EXPORT_CONNECTIONS",
    "EXPORT_CACHE_MB",
    "CLIENT_REQUESTS",
    "API_KEY_MIN_LENGTH",
    "API_KEY_FAILURES",
    "PAGE_CACHE_MB",
    "PLAN_CACHE_MB",
    "COUNT_CACHE_MB",
    "ENDPOINTS_MB",
)
_STRINGS = ("REDIS_URL", "API_KEYS_FILE", "EXPORT_CACHE_DIR")
_NUMBERS = (
    "REFRESH_INTERVAL",
    "REPLICA_RETRY_SECONDS",
    "CATALOG_CACHE_SECONDS",
    "API_CACHE_SECONDS",
    "CLIENT_POOL_SHARE",
)
_BOOLEANS = ("CSV_NEUTRALISE_FORMULAS",)
# The lowest value each number may take.
_MINIMUM = {
    "CATALOG_CACHE_SECONDS": 0,
    "API_CACHE_SECONDS": 0,
    "STATEMENT_TIMEOUT_MS": 1,  # 0 would switch PostgreSQL's statement timeout off
    "EXPORT_STATEMENT_TIMEOUT_MS": 1,
    "PAGE_SIZE": 1,
    "MAX_PAGE_SIZE": 1,
    "PREVIEW_ROWS": 1,
    "EXACT_COUNT_THRESHOLD": 0,
    "CACHE_MAX_AGE": 0,
    "REPLICA_RETRY_SECONDS": 0,
    "RATE_LIMIT": 0,  # 0: no limit, as for the two download caps
    "RATE_LIMIT_WINDOW": 1,
    "CLIENT_DOWNLOADS": 0,
    "PROCESS_DOWNLOADS": 0,
    "CLIENT_REQUESTS": 0,
    "CLIENT_POOL_SHARE": 0,  # 0: no share kept (at most 1, checked below)
    "API_KEY_FAILURES": 0,  # 0: refused keys are not limited
    # A key is a secret only if it cannot be guessed: 16 characters of token_urlsafe are 96 bits.
    "API_KEY_MIN_LENGTH": 16,
    "DB_CONNECTIONS": 1,  # bounds, never off: 0 would serve nothing
    "EXPORT_CONNECTIONS": 1,
    "PREPARED_STATEMENTS_MB": 0,  # 0: none prepared
    "EXPORT_CACHE_MB": 0,  # 0: no export cache
    "PAGE_CACHE_MB": 0,  # 0: nothing kept in memory
    "PLAN_CACHE_MB": 0,
    "COUNT_CACHE_MB": 0,
    "ENDPOINTS_MB": 0,  # 0: no limit
}
SETTINGS_TABLE = "See the settings table in docs/configuration.md."


def error(msg, hint, id):
    return checks.Error(msg, hint=hint, obj="settings.PORTAL", id=id)


def check_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    configured = getattr(settings, "PORTAL", {})
    if not isinstance(configured, dict):
        return [error("settings.PORTAL must be a dict", "See docs/configuration.md.", "autoapi.E010")]
    messages = _unknown_names(configured)
    values = {name: portal_setting(name) for name in DEFAULTS}
    wrong_types = type_errors(values)
    if wrong_types:
        return messages + wrong_types
    return messages + _range_errors(values) + _timeout_warnings(values)


def _unknown_names(configured: dict) -> list[checks.CheckMessage]:
    hint = f"Known settings: {', '.join(sorted(DEFAULTS))}."
    return [
        checks.Warning(
            f"PORTAL[{name!r}] is not a portal setting and is ignored",
            hint=hint,
            obj="settings.PORTAL",
            id="autoapi.W010",
        )
        for name in sorted(set(configured) - set(DEFAULTS))
    ]


# What each typed setting must be: (names, the test its value passes, what the message says it should be).
_TYPES = (
    (_INTEGERS, lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool), "a whole number"),
    (_NUMBERS, lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool), "a number"),
    (_BOOLEANS, lambda v: isinstance(v, bool), "True or False"),
    (_STRINGS, lambda v: isinstance(v, str), "a string"),
    (
        ("SCHEMAS",),
        lambda v: isinstance(v, (list, tuple)) and all(isinstance(s, str) and s for s in v),
        "a list of schema names",
    ),
    (
        ("TRUSTED_PROXIES",),
        lambda v: isinstance(v, (list, tuple)) and all(isinstance(s, str) for s in v),
        "a list of addresses or networks",
    ),
)
# Settings that may not exceed MAX_PAGE_SIZE, and why.
_WITHIN_A_PAGE = {
    "PAGE_SIZE": "The default page must be a page a client may ask for: lower PAGE_SIZE or raise MAX_PAGE_SIZE.",
    "PREVIEW_ROWS": "The catalog's preview is a page: keep it within MAX_PAGE_SIZE.",
}


def type_errors(values: dict) -> list[checks.CheckMessage]:
    kinds = {name: (fits, expected) for names, fits, expected in _TYPES for name in names}
    errors = []
    for name, value in values.items():
        fits, expected = kinds.get(name, (None, None))
        if fits and not fits(value):
            errors.append(error(f"PORTAL[{name!r}] is {value!r}, not {expected}", SETTINGS_TABLE, "autoapi.E010"))
    return errors


def _range_errors(values: dict) -> list[checks.CheckMessage]:
    """Numbers below their minimum, and pages larger than a client may ask for."""
    errors = [
        error(f"PORTAL[{name!r}] is {values[name]}; it must be at least {minimum}", SETTINGS_TABLE, "autoapi.E011")
        for name, minimum in _MINIMUM.items()
        if values[name] < minimum
    ]
    if values["REFRESH_INTERVAL"] <= 0:
        errors.append(
            error(
                f"PORTAL['REFRESH_INTERVAL'] is {values['REFRESH_INTERVAL']}; it must be more than 0 seconds",
                "1.0 checks the schema fingerprint once a second.",
                "autoapi.E011",
            )
        )
    for name, hint in _WITHIN_A_PAGE.items():
        if values[name] > values["MAX_PAGE_SIZE"]:
            errors.append(
                error(
                    f"PORTAL[{name!r}] ({values[name]}) is larger than PORTAL['MAX_PAGE_SIZE'] ({values['MAX_PAGE_SIZE']})",
                    hint,
                    "autoapi.E011",
                )
            )
    return errors


def _timeout_warnings(values: dict) -> list[checks.CheckMessage]:
    if 0 < values["EXPORT_STATEMENT_TIMEOUT_MS"] < values["STATEMENT_TIMEOUT_MS"]:
        return [
            checks.Warning(
                "PORTAL['EXPORT_STATEMENT_TIMEOUT_MS'] is shorter than PORTAL['STATEMENT_TIMEOUT_MS']",
                hint="A whole-relation download gets less time than a single page; this is probably a mistake.",
                obj="settings.PORTAL",
                id="autoapi.W011",
            )
        ]
    return []


def register() -> None:
    checks.register(check_settings, TAG)
    checks.register(check_published_database, TAG)
