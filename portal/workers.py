"""gunicorn's ``gthread`` worker, with its lingering close taken off the main loop.

``worker_class = "portal.workers.ThreadWorker"`` in portal/gunicorn.conf.py. gunicorn 27 closes a
``Connection: close`` socket "gracefully" (RFC 9112 section 9.6): it half-closes, then reads until
the client closes too, for up to 2 s, and it does so in the worker's main thread, the one that
accepts connections. A client that neither reads nor closes (a stalled reader that was just sent a
503, a slow reader at the end of its download) therefore froze accepting for 2 s each: measured,
9 such clients delayed the next request by 2 s, and ``/healthz`` by 4 s. Here one lingering
thread per process drains and closes those sockets, with the same 2 s cap, so a slow client costs
a file descriptor for 2 s and nothing else.
"""
from __future__ import annotations

import functools
import queue
import selectors
import socket
import threading
import time

from gunicorn import util
from gunicorn.workers import gthread

LINGER_SECONDS = 2.0  # gunicorn's own cap (util.close_graceful)
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


class ThreadWorker(gthread.ThreadWorker):
    def enqueue_req(self, conn):
        # Every connection passes here (new, kept alive, deferred): its close() lingers elsewhere.
        conn.close = functools.partial(_close, conn)
        super().enqueue_req(conn)
