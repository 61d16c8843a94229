"""Row sources for typed file formats: Parquet (``ParquetRows``) and XLSX (``SheetRows``).

Like ``rowsources.CopyRows``, PostgreSQL writes the rows through ``COPY`` (``exports.py`` streams
it with its own connection and a bounded queue); unlike CSV, the bytes sent are a file built from
them: Parquet row groups (``parquet.py``), or a zip with the sheet PostgreSQL wrote as SpreadsheetML
(``xlsx.py``). Each statement is a ``outputs.FileStatement``: the COPY, the typed output columns,
and for XLSX a capped count of the rows, checked before anything is sent. ``read_page`` returns
the whole file as the page's one chunk, so ``page_body`` and ``row_body`` only join.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db import connections

from autoapi.db import sql as composed
from autoapi.db.sql import Statement
from autoapi.errors import BadRequest
from autoapi.formats import xlsx
from autoapi.formats.exports import copy_page, first_then_rest, stream_copy
from autoapi.formats.outputs import FileStatement, Output, capped_count, group_outputs, row_outputs
from autoapi.formats.records import XLSX
from autoapi.formats.rowsources import Page
from autoapi.formats.xlsx_cells import sheet_row_sql
from autoapi.query import grouping
from autoapi.query.queries import RowShape, compiled, selected_sql
from autoapi.schema.snapshot import Column, Relation


def _parquet():
    """``autoapi.formats.parquet``, imported at a process's first Parquet request: pyarrow and numpy weigh
    some 70 MB, which a worker that only ever serves pages would carry for nothing."""
    from autoapi.formats import parquet

    return parquet


class FileRows:
    """What Parquet and XLSX share: the same rows as CSV, typed columns, no cursors nor embeds."""

    keyset_paging = False
    embeds_rows = False

    @classmethod
    def available_for(cls, relation: Relation) -> bool:
        return True

    def statement(self, queryset, shape: RowShape, cursor_columns: tuple[Column, ...] = ()) -> Statement:
        inner = selected_sql(queryset, shape.columns)
        return self.file_statement(inner, row_outputs(shape), queryset, shape.relation.name)

    def grouped_statement(self, queryset, grouped: grouping.GroupedQuery) -> Statement:
        sql, params = compiled(queryset)
        return self.file_statement(Statement(sql, tuple(params)), group_outputs(grouped), queryset, "groups")

    def file_statement(self, inner: Statement, outputs: tuple[Output, ...], queryset, title: str) -> FileStatement:
        raise NotImplementedError

    def row_body(self, page: Page) -> bytes | None:
        return page.rows[0] if page.returned else None


class ParquetRows(FileRows):
    """Parquet typed from the snapshot (``parquet_types.py``), GeoParquet where there is geometry."""

    def file_statement(self, inner, outputs, queryset, title) -> FileStatement:
        copy = composed.copy(_parquet().cells_sql(outputs), inner, composed.SQL("WITH (FORMAT csv)"))
        return FileStatement(copy.sql, copy.params, outputs=outputs, title=title)

    def read_page(self, statement: FileStatement, alias: str) -> Page:
        parquet = _parquet()
        data, rows = parquet.page_file(copy_page(statement, alias), parquet.layout(statement.outputs))
        return Page([data], rows)

    def stream(self, statement: FileStatement, alias: str) -> Iterator[bytes]:
        # The first chunk of COPY is awaited before the file starts, so a bad filter is still a 4xx.
        parquet = _parquet()
        return parquet.stream_file(first_then_rest(stream_copy(statement, alias)), parquet.layout(statement.outputs))


class SheetRows(FileRows):
    """One XLSX sheet: a header row of the output names, then the rows (``xlsx_cells.py``)."""

    def file_statement(self, inner, outputs, queryset, title) -> FileStatement:
        select = sheet_row_sql([(o.column, o.read) for o in outputs])
        copy = composed.copy(select, inner, composed.SQL(""))
        return FileStatement(
            copy.sql, copy.params, outputs=outputs, title=title, count=capped_count(queryset, XLSX.row_cap + 1)
        )

    def read_page(self, statement: FileStatement, alias: str) -> Page:
        data, rows = xlsx.page_workbook(
            copy_page(statement, alias), [o.name for o in statement.outputs], statement.title
        )
        return Page([data], rows)

    def stream(self, statement: FileStatement, alias: str) -> Iterator[bytes]:
        rows = self.check_size(statement, alias)
        names = [o.name for o in statement.outputs]
        return xlsx.stream_workbook(
            first_then_rest(stream_copy(statement, alias)), names, statement.title, cells=rows * len(names)
        )

    def check_size(self, statement: FileStatement, alias: str) -> int:
        """The rows to send, or a 400 before anything is sent when a sheet cannot hold them."""
        with connections[alias].cursor() as cursor:
            cursor.execute(statement.count.sql, statement.count.params)
            rows = cursor.fetchone()[0]
        if not XLSX.holds(rows):
            raise BadRequest(
                f"more than {XLSX.row_cap:,} rows: an Excel sheet holds {XLSX.row_cap + 1:,} rows with its header; "
                "download format=csv or format=parquet, or narrow the filter",
                parameter="format",
            )
        return rows
