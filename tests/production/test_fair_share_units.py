"""Fair share in process: who a client is (trusted proxies, API keys), the counters and their
Redis fallback, the middleware through Django's test client, and the settings checks.

The real servers, the real Redis and held downloads are in ``test_fair_share.py``."""

from __future__ import annotations

import ipaddress
import json
import logging

import pytest

from autoapi.checks import check_settings
from portal.fairshare.checks import check_fair_share
from portal.fairshare.clients import KeyTable, UnknownKey, client_address, identify, parse_keys
from portal.fairshare.store import Counters, MemoryStore
from tests.processes import free_port
from tests.production.fairshare_support import key_entry

PROXY = "10.0.0.5"
PARTNER_KEY = "partner-" + "k" * 40
FILE_KEY = "from-file-" + "f" * 40


@pytest.mark.parametrize(
    "remote, forwarded, trusted, expected",
    [
        ("203.0.113.9", "", [], "203.0.113.9"),
        ("203.0.113.9", "1.2.3.4", [], "203.0.113.9"),  # not a trusted peer: the header is ignored
        (PROXY, "1.2.3.4", ["10.0.0.0/8"], "1.2.3.4"),
        (PROXY, "6.6.6.6, 1.2.3.4", ["10.0.0.0/8"], "1.2.3.4"),  # the client's own claim is left of it
        (PROXY, "1.2.3.4, 10.0.0.7", ["10.0.0.0/8"], "1.2.3.4"),  # two proxies
        (PROXY, "garbage", ["10.0.0.0/8"], PROXY),
        ("2001:db8:1:2:3:4:5:6", "", [], "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.1", "", [], "192.0.2.1"),
    ],
)
def test_the_client_address(remote, forwarded, trusted, expected):
    meta = {"REMOTE_ADDR": remote, "HTTP_X_FORWARDED_FOR": forwarded}
    assert client_address(meta, tuple(ipaddress.ip_network(t) for t in trusted)) == expected


@pytest.mark.parametrize(
    "entries, problem",
    [
        ({"sha256": "0" * 64}, "JSON list"),
        ([{"sha256": "secret-key"}], "64 hex digits"),
        ([{"sha256": "0" * 64, "rate": 5}], "unknown field"),
        ([{"sha256": "0" * 64, "rate_limit": -1}], "0 or more"),
        ([{"sha256": "0" * 64, "client_downloads": "2"}], "whole number"),
    ],
)
def test_bad_key_entries_are_refused_with_a_reason(entries, problem):
    with pytest.raises(ValueError, match=problem):
        parse_keys(entries, "API_KEYS")


def test_a_key_gets_its_own_limits_and_an_unknown_key_is_refused(settings, tmp_path):
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps([key_entry(FILE_KEY, "f", client_downloads=9)]))
    settings.PORTAL = {
        **settings.PORTAL,
        "RATE_LIMIT": 10,
        "CLIENT_DOWNLOADS": 2,
        "CLIENT_REQUESTS": 8,
        "API_KEYS": [key_entry(PARTNER_KEY, "partner", rate_limit=100, client_requests=20)],
        "API_KEYS_FILE": str(keys_file),
    }
    table = KeyTable()
    client = identify({"REMOTE_ADDR": "192.0.2.1", "HTTP_X_API_KEY": PARTNER_KEY}, table)
    assert (client.rate_limit, client.downloads, client.requests, client.key_name) == (100, 2, 20, "partner")
    bearer = identify({"REMOTE_ADDR": "192.0.2.1", "HTTP_AUTHORIZATION": f"Bearer {FILE_KEY}"}, table)
    assert (bearer.rate_limit, bearer.downloads, bearer.requests) == (10, 9, 8)
    assert identify({"REMOTE_ADDR": "192.0.2.1"}, table).identity == "ip:192.0.2.1"
    with pytest.raises(UnknownKey) as refused:
        identify({"REMOTE_ADDR": "192.0.2.1", "HTTP_X_API_KEY": PARTNER_KEY.upper()}, table)
    assert refused.value.address == "ip:192.0.2.1"  # whom the middleware counts the failure against
    keys_file.write_text("[")  # half written: the file's keys are refused, the others still work
    with pytest.raises(UnknownKey):
        identify({"REMOTE_ADDR": "192.0.2.1", "HTTP_X_API_KEY": FILE_KEY}, table)
    assert identify({"REMOTE_ADDR": "192.0.2.1", "HTTP_X_API_KEY": PARTNER_KEY}, table).rate_limit == 100


def test_a_key_shorter_than_the_minimum_is_never_accepted_even_when_listed(settings):
    settings.PORTAL = {**settings.PORTAL, "API_KEYS": [key_entry("s3cret", "weak"), key_entry(PARTNER_KEY, "p")]}
    table = KeyTable()
    with pytest.raises(UnknownKey):
        identify({"REMOTE_ADDR": "192.0.2.1", "HTTP_X_API_KEY": "s3cret"}, table)
    assert identify({"REMOTE_ADDR": "192.0.2.1", "HTTP_X_API_KEY": PARTNER_KEY}, table).key_name == "p"
    settings.PORTAL = {**settings.PORTAL, "API_KEY_MIN_LENGTH": 8}  # below the floor: a start-up error
    assert [m.id for m in check_settings() + check_fair_share()] == ["autoapi.E011"]
    from django.core.exceptions import ImproperlyConfigured

    from portal.fairshare.middleware import FairShareMiddleware

    with pytest.raises(ImproperlyConfigured, match="API_KEY_MIN_LENGTH"):
        FairShareMiddleware(lambda request: None)


def test_the_memory_store_forgets_the_least_recent_clients_never_all_of_them():
    store = MemoryStore(max_keys=100)
    for n in range(50):  # clients of the last window: they go first
        store.hit(f"old{n}", 60, now=0)
    counts = []
    for n in range(1000):  # a flood of fresh identities (an IPv6 /48), one busy client among them
        store.hit(f"fresh{n}", 60, now=61)
        if n % 10 == 0:
            counts.append(store.hit("busy", 60, now=61))
    assert counts == list(range(1, 101))  # never reset: its count goes on
    assert len(store._windows) == 100
    assert store.peek("busy", 60, now=61) == 100 and store.peek("old0", 60, now=61) == 0


def test_in_flight_leases_come_with_the_count_in_one_operation():
    store = MemoryStore()
    assert store.admit("c", 60, 0, 2, "a", expires=100, now=0) == (1, True)
    assert store.admit("c", 60, 0, 2, "b", expires=100, now=0) == (2, True)
    assert store.admit("c", 60, 0, 2, "x", expires=100, now=0) == (3, False)
    store.release("flight:c", "a")
    assert store.admit("c", 60, 0, 2, "y", expires=100, now=0) == (4, True)
    assert store.admit("c", 60, 4, 2, "z", expires=100, now=0) == (5, True)  # over the rate: no lease taken


def test_a_client_keeps_below_its_share_of_a_busy_pool():
    from portal.fairshare.share import PoolShare

    share = PoolShare(8, 0.5)  # 4 of 8 each once fewer than 2 are free
    tickets = [share.enter("heavy") for _ in range(7)]
    assert all(tickets[:6]) and tickets[6] is None
    light = [share.enter("light"), share.enter("light")]
    assert all(light)  # below its share: in, even now
    share.leave("heavy", tickets[0])
    assert share.enter("heavy") is None  # still at its share, and the pool still nearly full
    for ticket in light:
        share.leave("light", ticket)
    assert share.enter("heavy")  # room again
    lone = PoolShare(8, 0.25)
    assert all(lone.enter("map") for _ in range(6))  # alone and quick, a client may use most of the pool
    assert PoolShare(8, 0).enter("anyone") == 0


def test_a_client_whose_requests_take_long_keeps_to_its_share_even_when_the_pool_has_room():
    from portal.fairshare import share as module

    share = module.PoolShare(8, 0.25)  # 2 of 8
    first = [share.enter("slow"), share.enter("slow")]
    assert all(first)
    assert share.enter("slow")  # quick so far: the pool has room
    for ticket in first:  # as if they had started SLOW_SECONDS ago
        share._mine["slow"][ticket] -= module.SLOW_SECONDS
    assert share.enter("slow") is None
    assert share.enter("other") and share.in_flight() == 4


def test_memory_leases_are_capped_released_and_expire():
    store = MemoryStore()
    assert store.acquire("c", 2, "a", expires=100, now=0) and store.acquire("c", 2, "b", expires=10, now=0)
    assert not store.acquire("c", 2, "x", expires=100, now=1)
    store.release("c", "a")
    assert store.acquire("c", 2, "y", expires=100, now=2)
    assert store.acquire("c", 2, "z", expires=100, now=11)  # "b" expired


def test_redis_down_fails_open_to_memory_and_logs_once(caplog):
    counters = Counters(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    with caplog.at_level(logging.WARNING, logger="portal.fairshare.store"):
        counts = [counters.hit("ip:192.0.2.1", 60)[0] for _ in range(3)]
        lease = counters.acquire("ip:192.0.2.1", 1, 60)
    assert counts == [1, 2, 3]
    assert lease is not None and counters.acquire("ip:192.0.2.1", 1, 60) is None
    lease.release()
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "Redis is unavailable" in caplog.records[0].message


def test_refused_keys_are_counted_against_the_address_until_it_may_send_none(client, settings):
    settings.PORTAL = {**settings.PORTAL, "API_KEYS": [key_entry(PARTNER_KEY, "p")], "API_KEY_FAILURES": 3}
    guesses = [client.get("/api/", HTTP_X_API_KEY=f"guess-{n:040d}").status_code for n in range(3)]
    assert guesses == [401] * 3
    assert client.get("/api/", HTTP_X_API_KEY="short").status_code == 429  # counted, then refused unread
    right = client.get("/api/", HTTP_X_API_KEY=PARTNER_KEY)
    assert right.status_code == 429 and int(right["Retry-After"]) > 0  # not even the right key now
    assert "unknown API keys" in right.json()["detail"]
    assert client.get("/api/").status_code == 200  # without a key, the address is served as before


def test_the_middleware_limits_the_catalog_and_the_api_but_never_health(client, settings):
    settings.PORTAL = {**settings.PORTAL, "RATE_LIMIT": 3}
    answers = [client.get("/api/").status_code for _ in range(3)]
    assert answers == [200] * 3
    refused = client.get("/")
    assert refused.status_code == 429 and refused["Content-Type"].startswith("text/html")
    assert client.get("/api/").json()["detail"].startswith("too many requests")
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    "changes",
    [
        {"RATE_LIMIT": -1},
        {"RATE_LIMIT_WINDOW": 0},
        {"PROCESS_DOWNLOADS": -2},
        {"REDIS_URL": "localhost:6379"},
        {"TRUSTED_PROXIES": ["nginx"]},
        {"API_KEYS": [{"sha256": "not-a-hash"}]},
        {"API_KEYS_FILE": "/nonexistent/keys.json"},
    ],
)
def test_fair_share_settings_are_checked(settings, changes):
    settings.PORTAL = {**settings.PORTAL, **changes}
    assert [m.id for m in check_settings() + check_fair_share()] == ["autoapi.E011"]


@pytest.mark.parametrize("changes", [{"RATE_LIMIT": "600"}, {"REDIS_URL": None}, {"TRUSTED_PROXIES": "10.0.0.1"}])
def test_fair_share_settings_of_the_wrong_type(settings, changes):
    settings.PORTAL = {**settings.PORTAL, **changes}
    assert [m.id for m in check_settings() + check_fair_share()] == ["autoapi.E010"]
