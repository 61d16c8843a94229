"""Cancel a request's PostgreSQL statements when its client goes away while the response is built.

Under gthread a worker reads nothing from a client's socket until it answers, so a client that
gives up on a slow page (a heavy filter, up to ``STATEMENT_TIMEOUT_MS``) would leave its query
running to the end. ``CancelOnDisconnectMiddleware`` hands the client's socket to one watcher thread
per process for as long as the view runs; when the socket reads as closed (end of file, or reset),
every connection the request's thread has borrowed (``lend``: the pool of portal/pgpool and the
exports' own connections) gets ``cancel()``, psycopg2's thread-safe request to PostgreSQL, every
``TICK`` until the view returns. A download's streaming is outside this (its next write fails, and
autoapi/exports.py cancels). Data on the socket instead of an end (a pipelined request) ends the
watch: that client is still there.
"""
from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import threading

from django.http import HttpResponse

TICK = 0.05
CLIENT_LEFT = 499  # nginx's status for a request whose client closed the connection first

_lock = threading.Lock()
_lent: dict[int, tuple[int, object]] = {}  # id(connection) -> (thread ident, connection)


def lend(conn) -> None:
    """``conn`` now runs statements for the current thread's request."""
    with _lock:
        _lent[id(conn)] = (threading.get_ident(), conn)


def give_back(conn) -> None:
    with _lock:
        _lent.pop(id(conn), None)


def _cancel_lent_to(idents: set[int]) -> None:
    """Cancel the statements of the connections lent to these threads. The caller holds the lock,
    and keeps it until the cancel requests are sent: otherwise a thread could finish the request,
    give its connection back and start its next request's statement on it (the same thread, or
    another on the same connection), which the late cancel would hit (``make bench`` saw such 400s)."""
    for owner, conn in list(_lent.values()):
        if owner in idents:
            with contextlib.suppress(Exception):  # closed meanwhile: nothing left to cancel
                conn.cancel()


class Watcher:
    """Sockets of requests being built; a closed one cancels its thread's statements."""

    def __init__(self):
        self._selector = selectors.DefaultSelector()
        self._gone: set[int] = set()  # thread idents whose client left
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, ident: int) -> None:
        with _lock:
            self._selector.register(sock, selectors.EVENT_READ, ident)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="portal-disconnect", daemon=True)
                self._thread.start()

    def unwatch(self, sock: socket.socket, ident: int) -> bool:
        """Stop watching; True when the client had left."""
        # Under the lock, so the watcher never peeks at a socket the server has closed since
        # (its number may already belong to another client).
        with _lock:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
            left = ident in self._gone
            self._gone.discard(ident)
        return left

    def _run(self) -> None:
        while True:
            for key, _ in self._selector.select(TICK):
                with _lock:
                    if self._selector.get_map().get(key.fd) is not key:
                        continue  # unwatched meanwhile
                    closed = _closed(key.fileobj)
                    if closed is not None:
                        self._selector.unregister(key.fileobj)
                    if closed:
                        self._gone.add(key.data)
            self.cancel_gone()  # again every tick: a statement may start after the first cancel

    def cancel_gone(self) -> None:
        with _lock:
            if self._gone:
                _cancel_lent_to(self._gone)


def _closed(sock: socket.socket) -> bool | None:
    """True: the client closed; False: it sent data (stop watching); None: nothing to read."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return None
    except OSError:
        return True


watcher = Watcher()


class CancelOnDisconnectMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sock = request.META.get("gunicorn.socket")
        if sock is None or isinstance(sock, ssl.SSLSocket):  # the test client; TLS cannot peek
            return self.get_response(request)
        ident = threading.get_ident()
        try:
            watcher.watch(sock, ident)
        except (OSError, ValueError, KeyError):
            return self.get_response(request)
        try:
            response = self.get_response(request)
        except BaseException:
            watcher.unwatch(sock, ident)
            raise
        if watcher.unwatch(sock, ident) and not response.streaming:
            # Its statements were cancelled, so the view's answer (a 400 "statement timeout", or a
            # 503) is about that, not about the request: the log says 499, as nginx says it.
            return HttpResponse(status=CLIENT_LEFT, reason="Client Closed Request")
        return response
