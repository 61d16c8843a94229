"""Turn a ``postgresql://`` URL into a Django DATABASES entry.

Kept tiny and dependency-free on purpose: the only URLs we accept are PostgreSQL ones, and the
query string may carry libpq parameters such as ``host=/run/postgresql`` or ``sslmode=require``.
"""

from urllib.parse import parse_qsl, unquote, urlsplit

SCHEMES = {"postgres", "postgresql", "pgsql"}


def parse_database_url(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"DATABASE_URL must start with postgresql://, not {parts.scheme}://")
    query = dict(parse_qsl(parts.query))
    host = unquote(parts.hostname or "") if parts.hostname else ""
    # libpq lets the socket directory travel in the query string (postgresql:///db?host=/tmp).
    host = query.pop("host", host)
    port = query.pop("port", parts.port or "")
    return {
        "ENGINE": "autoapi.db",  # Django's PostgreSQL backend, see autoapi/db/compiler.py
        "NAME": unquote(parts.path.lstrip("/")) or "postgres",
        "USER": unquote(parts.username or query.pop("user", "")),
        "PASSWORD": unquote(parts.password or query.pop("password", "")),
        "HOST": host,
        "PORT": str(port),
        "OPTIONS": query,
    }
