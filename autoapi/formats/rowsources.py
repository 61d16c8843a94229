"""How each family of output formats asks PostgreSQL for its rows, reads a page and streams all.

Every renderer (``renderers.py``) is one of these plus its framing, so the viewset never asks
which format it serves: it hands the filtered, ordered queryset to the renderer's ``statement``,
then ``read_page`` or ``stream`` it. PostgreSQL writes every value (``queries.py``):

- ``JSONRows``: one JSON object per row (``row_to_json``), read through a cursor; pages may carry
  each row's keyset-cursor values.
- ``FeatureRows``: one GeoJSON Feature per row, for relations with a geometry or lat/lon pair.
- ``CopyRows``: CSV from ``COPY ... TO STDOUT``, byte for byte; no cursors, no embedded rows.

Adding a format is a renderer class on one of these (or a new one), with its record
(``records.py``), in ``renderers.ROW_RENDERERS``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connections

from autoapi.db import prepared
from autoapi.db.sql import Statement
from autoapi.errors import NotAcceptable
from autoapi.formats.exports import copy_page, stream_copy, stream_rows
from autoapi.query import grouping, queries
from autoapi.schema.snapshot import Column, Relation


@dataclass(frozen=True)
class Page:
    """What a page read gave: the rows as the renderer frames them (JSON texts or CSV chunks),
    how many rows, and the last row's cursor values (a JSON array text) when asked for."""

    rows: list
    returned: int
    last_cursor_values: str | None = None


class JSONRows:
    """Rows as JSON objects written by PostgreSQL."""

    keyset_paging = True  # a page can end with a cursor to the next one
    embeds_rows = True  # ?expand= and _links apply

    @classmethod
    def available_for(cls, relation: Relation) -> bool:
        return True

    def statement(self, queryset, shape: queries.RowShape, cursor_columns: tuple[Column, ...] = ()) -> Statement:
        return queries.json_rows(queryset, shape, cursor_columns)

    def grouped_statement(self, queryset, grouped: grouping.GroupedQuery) -> Statement:
        """The groups of ``?group_by=``/``?aggregate=`` (``grouping.py``), one JSON object each."""
        return grouping.json_statement(queryset, grouped)

    def read_page(self, statement: Statement, alias: str) -> Page:
        with connections[alias].cursor() as cursor:
            prepared.execute(cursor, statement.sql, statement.params)
            fetched = cursor.fetchall()
        last = fetched[-1][1] if fetched and len(fetched[-1]) > 1 else None
        return Page([row[0] for row in fetched], len(fetched), last)

    def stream(self, statement: Statement, alias: str) -> Iterator:
        return stream_rows(statement, alias)

    def row_body(self, page: Page) -> bytes | None:
        """One row's document (a detail URL), or None when the page holds no row."""
        return page.rows[0].encode("utf-8") if page.returned else None


class FeatureRows(JSONRows):
    """Rows as GeoJSON Features (geometry in WGS 84) written by PostgreSQL/PostGIS."""

    @classmethod
    def available_for(cls, relation: Relation) -> bool:
        return queries.geometry_source(relation) is not None

    def statement(self, queryset, shape: queries.RowShape, cursor_columns: tuple[Column, ...] = ()) -> Statement:
        source = queries.geometry_source(shape.relation)
        if source is None:
            raise NotAcceptable(
                "this relation has no geometry (nor latitude/longitude columns), so it has no GeoJSON form",
                parameter="format",
            )
        return queries.feature_rows(queryset, shape, source, cursor_columns)

    def grouped_statement(self, queryset, grouped: grouping.GroupedQuery) -> Statement:
        raise NotAcceptable("a grouped result has no geometry; choose json, ndjson or csv", parameter="format")


class CopyRows:
    """Rows as CSV written by ``COPY``: PostgreSQL's own text form of every value."""

    keyset_paging = False  # COPY writes the columns asked for and nothing else
    embeds_rows = False

    @classmethod
    def available_for(cls, relation: Relation) -> bool:
        return True

    def statement(self, queryset, shape: queries.RowShape, cursor_columns: tuple[Column, ...] = ()) -> Statement:
        return queries.csv_copy(queryset, shape.columns)

    def grouped_statement(self, queryset, grouped: grouping.GroupedQuery) -> Statement:
        return grouping.csv_statement(queryset, grouped)

    def read_page(self, statement: Statement, alias: str) -> Page:
        # On the request's pooled connection (no connection, thread or download slot of its own).
        chunks = copy_page(statement, alias)
        # Lines after the header: more than the rows when values hold newlines, which only ever
        # makes a "next" link look possible; the count decides (pagination.page_links).
        return Page(chunks, max(b"".join(chunks).count(b"\n") - 1, 0))

    def stream(self, statement: Statement, alias: str) -> Iterator:
        return stream_copy(statement, alias)

    def row_body(self, page: Page) -> bytes | None:
        body = b"".join(page.rows)
        return body if body.count(b"\n") >= 2 else None  # a header line, then the row
