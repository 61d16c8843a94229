"""gunicorn settings for the portal: ``gunicorn -c portal/gunicorn.conf.py portal.wsgi:application``.

Every value comes from the environment (see docs/operations.md):

| variable | default | what |
|---|---|---|
| ``HOST``, ``PORT`` | ``127.0.0.1``, ``8000`` | where to listen (``HOST=0.0.0.0`` for every interface, ``HOST=[::]`` for IPv6) |
| ``GUNICORN_WORKERS`` | one per CPU, between 2 and 8 | processes; each holds its own snapshot and its own connections |
| ``GUNICORN_THREADS`` | 48 | request threads per process: each running request (a download included) holds one |
| ``GUNICORN_TIMEOUT`` | 30 | seconds a worker may stay silent before the master restarts it |
| ``GUNICORN_GRACEFUL_TIMEOUT`` | 30 | seconds a worker gets to finish its requests on a restart (HUP) or stop (TERM) |
| ``GUNICORN_KEEPALIVE`` | 5 | seconds an idle keep-alive connection stays open (keep it below the proxy's) |
| ``GUNICORN_HEAD_TIMEOUT`` | 10 | seconds a request head may take, from the connection's start (or a kept-alive one's next byte): then ``408`` and closed |
| ``GUNICORN_MAX_REQUESTS`` | 100000 | a worker is replaced after this many requests (0: never), |
| ``GUNICORN_MAX_REQUESTS_JITTER`` | 10000 | ...plus up to this many, so workers do not all restart at once |
| ``GUNICORN_ACCESS_LOG`` | unset: off | a path or ``-``: gunicorn's own access log, in addition to the portal's JSON request log |
| ``PORTAL_LOG_FORMAT`` | ``json`` | ``json``: gunicorn's own messages as JSON lines too; ``text``: gunicorn's format |

Workers are ``gthread``: the master checks a heartbeat written by each worker's main loop, not
by the request threads, so a long ``?limit=all`` download never trips ``timeout``; a stuck
worker still does. Pages are bounded by PostgreSQL's statement timeout well below ``timeout``.

Slow clients (docs/operations.md, "Slow clients"): a download holds its request thread for as long as its
client reads, so a process has many threads (an idle one costs about 100 KB), while what is
scarce is bounded separately: PostgreSQL connections (``PORTAL_DB_CONNECTIONS``, shared by all
threads through portal/pgpool) and running downloads (``PORTAL_EXPORT_CONNECTIONS``, beyond which
a download is a 503). Keep ``GUNICORN_THREADS`` well above ``PORTAL_EXPORT_CONNECTIONS``: the rest
serve pages and ``/healthz`` however many downloads run. Idle keep-alive connections hold no
thread (gthread parks them in its poller).

Slow request heads (docs/operations.md, "Slow request heads"): a connection gets a thread only once its request
head is complete; until then the worker's main loop reads it without blocking, for at most
``GUNICORN_HEAD_TIMEOUT`` seconds and ``limit_request_*`` bytes (portal/workers.py).
"""

import logging
import os

from gunicorn.glogging import Logger

from portal.logs import JSONFormatter  # noqa: F401  (fails early when the project is not importable)
from portal.workers import ThreadWorker


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise SystemExit(f"{name}={raw!r} must be at least {minimum}")
    return value


_host = os.environ.get("HOST", "").strip() or "127.0.0.1"
_port = _int("PORT", 8000, minimum=1)
if ":" in _host and not _host.startswith("["):
    _host = f"[{_host}]"  # an IPv6 address
bind = [f"{_host}:{_port}"]

# gthread, with its lingering close moved off the accepting thread (portal/workers.py says why).
worker_class = "portal.workers.ThreadWorker"
# One process per CPU: the processes share the CPUs with PostgreSQL, and more of them only adds
# scheduling delay to every request's tail (docs/operations.md, "Slow clients": 2 x 48 met the latency
# targets of make loadtest where 4 x 32 and 6 x 32 did not).
workers = _int("GUNICORN_WORKERS", max(2, min(os.cpu_count() or 1, 8)), minimum=1)
threads = _int("GUNICORN_THREADS", 48, minimum=1)
timeout = _int("GUNICORN_TIMEOUT", 30, minimum=1)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30, minimum=1)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# A request head must be complete within this many seconds (portal/workers.py reads it outside the
# request threads): a client trickling header lines costs a socket for that long, never a thread.
ThreadWorker.head_timeout = float(_int("GUNICORN_HEAD_TIMEOUT", 10, minimum=1))
# A replaced worker boots Django and reads the snapshot again: at 1,000 requests a busy portal
# (500 pages a second) replaced a worker every two seconds and lost a third of its throughput, with
# second-long stalls. 100,000 bounds any leak all the same, at a replacement every few minutes.
max_requests = _int("GUNICORN_MAX_REQUESTS", 100_000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 10_000) if max_requests else 0

# The longest request line gunicorn accepts (its maximum): long filter lists fit, 8 KB more is a 400.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# The master imports the app and reads the schema snapshot once (when_ready, below), then forks the
# workers, which inherit both: at 10,000 relations every worker importing Django and reading the
# catalog at the same time took 11-18 s to a first answer on two busy CPUs, against about 5 s
# (issue 23). Nothing half-open is inherited: the master's database connections are closed before
# the fork, and it starts no thread. Each worker checks the inherited snapshot against the catalog
# before it serves (autoapi/web/registry.py). With preloading, a HUP restarts the workers with
# the code the master loaded: deploy new code with a full restart.
preload_app = True
proc_name = "pg-portal"
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"  # the heartbeat file: never on a slow or full disk

# The portal logs one JSON line per request itself (portal/logs.py); gunicorn's access log is off
# unless asked for.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("PORTAL_LOG_LEVEL", "INFO").lower()

if os.environ.get("PORTAL_LOG_FORMAT", "json").strip().lower() == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "portal.logs.JSONFormatter"}},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
            "error_console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
        },
        "root": {"level": loglevel.upper(), "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": loglevel.upper(), "handlers": ["error_console"], "propagate": False},
            # With a logconfig_dict gunicorn always calls its access logger: silence it unless asked for.
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }
    if accesslog:
        logconfig_dict["handlers"]["access"] = (
            {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
            if accesslog == "-"
            else {"class": "logging.FileHandler", "formatter": "json", "filename": accesslog}
        )
        logconfig_dict["loggers"]["gunicorn.access"] = {"level": "INFO", "handlers": ["access"], "propagate": False}


class PortalLogger(Logger):
    """gunicorn's logger, minus the access log's work when that log is silenced: with a
    ``logconfig_dict`` gunicorn builds every request's access-log fields (a dozen) and hands them to a
    logger that drops them."""

    def access(self, resp, req, environ, request_time):
        if self.access_log.isEnabledFor(logging.INFO):
            super().access(resp, req, environ, request_time)


logger_class = PortalLogger


def when_ready(server):
    """In the master, before the first fork: the snapshot every worker inherits. A database not
    up yet leaves the read to each worker, as without preloading."""
    from django.db import connections

    from autoapi.public import read_snapshot_before_fork
    from portal.pgpool.pool import close_idle_connections

    try:
        read_snapshot_before_fork()
    except Exception as exc:
        server.log.warning("schema snapshot not read before the workers start (each reads its own): %s", exc)
    finally:
        connections.close_all()
        close_idle_connections()
    # Collected and frozen once here rather than in each worker (post_worker_init): the workers'
    # own collection then finds nothing new to scan, and their pages stay shared with the master.
    import gc

    gc.collect()
    gc.freeze()


def post_worker_init(worker):
    # Hand the GIL over every 1 ms rather than 5: a short request (/healthz, a small page) waits
    # for it behind the busy threads of its process at each step, so under load its latency is
    # a multiple of this interval (measured in docs/operations.md, "Slow clients").
    import gc
    import sys

    sys.setswitchinterval(0.001)
    # Garbage collection pauses every thread of the process: move what the app loaded into the
    # permanent generation (never scanned again) and collect the young one less often, so that a
    # full collection under load no longer scans Django's, DRF's and the snapshot's objects.
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
    # Read the schema snapshot now, in the background, rather than on the worker's first request:
    # at 10,000 relations the read takes a second or two, which then overlaps the worker's start
    # and the time until traffic arrives (issue 23: start under 10 s). A request that comes
    # first waits for this read (the registry's lock) instead of starting its own; a read that
    # fails (the database is not up yet) is left to the first request, as before.
    import threading

    threading.Thread(target=_read_snapshot, name="portal-snapshot-first-read", daemon=True).start()


def _read_snapshot():
    import logging

    from autoapi.public import get_snapshot

    try:
        get_snapshot()
    except Exception as exc:
        logging.getLogger("portal.gunicorn").info(
            "first snapshot read at start failed, left to the first request: %s", exc
        )
    finally:
        from django.db import connections

        connections.close_all()  # this thread's connections back to the pool
