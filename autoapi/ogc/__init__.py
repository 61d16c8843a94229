"""OGC API - Features (Part 1 Core, Part 3 Filtering with CQL2) at ``/ogc/``.

A thin translation over the API's own pipeline, never a second one: an items request becomes the
API's query parameters (``params.py``) handed to the relation's viewset, so rows are selected by
the same filter backends (simple filters, ``bbox``, CQL2) and written by PostgreSQL as the same
GeoJSON Features (``plans.build_plan`` with the GeoJSON renderer, ``queries.feature_rows``).

Modules, one job each: ``ids`` (collection ids, which relations are collections), ``params``
(the items query string), ``temporal`` (the ``datetime`` parameter), ``extents`` (cheap WGS 84
extents), ``documents`` (landing page, conformance, collections), ``items`` (pages and single
features), ``links`` (URLs and ``links`` arrays), ``responses`` (media types, errors, ``f=``),
``html`` (the HTML encoding), ``openapi`` (its part of ``/api/schema/``), ``views`` and ``urls``.
"""
