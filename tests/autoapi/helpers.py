"""Small helpers shared by the API tests: walking the published relations and reading bodies."""

from __future__ import annotations

import json
from decimal import Decimal

from autoapi.public import api_url, get_snapshot


def published_relations():
    return get_snapshot().relations


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def json_body(response):
    return json.loads(body(response), parse_float=Decimal)


def readable(relation) -> bool:
    """False for relations PostgreSQL itself cannot read (fixtures: broken views, unpopulated matview)."""
    return relation.is_populated and not relation.name.startswith("v_errors")


def url(relation, query: str = "") -> str:
    return api_url(relation) + (f"?{query}" if query else "")


def openapi_parameters(document: dict, operation: dict) -> list[dict]:
    """An OpenAPI operation's parameters, the shared ones (``$ref`` to components/parameters) resolved."""
    shared = document.get("components", {}).get("parameters", {})
    return [shared[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p for p in operation.get("parameters", [])]
