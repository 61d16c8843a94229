"""The request layer: one context per request (``autoapi/db/context.py``) instead of attributes set
on the request, the merged innermost middleware (``portal.middleware.ViewGuardMiddleware``) keeping
each former layer's headers and order, and the content negotiation's quick path giving DRF's own
answers. In-process (Django's test client: ``response.wsgi_request`` is the request served)."""

from __future__ import annotations

import copy

import pytest
from django.test import RequestFactory
from rest_framework.request import Request

from autoapi.db import replicas
from autoapi.db.context import RequestContext, context_of

LIST = "/api/public/single_pk/"
CATALOG = "/catalog/public/single_pk/"
# What the portal used to set on a request, one attribute per layer.
OLD_ATTRIBUTES = {"request_id", "fair_share_client", "_fair_share_leases", "portal_download_admission"}


def test_a_request_carries_one_context_and_nothing_else_of_the_portals(client):
    response = client.get(LIST + "?limit=2", HTTP_X_REQUEST_ID="ctx-1")
    assert response.status_code == 200
    request = response.wsgi_request
    context = request.portal
    assert isinstance(context, RequestContext)
    assert context.request_id == "ctx-1" == response["X-Request-ID"]
    assert context.relation == "public.single_pk"
    assert context.read_alias == replicas.PRIMARY  # chosen at the first data read, kept for the count
    assert context.client is not None and context.download_admission is None  # a page, not a download
    assert context.host == "testserver" and context.full_path == LIST + "?limit=2"
    assert not OLD_ATTRIBUTES & set(vars(request)), sorted(OLD_ATTRIBUTES & set(vars(request)))
    assert not [name for name in vars(request) if name.startswith("_portal")]


def test_a_download_is_offered_its_admission_through_the_context(client):
    response = client.get(LIST + "?limit=all&format=csv")
    assert response.status_code == 200
    b"".join(response.streaming_content)
    assert callable(response.wsgi_request.portal.download_admission)


def test_drf_s_wrapper_and_a_copy_share_the_requests_context():
    django_request = RequestFactory().get(LIST)
    context = context_of(django_request)
    assert context_of(Request(django_request)) is context
    assert context_of(copy.copy(django_request)) is context
    replicas.use_primary(Request(django_request))
    assert replicas.read_alias(django_request) == replicas.PRIMARY


@pytest.mark.parametrize("accept", [None, "*/*", "*/*;q=0.5", "text/csv, */*;q=0.1"])
@pytest.mark.parametrize("query", ["", "?format=csv", "?format=ndjson", "?format=json"])
def test_negotiation_without_an_accept_header_answers_as_drf_does(client, accept, query):
    """No Accept (or exactly */*) takes the quick path; the others DRF's own negotiation: for the
    same ?format= both give the same type (an Accept that names a type only matters without one)."""
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    response = client.get(LIST + query, **headers)
    assert response.status_code == 200
    drf = client.get(LIST + query, HTTP_ACCEPT="*/*;q=0.9")  # DRF's negotiation, same wildcard
    if accept in (None, "*/*", "*/*;q=0.5"):
        assert response["Content-Type"] == drf["Content-Type"]


@pytest.mark.parametrize("accept", [None, "*/*;q=0.9"])
def test_an_unknown_format_is_the_same_406_either_way(client, accept):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    response = client.get(LIST + "?format=nope", **headers)
    assert response.status_code == 406
    assert "unknown format; choose one of" in response.json()["detail"]


def test_the_merged_guard_keeps_every_former_layers_headers(client):
    # The guard's own 400 (a NUL byte) still gets frame options, Content-Length and no-store.
    refused = client.get(LIST + "?limit=%00")
    assert refused.status_code == 400
    assert refused["X-Frame-Options"] == "DENY" and refused["Cache-Control"] == "no-store"
    assert int(refused["Content-Length"]) == len(refused.content)
    # A CSV page: the describedby link (innermost), frame options, Content-Length, Cache-Control and Vary.
    csv = client.get(LIST + "?format=csv&limit=2")
    assert csv.status_code == 200
    assert 'rel="describedby"' in csv["Link"] and "csv-metadata.json" in csv["Link"]
    assert csv["X-Frame-Options"] == "DENY" and csv["Cache-Control"].startswith("public")
    assert "Accept" in csv["Vary"] and int(csv["Content-Length"]) == len(csv.content)
    # CommonMiddleware's APPEND_SLASH redirect of a 404, then Cache-Control on it.
    redirect = client.get(CATALOG.rstrip("/"))
    assert redirect.status_code == 301 and redirect["Location"].endswith(CATALOG)
    assert redirect["Cache-Control"].startswith("public")
