"""How much one request may ask for: the bounds every parser checks before any work is done.

Each bound is a portal setting (docs/operations.md, "Bad input"); parsers read them through ``limit`` and
answer a 400 naming the parameter when a request goes beyond. Walks over user input that recurse
(CQL2 into SQL, into text, into words) rely on ``FILTER_MAX_DEPTH``, so it is capped here whatever
the setting says: a Python stack holds a few dozen levels of them (Django's SQL compiler takes ~20
frames per NOT), not hundreds.
"""

from __future__ import annotations

from autoapi.conf import portal_setting

LIMITS = ("FILTER_MAX_DEPTH", "FILTER_MAX_CONDITIONS", "FILTER_MAX_LIST", "LIKE_MAX_WILDCARDS", "SEARCH_MAX_WORDS")
CEILINGS = {"FILTER_MAX_DEPTH": 30}  # Django compiles a NOT 50 deep past Python's recursion limit; 40 still passes


def limit(name: str) -> int:
    """The setting ``name`` (one of LIMITS) as a positive integer, within its ceiling."""
    value = max(1, int(portal_setting(name)))
    return min(value, CEILINGS.get(name, value))
