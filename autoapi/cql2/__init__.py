"""OGC CQL2 (Common Query Language) for ``?filter=``: a boolean filter with AND, OR, NOT and the
standard's predicates, in its text encoding (``filter-lang=cql2-text``, the default) or its JSON
encoding (``cql2-json``).

- ``nodes.py``: the parsed filter, as small frozen records (AND and OR hold lists, so 200 OR'ed
  terms are one node, not 200 nested ones);
- ``text.py`` and ``json.py``: the two encodings' parsers, each turning text into nodes or a 400
  saying where and what was expected;
- ``conditions.py``: nodes to one SQL condition on the relation's queryset, through the same
  per-type lookups as the simple filters (``typemap``, ``lookups``), every value a bound parameter;
- ``words.py``: nodes back to CQL2 text and to words, for the catalog.

Why not pygeofilter's parsers: version 0.4.0's text grammar refuses one-letter property names,
``''`` inside strings, ``NOT`` before a parenthesised group and the temporal functions in their
call form, its timestamps go through dateparser (a compact timestamp silently becomes "now"), its
numbers through floats, and its Django backend imports GeoDjango and GDAL and passes any name to
the ORM. The grammar here follows the CQL2 BNF with lark, the parser library pygeofilter itself
is built on.
"""
