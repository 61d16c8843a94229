"""An items request's query string, checked and turned into the API's own parameters.

The API then selects the rows (``items.py``): ``bbox``, ``filter``/``filter-lang`` and the simple
filters keep their names and meaning; ``limit`` is capped rather than refused (OGC API Features
asks for that); ``datetime`` becomes a CQL2 condition (``temporal.py``). What is neither an OGC
parameter nor a filter of the relation is a 400, as in the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import QueryDict

from autoapi.conf import portal_setting
from autoapi.errors import BadRequest
from autoapi.ogc import temporal
from autoapi.schema.lookups import RESERVED_PARAMETERS
from autoapi.schema.snapshot import Relation
from autoapi.schema.typemap import type_info

DEFAULT_LIMIT = 10
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
PASSED_ON = ("offset", "cursor", "bbox", "filter", "filter-lang")  # the API reads these as they are
OWN = frozenset({"limit", "f", "datetime", "bbox-crs", "filter-crs", *PASSED_ON})


@dataclass(frozen=True)
class Selection:
    api_params: QueryDict  # what the relation's viewset reads
    datetime: object | None  # a CQL2 node, or None
    limit: int


def parse(query: QueryDict, relation: Relation, knows_filter) -> Selection:
    """``knows_filter(name)``: whether the relation's FilterSet reads ``name``."""
    api = QueryDict(mutable=True)
    for name in query:
        if name in OWN:
            continue
        if name in RESERVED_PARAMETERS or not knows_filter(name):
            raise BadRequest(
                f"unknown query parameter {name!r}",
                parameter=name,
                allowed_parameters=sorted(OWN),
                columns=[c.name for c in relation.columns],
            )
        api.setlist(name, query.getlist(name))
    for name in PASSED_ON:
        if name in query:
            api[name] = query[name]
    _check_crs(query)
    if "bbox" in query:
        _check_bbox(query["bbox"], relation)
    limit = _limit(query)
    api["limit"] = str(limit)
    if relation.key is None:
        # No key: order by every sortable column (the API's tie-break) so offset pages are stable.
        first = next((c for c in relation.columns if type_info(c).sortable), None)
        if first is not None:
            api["ordering"] = first.name
    when = temporal.condition(relation, query["datetime"]) if "datetime" in query else None
    return Selection(api, when, limit)


def _limit(query: QueryDict) -> int:
    raw = query.get("limit", "")
    if raw == "":
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()):  # as documented: int() would take " 5" and "+5" too
        raise BadRequest("limit must be a whole number from 1", parameter="limit")
    limit = int(raw)
    if limit < 1:
        raise BadRequest("limit must be a whole number from 1", parameter="limit")
    return min(limit, portal_setting("MAX_PAGE_SIZE"))  # more is served as the most a page holds


def _check_crs(query: QueryDict) -> None:
    for name in ("bbox-crs", "filter-crs"):
        if name in query and query[name] != CRS84:
            raise BadRequest(
                f"{name}: only {CRS84} (WGS 84 longitude, latitude) is supported", parameter=name, allowed=[CRS84]
            )


def _check_bbox(raw: str, relation: Relation) -> None:
    if len(raw.split(",")) == 6:
        raise BadRequest(
            "bbox: boxes with heights (6 numbers) are not supported; give minLon,minLat,maxLon,maxLat", parameter="bbox"
        )
    if relation.column("bbox") is not None:
        # The API's ?bbox= filters that column then; say so rather than filter something else.
        raise BadRequest(
            "this collection has a column named bbox, so bbox cannot select by location here; "
            "use filter=S_INTERSECTS(...)",
            parameter="bbox",
        )
