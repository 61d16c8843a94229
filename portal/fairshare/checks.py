"""The fair-share settings that a type check cannot judge: a Redis URL, proxies, API keys.

Registered by ``FairShareConfig.ready()`` under the tag ``portal``, next to autoapi's checks (whose
``autoapi.E011`` id it shares: an out-of-range ``PORTAL`` setting, docs/operations.md, "Serving": the checks' table).
"""

from __future__ import annotations

import ipaddress

from django.core import checks

from autoapi.checks import TAG, error, type_errors
from autoapi.conf import DEFAULTS, portal_setting
from portal.fairshare.clients import key_problems

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def check_fair_share(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    values = {name: portal_setting(name) for name in DEFAULTS}
    if type_errors(values):
        return []  # autoapi's check_settings reports them
    hint = "See docs/operations.md, Fair share."
    problems = []
    if values["CLIENT_POOL_SHARE"] > 1:
        problems.append(
            f"PORTAL['CLIENT_POOL_SHARE'] is {values['CLIENT_POOL_SHARE']}; it is a share of the "
            "pool, from 0 (none kept) to 1"
        )
    if values["REDIS_URL"] and not values["REDIS_URL"].startswith(REDIS_SCHEMES):
        problems.append(f"PORTAL['REDIS_URL'] must start with {', '.join(REDIS_SCHEMES)}")
    for proxy in values["TRUSTED_PROXIES"]:
        try:
            ipaddress.ip_network(proxy.strip(), strict=False)
        except ValueError:
            problems.append(f"PORTAL['TRUSTED_PROXIES'] holds {proxy!r}, which is no address or network")
    problems += key_problems()
    return [error(problem, hint, "autoapi.E011") for problem in problems]


def register() -> None:
    checks.register(check_fair_share, TAG)
