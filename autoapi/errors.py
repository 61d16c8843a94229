"""One error base with a status code per subclass, and the one handler that writes ``{"detail": ...}``.

Database errors are translated here too, by SQLSTATE class, so no PostgreSQL error ever becomes a
500: a value PostgreSQL cannot parse is the client's 400, a relation that vanished under a
concurrent DDL is a 404, an unreachable database is a 503 with ``Retry-After``.
"""

from __future__ import annotations

import logging

import psycopg2
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exceptions

log = logging.getLogger(__name__)


class PortalError(Exception):
    """An answer other than 200, as ``{"detail": ...}``: its status is the class's ``status_code``,
    given in the class statement (``class NotFound(PortalError, status=404)``) or as an attribute."""

    status_code = 400
    headers: dict = {}

    def __init_subclass__(cls, status: int | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status_code = status

    def __init__(self, detail: str, **extra):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def as_dict(self) -> dict:
        return {"detail": self.detail, **self.extra}


# The errors that are nothing but a status code: a table, one class a line.
class BadRequest(PortalError, status=400): ...


class Unauthorized(PortalError, status=401): ...  # fair share: an API key the publisher did not issue


class NotFound(PortalError, status=404): ...


class NotAcceptable(PortalError, status=406): ...


class TooManyRequests(PortalError, status=429): ...  # fair share: over a client's rate limit or download cap


class TooManyDownloads(PortalError, status=503): ...  # fair share: this process runs all the downloads it may


class RelationUnreadable(PortalError, status=409):
    """The relation exists but PostgreSQL cannot read it (a broken view, an unpopulated matview)."""


class DatabaseUnavailable(PortalError, status=503):
    headers = {"Retry-After": "5"}


class SchemaChanged(PortalError, status=404):
    """A query raced a DDL change: the relation or column it names is gone (or was revoked)."""


# PostGIS's words when a box or tile cannot be brought into a column's projection (a whole-world
# box into a US state plane, an edge across the antimeridian on a geography).
PROJECTION_LIMITS = ("outside of projection domain", "Antipodal", "transform: ")

# SQLSTATEs of objects that vanished or were revoked between snapshot and query.
VANISHED = {"42P01", "42703", "42501", "3F000", "42704", "42883"}
# SQLSTATEs a client's values can cause: undefined function or operator (values of types that do
# not compare), a data exception (class 22: a value out of range, an unreadable timestamp), a
# program limit (class 54: 54001, a LIKE pattern that exhausts the matcher's stack). With values
# from the client they are the client's 400, not "schema changed" nor "cannot be read": a view
# that divides by zero with no value from the client is still a 409.
CLIENT_CAUSED = ("42883", "22", "54")
# ... but no client value can divide: the filters compare, and CQL2 has no arithmetic here. A
# division by zero is the relation's own (a view's expression over some rows), whatever the filter:
# a 409, as the OpenAPI documents for a relation that cannot be read.
RELATION_CAUSED = {"22012"}


def translate_database_error(
    exc: Exception, *, filtered: bool, grouped: bool = False, inputs: tuple[str, ...] = ()
) -> PortalError:
    """Map a database exception raised while reading a relation to the error the client sees.

    ``filtered``: the request selects rows with values of its own; ``inputs``: the query
    parameters that carried values (``plans.value_parameters``), named in a 400 they caused.
    This is the one table from SQLSTATE to status."""
    cause = exc.__cause__ or exc
    code = getattr(cause, "pgcode", None) or ""
    message = (getattr(cause, "diag", None) and cause.diag.message_primary) or str(cause).strip().splitlines()[0]
    lost_connection = (OperationalError, InterfaceError, psycopg2.OperationalError, psycopg2.InterfaceError)
    if isinstance(exc, lost_connection) and not code:
        return DatabaseUnavailable("the database is unavailable; try again shortly")
    if code == "57014":
        return BadRequest(
            "the query took longer than the statement timeout allows; narrow the filter or use fewer rows"
        )
    if code.startswith(CLIENT_CAUSED) and code not in RELATION_CAUSED and (filtered or inputs):
        return client_value_error(message, inputs, code)
    if code in VANISHED:
        return SchemaChanged("this relation or one of its columns no longer exists")
    if code == "55000":
        return RelationUnreadable(f"this relation cannot be read: {message}")
    if code == "XX000" and any(words in message for words in PROJECTION_LIMITS):
        return BadRequest(
            "the area asked for reaches beyond what the column's coordinate system can represent "
            f"(PostGIS: {message}); ask for a smaller area"
        )
    if (
        code.startswith("22") and grouped and code not in RELATION_CAUSED
    ):  # a having value, or an aggregate past its type's range
        return BadRequest(f"the aggregates cannot be computed: {message}")
    if code.startswith(("22", "0A", "XX", "2F", "38", "39", "54")):
        return RelationUnreadable(f"this relation cannot be read: {message}")
    if code.startswith(("08", "53", "57")) or isinstance(exc, lost_connection):
        return DatabaseUnavailable("the database is unavailable; try again shortly")
    return RelationUnreadable(f"this relation cannot be read: {message}")


def client_value_error(message: str, inputs: tuple[str, ...], code: str) -> BadRequest:
    """A 400 for a value PostgreSQL refused, naming the parameters that carried values."""
    names = list(dict.fromkeys(inputs))
    extra = {"parameter": names[0]} if len(names) == 1 else {"parameters": names} if names else {}
    if code == "42883":
        return BadRequest(f"these values cannot be compared (PostgreSQL: {message})", **extra)
    if code.startswith("54"):
        return BadRequest(f"this filter asks more than PostgreSQL can do (PostgreSQL: {message}); simplify it", **extra)
    if len(names) == 1 and names[0] != "filter":
        return BadRequest(f"invalid value of {names[0]}: {message}", **extra)
    return BadRequest(f"invalid filter value: {message}", **extra)


# psycopg2 refuses to send a string holding NUL (PostgreSQL's text cannot hold one) with this
# ValueError: the value came from the client, whatever parser let it through.
NUL_REFUSED = "cannot contain NUL"


def is_nul_refusal(exc: BaseException) -> bool:
    return isinstance(exc, ValueError) and NUL_REFUSED in str(exc)


def error_response(error: PortalError) -> JsonResponse:
    response = JsonResponse(error.as_dict(), status=error.status_code, json_dumps_params={"ensure_ascii": False})
    for name, value in error.headers.items():
        response[name] = value
    response.portal_error = error  # what replicas.fall_back judges (a 503 is not always the replica's)
    return response


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: always JSON, whatever format the request asked for. A schema race
    (``SchemaChanged``) is left to propagate: the dispatcher (``web/urls.py``) retries the request
    once on a fresh snapshot, and answers it with ``error_response`` otherwise."""
    if isinstance(exc, SchemaChanged):
        return None
    if isinstance(exc, PortalError):
        return error_response(exc)
    if isinstance(exc, Http404):
        return error_response(NotFound(str(exc) or "not found"))
    if isinstance(exc, drf_exceptions.ValidationError):
        return error_response(BadRequest("invalid query parameter", errors=exc.detail))
    if isinstance(exc, drf_exceptions.APIException):
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        response = error_response(PortalError(detail))
        response.status_code = exc.status_code
        if getattr(exc, "wait", None):
            response["Retry-After"] = str(int(exc.wait))
        return response
    if isinstance(exc, (DatabaseError, psycopg2.Error)):
        error = translate_database_error(exc, filtered=False)
        if isinstance(error, SchemaChanged):
            raise error from exc
        return error_response(error)
    if is_nul_refusal(exc):
        return error_response(BadRequest("a value holds a NUL character, which no PostgreSQL value can contain"))
    return None
