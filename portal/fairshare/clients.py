"""Who a request comes from, and which limits it gets: an address, or an API key.

Used by ``portal.fairshare.middleware`` (``identify``) and by the system checks (``key_problems``).

- **Address.** ``REMOTE_ADDR``; ``X-Forwarded-For`` only when the peer is one of
  ``TRUSTED_PROXIES`` (else any client could claim any address and so escape its limits). The
  header is read from the right, skipping trusted proxies: the first address no trusted proxy
  owns is the client. IPv6 clients are counted per /64, since one host commonly holds a whole
  /64 and could otherwise take a fresh address per request.
- **API key.** ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``. The publisher lists only
  SHA-256 hashes (``API_KEYS`` and/or the JSON file ``API_KEYS_FILE``), so the configuration
  holds nothing a reader could use; each entry's limits replace the anonymous ones. A key that is
  not listed is refused (401) rather than served as anonymous, so a typo is noticed at once; so is
  a key shorter than ``API_KEY_MIN_LENGTH``, without even being hashed (a hash cannot tell its
  key's length, so this is where the minimum is enforced: a short key can never be used). The
  middleware counts refused keys against the address that sent them (``UnknownKey.address``).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import re
import threading
from dataclasses import dataclass

from autoapi.conf import portal_setting

log = logging.getLogger(__name__)

HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
LIMIT_FIELDS = ("RATE_LIMIT", "CLIENT_DOWNLOADS", "CLIENT_REQUESTS")  # what a key's entry may set, as lower-case names
KEY_FIELDS = {"name", "sha256", *(f.lower() for f in LIMIT_FIELDS)}


@dataclass(frozen=True)
class Client:
    identity: str  # the counters' key: "ip:<address or /64>" or "key:<sha256>"
    rate_limit: int  # requests per RATE_LIMIT_WINDOW; 0: no limit
    downloads: int  # concurrent whole-relation downloads; 0: no limit
    requests: int = 0  # requests in flight at once; 0: no limit
    key_name: str = ""


class UnknownKey(Exception):
    """The request carries an API key that is not listed (or too short to be one)."""

    def __init__(self, address: str):
        super().__init__("unknown API key")
        self.address = address  # "ip:<address or /64>": who to count the failed attempt against


# -- addresses ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _networks(values: tuple) -> tuple:
    return tuple(ipaddress.ip_network(str(v).strip(), strict=False) for v in values)


def _address(text: str):
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def client_address(meta: dict, trusted: list) -> str:
    """The client's address (a /64 for IPv6) as a string; see the module docstring."""
    address = _address(meta.get("REMOTE_ADDR", ""))
    if address is None:
        return meta.get("REMOTE_ADDR", "")[:64] or "unknown"
    hops = [h for h in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    while hops and any(address in network for network in trusted):
        hop = _address(hops.pop())
        if hop is None:  # garbage in the chain: stay with the last trusted proxy's address
            break
        address = hop
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


# -- API keys ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiKey:
    name: str
    digest: str  # SHA-256 of the key, lower-case hex
    limits: dict  # {"RATE_LIMIT": 6000, ...}: only what the entry sets


def parse_keys(entries, source: str) -> list[ApiKey]:
    """The entries of ``API_KEYS`` or of the keys file; ValueError naming the first problem."""
    if not isinstance(entries, list):
        raise ValueError(f"{source} must be a JSON list of objects")
    keys = []
    for number, entry in enumerate(entries, 1):
        where = f"{source}, entry {number}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} is not an object")
        if set(entry) - KEY_FIELDS:
            raise ValueError(f"{where} has unknown field(s) {sorted(set(entry) - KEY_FIELDS)}")
        digest = str(entry.get("sha256", "")).lower()
        if not HEX_SHA256.fullmatch(digest):
            raise ValueError(f"{where}: 'sha256' must be 64 hex digits (the key's SHA-256, not the key)")
        limits = {}
        for field in LIMIT_FIELDS:
            value = entry.get(field.lower())
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{where}: {field.lower()!r} must be a whole number, 0 or more")
            limits[field] = value
        keys.append(ApiKey(str(entry.get("name", digest[:8])), digest, limits))
    return keys


def read_keys_file(path: str) -> list[ApiKey]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ValueError(f"API_KEYS_FILE {path!r} cannot be read as JSON: {exc}") from None
    return parse_keys(data, f"API_KEYS_FILE {path!r}")


def key_problems() -> list[str]:
    """What is wrong with the configured keys, for ``manage.py check``."""
    problems = []
    try:
        parse_keys(portal_setting("API_KEYS"), "API_KEYS")
    except ValueError as exc:
        problems.append(str(exc))
    if portal_setting("API_KEYS_FILE"):
        try:
            read_keys_file(portal_setting("API_KEYS_FILE"))
        except ValueError as exc:
            problems.append(str(exc))
    return problems


class KeyTable:
    """The configured keys; the file is read again when it changes (keys added without a restart)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._file_state = None
        self._keys: list[ApiKey] = []

    def keys(self) -> list[ApiKey]:
        path = portal_setting("API_KEYS_FILE")
        try:
            state = (path, os.stat(path).st_mtime_ns) if path else (path, None)
        except OSError:
            state = (path, "missing")
        with self._lock:
            if state != self._file_state:
                self._file_state, self._keys = state, self._load(path)
            return self._keys

    @staticmethod
    def _load(path: str) -> list[ApiKey]:
        keys = parse_keys(portal_setting("API_KEYS"), "API_KEYS")  # checked at start-up by checks.py
        if path:
            try:
                keys = keys + read_keys_file(path)
            except ValueError as exc:  # a half-written file: keep serving, with the setting's keys only
                log.error("%s; its keys are not accepted until it is fixed", exc)
        return keys

    def find(self, presented: str) -> ApiKey | None:
        """The entry whose hash matches; every entry is compared, in constant time."""
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).hexdigest()
        found = None
        for key in self.keys():
            if hmac.compare_digest(digest, key.digest):
                found = key
        return found


def presented_key(meta: dict) -> str | None:
    key = meta.get("HTTP_X_API_KEY")
    if key is None:
        scheme, _, value = meta.get("HTTP_AUTHORIZATION", "").partition(" ")
        key = value if scheme.lower() == "bearer" else None
    return key.strip() if key is not None else None


def address_identity(meta: dict) -> str:
    """The counters' key of the request's address: ``ip:<address or /64>``."""
    return "ip:" + client_address(meta, _networks(tuple(portal_setting("TRUSTED_PROXIES"))))


#: Whom an anonymous request counts against when nothing counts it: no limit of any kind and no share
#: of the pool kept, so its address would key no counter (and is not worked out).
UNCOUNTED = "ip:uncounted"


def identify(meta: dict, table: KeyTable, *, shared_pool: bool = True) -> Client:
    """The request's client and its limits; UnknownKey for a key that is not listed (or too short).
    ``shared_pool``: whether this process keeps each client's share of the pool (which counts every
    client by its identity, limits or not)."""
    anonymous = {name: portal_setting(name) for name in LIMIT_FIELDS}
    keys = table.keys()
    presented = presented_key(meta) if keys else None  # no keys configured: the headers mean nothing here
    if presented is not None:
        key = table.find(presented) if len(presented) >= portal_setting("API_KEY_MIN_LENGTH") else None
        if key is None:
            raise UnknownKey(address_identity(meta))
        limits = {**anonymous, **key.limits}
        return Client(
            f"key:{key.digest}", limits["RATE_LIMIT"], limits["CLIENT_DOWNLOADS"], limits["CLIENT_REQUESTS"], key.name
        )
    counted = shared_pool or any(anonymous.values())
    return Client(
        address_identity(meta) if counted else UNCOUNTED,
        anonymous["RATE_LIMIT"],
        anonymous["CLIENT_DOWNLOADS"],
        anonymous["CLIENT_REQUESTS"],
    )
