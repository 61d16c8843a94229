"""XLSX workbooks streamed as PostgreSQL writes their rows, with bounded memory (docs/downloads.md, "Excel").

An XLSX file is a zip of a few small XML parts and one sheet. The sheet's rows come from
PostgreSQL already written as SpreadsheetML (``xlsx_cells.py``); this module writes the fixed
parts, the header row and the rows into a zip deflated on the fly (``zipfile`` writes to a stream
it cannot seek with data descriptors), yielding compressed bytes as they come: no temporary file,
no whole sheet in memory. Why not xlsxwriter: its constant-memory mode still makes a Python call
per cell, 34 s for the 6.7 million cells of flights where COPY takes 0.7 s.

Called by ``filerows.SheetRows``: ``stream_workbook`` for ``?limit=all``, ``page_workbook`` for a
page or one row.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from xml.sax.saxutils import escape

from autoapi.formats.xlsx_cells import STYLE_DATE, STYLE_TIME, STYLE_TIMESTAMP

try:
    from isal import isal_zlib
except ImportError:  # an optional speed-up: zlib writes the same format
    isal_zlib = None

SHEET = "xl/worksheets/sheet1.xml"
# zip64 only when the sheet may pass 2 GiB uncompressed (zipfile's limit without it); Excel
# reads either.
ZIP64_CELLS = 20_000_000
_NS = "http://schemas.openxmlformats.org/"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the same bytes for the same rows (ETags)
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<Types xmlns="{_NS}package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>'
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<Relationships xmlns="{_NS}package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_NS}officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<Relationships xmlns="{_NS}package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_NS}officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_NS}officeDocument/2006/relationships/styles" Target="styles.xml"/>'
    "</Relationships>"
)
# Cell formats: 0 general, then date, timestamp and time (xlsx_cells.STYLE_*); the header is bold.
STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<styleSheet xmlns="{_NS}spreadsheetml/2006/main">'
    '<numFmts count="3"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>'
    '<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm:ss"/><numFmt numFmtId="166" formatCode="[h]:mm:ss"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="5"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    + "".join(
        f'<xf numFmtId="{fmt}" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        for fmt in (164, 165, 166)
    )
    + '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
)
STYLE_HEADER = 4
assert (STYLE_DATE, STYLE_TIMESTAMP, STYLE_TIME) == (1, 2, 3)
_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<worksheet xmlns="{_NS}spreadsheetml/2006/main"><sheetViews><sheetView workbookViewId="0">'
    '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/></sheetView></sheetViews><sheetData>'
)
_SHEET_TAIL = "</sheetData></worksheet>"
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SHEET_NAME_UNSAFE = re.compile(r"[\[\]:*?/\\\x00-\x1f]")


def _text(value: str) -> str:
    value = _FORBIDDEN.sub("", value).replace("_x", "_x005F_x")
    return escape(value, {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def sheet_name(title: str) -> str:
    """Excel's rules: at most 31 characters, none of ``[]:*?/\\``, not empty."""
    return _SHEET_NAME_UNSAFE.sub("_", title).strip("'")[:31] or "data"


def _workbook(title: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<workbook xmlns="{_NS}spreadsheetml/2006/main" xmlns:r="{_NS}officeDocument/2006/relationships">'
        f'<sheets><sheet name="{escape(sheet_name(title), {chr(34): "&quot;"})}" sheetId="1" r:id="rId1"/>'
        "</sheets></workbook>"
    )


def header_row(names: Iterable[str]) -> str:
    cells = "".join(
        f'<c t="inlineStr" s="{STYLE_HEADER}"><is><t xml:space="preserve">{_text(n)}</t></is></c>' for n in names
    )
    return f"<row>{cells}</row>\n"


class _Sink(io.RawIOBase):
    """The unseekable stream zipfile writes to; ``drain()`` hands over what it wrote so far."""

    def __init__(self):
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


DEFLATE_LEVEL = 1  # zlib's fastest: the sheet's XML is very repetitive, level 1 already shrinks it 13x


def _deflater():
    """Raw deflate at the fastest level: ISA-L's (``isal``, four times zlib's speed at level 1,
    where deflating the sheet cost as much CPU as PostgreSQL writing it), else zlib's."""
    if isal_zlib is not None:
        return isal_zlib.compressobj(1, isal_zlib.DEFLATED, -15)
    return zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -15)


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    # A ZipInfo of ours does not take the archive's level: without this, zlib's default level 6,
    # five times slower. (``_compresslevel``: the slot up to 3.12, an alias of compress_level after.)
    info._compresslevel = DEFLATE_LEVEL
    return info


def stream_workbook(rows: Iterator[bytes], names: list[str], title: str, cells: int = 0) -> Iterator[bytes]:
    """The XLSX file of ``rows`` (COPY's chunks of ``<row>`` lines), yielded as it is deflated."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=DEFLATE_LEVEL) as package:
        for name, text in (
            ("[Content_Types].xml", _CONTENT_TYPES),
            ("_rels/.rels", _ROOT_RELS),
            ("xl/workbook.xml", _workbook(title)),
            ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS),
            ("xl/styles.xml", STYLES),
        ):
            package.writestr(_entry(name), text)
        with package.open(_entry(SHEET), "w", force_zip64=cells > ZIP64_CELLS) as sheet:
            sheet._compressor = _deflater()  # zipfile's own is zlib's; the same raw deflate, faster
            sheet.write((_SHEET_HEAD + header_row(names)).encode("utf-8"))
            yield sink.drain()
            for chunk in rows:
                sheet.write(chunk)
                data = sink.drain()
                if data:
                    yield data
            sheet.write(_SHEET_TAIL.encode("utf-8"))
    yield sink.drain()


def page_workbook(chunks: list[bytes], names: list[str], title: str) -> tuple[bytes, int]:
    """A page as one XLSX file, and its number of rows (one line each)."""
    data = b"".join(chunks)
    return b"".join(stream_workbook(iter([data]), names, title)), data.count(b"\n")
