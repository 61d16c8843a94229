"""Hostile input, bounded and seeded: every kind of parameter fed SQL injection, NUL bytes, invalid
UTF-8, 8 KB values, huge and negative numbers. Always a 200 or a 4xx, never a 5xx (nor an
exception), and the database unchanged (a checksum of every fixture table before and after).

Most requests go through Django's test client (fast, and an unhandled exception fails loudly); a
sample goes through the real server (gunicorn with portal/gunicorn.conf.py), byte for byte as a
client wrote them.
"""

from __future__ import annotations

import http.client
import os
import random
import time
from urllib.parse import quote

import pytest

from autoapi.public import get_snapshot
from autoapi.query.filtersets import RESERVED_PARAMETERS
from autoapi.schema.naming import encode_segment
from autoapi.web.registry import registry
from tests.production.support import database_checksum, portal_server

SEED = int(os.environ.get("PORTAL_FUZZ_SEED", "20240607"))

# Values, percent-encoded when sent.
TEXT_PAYLOADS = [
    # SQL injection
    "' OR '1'='1",
    "1' OR 1=1 --",
    "1; DROP TABLE public.single_pk; --",
    "'); DELETE FROM public.single_pk; --",
    "1 UNION SELECT usename, passwd FROM pg_shadow --",
    "$$; DROP TABLE public.big_2500; $$",
    "\\'; TRUNCATE public.big_2500; --",
    "1)) OR pg_sleep(5) IS NULL --",
    '"; DROP SCHEMA public CASCADE; --',
    'id" FROM pg_user --',
    "(SELECT 1)",
    "1::text",
    "COPY (SELECT 1) TO '/tmp/x'",
    "pg_read_file('/etc/passwd')",
    "%' AND 1=1 AND '%'='",
    "*",
    "%(foo)s",
    "%s",
    "{}",
    "{{7*7}}",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "id__gt",
    "-id",
    "pk",
    "__",
    "a__b__c",
    # NUL and control characters
    "\x00",
    "a\x00b",
    "1\x00",
    "\x01\x1f\x7f",
    "\r\n",
    "\t",
    "\n",
    # Unicode
    "é",
    "𝔘",
    "\u202e",
    "\ufeff",
    "١٢٣",
    "１２３",
    "~",
    "~ZZ",
    "~00",
    "a~2Cb",
    # numbers, huge, negative, odd
    "9" * 400,
    "-" + "9" * 400,
    "9223372036854775808",
    "-9223372036854775809",
    "2147483648",
    "-1",
    "-0",
    "0",
    "1e309",
    "-1e309",
    "1e-400",
    "NaN",
    "Infinity",
    "-Infinity",
    "0x10",
    "1_000",
    "  1  ",
    "+1",
    "1.5",
    "1,2",
    ",",
    ",,,",
    "-",
    "--",
    "1..2",
    "1,",
    ",1",
    # dates, times, other types' text forms
    "2013-13-45",
    "0000-00-00",
    "99999-01-01",
    "infinity",
    "epoch",
    "allballs",
    "now",
    "true",
    "yes",
    "null",
    "[]",
    '{"a":1}',
    "(1,2)",
    "[1,2)",
    "empty",
    "::1",
    "999.999.999.999/99",
    "ff:ff",
    "B'101'",
    "00000000-0000-0000-0000-00000000000g",
    "all",
    "ALL",
    "json",
    "csv",
    "geojson",
    "ndjson",
    "xml",
    # empty and long
    "",
    " ",
    "A" * 8192,
    "'" * 8192,
    "," * 8192,
    "é" * 3000,
]
# Already percent-encoded: bytes a client may send that no UTF-8 encoder would produce.
RAW_PAYLOADS = [
    "%C3%28",
    "%FF",
    "%FE%FF",
    "%ED%A0%80",
    "%E2%82",
    "%C0%AF",
    "%",
    "%%",
    "%G1",
    "%0D%0A",
    "%00",
    "%25%00",
    "a%00b",
    "%F4%90%80%80",
    "%C3",
    "%2F",
    "%2F..%2F",
    "+",
    "%2B",
]
PAYLOADS = [quote(p, safe="") for p in TEXT_PAYLOADS] + RAW_PAYLOADS

RELATIONS = [
    ("public", "single_pk"),
    ("public", "text_pk"),
    ("public", "composite_pk"),
    ("public", "big_2500"),
    ("public", "types_text"),
    ("public", "types_numeric"),
    ("public", "types_datetime"),
    ("public", "types_network_bits"),
    ("public", "types_ranges"),
    ("public", "types_json"),
    ("public", "types_arrays"),
    ("public", "types_misc"),
    ("public", "types_custom"),
    ("public", "no_key_dupes"),
    ("public", "measurements"),
    ("public", "v_single"),
    ("public", "mv_populated"),
    ("public", "column_name_hazards"),
    ("public", "reserved_word_columns"),
    ("Odd Schema", "Mixed Case Table"),
    ("sales", "orders"),
    ("public", "spatial_points"),
    ("public", "unique_only"),
]
EXTRA_PARAMETERS = [
    "search",
    "bbox",
    "no_such_column",
    "id__nope",
    "id__in",
    "id__range",
    "id__isnull",
    "format[]",
    "q",
    "ordering!",
    "limit!",
]


def _build_requests() -> list[str]:
    rng = random.Random(SEED)
    snapshot = get_snapshot()
    urls: list[str] = []
    published = [snapshot.get(schema, name) for schema, name in RELATIONS]
    published = [r for r in published if r is not None]
    assert len(published) >= 15, "the fixture relations this test expects are not published"
    for relation in published:
        base = f"/api/{encode_segment(relation.schema)}/{encode_segment(relation.name)}/"
        endpoints = registry.current().endpoints(relation.schema, relation.name)
        filters = sorted(endpoints.viewset.filterset_class.filter_names())
        parameters = sorted(RESERVED_PARAMETERS) + EXTRA_PARAMETERS + rng.sample(filters, min(30, len(filters)))
        for name in parameters:
            for payload in rng.sample(PAYLOADS, 3):
                urls.append(f"{base}?{quote(name, safe='')}={payload}")
        # Two hostile parameters at once, with a valid window and format around them.
        for _ in range(10):
            a, b = rng.sample(parameters, 2)
            fmt = rng.choice(["json", "csv", "ndjson", "geojson"])
            urls.append(
                f"{base}?{quote(a, safe='')}={rng.choice(PAYLOADS)}&{quote(b, safe='')}={rng.choice(PAYLOADS)}"
                f"&format={fmt}&limit={rng.choice(['1', '5', 'all'])}"
            )
        # Payloads as parameter names, and as ordering terms.
        for payload in rng.sample(PAYLOADS, 8):
            urls.append(f"{base}?{payload}=1")
            urls.append(f"{base}?ordering=-{payload}")
        # Key segments.
        if relation.key:
            for payload in rng.sample(PAYLOADS, 12):
                urls.append(f"{base}{payload}/")
                urls.append(f"{base}{payload},{rng.choice(PAYLOADS)}/?format={rng.choice(['json', 'csv'])}")
        # The catalog takes the same filters.
        catalog = f"/catalog/{encode_segment(relation.schema)}/{encode_segment(relation.name)}/"
        for name in rng.sample(parameters, 6):
            urls.append(f"{catalog}?{quote(name, safe='')}={rng.choice(PAYLOADS)}")
        urls.append(f"{catalog}?limit={rng.choice(PAYLOADS)}&offset={rng.choice(PAYLOADS)}")
    # Every payload in every reserved parameter of one relation.
    for name in sorted(RESERVED_PARAMETERS) + ["search", "bbox"]:
        for payload in PAYLOADS:
            urls.append(f"/api/public/big_2500/?{name}={payload}")
    # Every payload as a schema or relation segment, and in the catalog's search.
    for payload in PAYLOADS:
        urls += [
            f"/api/{payload}/single_pk/",
            f"/api/public/{payload}/",
            f"/api/public/single_pk/{payload}/",
            f"/catalog/{payload}/single_pk/",
            f"/catalog/public/{payload}/",
            f"/?q={payload}",
            f"/api/?format={payload}",
            f"/api/{payload}/",
            f"/{payload}",
        ]
    return urls


def _report(failures: list, total: int):
    assert not failures, f"{len(failures)} of {total} requests failed (seed {SEED}):\n" + "\n".join(
        map(repr, failures[:30])
    )


def _answer(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def checksum_unchanged():
    before = database_checksum(os.environ["PORTAL_TEST_SUPERUSER_URL"])
    yield
    after = database_checksum(os.environ["PORTAL_TEST_SUPERUSER_URL"])
    changed = sorted(str(k) for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, f"the database changed: {changed}"


def test_hostile_parameters_in_process(client, checksum_unchanged):
    urls = _build_requests()
    failures, statuses = [], {}
    started = time.monotonic()
    for url in urls:
        try:
            response = client.get(url)
            _answer(response)
            status = response.status_code
        except Exception as exc:  # an unhandled exception is a 500
            failures.append((url[:300], f"{type(exc).__name__}: {exc}"[:300]))
            continue
        statuses[status] = statuses.get(status, 0) + 1
        if not (status == 200 or 400 <= status < 500):
            failures.append((url[:300], status, _answer(response)[:300]))
    elapsed = time.monotonic() - started
    print(f"\n{len(urls)} hostile requests in {elapsed:.1f} s (seed {SEED}): {dict(sorted(statuses.items()))}")
    _report(failures, len(urls))


def test_hostile_requests_through_the_real_server(tmp_path, client, checksum_unchanged):
    """Raw request lines through gunicorn: what the server itself and the WSGI layer make of them."""
    rng = random.Random(SEED + 1)
    urls = rng.sample(_build_requests(), 250) + [
        "/api/public/single_pk/%00/",
        "/api/%00/x/",
        "/api/public/single_pk/?id=%00",
        "/%C3%28",
        "/api/%FF/%FE/",
        "/api/public/single_pk/?" + "a" * 9000 + "=1",
        "/api/public/single_pk/?id=" + "9" * 8000,
        "/catalog/public/single_pk/?id=%ED%A0%80",
        "/api/public/single_pk/?id__in=" + "1," * 3000,
    ]
    failures = []
    with portal_server(tmp_path, GUNICORN_WORKERS="1") as server:
        host, port = server.base_url.rsplit("/", 1)[1].split(":")
        for url in urls:
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            try:
                conn.putrequest("GET", url, skip_accept_encoding=True)
                conn.endheaders()
                response = conn.getresponse()
                body = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                failures.append((url[:200], repr(exc)))
                continue
            finally:
                conn.close()
            if not (status == 200 or 400 <= status < 500):
                failures.append((url[:200], status, body[:300], _in_process_cause(client, url)))
        assert requests_ok(server.base_url)
    _report(failures, len(urls))


def _in_process_cause(client, url: str) -> str:
    """What the same request raises in process (the server's 500 page does not say)."""
    try:
        _answer(client.get(url))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    return ""


def requests_ok(base_url: str) -> bool:
    import requests

    return requests.get(base_url + "/api/public/single_pk/1/", timeout=10).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/api/public/types_text/?t=a%00b",
        "/api/public/types_text/?t%00=1",
        "/api/public/text_pk/a%00b/",
        "/api/pub%00lic/text_pk/",
        "/api/?format=js%00on",
    ],
)
def test_nul_bytes_are_a_json_400(client, url):
    response = client.get(url)
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]
    assert response["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("url", ["/catalog/public/types_text/?t=%00", "/?q=%00", "/catalog/public/text%00/"])
def test_nul_bytes_are_a_400_page_in_the_catalog(client, url):
    response = client.get(url)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert b"NUL" in response.content
