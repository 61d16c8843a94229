"""Root URLs: the catalog, the API, OGC API Features, and health checks. See docs/api.md."""

from django.urls import include, path

from autoapi.ogc import views as ogc_views
from catalog.standards.urls import api_patterns as standards_api_patterns
from portal import health

urlpatterns = [
    # The API first (the pages' URLs end with a slash), then the open-data standards' documents
    # (docs/opendata.md: none ends with a slash, so neither list can answer the other's URLs).
    path("api/", include("autoapi.web.urls")),
    path("api/", include(standards_api_patterns)),
    path("ogc", ogc_views.landing),  # GDAL's OAPIF:<base>/ogc asks for the root without a slash
    path("ogc/", include("autoapi.ogc.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("catalog.urls")),
]

handler404 = "portal.health.not_found"
handler500 = "portal.health.server_error"
