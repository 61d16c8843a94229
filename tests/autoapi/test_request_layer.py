"""The API's request layer (``autoapi/web/urls.py``): a request resolves its snapshot once, and a
schema race is retried by an exception, not by an attribute on the response."""

from __future__ import annotations

import pytest

from autoapi.errors import SchemaChanged, error_response, exception_handler
from autoapi.web.registry import registry

pytestmark = pytest.mark.db  # every test reads the fixture database


@pytest.mark.parametrize(
    "url", ["/api/public/big_2500/?format=csv&grp=3", "/api/public/big_2500/?limit=5", "/api/public/big_2500/7/"]
)
def test_one_snapshot_read_per_request(client, monkeypatch, url):
    """The validators (ETag), the page cache and the view share one snapshot: it is read from the
    registry once, so they can never come from two."""
    client.get(url)  # warm: endpoints built
    calls = []
    current = registry.current

    def counting():
        calls.append(1)
        return current()

    monkeypatch.setattr(registry, "current", counting)
    response = client.get(url)
    assert response.status_code == 200
    assert len(calls) == 1


def test_a_schema_race_propagates_out_of_the_view():
    """DRF's exception handler leaves SchemaChanged to the dispatcher, which retries once; its
    error response carries no retry flag."""
    error = SchemaChanged("this relation or one of its columns no longer exists")
    assert exception_handler(error, {}) is None
    assert not hasattr(error_response(error), "schema_changed")
