"""A small streaming XLSX writer: rows go straight to a temporary file per sheet, and the
workbook is zipped when it is closed. Memory stays flat however many rows are written.

Why not openpyxl's write-only mode: without lxml it serialises each cell through an
element tree, which makes a 100,000-household export take minutes; writing the
SpreadsheetML by hand is many times cheaper (``bench/xlsx_writers.py``; the figures are
in docs/performance.md). openpyxl still reads these files back in the tests, so the
format is checked by an independent reader.

Strings are written inline (``t="inlineStr"``: no shared-string table to keep in memory)
with the text number format ``@``, so a phone, an RT ``005`` or an ID stays text when a
coordinator edits the cell; numbers as numbers; ``datetime`` and ``date`` as real date
cells (a serial number with a ``yyyy-mm-dd hh:mm`` / ``yyyy-mm-dd`` format: give them in
local time, without a zone); ``None`` as an absent cell. The header row is bold and
frozen; column widths are set once, from the header or the caller's widths. A sheet that
reaches Excel's row limit continues in a new sheet named ``"<name> (2)"`` with the same
header.

CSV shares the same options (``csv_writer``, ``csv_text``): UTF-8 with a BOM so Excel
reads accents, ``;`` as the default delimiter (what Excel set to Indonesian expects;
``WARGA_CSV_DELIMITER`` or the caller can change it), dates in ISO 8601.
"""

from __future__ import annotations

import csv
import functools
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape

Cell = str | int | float | bool | datetime | date | None
MAX_ROWS = 1_048_576
MAX_CELL_CHARS = 32_767
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<worksheet {_NS} xmlns:r="{_REL_NS}"><sheetViews><sheetView workbookViewId="0">'
    '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
    "</sheetView></sheetViews>"
)
_SHEET_TAIL = "</sheetData></worksheet>"
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f"<styleSheet {_NS}>"
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm"/>'
    '<numFmt numFmtId="165" formatCode="yyyy-mm-dd"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
    "</cellStyleXfs>"
    '<cellXfs count="5"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="49" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1" '
    'applyNumberFormat="1"/>'
    '<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


# Style indexes of _STYLES' cellXfs.
HEADER, TEXT, DATETIME, DATE = 1, 2, 3, 4
_EPOCH = datetime(1899, 12, 30)
MIN_WIDTH, MAX_WIDTH = 8, 60
DEFAULT_DELIMITER = ";"


def _serial(value: datetime | date) -> float | int:
    """Excel's day number (1900 system): days since 1899-12-30, time as a fraction."""
    if isinstance(value, datetime):
        value = value.replace(tzinfo=None)
        return round((value - _EPOCH).total_seconds() / 86400, 10)
    return (value - _EPOCH.date()).days


def header_widths(header: Sequence[str]) -> list[float]:
    """A column as wide as its header, within bounds (values are not known yet)."""
    return [float(min(MAX_WIDTH, max(MIN_WIDTH, len(name) + 2))) for name in header]


@functools.cache
def openpyxl_parts() -> tuple[re.Pattern[str], Callable[[int], str]]:
    """openpyxl's control-character rule and column letters, loaded when a workbook is
    written (by an export's own process): the service that imports this module for its
    CSV settings does not carry openpyxl."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.utils import get_column_letter

    return ILLEGAL_CHARACTERS_RE, get_column_letter


def _text(value: str) -> str:
    value = openpyxl_parts()[0].sub("", value)[:MAX_CELL_CHARS]
    space = ' xml:space="preserve"' if value[:1].isspace() or value[-1:].isspace() else ""
    return f"<is><t{space}>{escape(value)}</t></is>"


class _Sheet:
    def __init__(self, name: str, header: Sequence[str], folder: Path, index: int,
                 widths: Sequence[float] | None = None) -> None:
        self.name = name
        self.header = list(header)
        self.widths = list(widths) if widths is not None else header_widths(header)
        self.path = folder / f"sheet{index}.xml"
        self.file: IO[str] = self.path.open("w", encoding="utf-8")
        cols = "".join(f'<col min="{i}" max="{i}" width="{w:g}" customWidth="1"/>'
                       for i, w in enumerate(self.widths, start=1))
        self.file.write(_SHEET_HEAD + (f"<cols>{cols}</cols>" if cols else "") + "<sheetData>")
        self.rows = 0
        letter = openpyxl_parts()[1]
        self.letters = [letter(i + 1) for i in range(max(1, len(header)))]

    def _grow(self, width: int) -> None:
        letter = openpyxl_parts()[1]
        while len(self.letters) < width:
            self.letters.append(letter(len(self.letters) + 1))

    def write(self, values: Sequence[Cell], header: bool = False) -> None:
        self.rows += 1
        n = self.rows
        if len(values) > len(self.letters):
            self._grow(len(values))
        text = f' s="{HEADER if header else TEXT}"'
        parts = [f'<row r="{n}">']
        letters = self.letters
        for i, value in enumerate(values):
            if value is None or value == "":
                continue
            ref = f"{letters[i]}{n}"
            if isinstance(value, bool):
                parts.append(f'<c r="{ref}" t="b"><v>{int(value)}</v></c>')
            elif isinstance(value, int | float):
                parts.append(f'<c r="{ref}"><v>{value!r}</v></c>')
            elif isinstance(value, datetime):
                parts.append(f'<c r="{ref}" s="{DATETIME}"><v>{_serial(value)!r}</v></c>')
            elif isinstance(value, date):
                parts.append(f'<c r="{ref}" s="{DATE}"><v>{_serial(value)}</v></c>')
            else:
                parts.append(f'<c r="{ref}"{text} t="inlineStr">{_text(str(value))}</c>')
        parts.append("</row>")
        self.file.write("".join(parts))

    def close(self) -> None:
        self.file.write(_SHEET_TAIL)
        self.file.close()


class StreamingWorkbook:
    """``book.sheet("Anggota", header)`` then ``book.append("Anggota", row)``; ``save``."""

    def __init__(self, max_rows: int = MAX_ROWS) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="warga-xlsx-")
        self.folder = Path(self._tmp.name)
        self.max_rows = max_rows
        self._sheets: list[_Sheet] = []
        self._current: dict[str, _Sheet] = {}
        self._parts: dict[str, int] = {}

    def sheet(self, name: str, header: Sequence[str],
              widths: Sequence[float] | None = None) -> None:
        """A new sheet; ``widths`` in characters, one per column (default: the header's)."""
        self._open(name, name, header, widths)

    def _open(self, key: str, title: str, header: Sequence[str],
              widths: Sequence[float] | None = None) -> _Sheet:
        self._parts[key] = self._parts.get(key, 0) + 1
        sheet = _Sheet(title[:31], header, self.folder, len(self._sheets) + 1, widths)
        sheet.write(list(header), header=True)
        self._sheets.append(sheet)
        self._current[key] = sheet
        return sheet

    def append(self, name: str, row: Sequence[Cell]) -> None:
        sheet = self._current[name]
        if sheet.rows >= self.max_rows:
            # Excel stops at 1,048,576 rows: the table goes on in a new sheet.
            sheet = self._open(name, f"{name} ({self._parts[name] + 1})", sheet.header,
                               sheet.widths)
        sheet.write(row)

    def save(self, path: Path) -> None:
        for sheet in self._sheets:
            sheet.close()
        sheets = "".join(f'<sheet name="{escape(s.name, {chr(34): "&quot;"})}" '
                         f'sheetId="{i}" r:id="rId{i}"/>'
                         for i, s in enumerate(self._sheets, start=1))
        n = len(self._sheets)
        workbook = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                    f'<workbook {_NS} xmlns:r="{_REL_NS}"><sheets>{sheets}</sheets></workbook>')
        rels = "".join(
            f'<Relationship Id="rId{i}" Type="{_REL_NS}/worksheet" '
            f'Target="worksheets/sheet{i}.xml"/>' for i in range(1, n + 1))
        rels += f'<Relationship Id="rId{n + 1}" Type="{_REL_NS}/styles" Target="styles.xml"/>'
        pkg = "http://schemas.openxmlformats.org/package/2006"
        ct = "application/vnd.openxmlformats-officedocument.spreadsheetml"
        overrides = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
            f'ContentType="{ct}.worksheet+xml"/>' for i in range(1, n + 1))
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=5) as zf:
            zf.writestr(
                "[Content_Types].xml",
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<Types xmlns="{pkg}/content-types">'
                '<Default Extension="rels" '
                'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                f'<Override PartName="/xl/workbook.xml" ContentType="{ct}.sheet.main+xml"/>'
                f'<Override PartName="/xl/styles.xml" ContentType="{ct}.styles+xml"/>'
                f"{overrides}</Types>")
            zf.writestr(
                "_rels/.rels",
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<Relationships xmlns="{pkg}/relationships">'
                f'<Relationship Id="rId1" Type="{_REL_NS}/officeDocument" '
                'Target="xl/workbook.xml"/></Relationships>')
            zf.writestr("xl/workbook.xml", workbook)
            zf.writestr("xl/_rels/workbook.xml.rels",
                        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                        f'<Relationships xmlns="{pkg}/relationships">{rels}</Relationships>')
            zf.writestr("xl/styles.xml", _STYLES)
            for i, sheet in enumerate(self._sheets, start=1):
                zf.write(sheet.path, f"xl/worksheets/sheet{i}.xml")
                os.unlink(sheet.path)
        self._tmp.cleanup()

    def close(self) -> None:
        """Drop the temporary files (after ``save``, or instead of it on failure)."""
        for sheet in self._sheets:
            if not sheet.file.closed:
                sheet.file.close()
        self._tmp.cleanup()


def csv_delimiter(delimiter: str | None = None) -> str:
    """The delimiter asked for, else ``WARGA_CSV_DELIMITER``, else ``;``."""
    chosen = delimiter if delimiter is not None else (
        os.environ.get("WARGA_CSV_DELIMITER") or DEFAULT_DELIMITER)
    if chosen == "\\t":
        chosen = "\t"
    if len(chosen) != 1 or chosen in ('"', "\r", "\n") or chosen.isalnum():
        raise ValueError(f"CSV delimiter must be one character such as ; or , (got {chosen!r})")
    return chosen


def csv_writer(file: IO[str], delimiter: str | None = None) -> Any:
    """A ``csv.writer`` with the export's delimiter. Open ``file`` with
    ``encoding="utf-8-sig", newline=""``: the BOM tells Excel the file is UTF-8."""
    return csv.writer(file, delimiter=csv_delimiter(delimiter))


def csv_text(value: Cell) -> str:
    """A cell as CSV text: dates in ISO 8601 (``2026-12-05 07:30:00``), booleans 1/0."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
