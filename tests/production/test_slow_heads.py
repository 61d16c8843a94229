"""Slow request heads against the real server (gunicorn with portal/gunicorn.conf.py): the worker
reads a request head in its poller, never in a request thread (portal/workers.py), so

- 250 connections from 250 addresses trickling header lines (new connections, kept-alive ones
  whose next request trickles, and ones that pipelined a partial head behind a request) leave
  ``/healthz`` and pages answering with 8 request threads, where plain gthread stops answering;
- a head not complete within ``GUNICORN_HEAD_TIMEOUT`` is answered ``408`` and closed, a
  connection that sends nothing is closed, and a head past gunicorn's limits is a ``431``;
- a slow but timely head, keep-alive, pipelining and heads near the limits work as before.

Timings are the bench's (``make bench``, the ``slowheads`` rows); here only the mechanism.
"""

from __future__ import annotations

import contextlib
import http.client
import signal
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests

from tests.production.support import portal_server

pytestmark = pytest.mark.db  # every test here runs the portal under gunicorn on the fixture database

PAGE = "/api/public/big_2500/?limit=5"


def _connect(base_url: str, source: str = "127.0.0.1", timeout: float = 10) -> socket.socket:
    url = urlsplit(base_url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.settimeout(timeout)
    sock.connect((url.hostname, url.port))
    return sock


class Reader:
    """Responses read one after the other from one socket (pipelined ones included)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.file = sock.makefile("rb")

    def makefile(self, *args, **kwargs):
        return self  # http.client reads every response through the same buffer...

    def __getattr__(self, name):
        return getattr(self.file, name)

    def close(self):
        pass  # ...which it closes after each response

    def response(self) -> tuple[int, bytes]:
        answer = http.client.HTTPResponse(self)  # type: ignore[arg-type]
        answer.begin()
        return answer.status, answer.read()


def _get(path: str, host: str = "127.0.0.1", extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()


class Tricklers:
    """``count`` connections from as many loopback addresses that send a header line every
    ``every`` seconds and never end their head. A third start trickling at once, a third after a
    first complete request on the connection (kept alive), a third behind a complete request sent
    in the same packet (pipelined)."""

    def __init__(self, base_url: str, count: int, every: float = 1.0):
        self.socks: list[socket.socket] = []
        self.every = every
        self.stop = threading.Event()
        for i in range(count):
            sock = _connect(base_url, source=f"127.0.{1 + i // 250}.{1 + i % 250}")
            kind = i % 3
            if kind == 1:  # kept alive: a request, its answer, then the next head trickles
                sock.sendall(_get("/healthz"))
                self._answered(sock, i)
            partial = b"GET " + PAGE.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            sock.sendall((_get("/healthz") if kind == 2 else b"") + partial)
            if kind == 2:
                self._answered(sock, i)  # the first request's answer, before the next head ends
            self.socks.append(sock)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @staticmethod
    def _answered(sock, i):
        try:
            assert Reader(sock).response()[0] == 200
        except TimeoutError:
            pytest.fail(
                f"/healthz on connection {i} was not answered within 10 s: the request threads "
                "are held by the trickling heads before it",
                pytrace=False,
            )

    def _run(self):
        n = 0
        while not self.stop.wait(self.every):
            n += 1
            for sock in self.socks:
                with contextlib.suppress(OSError):
                    sock.send(f"X-Trickle-{n}: {n}\r\n".encode())

    def close(self):
        self.stop.set()
        self.thread.join()
        for sock in self.socks:
            sock.close()


def _answers_promptly(base_url: str, path: str) -> None:
    # Generous: this is about answering at all (plain gthread never does), not about latency.
    response = requests.get(base_url + path, timeout=5, headers={"Connection": "close"})
    assert response.status_code == 200, (path, response.status_code, response.text[:300])


def test_trickling_heads_leave_healthz_and_pages_answering(tmp_path):
    with portal_server(tmp_path, GUNICORN_WORKERS="1", GUNICORN_THREADS="8", GUNICORN_HEAD_TIMEOUT="60") as server:
        tricklers = Tricklers(server.base_url, 250)
        try:
            for _ in range(3):  # while the header lines keep coming
                time.sleep(1.5)
                for path in ("/healthz", PAGE, "/catalog/public/big_2500/"):
                    _answers_promptly(server.base_url, path)
            # Every trickler is still connected, waiting: none was refused or dropped.
            assert all(sock.fileno() >= 0 for sock in tricklers.socks)
            alive = 0
            for sock in tricklers.socks:
                sock.settimeout(0)
                with contextlib.suppress(BlockingIOError):
                    sock.recv(1)  # EOF or an answer: it was closed
                    continue
                alive += 1
            assert alive == 250, alive
        finally:
            tricklers.close()


def test_a_head_not_complete_in_time_is_answered_408_and_closed(tmp_path):
    with portal_server(tmp_path, GUNICORN_WORKERS="1", GUNICORN_HEAD_TIMEOUT="2") as server:
        trickling, silent = _connect(server.base_url, "127.0.0.2"), _connect(server.base_url, "127.0.0.3")
        started = time.monotonic()
        trickling.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        received = b""
        try:
            while True:  # a header line every 0.5 s, reading whatever comes back
                trickling.settimeout(0.5)
                try:
                    chunk = trickling.recv(4096)
                except TimeoutError:
                    assert time.monotonic() - started < 8, "still open 8 s after a 2 s head timeout"
                    trickling.send(b"X-Slow: 1\r\n")
                    continue
                if not chunk:
                    break
                received += chunk
            elapsed = time.monotonic() - started
            assert received.startswith(b"HTTP/1.1 408 "), received
            assert 1.5 < elapsed < 5, elapsed
            silent.settimeout(5)
            assert silent.recv(100) == b""  # a connection that never sent a byte: closed, no answer
        finally:
            trickling.close()
            silent.close()
        _answers_promptly(server.base_url, "/healthz")


def test_a_slow_but_timely_head_is_served(tmp_path):
    with portal_server(tmp_path, GUNICORN_WORKERS="1", GUNICORN_HEAD_TIMEOUT="5") as server:
        sock = _connect(server.base_url)
        try:
            request = _get(PAGE, extra="Accept: application/json\r\nX-Slow: 1\r\n")
            for i in range(0, len(request), len(request) // 4 + 1):
                sock.sendall(request[i : i + len(request) // 4 + 1])
                time.sleep(0.6)
            status, body = Reader(sock).response()
            assert status == 200, body[:300]
            assert b'"results"' in body or b"[" in body
        finally:
            sock.close()
        # A byte at a time: every CR and LF of the head, and the blank line, split across packets.
        sock = _connect(server.base_url)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for byte in _get(PAGE, extra="X-Slow: 1\r\n"):
                sock.send(bytes([byte]))
                time.sleep(0.01)
            status, body = Reader(sock).response()
            assert status == 200, body[:300]
        finally:
            sock.close()


def test_keep_alive_and_pipelining_still_work(tmp_path):
    with portal_server(tmp_path, GUNICORN_WORKERS="1", GUNICORN_HEAD_TIMEOUT="5") as server:
        sock = _connect(server.base_url)
        reader = Reader(sock)
        try:
            # Three requests in one packet, the third's head cut in the middle.
            third = _get("/healthz")
            sock.sendall(_get(PAGE) + _get("/healthz") + third[:10])
            assert reader.response()[0] == 200
            assert reader.response()[0] == 200
            time.sleep(0.5)
            sock.sendall(third[10:])
            assert reader.response() == (200, b'{"status": "ok"}')
            # Kept alive: a fourth request after a pause, its head in two parts.
            time.sleep(1)
            sock.sendall(_get(PAGE)[:7])
            time.sleep(0.5)
            sock.sendall(_get(PAGE)[7:])
            assert reader.response()[0] == 200
        finally:
            sock.close()


def test_heads_near_the_limits_work_and_past_them_are_refused(tmp_path):
    with portal_server(tmp_path, GUNICORN_WORKERS="1") as server:
        # A request line of 8,100 bytes (gunicorn's limit: 8,190) and 97 header fields of 8,000
        # bytes (limits: 100 fields of 8,190): about 780 KB of head, sent as fast as it goes.
        long_path = PAGE + "&" + "x" * (8100 - len(PAGE) - 20) + "=1"
        pads = "".join(f"X-Pad-{i:02d}: {'p' * 7990}\r\n" for i in range(97))
        with contextlib.closing(_connect(server.base_url)) as sock:
            sock.sendall(_get(long_path, extra=pads + "Connection: close\r\n"))
            status, body = Reader(sock).response()
            assert status in (200, 400), (status, body[:300])  # the portal's answer, not gunicorn's 414/431
            assert b"detail" in body or status == 200
        with contextlib.closing(_connect(server.base_url)) as sock:
            sock.sendall(_get("/healthz", extra=pads + "Connection: close\r\n"))
            assert Reader(sock).response() == (200, b'{"status": "ok"}')
        # Past them: a request line that never ends (gunicorn's 414), a head that never ends (431),
        # each answered as soon as the limit is passed, not at the timeout.
        for head, expected in (
            (b"GET /" + b"a" * 9000, 414),
            (b"GET / HTTP/1.1\r\n" + b"X-Pad: " + b"p" * 8000 + b"\r\n" + pads.encode() * 2, 431),
        ):
            with contextlib.closing(_connect(server.base_url)) as sock:
                started = time.monotonic()
                sock.sendall(head)
                status, _ = Reader(sock).response()
                assert status == expected, (status, head[:40])
                assert time.monotonic() - started < 5
        _answers_promptly(server.base_url, "/healthz")


def test_trickling_bodies_do_not_hold_the_threads(tmp_path):
    """A body the portal does not read (a POST is a 405) is drained for 0.1 s, not gthread's 5 s:
    80 connections trickling bodies into 8 threads would otherwise hold them for 50 s."""
    with portal_server(tmp_path, GUNICORN_WORKERS="1", GUNICORN_THREADS="8") as server:
        socks = []
        stop = threading.Event()

        def trickle():
            while not stop.wait(0.5):
                for sock in socks:
                    with contextlib.suppress(OSError):
                        sock.send(b"x")

        try:
            for i in range(80):
                sock = _connect(server.base_url, source=f"127.0.3.{1 + i}")
                sock.sendall(b"POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\nxx")
                socks.append(sock)
            thread = threading.Thread(target=trickle, daemon=True)
            thread.start()
            time.sleep(1)
            for path in ("/healthz", PAGE):
                _answers_promptly(server.base_url, path)
            for sock in socks[:5]:  # each was answered (405), then closed
                status, _ = Reader(sock).response()
                assert status == 405, status
        finally:
            stop.set()
            for sock in socks:
                sock.close()


def test_a_stopping_worker_waits_for_an_unfinished_head_2_s_not_the_head_timeout(tmp_path):
    with portal_server(
        tmp_path, GUNICORN_WORKERS="1", GUNICORN_HEAD_TIMEOUT="30", GUNICORN_GRACEFUL_TIMEOUT="30"
    ) as server:
        with contextlib.closing(_connect(server.base_url)) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            time.sleep(0.5)
            started = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            server.process.wait(timeout=40)
            elapsed = time.monotonic() - started
        # gthread's 2 s for kept-alive connections, plus its loop's 1 s tick; not 30 s.
        assert elapsed < 6, elapsed


def test_with_tls_the_worker_falls_back_to_gthread_and_says_so(tmp_path):
    """The portal's configuration has no certificate (TLS ends at the proxy); given one, gunicorn
    reads heads in the request thread (inside the TLS layer), and the worker leaves it so."""
    import subprocess
    import warnings

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # urllib3: unverified HTTPS, on purpose
        with portal_server(
            tmp_path, scheme="https", GUNICORN_WORKERS="1", GUNICORN_CMD_ARGS=f"--certfile {cert} --keyfile {key}"
        ) as server:
            assert "request heads are read in request threads" in server.log()
            session = requests.Session()
            for path in ("/healthz", PAGE, "/healthz"):  # one kept-alive TLS connection
                assert session.get(server.base_url + path, timeout=10, verify=False).status_code == 200
