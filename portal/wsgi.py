"""WSGI entry point for gunicorn and other WSGI servers.

``GET /healthz`` (liveness: this process accepts and answers) is answered here, before Django:
a load balancer's probe must not queue behind the middleware and views of a crowd of page
requests, and it needs neither (it reads nothing). Every other request, ``/readyz`` included (it
asks the database), goes through Django.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django_application = get_wsgi_application()

HEALTH_PATH = "/healthz"
HEALTH_BODY = b'{"status": "ok"}'
HEALTH_HEADERS = [
    ("Content-Type", "application/json"),
    ("Content-Length", str(len(HEALTH_BODY))),
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
]


def application(environ, start_response):
    method = environ.get("REQUEST_METHOD")
    if environ.get("PATH_INFO") == HEALTH_PATH and method in ("GET", "HEAD") and not environ.get("QUERY_STRING"):
        start_response("200 OK", HEALTH_HEADERS)
        return [b""] if method == "HEAD" else [HEALTH_BODY]
    return django_application(environ, start_response)
