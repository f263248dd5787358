"""Assessment exports for coordinators: a households table and a members table, with the
register codes and their Indonesian labels side by side.

- XLSX: sheets ``Rumah tangga``, ``Anggota`` and ``Kodebuku`` (variable, question, code,
  label). CSV (UTF-8 with BOM, for Excel): ``FILE``, ``FILE_anggota.csv`` and
  ``FILE_kodebuku.csv``.
- A coded answer gives two columns, ``air_minum`` (``4``) and ``air_minum_label`` (``Sumur
  bor/pompa``); a multiple choice also gives one 0/1 column per option
  (``bantuan.1``), as KoBoToolbox does, so a spreadsheet can count without parsing.
- Streaming: assessments are read in keyset pages, each page in its own short
  transaction, and written row by row (openpyxl's write-only mode keeps nothing but the
  current row), so 100,000 households export in bounded memory. The columns are known
  from the flow definition, so no first pass is needed.
- NIK and No. KK are masked ("3172********0001") unless ``reveal`` is given: the caller
  (the CLI) gives it only for a coordinator's explicit, audited request.
- Text cells are guarded against formula injection as in the complaint export.

The caller builds the columns (``bot.features.volunteers.export_columns``): this module
knows rows and cells, not flows or catalogs.
"""

from __future__ import annotations

import csv
import os
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Literal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from storage.db import Database
from storage.export import JAKARTA, XLSX_MAX_CELL_CHARS, guard_formula
from storage.repos_volunteers import VolunteerRepo

Cell = str | int | float | None
PAGE_SIZE = 1000
MASK = "*" * 8


@dataclass(frozen=True)
class Column:
    """One exported column.

    ``source`` is a field of the assessment row (``kind`` starting with ``row``, or
    ``label`` of a row field) or a key of the answers (household or member). Kinds:
    ``row``, ``row_bool``, ``row_nik``, ``row_kk``, ``text``, ``int``, ``bool``, ``code``,
    ``label``, ``multi`` (codes joined with ";"), ``multi_label``, ``has`` (1 when
    ``value`` was chosen), ``nik``, ``kk``, ``media``.
    """

    name: str
    title: str
    source: str
    kind: str = "text"
    labels: Mapping[str, str] | None = None
    value: str | None = None


@dataclass
class ExportResult:
    households: int
    members: int
    files: list[Path]


Reveal = Callable[[str, str], str]


def _identity(value: Any, kind: str, reveal: Reveal | None) -> str | None:
    if not isinstance(value, Mapping):
        return None
    if reveal is not None and value.get("sealed"):
        return reveal(kind, str(value["sealed"]))
    masked = value.get("masked")
    return str(masked) if masked else None


def _cell(column: Column, row: Any, answers: Mapping[str, Any], reveal: Reveal | None,
          tz: tzinfo) -> Cell:
    kind = column.kind
    if kind.startswith("row"):
        if kind in ("row_nik", "row_kk"):
            sealed = getattr(row, f"{column.source}_sealed")
            if reveal is not None:
                return reveal(column.source, sealed)
            return str(getattr(row, f"{column.source}_masked"))
        value = getattr(row, column.source)
        if isinstance(value, datetime):
            return value.astimezone(tz).isoformat(timespec="seconds")
        if kind == "row_bool":
            return None if value is None else int(bool(value))
        return value if value is None or isinstance(value, int | float) else str(value)
    if kind == "label":
        raw = getattr(row, column.source, None) if hasattr(row, column.source) else (
            answers.get(column.source))
        return None if raw is None else (column.labels or {}).get(str(raw), str(raw))
    value = answers.get(column.source)
    if value is None:
        return None
    if kind in ("nik", "kk"):
        return _identity(value, kind, reveal)
    if kind == "bool":
        return int(bool(value))
    if kind == "int":
        return int(value) if isinstance(value, int | float) else str(value)
    if kind == "code":
        return str(value)
    if kind in ("multi", "multi_label", "has"):
        values = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        if kind == "has":
            return int(column.value in values)
        if kind == "multi_label":
            return "; ".join((column.labels or {}).get(v, v) for v in values)
        return ";".join(values)
    if kind == "media":
        if isinstance(value, Mapping):
            return str(value.get("sha256") or value.get("unique_id") or value.get("ref") or "")
        return str(value)
    if isinstance(value, Mapping):
        return "; ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


class _MemberRow:
    """The attributes a member's row columns read (``ref``, ``position``)."""

    __slots__ = ("position", "ref")

    def __init__(self, ref: str, position: int) -> None:
        self.ref = ref
        self.position = position


async def _pages(db: Database, page_size: int) -> Any:
    last = 0
    while True:
        async with db.transaction() as tx:
            rows = await VolunteerRepo(tx.session).assessment_page(last, page_size)
        if not rows:
            return
        yield rows
        last = rows[-1].id


def _codebook(columns: Sequence[Column]) -> Iterator[list[Cell]]:
    seen: set[str] = set()
    for column in columns:
        if column.kind not in ("label", "multi_label") or not column.labels:
            continue
        variable = column.name.removesuffix("_label")
        if variable in seen:
            continue
        seen.add(variable)
        for code, label in column.labels.items():
            yield [variable, column.title.removesuffix(" (label)"), code, label]


CODEBOOK_HEADER = ["variabel", "pertanyaan", "kode", "label"]


def _csv_value(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return guard_formula(value)
    return str(value)


def _xlsx_value(value: Cell) -> Cell:
    if isinstance(value, str):
        return guard_formula(ILLEGAL_CHARACTERS_RE.sub("", value))[:XLSX_MAX_CELL_CHARS]
    return value


def csv_paths(out: Path) -> tuple[Path, Path, Path]:
    """Where the three CSV files go: FILE, FILE_anggota.csv, FILE_kodebuku.csv."""
    stem, suffix = out.stem, out.suffix or ".csv"
    return out, out.with_name(f"{stem}_anggota{suffix}"), out.with_name(f"{stem}_kodebuku{suffix}")


async def export_assessments(
    db: Database,
    out: Path,
    fmt: Literal["csv", "xlsx"],
    *,
    households: Sequence[Column],
    members: Sequence[Column],
    reveal: Reveal | None = None,
    progress: Callable[[int], None] | None = None,
    tz: tzinfo = JAKARTA,
    page_size: int = PAGE_SIZE,
) -> ExportResult:
    """Write every assessment; files appear complete or not at all (renamed at the end)."""
    if fmt not in ("csv", "xlsx"):
        raise ValueError(f"unknown export format: {fmt!r}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    targets = [out] if fmt == "xlsx" else list(csv_paths(out))
    token = secrets.token_hex(4)
    partials = [t.with_name(f".{t.name}.{token}.partial") for t in targets]
    counts = [0, 0]

    def rows_of(page: Sequence[Any]) -> Iterator[tuple[list[Cell], list[list[Cell]]]]:
        for row in page:
            answers = row.answers or {}
            household = [_cell(c, row, answers, reveal, tz) for c in households]
            member_rows = []
            for position, member in enumerate(answers.get("anggota") or [], start=1):
                holder = _MemberRow(row.ref, position)
                member_rows.append([_cell(c, holder, member, reveal, tz) for c in members])
            yield household, member_rows

    try:
        if fmt == "csv":
            with ExitStack() as stack:
                files = [stack.enter_context(p.open("w", encoding="utf-8-sig", newline=""))
                         for p in partials]
                house_w, member_w, book_w = (csv.writer(f) for f in files)
                house_w.writerow([c.name for c in households])
                member_w.writerow([c.name for c in members])
                book_w.writerows([CODEBOOK_HEADER, *_codebook([*households, *members])])
                async for page in _pages(db, page_size):
                    for household, member_rows in rows_of(page):
                        house_w.writerow([_csv_value(v) for v in household])
                        member_w.writerows([[_csv_value(v) for v in m] for m in member_rows])
                        counts[0] += 1
                        counts[1] += len(member_rows)
                    if progress is not None:
                        progress(counts[0])
        else:
            workbook = Workbook(write_only=True)
            house_sheet = workbook.create_sheet("Rumah tangga")
            member_sheet = workbook.create_sheet("Anggota")
            bold = Font(bold=True)
            for sheet, columns in ((house_sheet, households), (member_sheet, members)):
                sheet.freeze_panes = "A2"
                header = []
                for column in columns:
                    cell = WriteOnlyCell(sheet, value=column.name)
                    cell.font = bold
                    header.append(cell)
                sheet.append(header)
            async for page in _pages(db, page_size):
                for household, member_rows in rows_of(page):
                    house_sheet.append([_xlsx_value(v) for v in household])
                    for m in member_rows:
                        member_sheet.append([_xlsx_value(v) for v in m])
                    counts[0] += 1
                    counts[1] += len(member_rows)
                if progress is not None:
                    progress(counts[0])
            book = workbook.create_sheet("Kodebuku")
            book.append(CODEBOOK_HEADER)
            for line in _codebook([*households, *members]):
                book.append([_xlsx_value(v) for v in line])
            workbook.save(partials[0])
        for partial, target in zip(partials, targets, strict=True):
            os.replace(partial, target)
    finally:
        for partial in partials:
            partial.unlink(missing_ok=True)
    if progress is not None and counts[0] == 0:
        progress(0)
    return ExportResult(households=counts[0], members=counts[1], files=targets)
