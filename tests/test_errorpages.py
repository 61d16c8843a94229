"""``portal/errorpages.py``: one table from URL namespace to error renderer, used by the
middleware, the fair-share refusals and Django's 404 handler."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from autoapi.errors import NotFound
from portal.errorpages import API, CATALOG, OGC, namespace, render_error


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/", API),
        ("/api/public/x/", API),
        ("/healthz", API),
        ("/readyz", API),
        ("/ogc", OGC),
        ("/ogc/collections", OGC),
        ("/", CATALOG),
        ("/catalog/public/x/", CATALOG),
        ("/apix", CATALOG),
        ("/ogcx", CATALOG),
        ("/healthzz", CATALOG),
    ],
)
def test_namespace(path, expected):
    assert namespace(RequestFactory().get(path)) == expected


def test_each_namespace_renders_its_own_errors():
    factory = RequestFactory()
    api = render_error(factory.get("/api/nope/"), NotFound("gone"))
    assert api.status_code == 404 and api["Content-Type"].startswith("application/json")
    assert b'"detail"' in api.content
    ogc = render_error(factory.get("/ogc/nope"), NotFound("gone"))
    assert ogc.status_code == 404 and b'"code"' in ogc.content and b'"description"' in ogc.content
    page = render_error(factory.get("/nope"), NotFound("gone"))
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
    browser = render_error(
        factory.get("/ogc/nope", HTTP_ACCEPT="text/html"), NotFound("gone"), html_on_ogc_for_browsers=True
    )
    assert browser["Content-Type"].startswith("text/html")


def test_djangos_404_on_the_api_is_json(client):
    response = client.get("/api/public/x/y/z/w/")
    assert response.status_code == 404 and response.json()["detail"]
