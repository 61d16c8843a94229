"""The open-data standards the portal speaks, one module each, and its change log.

- ``datapackage``: Frictionless Data Package v2 with Table Schema, per relation and per schema;
- ``csvw``: W3C CSV on the Web metadata for a relation's CSV download (and the ``Link:
  rel="describedby"`` header CSV answers carry: ``links``, a middleware);
- ``croissant``: MLCommons Croissant 1.1 JSON-LD;
- ``dcat_us3``: DCAT-US 3.0 at ``/data.json`` (``catalog.opendata`` keeps DCAT-US 1.1 at
  ``/data-1.1.json``);
- ``changelog`` (storage and recording) and ``feeds`` (Atom 1.0, JSON Feed 1.1 and the catalog's
  "Recent changes" page);
- ``common`` (URLs, lookups, JSON answers), ``urls`` (the routes under ``/api/``),
  ``openapi`` (their entries in the API's OpenAPI document).

Every document is built from the snapshot, the metadata file and the counts the portal already
has: never a scan of a relation. Types come from one table, ``types``. Everything reaches autoapi
through ``autoapi.public`` only. See docs/opendata.md.
"""
