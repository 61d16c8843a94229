"""JSON logs: one object per line, and one line per HTTP request with its id, relation, status and time.

- ``JSONFormatter`` writes any log record as one JSON object (``time``, ``level``, ``logger``,
  ``message``, the record's ``extra`` fields, ``request_id`` when the record was logged while a
  request was being served, ``exc_info`` as text). It imports nothing from Django, so gunicorn's own
  loggers can use it too (``portal/gunicorn.conf.py``).
- ``RequestLogMiddleware`` gives every request an id (the client's ``X-Request-ID`` when it is a
  sane token, else a new one), echoes it in the response's ``X-Request-ID`` header and, when the
  response is closed (after the last byte of a stream), logs one ``portal.request`` line::

    {"time": "...", "level": "INFO", "logger": "portal.request", "message": "GET /api/public/flights/ 200",
     "request_id": "9f0c...", "method": "GET", "path": "/api/public/flights/", "relation": "public.flights",
     "status": 200, "duration_ms": 12.3, "bytes": 5120}

  ``relation`` is ``schema.name`` (decoded) for the API's and the catalog's relation URLs, else null.
  The query string is never logged (it may be long or hold what a user typed); nor is the client's
  address (put the reverse proxy's log in charge of that, where its retention is decided).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import traceback
import uuid
from datetime import UTC, datetime

from autoapi.db.context import ATTRIBUTE, RequestContext
from autoapi.schema.naming import decode_segment

#: The id of the request the current thread (or task) is serving, for every log record.
current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("portal_request_id", default=None)

#: Accepted from a client or a proxy: a short token of safe characters (a UUID, a ULID, nginx's $request_id...).
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+=/-]{0,127}")
REQUEST_ID_HEADER = "X-Request-ID"

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged.
_RECORD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
_REQUEST_URL_NAMES = {"relation-list", "relation-detail", "relation"}

request_log = logging.getLogger("portal.request")


def _jsonable(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


class JSONFormatter(logging.Formatter):
    """Any log record as a single line of JSON (never raises on odd ``extra`` values)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or current_request_id.get()
        if request_id:
            entry["request_id"] = request_id
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES and name not in entry and not name.startswith("_"):
                entry[name] = _jsonable(value)
        if record.exc_info:
            entry["exc_info"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class SkipServiceUnavailable(logging.Filter):
    """For ``django.request``: a 503 is the portal's planned answer to a database outage (and is in
    the request log at WARNING already), not an error with a traceback worth paging anyone for."""

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "status_code", None) != 503


def request_id_from(value: str | None) -> str:
    """The client's id when it is a sane token, else a fresh random one (32 hex digits)."""
    if value and REQUEST_ID_PATTERN.fullmatch(value):
        return value
    return uuid.uuid4().hex


def _relation_of(request, context: RequestContext) -> str | None:
    if context.relation is not None:  # the API's relation URLs name it once resolved (autoapi/web/urls.py)
        return context.relation
    match = getattr(request, "resolver_match", None)
    if match is None or match.url_name not in _REQUEST_URL_NAMES:
        return None
    schema, name = match.kwargs.get("schema"), match.kwargs.get("relation")
    if schema is None or name is None:
        return None

    try:
        return f"{decode_segment(schema)}.{decode_segment(name)}"
    except ValueError:
        return None


class RequestLogMiddleware:
    """Outermost middleware: the request's context (``autoapi/db/context.py``), its id in and out,
    one JSON log line per request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        request_id = request_id_from(request.META.get("HTTP_X_REQUEST_ID"))
        context = request.__dict__[ATTRIBUTE] = RequestContext(request_id=request_id)
        token = current_request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        fields = {
            "request_id": request_id,
            "method": request.method,
            "path": request.path,
            "relation": _relation_of(request, context),
            "status": response.status_code,
        }
        if not response.streaming:
            fields["bytes"] = len(response.content)
        status = response.status_code
        level = logging.INFO if status < 500 else logging.WARNING if status == 503 else logging.ERROR

        def log_once():
            # References neither the request nor the response: no cycle keeps a large body alive.
            if "duration_ms" in fields:
                return
            fields["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
            if request_log.isEnabledFor(level):
                # The record made directly: Logger.log would walk the stack for a caller no line shows.
                args = (fields["method"], fields["path"], status)
                record = request_log.makeRecord(
                    request_log.name, level, __file__, 0, "%s %s %s", args, None, extra=fields
                )
                request_log.handle(record)

        # Logged when the server closes the response: after the last byte, so a stream's duration
        # is the whole download. Every WSGI server (and Django's test client) calls close(), which
        # runs the response's resource closers.
        response._resource_closers.append(log_once)
        return response
