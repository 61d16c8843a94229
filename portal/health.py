"""Liveness and readiness, and the last-resort error pages."""

import psycopg2
from django.db import DatabaseError, connections
from django.http import JsonResponse

from autoapi.conf import DATABASE_ALIAS
from autoapi.errors import DatabaseUnavailable, NotFound, PortalError
from autoapi.public import get_snapshot
from portal.errorpages import render_error


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    """Ready: the snapshot is loaded AND the database answers now (a load balancer takes a process
    out of rotation while its database is down, and back within a probe of its return)."""
    try:
        snapshot = get_snapshot()
        with connections[DATABASE_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except (DatabaseError, psycopg2.Error):
        response = JsonResponse({"status": "unavailable", "detail": "the database cannot be reached"}, status=503)
        response["Retry-After"] = DatabaseUnavailable.headers["Retry-After"]
        return response
    return JsonResponse({"status": "ready", "relations": len(snapshot.relations), "schema_version": snapshot.version})


def not_found(request, exception=None):
    return render_error(request, NotFound("not found"), "Page not found", "There is no page at this address.")


class InternalError(PortalError):
    status_code = 500


def server_error(request):
    return render_error(
        request, InternalError("internal error"), "Something went wrong", "The portal could not answer this request."
    )
