"""No trap for a newcomer: a real gunicorn started before ``make static`` (its static root empty,
no manifest) serves the catalog, its error pages and its static files, and says to run
``make static`` (portal/staticfiles.py ``PortalStaticFilesStorage``, ``WHITENOISE_USE_FINDERS``)."""

from __future__ import annotations

import re

import pytest
import requests

from tests.conftest import running_server

pytestmark = pytest.mark.db  # every test here reads the fixture database


@pytest.fixture(scope="module")
def uncollected(tmp_path_factory):
    empty = tmp_path_factory.mktemp("empty_static_root")
    logs = tmp_path_factory.mktemp("newcomer_server")
    with running_server(logs, {"PORTAL_STATIC_ROOT": str(empty)}, workers=1, threads=4) as base_url:
        yield base_url, logs, empty


def test_pages_and_error_pages_are_served_before_make_static(uncollected):
    base_url, logs, empty = uncollected
    assert not list(empty.iterdir())  # nothing collected
    for path, status in (
        ("/", 200),
        ("/catalog/no_such_schema/no_such_relation/", 404),
        ("/catalog/public/places_latlon/?no_such_column=1", 400),
        ("/ogc/collections?f=html", 200),
    ):
        response = requests.get(base_url + path, timeout=30)
        assert response.status_code == status, (path, response.status_code, response.text[:300])
        assert response.headers["Content-Type"].startswith("text/html")
        # the style sheet is linked by its plain name, and served from the sources
        css = re.search(r'<link rel="stylesheet" href="([^"]+)"', response.text).group(1)
        assert css == "/static/portal.css", css
    stylesheet = requests.get(base_url + "/static/portal.css", timeout=30)
    assert stylesheet.status_code == 200 and stylesheet.headers["Content-Type"].startswith("text/css")
    assert ".site-header" in stylesheet.text
    leaflet = requests.get(base_url + "/static/vendor/leaflet/leaflet.js", timeout=30)
    assert leaflet.status_code == 200
    log = "".join(path.read_text() for path in logs.iterdir())
    assert "make static" in log and "Internal Server Error" not in log
