"""Give a request's pooled connections back as soon as its response is built.

Django gives them back at ``request_finished``, which fires only when the server has written the
whole body: a client reading a 1 MB page at 20 KB/s would hold a connection of the pool for 50 s
doing nothing. A built ``HttpResponse`` needs no database any more, and a download
(``StreamingHttpResponse``) streams from a connection of its own (``autoapi/formats/exports.py``).
Sits just inside the request log (settings.MIDDLEWARE), outside everything that may query.
"""

from django.db import connections


class ReleaseConnectionsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        finally:
            for conn in connections.all(initialized_only=True):
                # Only the pooled ones, and never inside a transaction someone still holds.
                if conn.vendor == "postgresql" and not conn.in_atomic_block:
                    conn.close()
