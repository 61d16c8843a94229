"""Cancel a request's PostgreSQL statements when its client goes away while the response is built.

Under gthread a worker reads nothing from a client's socket until it answers, so a client that
gives up on a slow page (a heavy filter, up to ``STATEMENT_TIMEOUT_MS``) would leave its query
running to the end. ``CancelOnDisconnectMiddleware`` hands the client's socket to one watcher thread
per process for as long as the view runs; when the socket reads as closed (end of file, or reset),
every connection the request's thread has borrowed (``lend``: the pool of portal/pgpool and the
exports' own connections) gets ``cancel()``, psycopg2's thread-safe request to PostgreSQL, every
``TICK`` until the view returns. A download's streaming is outside this (its next write fails, and
autoapi/formats/exports.py cancels). The watch is for the client's end only (Linux's ``EPOLLRDHUP``), not
for its data: a pipelined request, or a byte and then a close, are told apart (the first does not
cancel, the second does). Elsewhere than Linux, nothing is watched.
"""

from __future__ import annotations

import contextlib
import select
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
    """Sockets of requests being built; a closed one cancels its thread's statements.

    Watched for the peer's end only (``EPOLLRDHUP``: its FIN; ``EPOLLHUP``/``EPOLLERR``: a reset),
    never for data: a client that pipelines a byte and then leaves is still seen leaving, where
    peeking at the next byte found data and stopped watching (security review, Low). Data
    waiting on the socket does not wake the watcher either (no busy loop while it stays unread).
    """

    def __init__(self):
        self._epoll = None  # made in the process that watches (never inherited across a fork)
        self._watched: dict[int, int] = {}  # file descriptor -> the thread ident of its request
        self._gone: set[int] = set()  # thread idents whose client left
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, ident: int) -> None:
        with _lock:
            if self._epoll is None:
                self._epoll = select.epoll()
            fd = sock.fileno()
            self._epoll.register(fd, _HUNG_UP)
            self._watched[fd] = ident
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="portal-disconnect", daemon=True)
                self._thread.start()

    def unwatch(self, sock: socket.socket, ident: int) -> bool:
        """Stop watching; True when the client had left."""
        # Under the lock, so the watcher never looks at a socket the server has closed since
        # (its number may already belong to another client).
        with _lock:
            fd = sock.fileno()
            if self._watched.get(fd) == ident:
                del self._watched[fd]
                with contextlib.suppress(OSError, ValueError):
                    self._epoll.unregister(fd)
            left = ident in self._gone
            self._gone.discard(ident)
        return left

    def _run(self) -> None:
        while True:
            for fd, _ in self._epoll.poll(TICK):
                with _lock:
                    ident = self._watched.get(fd)
                    # Unwatched meanwhile, or the number now belongs to another request's socket
                    # whose client is still there: look again, now that nothing can change.
                    if ident is None or not _hung_up(fd):
                        continue
                    del self._watched[fd]
                    with contextlib.suppress(OSError, ValueError):
                        self._epoll.unregister(fd)
                    self._gone.add(ident)
            self.cancel_gone()  # again every tick: a statement may start after the first cancel

    def cancel_gone(self) -> None:
        with _lock:
            if self._gone:
                _cancel_lent_to(self._gone)


_HUNG_UP = getattr(select, "EPOLLRDHUP", 0) | getattr(select, "EPOLLHUP", 0) | getattr(select, "EPOLLERR", 0)
SUPPORTED = hasattr(select, "epoll") and hasattr(select, "EPOLLRDHUP")  # Linux


def _hung_up(fd: int) -> bool:
    """The client closed its end (or reset the connection), whatever it sent before."""
    poller = select.poll()
    poller.register(fd, select.POLLRDHUP)
    return any(events & (select.POLLRDHUP | select.POLLHUP | select.POLLERR) for _, events in poller.poll(0))


watcher = Watcher()


class CancelOnDisconnectMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sock = request.META.get("gunicorn.socket")
        if sock is None or isinstance(sock, ssl.SSLSocket) or not SUPPORTED:  # the test client; Linux only
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
