"""Root URLs: the catalog, the API, and health checks. See README "URL contract"."""
from django.urls import include, path

from portal import health

urlpatterns = [
    path("api/", include("autoapi.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("catalog.urls")),
]

handler404 = "portal.health.not_found"
handler500 = "portal.health.server_error"
