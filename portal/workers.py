"""gunicorn's ``gthread`` worker, with request heads read in its poller and its lingering close
taken off the main loop.

``worker_class = "portal.workers.ThreadWorker"`` in portal/gunicorn.conf.py.

Request heads (docs/operations.md, "Slow request heads"). ``gthread`` hands a new connection to a request
thread, which waits for its first bytes and then parses the head with blocking reads and no time
limit: a client that sends a header line every few seconds and never finishes holds a thread for as
long as it likes, and 48 such clients per process stopped every page and ``/healthz``. Here a
thread is only ever given a connection whose request head is complete in hand: on accept, and
whenever a kept-alive connection becomes readable (or a request leaves the next one's first bytes
read ahead), the worker's main loop reads the head without blocking, in the poller ``gthread``
already has, until the blank line that ends it. A head must be complete ``head_timeout`` seconds
(``GUNICORN_HEAD_TIMEOUT``, 10) after the connection was accepted, or after the first byte of a
kept-alive connection's next request, else the connection is answered ``408`` and closed; a head
larger than gunicorn's own limits (``limit_request_line`` + ``limit_request_fields`` x
``limit_request_field_size``) is answered ``431``. The bytes read are then handed to gunicorn's own
parser (pushed back into its reader), which decides everything else as before (its ``400``/``414``/
``431``). A request body is the request thread's, but the portal reads none (GET, HEAD and
OPTIONS only), and one it did not read is drained for 0.1 s at most (gthread: 5 s), then the
connection closes. Not done for TLS, HTTP/2 or the PROXY protocol, which gunicorn handles in the
request thread (the portal's configuration uses none of them; TLS ends at the proxy): the worker
then behaves as plain ``gthread`` and says so at start.

Lingering close. gunicorn 27 closes a ``Connection: close`` socket "gracefully" (RFC 9112 section
9.6): it half-closes, then reads until the client closes too, for up to 2 s, and it does so in the
worker's main thread, the one that accepts connections. A client that neither reads nor closes (a
stalled reader that was just sent a 503, a slow reader at the end of its download) therefore froze
accepting for 2 s each: measured, 9 such clients delayed the next request by 2 s, and ``/healthz``
by 4 s. Here one lingering thread per process drains and closes those sockets, with the same 2 s
cap, so a slow client costs a file descriptor for 2 s and nothing else.
"""

from __future__ import annotations

import collections
import functools
import json
import queue
import selectors
import socket
import threading
import time

from gunicorn import util
from gunicorn.http import message
from gunicorn.workers import gthread

LINGER_SECONDS = 2.0  # gunicorn's own cap (util.close_graceful)
BODY_DRAIN_SECONDS = 0.1  # an unread request body still arriving after this: the connection closes
TICK_SECONDS = 0.05


class Lingerer:
    """Half-closed sockets, each closed when its client closes or after LINGER_SECONDS."""

    def __init__(self):
        self._new: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def add(self, sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_WR)  # the FIN: the client sees the end of the response now
        except OSError:
            util.close(sock)
            return
        self._new.put((sock, time.monotonic() + LINGER_SECONDS))
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="portal-linger", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        while True:
            self._register(selector)
            for key, _ in selector.select(TICK_SECONDS):
                if not _drain(key.fileobj):
                    selector.unregister(key.fileobj)
                    util.close(key.fileobj)
            now = time.monotonic()
            for key in list(selector.get_map().values()):
                if key.data < now:
                    selector.unregister(key.fileobj)
                    util.close(key.fileobj)

    def _register(self, selector: selectors.BaseSelector) -> None:
        # Only this thread touches the selector; other threads hand sockets over through the queue.
        while True:
            try:
                sock, deadline = self._new.get_nowait()
            except queue.Empty:
                return
            try:
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ, deadline)
            except (OSError, ValueError):
                util.close(sock)


def _drain(sock: socket.socket) -> bool:
    """Read what the client sent; False once it has closed (or failed)."""
    try:
        return bool(sock.recv(65536))
    except BlockingIOError:
        return True
    except OSError:
        return False


lingerer = Lingerer()


def _close(conn, graceful: bool = False) -> None:
    if graceful:
        lingerer.add(conn.sock)
    else:
        util.close(conn.sock)


def _read_only_method(head: bytes) -> bool:
    return bytes(head).lstrip(b"\r\n").split(b" ", 1)[0] in (b"GET", b"HEAD", b"OPTIONS")


def _answer(sock: socket.socket, status: str, text: str, content_type: str = "text/plain", extra: str = "") -> None:
    """A short answer before closing, if the socket takes it at once (never waits)."""
    body = (text + "\n").encode()
    head = (
        f"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Type: {content_type}; charset=utf-8\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    try:
        sock.send(head + body)
    except OSError:
        util.close(sock)
        return
    lingerer.add(sock)  # half-close and drain: closing with unread bytes would reset the answer away


def head_limit(cfg) -> int:
    """The largest request head gunicorn's parser accepts with these settings, in bytes."""
    line = _line_limit(cfg) or 1024 * 1024  # "unlimited", as gunicorn's fast parser reads it
    fields = cfg.limit_request_fields
    if fields <= 0 or fields > message.MAX_HEADERS:
        fields = message.MAX_HEADERS
    size = cfg.limit_request_field_size
    if size <= 0:
        size = message.DEFAULT_MAX_HEADERFIELD_SIZE
    # An empty line allowed before the request line, the line and its CRLF, then the fields
    # (gunicorn's Message.max_buffer_headers, which counts the final CRLF).
    return 2 + line + 2 + fields * (size + 2) + 4


def _line_limit(cfg) -> int:
    """gunicorn's limit on the request line (Request.__init__); 0: none."""
    line = cfg.limit_request_line
    return message.MAX_REQUEST_LINE if line < 0 or line > message.MAX_REQUEST_LINE else line


class ThreadWorker(gthread.ThreadWorker):
    #: Seconds a request head may take (GUNICORN_HEAD_TIMEOUT, set by portal/gunicorn.conf.py).
    head_timeout = 10.0
    #: Bytes read from a socket at a time while its head is incomplete.
    head_chunk = 8192  # as gunicorn's own reader (SocketUnreader)

    def init_process(self):
        # Connections whose head is being read -> their deadline, oldest first (every deadline is
        # "now + head_timeout" when added, so insertion order is deadline order). None: off.
        self.heads: collections.OrderedDict | None = collections.OrderedDict()
        self._heads_capped = False  # at stop, see murder_pending()
        self.head_max = head_limit(self.cfg)
        self.line_max = _line_limit(self.cfg)
        unsupported = [
            name
            for name, on in (
                ("TLS (certfile)", self.cfg.is_ssl),
                ("HTTP/2 cleartext", getattr(self.cfg, "http2_cleartext", "off") != "off"),
                ("the PROXY protocol", getattr(self.cfg, "proxy_protocol", "off") != "off"),
            )
            if on
        ]
        if unsupported:
            self.heads = None
            self.log.warning(
                "request heads are read in request threads, without a time limit, with %s "
                '(docs/operations.md, "Slow request heads")',
                " and ".join(unsupported),
            )
        super().init_process()

    def enqueue_req(self, conn):
        # Every connection reaches a thread through here (new, kept alive, read ahead): only with
        # its request head complete in hand.
        if self.heads is not None and getattr(conn, "portal_head", None) is None:
            buffered = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
            self._read_head(conn, buffered)
            return
        conn.close = functools.partial(_close, conn)  # its close() lingers elsewhere
        super().enqueue_req(conn)

    # -- the head, read in the main loop -------------------------------------------------------------

    def _read_head(self, conn, buffered: bytes) -> None:
        conn.portal_buffer = buffered  # bytes; a bytearray once a second piece comes
        conn.portal_scanned = 0  # bytes of the buffer already looked at
        conn.portal_line_ok = False  # the request line has ended within its limit
        if conn.sock.gettimeout() != 0.0:  # a connection read ahead comes from a thread, blocking
            conn.sock.setblocking(False)
        verdict = self._head_verdict(conn) if buffered else None
        if verdict is None:
            verdict = self._head_recv(conn)
        if verdict is None:
            timeout = self.head_timeout if self.alive else min(self.head_timeout, gthread.STOP_KEEPALIVE_LINGER)
            self.heads[conn] = time.monotonic() + timeout
            self.poller.register(conn.sock, selectors.EVENT_READ, functools.partial(self._on_head_readable, conn))
        else:
            self._head_done(conn, verdict)

    def _on_head_readable(self, conn, sock) -> None:
        verdict = self._head_recv(conn)
        if verdict is not None:
            # Out of the poller before a thread may close the socket (its number could be reused).
            self.poller.unregister(sock)
            del self.heads[conn]
            self._head_done(conn, verdict)

    def _head_recv(self, conn) -> str | None:
        try:
            chunk = conn.sock.recv(self.head_chunk)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            chunk = b""
        if not chunk:
            return "closed"
        data = conn.portal_buffer
        if not data:
            conn.portal_buffer = chunk  # most heads come whole, in one piece: no copy
        else:
            if not isinstance(data, bytearray):
                data = conn.portal_buffer = bytearray(data)
            data += chunk
        return self._head_verdict(conn)

    def _head_verdict(self, conn) -> str | None:
        """``ready`` when gunicorn's parser can decide without reading more, ``too-large``, or None
        (wait for more). Looks at each byte once: a client trickling bytes into a large head
        must not cost the main loop a scan of the whole head per byte."""
        data = conn.portal_buffer
        start, conn.portal_scanned = conn.portal_scanned, len(data)
        if data.find(b"\r\n\r\n", max(start - 3, 0)) >= 0:
            if self.line_max and not conn.portal_line_ok:
                skip = 2 if data[:2] == b"\r\n" else 0
                if data.find(b"\r\n", skip) - skip > self.line_max:
                    return "too-long"  # the whole head came at once, its request line too long
            return "ready"  # the end of the head
        lf = data.find(b"\n", start)
        while lf >= 0:
            if lf == 0 or data[lf - 1] != 0x0D:
                return "ready"  # a bare LF: gunicorn answers 400 at once
            lf = data.find(b"\n", lf + 1)
        if not conn.portal_line_ok and self.line_max:
            skip = 2 if data[:2] == b"\r\n" else 0  # one empty line is allowed before it
            # Only the new bytes (and the CR before them): the older ones held no end of line.
            if data.find(b"\r\n", max(skip, start - 1), skip + self.line_max + 2) >= 0:
                conn.portal_line_ok = True
            elif len(data) - skip > self.line_max + 2:
                return "too-long"  # a request line past limit_request_line: a 414 at once
        if len(data) > self.head_max:
            return "too-large"
        return None

    def _head_done(self, conn, verdict: str) -> None:
        head, conn.portal_buffer = conn.portal_buffer, None
        if verdict == "ready":
            conn.portal_head = head if isinstance(head, bytes) else bytes(head)
            conn.data_ready = True  # gthread's handle() must not wait for more
            self.enqueue_req(conn)
            return
        self.nr_conns -= 1
        if verdict == "too-long" and not _read_only_method(head):
            # Any method but GET, HEAD and OPTIONS is a 405 whatever its URL (portal.middleware.
            # ReadOnlyMethodsMiddleware says the same of shorter ones).
            _answer(
                conn.sock,
                "405 Method Not Allowed",
                json.dumps({"detail": "this site is read-only"}),
                content_type="application/json",
                extra="Allow: GET, HEAD, OPTIONS\r\n",
            )
        elif verdict == "too-long":
            # In the API's own JSON (gunicorn's parser would answer an HTML page), as the OpenAPI
            # documents it for every operation (autoapi/web/openapi.py, E414).
            _answer(
                conn.sock,
                "414 URI Too Long",
                json.dumps(
                    {
                        "detail": f"the request line is longer than {self.line_max} bytes: send fewer or shorter "
                        "parameters (a long CQL2 filter can often be shortened with IN lists)"
                    }
                ),
                content_type="application/json",
            )
        elif verdict == "too-large":  # JSON as well, as the OpenAPI documents it (E431, E408)
            _answer(
                conn.sock,
                "431 Request Header Fields Too Large",
                json.dumps({"detail": "request head too large"}),
                content_type="application/json",
            )
        elif verdict == "timeout" and head:
            _answer(
                conn.sock,
                "408 Request Timeout",
                json.dumps({"detail": f"request head not complete within {self.head_timeout:g} s"}),
                content_type="application/json",
            )
        else:
            # The client closed before finishing a request, or sent nothing at all (a connection
            # opened ahead of time): closed without a word, as an idle kept-alive one.
            util.close(conn.sock)

    def murder_pending(self):
        super().murder_pending()
        now = time.monotonic()
        if not self.alive and self.heads and not self._heads_capped:
            # Stopping: heads in progress get what kept-alive connections get (gthread's 2 s), not
            # the whole head timeout. The same cap for all keeps the order by deadline.
            self._heads_capped = True
            for conn, deadline in self.heads.items():
                self.heads[conn] = min(deadline, now + gthread.STOP_KEEPALIVE_LINGER)
        while self.heads:
            conn, deadline = next(iter(self.heads.items()))
            if deadline > now:
                break
            del self.heads[conn]
            try:
                self.poller.unregister(conn.sock)
            except (KeyError, ValueError, OSError):
                pass
            self._head_done(conn, "timeout")

    # -- the head, handed to gunicorn's parser in the request thread ---------------------------------

    def handle(self, conn):
        head = getattr(conn, "portal_head", None)
        if head is not None:
            conn.portal_head = None
            try:
                conn.init()  # a new connection's parser (gthread's handle() then blocks the socket)
                conn.parser.unreader.unread(head)
            except Exception:  # noqa: BLE001  (a socket gone meanwhile: nothing to answer)
                self.log.debug("connection lost before its request was parsed", exc_info=True)
                return False
        return super().handle(conn)

    def _keepalive_after(self, conn, keepalive):
        # A body the app did not read (the portal reads none: every method but GET, HEAD and
        # OPTIONS is a 405) is drained by gthread before the next request, for up to 5 s in this
        # thread: a client trickling a body would hold the thread that long, again and again. Here
        # only what arrives within BODY_DRAIN_SECONDS; else the connection closes (lingering
        # off the pool).
        if not keepalive or self.heads is None:
            return super()._keepalive_after(conn, keepalive)
        return bool(conn.parser.finish_body(deadline=time.monotonic() + BODY_DRAIN_SECONDS))
