"""The one content negotiation of row formats: DRF's, as the relation viewset runs it.

``?format=`` first, then the ``Accept`` header, over ``renderers.ROW_RENDERERS``. The viewset gets
it through DRF's ``perform_content_negotiation``; code that must know the format before the view
runs (the stored whole-relation downloads, ``freshness/exportcache.py``) asks ``accepted_format``,
so both always agree on the format a request gets.
"""

from __future__ import annotations

from django.http import Http404
from rest_framework.exceptions import NotAcceptable
from rest_framework.request import Request
from rest_framework.settings import api_settings

from autoapi.formats.renderers import ROW_RENDERERS


def accepted_format(request, renderer_classes=ROW_RENDERERS) -> str | None:
    """The format DRF's negotiation picks for ``request`` (a Django or DRF request) among
    ``renderer_classes``, or None when it would refuse the request (406 or an unknown format)."""
    negotiator = api_settings.DEFAULT_CONTENT_NEGOTIATION_CLASS()
    drf_request = request if isinstance(request, Request) else Request(request)
    try:
        renderer, _media_type = negotiator.select_renderer(drf_request, [cls() for cls in renderer_classes])
    except (Http404, NotAcceptable):
        return None
    return renderer.format
