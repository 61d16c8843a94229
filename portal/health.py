"""Liveness and readiness, and the last-resort error pages."""
from django.db import DatabaseError
from django.http import JsonResponse

from autoapi.public import get_snapshot


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    try:
        snapshot = get_snapshot()
    except DatabaseError:
        return JsonResponse({"status": "unavailable", "detail": "the database cannot be reached"}, status=503)
    return JsonResponse({"status": "ready", "relations": len(snapshot.relations), "schema_version": snapshot.version})


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "not found"}, status=404)
    from catalog.views import error_page

    return error_page(request, 404, "Page not found", "There is no page at this address.")


def server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "internal error"}, status=500)
    from catalog.views import error_page

    return error_page(request, 500, "Something went wrong", "The portal could not answer this request.")
