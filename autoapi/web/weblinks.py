"""Links from data: the one rule every page built from published values follows.

A value from the database or from metadata becomes an ``<a href>`` only when ``web_url()`` accepts
it: an absolute ``http``/``https`` URL with a host, without control characters or
spaces. Anything else (``javascript:``, ``data:``, ``vbscript:``, ``//host``, a relative path, a
URL hidden behind a tab or a newline, which browsers drop) is shown as text, escaped. Django's
escaping keeps the accepted URL inside its attribute; the scheme check keeps it from running.

Used by the OGC HTML (``autoapi/ogc/html.py``) and by the catalog (a relation's license and source,
``catalog/sections.py``, and its DCAT/schema.org records, ``catalog/opendata.py``) through
``autoapi.public``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.utils.html import format_html
from django.utils.safestring import SafeString

WEB_SCHEMES = ("http", "https")
MAX_URL = 8192  # longer "URLs" are shown as text: no browser or server takes them whole
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")  # controls and spaces, which browsers strip or split on


def web_url(value) -> str | None:
    """``value`` when it is an absolute http(s) URL a page may link to, else None."""
    if not isinstance(value, str) or not value or len(value) > MAX_URL:
        return None
    if _UNSAFE.search(value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:  # an invalid IPv6 host ("http://[")
        return None
    if parts.scheme.lower() not in WEB_SCHEMES or not parts.hostname:
        return None
    return value


def link_or_text(value, text=None) -> SafeString:
    """``<a href="value">text</a>`` for a web URL, else ``text`` (default: the value) escaped."""
    shown = value if text is None else text
    url = web_url(value)
    if url is None:
        return format_html("{}", shown)
    return format_html('<a href="{}">{}</a>', url, shown)
