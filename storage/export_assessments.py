"""Assessment exports for coordinators: a households table (one row per keluarga), a
members table and a houses table, with the register codes and their Indonesian labels side
by side.

- XLSX: sheets ``Rumah tangga``, ``Anggota``, ``Bangunan rumah`` and ``Kodebuku``
  (variable, question, code, label). CSV (UTF-8 with BOM, for Excel): ``FILE``,
  ``FILE_anggota.csv``, ``FILE_bangunan_rumah.csv`` and ``FILE_kodebuku.csv``.
- Houses: several keluarga (KK) may live in one house. Each keluarga row carries ``rumah``
  (the ref of the house's first keluarga) and ``kk_ke``; the houses table has one row per
  ``rumah``, its answers taken from the house's first keluarga, with the number of
  keluarga recorded in it. An assessment from before houses were recorded is a house of
  its own (``rumah`` = its ref, ``kk_ke`` = 1).
- A coded answer gives two columns, ``air_minum`` (``4``) and ``air_minum_label`` (``Sumur
  bor/pompa``); a multiple choice also gives one 0/1 column per option
  (``bantuan.1``), as KoBoToolbox does, so a spreadsheet can count without parsing.
- Streaming: assessments are read in keyset pages, each page in its own short
  transaction, and written row by row (CSV directly; XLSX through
  ``storage.xlsx_stream``, one temporary file per sheet), so 100,000 households export in
  bounded memory. The columns are known from the flow definition: no first pass. The
  export holds the assessments there were when it started (later ones wait for the next).
- NIK and No. KK are masked ("3172********0001") unless ``reveal`` is given: the caller
  (the CLI) gives it only for a coordinator's explicit, audited request.
- Text cells are guarded against formula injection as in the complaint export.
- All of it runs in a worker thread with its own database connection
  (``Database.in_worker``): the service's event loop goes on answering residents.

The caller builds the columns (``bot.features.volunteers.export_columns``): this module
knows rows and cells, not flows or catalogs.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Literal

from storage.db import Database
from storage.export import JAKARTA, guard_formula, on_loop
from storage.repos_volunteers import VolunteerRepo
from storage.xlsx_stream import StreamingWorkbook, csv_writer

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
    ``value`` was chosen), ``nik``, ``kk``, ``media``; ``house`` and ``house_kk``: the
    house ref and the keluarga's number in it (the row's own ref and 1 when absent).
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
    houses: int = 0


Reveal = Callable[[str, str], str]


Getter = Callable[[Any, Mapping[str, Any]], Cell]


def _identity(value: Any, kind: str, reveal: Reveal | None) -> str | None:
    if not isinstance(value, Mapping):
        return None
    if reveal is not None and value.get("sealed"):
        return reveal(kind, str(value["sealed"]))
    masked = value.get("masked")
    return str(masked) if masked else None


def _yes(value: Any) -> bool:
    """A yes/no answer: forms keep the choice name (``yes`` / ``1``); older rows a bool."""
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "ya", "y", "1", "true")
    return bool(value)


def compile_column(column: Column, reveal: Reveal | None, tz: tzinfo) -> Getter:
    """A function (row, answers) -> cell for one column, decided once per export (the
    per-cell work is what an export of 100,000 households spends its time on)."""
    kind, source = column.kind, column.source
    labels = column.labels or {}
    if kind in ("row_nik", "row_kk"):
        sealed_attr, masked_attr = f"{source}_sealed", f"{source}_masked"
        if reveal is not None:
            return lambda row, _a: (None if (v := getattr(row, sealed_attr)) is None
                                    else reveal(source, v))
        return lambda row, _a: None if (v := getattr(row, masked_attr)) is None else str(v)
    if kind == "row_bool":
        return lambda row, _a: None if (v := getattr(row, source)) is None else int(bool(v))
    if kind == "row":
        def row_value(row: Any, _a: Mapping[str, Any]) -> Cell:
            value = getattr(row, source)
            if isinstance(value, datetime):
                # Local wall time: a date cell in a spreadsheet, "2026-11-28 10:00:00" in CSV.
                return value.astimezone(tz).replace(tzinfo=None)
            return value if value is None or isinstance(value, int | float) else str(value)
        return row_value
    if kind == "label":
        def label(row: Any, answers: Mapping[str, Any]) -> Cell:
            raw = getattr(row, source) if hasattr(row, source) else answers.get(source)
            return None if raw is None else labels.get(str(raw), str(raw))
        return label
    if kind == "house":
        return lambda row, a: str(a.get(source) or row.ref)
    if kind == "house_kk":
        return lambda _r, a: a.get(source) or 1
    if kind in ("nik", "kk"):
        return lambda _r, answers: _identity(answers.get(source), kind, reveal)
    if kind == "bool":
        return lambda _r, a: None if (v := a.get(source)) is None else int(_yes(v))
    if kind == "int":
        return lambda _r, a: v if (v := a.get(source)) is None or isinstance(v, int) else str(v)
    if kind == "code":
        return lambda _r, a: None if (v := a.get(source)) is None else str(v)
    if kind in ("multi", "multi_label", "has"):
        wanted = column.value

        def multi(_r: Any, answers: Mapping[str, Any]) -> Cell:
            value = answers.get(source)
            if value is None:
                return None
            values = [str(v) for v in value] if isinstance(value, list) else [str(value)]
            if kind == "has":
                return int(wanted in values)
            if kind == "multi_label":
                return "; ".join(labels.get(v, v) for v in values)
            return ";".join(values)
        return multi
    if kind == "media":
        def media(_r: Any, answers: Mapping[str, Any]) -> Cell:
            value = answers.get(source)
            if isinstance(value, Mapping):
                return str(value.get("sha256") or value.get("unique_id") or value.get("ref")
                           or "")
            return None if value is None else str(value)
        return media

    def text(_r: Any, answers: Mapping[str, Any]) -> Cell:
        value = answers.get(source)
        if value is None:
            return None
        if isinstance(value, Mapping):
            return "; ".join(f"{k}={v}" for k, v in value.items())
        return str(value)
    return text


class _MemberRow:
    """The attributes a member's row columns read (``ref``, ``position``)."""

    __slots__ = ("position", "ref")

    def __init__(self, ref: str, position: int) -> None:
        self.ref = ref
        self.position = position


class _HouseRow:
    """A house's first keluarga row, with the number of keluarga recorded in the house
    (``kk_count``); the other attributes are the keluarga row's."""

    __slots__ = ("kk_count", "row")

    def __init__(self, row: Any, kk_count: int) -> None:
        self.row = row
        self.kk_count = kk_count

    def __getattr__(self, name: str) -> Any:
        return getattr(self.row, name)


async def _pages(db: Database, page_size: int, until: int) -> Any:
    last = 0
    while True:
        async with db.transaction() as tx:
            rows = await VolunteerRepo(tx.session).assessment_page(last, page_size, until)
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
HOUSEHOLDS_SHEET = "Rumah tangga"
MEMBERS_SHEET = "Anggota"
# The building, shared by the keluarga in it: not "Rumah" alone, too close to "Rumah tangga".
HOUSES_SHEET = "Bangunan rumah"
CODEBOOK_SHEET = "Kodebuku"


def _csv_value(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return guard_formula(value)
    return str(value)


def _xlsx_value(value: Cell) -> Cell:
    return guard_formula(value) if isinstance(value, str) else value


def csv_paths(out: Path) -> tuple[Path, Path, Path, Path]:
    """Where the CSV files go, one per sheet: FILE (households), FILE_anggota.csv,
    FILE_bangunan_rumah.csv, FILE_kodebuku.csv."""
    stem, suffix = out.stem, out.suffix or ".csv"
    return (out, out.with_name(f"{stem}_anggota{suffix}"),
            out.with_name(f"{stem}_bangunan_rumah{suffix}"),
            out.with_name(f"{stem}_kodebuku{suffix}"))


async def export_assessments(
    db: Database,
    out: Path,
    fmt: Literal["csv", "xlsx"],
    *,
    households: Sequence[Column],
    members: Sequence[Column],
    houses: Sequence[Column],
    reveal: Reveal | None = None,
    progress: Callable[[int], None] | None = None,
    tz: tzinfo = JAKARTA,
    page_size: int = PAGE_SIZE,
    delimiter: str | None = None,
) -> ExportResult:
    """Write every assessment; files appear complete or not at all (renamed at the end).

    ``progress`` is called (on the caller's event loop) with the households written so
    far. Runs in a worker thread (see the module doc)."""
    if fmt not in ("csv", "xlsx"):
        raise ValueError(f"unknown export format: {fmt!r}")
    report = on_loop(progress)

    async def work(own: Database) -> ExportResult:
        return await _export(own, Path(out), fmt, households=households, members=members,
                             houses=houses, reveal=reveal, progress=report, tz=tz,
                             page_size=page_size, delimiter=delimiter)

    return await db.in_worker(work)


async def _export(
    db: Database,
    out: Path,
    fmt: Literal["csv", "xlsx"],
    *,
    households: Sequence[Column],
    members: Sequence[Column],
    houses: Sequence[Column],
    reveal: Reveal | None,
    progress: Callable[[int], None] | None,
    tz: tzinfo,
    page_size: int,
    delimiter: str | None = None,
) -> ExportResult:
    out.parent.mkdir(parents=True, exist_ok=True)
    targets = [out] if fmt == "xlsx" else list(csv_paths(out))
    token = secrets.token_hex(4)
    partials = [t.with_name(f".{t.name}.{token}.partial") for t in targets]
    counts = [0, 0, 0]
    house_cells = [compile_column(c, reveal, tz) for c in households]
    member_cells = [compile_column(c, reveal, tz) for c in members]
    building_cells = [compile_column(c, reveal, tz) for c in houses]
    clean = _csv_value if fmt == "csv" else _xlsx_value
    # A house row is written when the house's first keluarga is read: KK n+1 of a house is
    # started only once KK n is saved, so in id order the first one read is the lowest
    # kk_ke present. Its KK count is needed then: one aggregate query first gives the
    # houses with more than one keluarga (any other has one), so memory grows with the
    # shared houses only, not with all of them; the pages stop at the last id that query
    # saw, so a keluarga saved during the export cannot add a KK it did not count.
    async with db.transaction() as tx:
        repo = VolunteerRepo(tx.session)
        until = await repo.last_assessment_id()
        shared = await repo.shared_houses(until)
    written: set[str] = set()

    def house_row(row: Any, answers: Mapping[str, Any]) -> list[Cell] | None:
        key = str(answers.get("rumah") or row.ref)
        kk_count = shared.get(key, 1)
        if kk_count > 1:
            if key in written:
                return None
            written.add(key)
        holder = _HouseRow(row, kk_count)
        return [clean(get(holder, answers)) for get in building_cells]

    Rows = tuple[list[Cell], list[list[Cell]], list[Cell] | None]

    def rows_of(page: Sequence[Any]) -> Iterator[Rows]:
        for row in page:
            answers = row.answers or {}
            household = [clean(get(row, answers)) for get in house_cells]
            member_rows = []
            for position, member in enumerate(answers.get("anggota") or [], start=1):
                holder = _MemberRow(row.ref, position)
                member_rows.append([clean(get(holder, member)) for get in member_cells])
            yield household, member_rows, house_row(row, answers)

    book = StreamingWorkbook() if fmt == "xlsx" else None
    try:
        if book is None:
            with ExitStack() as stack:
                files = [stack.enter_context(p.open("w", encoding="utf-8-sig", newline=""))
                         for p in partials]
                house_w, member_w, building_w, book_w = (csv_writer(f, delimiter)
                                                         for f in files)
                house_w.writerow([c.name for c in households])
                member_w.writerow([c.name for c in members])
                building_w.writerow([c.name for c in houses])
                book_w.writerows([CODEBOOK_HEADER,
                                  *_codebook([*households, *members, *houses])])
                async for page in _pages(db, page_size, until):
                    for household, member_rows, building in rows_of(page):
                        house_w.writerow(household)
                        member_w.writerows(member_rows)
                        if building is not None:
                            building_w.writerow(building)
                            counts[2] += 1
                        counts[0] += 1
                        counts[1] += len(member_rows)
                    if progress is not None:
                        progress(counts[0])
        else:
            book.sheet(HOUSEHOLDS_SHEET, [c.name for c in households])
            book.sheet(MEMBERS_SHEET, [c.name for c in members])
            book.sheet(HOUSES_SHEET, [c.name for c in houses])
            async for page in _pages(db, page_size, until):
                for household, member_rows, building in rows_of(page):
                    book.append(HOUSEHOLDS_SHEET, household)
                    for member_row in member_rows:
                        book.append(MEMBERS_SHEET, member_row)
                    if building is not None:
                        book.append(HOUSES_SHEET, building)
                        counts[2] += 1
                    counts[0] += 1
                    counts[1] += len(member_rows)
                if progress is not None:
                    progress(counts[0])
            book.sheet(CODEBOOK_SHEET, CODEBOOK_HEADER)
            for line in _codebook([*households, *members, *houses]):
                book.append(CODEBOOK_SHEET, [_xlsx_value(v) for v in line])
            book.save(partials[0])
        for partial, target in zip(partials, targets, strict=True):
            os.replace(partial, target)
    finally:
        if book is not None:
            book.close()
        for partial in partials:
            partial.unlink(missing_ok=True)
    if progress is not None and counts[0] == 0:
        progress(0)
    return ExportResult(households=counts[0], members=counts[1], files=targets,
                        houses=counts[2])
