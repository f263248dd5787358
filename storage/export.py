"""Complaint exports for coordinators: CSV and XLSX that open right in Excel set to
Indonesian.

One row per complaint. First the fixed columns (``FIXED_COLUMNS``): ticket, dates of
report and close, status, type, category, area, reporter, photo, closing note and
rejection reason. A coded value comes as two columns side by side, the code and its
label ("Kategori (kode)", "Kategori"). Then one column per answer of the form
(``AnswerColumn``, built by the caller from the flow: this module knows rows and cells,
not flows or catalogs); answers the fixed columns already show (category, area, pin,
photo, phone) get no column of their own. Answers of older form versions that the
current form no longer asks still get a column each (the union of the keys seen, in
order of first appearance, flattened ``key.sub``).

Privacy: the reporter's phone only when they agreed to be contacted (``spec.consented``
on the answers, as the ticket page decides); the photo as a link to the dashboard, or
yes/no, never a server path or a hash.

Cells: text stays text (phones, RT ``005``, IDs; XLSX text cells), dates are date cells
in XLSX and ISO 8601 in CSV, in WIB. CSV is UTF-8 with a BOM, ``;`` by default; both go
through the one writer of every export, ``storage.xlsx_stream``.

Streaming: rows are read once, in keyset pages (each page its own short transaction, so
SQLite writers are not held up), into a temporary JSON-lines spool, so the union of
answer keys is known before the header is written; the file is then written from the
spool. Memory stays bounded by the page size and the number of distinct keys. All of it
runs in a worker thread with its own database connection (``Database.in_worker``).

Text cells starting with ``= + - @`` (or tab / carriage return) get a leading ``'`` so
a spreadsheet never runs them as formulas; numbers we produce are left alone.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import IO, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from storage.db import Database
from storage.models import Complaint, ComplaintStatus, Contact, MediaFile
from storage.xlsx_stream import (
    StreamingWorkbook,
    csv_delimiter,
    csv_text,
    csv_writer,
    openpyxl_parts,
)

Cell = str | int | float | bool | datetime | date | None

# Internal names of the fixed columns; ``ComplaintSpec.titles`` gives their headers.
FIXED_COLUMNS: tuple[str, ...] = (
    "ticket",
    "created_at",
    "status",
    "status_label",
    "report_type",
    "report_type_label",
    "category",
    "category_label",
    "description",
    "kelurahan_code",
    "kelurahan",
    "rw",
    "rt",
    "latitude",
    "longitude",
    "channel",
    "reporter_name",
    "reporter_phone",
    "photo",
    "closed_at",
    "close_note",
    "reject_reason",
)
DATE_COLUMNS = frozenset({"created_at", "closed_at"})
WIDE = {"description": 50, "close_note": 40, "reject_reason": 40, "photo": 30}
PAGE_SIZE = 500
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_CELL_CHARS = 32_767
DONE, REJECTED = "selesai", "ditolak"

try:
    JAKARTA: timezone | ZoneInfo = ZoneInfo("Asia/Jakarta")
except ZoneInfoNotFoundError:  # no tz database on the machine; WIB has had no DST since 1964
    JAKARTA = timezone(timedelta(hours=7), "WIB")


@dataclass(frozen=True)
class AnswerColumn:
    """One answer of the form. Kinds: ``text``, ``number``, ``date``, ``yes_no``,
    ``code`` (gives two columns: ``title_code`` with the code, ``title`` with the label),
    ``multi`` (likewise, values joined with ``;``), ``place`` (the landmark),
    ``point`` ("lat, lon"), ``area`` (a kelurahan's name), ``rt_rw`` ("005/002"),
    ``image`` (yes/no)."""

    key: str
    title: str
    kind: str = "text"
    labels: Mapping[str, str] = field(default_factory=dict)
    title_code: str = ""


def _never(_answers: Mapping[str, Any]) -> bool:
    return False


@dataclass(frozen=True)
class ComplaintSpec:
    """What the caller knows: headers, labels, the form's answers and the consent rule.

    ``labels`` maps ``status``, ``report_type``, ``category`` and ``kelurahan`` to
    code → label. ``skip``: answer keys the fixed columns already show. ``photo_url``:
    the dashboard's address (photo links ``{photo_url}/media/{id}``), or None for yes/no.
    """

    titles: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    answers: Sequence[AnswerColumn] = ()
    skip: frozenset[str] = frozenset()
    consented: Callable[[Mapping[str, Any]], bool] = _never
    photo_keys: tuple[str, ...] = ("foto",)
    phone_keys: tuple[str, ...] = ("telepon",)
    yes: str = "ya"
    no: str = "tidak"
    photo_url: str | None = None
    tz: tzinfo = JAKARTA


_PLAIN_NUMBER = re.compile(r"^[+-]?\d[\d .,]*$")


def guard_formula(value: str) -> str:
    """Neutralise spreadsheet formula injection in a text cell.

    A plain signed number such as a phone in E.164 (+6281…) cannot run anything and is
    left as it is, so coordinators can dial it from the sheet.
    """
    if value.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def _item_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def flatten_answers(answers: Mapping[str, Any]) -> dict[str, Cell]:
    """``{"a": {"b": 1}, "c": ["x", "y"]}`` → ``{"a.b": 1, "c": "x; y"}``."""
    flat: dict[str, Cell] = {}

    def walk(key: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for sub, inner in value.items():
                walk(f"{key}.{sub}", inner)
        elif isinstance(value, list | tuple):
            flat[key] = "; ".join(_item_text(item) for item in value)
        elif value is None or isinstance(value, str | int | float | bool):
            flat[key] = value
        else:
            flat[key] = str(value)

    for key, value in answers.items():
        walk(str(key), value)
    return flat


def _local_iso(value: datetime | None, tz: tzinfo) -> str | None:
    """A moment as local wall time, ISO without a zone (the headers say WIB)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(tz).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")


def answer_headers(spec: ComplaintSpec) -> list[tuple[str, str]]:
    """(kind of cell, header) of every answer column, in order."""
    out: list[tuple[str, str]] = []
    for column in spec.answers:
        if column.kind in ("code", "multi"):
            out.append(("text", column.title_code or f"{column.title} (kode)"))
            out.append(("text", column.title))
        else:
            out.append(("date" if column.kind == "date" else "text", column.title))
    return out


def _yes(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "ya", "y", "1", "true")
    return bool(value)


def _answer_cells(column: AnswerColumn, value: Any, spec: ComplaintSpec) -> list[Cell]:
    kind = column.kind
    if kind in ("code", "multi"):
        if value is None:
            return [None, None]
        values = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        return [";".join(values), "; ".join(column.labels.get(v, v) for v in values)]
    if value is None:
        return [None]
    if kind == "yes_no":
        return [spec.yes if _yes(value) else spec.no]
    if kind == "image":
        return [spec.yes]
    if kind == "number":
        return [value if isinstance(value, int | float) and not isinstance(value, bool)
                else str(value)]
    if kind == "date":
        return [str(value)[:10]]
    if isinstance(value, Mapping):
        if kind == "place":
            return [value.get("landmark")]
        if kind == "point":
            lat, lon = value.get("latitude"), value.get("longitude")
            return [None if lat is None or lon is None else f"{lat}, {lon}"]
        if kind == "area":
            return [value.get("name") or value.get("code")]
        if kind == "rt_rw":
            return [f"{value.get('rt') or ''}/{value.get('rw') or ''}"]
        return ["; ".join(f"{k}={v}" for k, v in value.items())]
    if isinstance(value, list):
        return ["; ".join(_item_text(v) for v in value)]
    return [str(value)]


def _covered(key: str, spec: ComplaintSpec) -> bool:
    top = key.split(".", 1)[0]
    return (top in spec.skip or top in spec.phone_keys or top in spec.photo_keys
            or top.startswith("_") or any(top == c.key for c in spec.answers))


def _extra_columns(keys: Sequence[str]) -> list[str]:
    return [f"answers.{key}" if key in FIXED_COLUMNS else key for key in keys]


async def _closings(db: Database, ids: Sequence[int]) -> dict[tuple[int, str], tuple[Any, Any]]:
    """(complaint id, closed status) → (when, note) of the latest such change."""
    stmt = (select(ComplaintStatus.complaint_id, ComplaintStatus.status, ComplaintStatus.at,
                   ComplaintStatus.note)
            .where(ComplaintStatus.complaint_id.in_(ids),
                   ComplaintStatus.status.in_((DONE, REJECTED)))
            .order_by(ComplaintStatus.id))
    async with db.transaction() as tx:
        rows = (await tx.session.execute(stmt)).all()
    return {(r.complaint_id, r.status): (r.at, r.note) for r in rows}


async def _media_ids(db: Database, refs: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    if not refs:
        return {}
    stmt = select(MediaFile.id, MediaFile.channel, MediaFile.ref).where(
        MediaFile.ref.in_([ref for _channel, ref in refs]))
    async with db.transaction() as tx:
        rows = (await tx.session.execute(stmt)).all()
    return {(r.channel, r.ref): r.id for r in rows if (r.channel, r.ref) in refs}


def _photo_ref(answers: Mapping[str, Any], spec: ComplaintSpec) -> tuple[bool, str | None]:
    for key in spec.photo_keys:
        value = answers.get(key)
        if isinstance(value, Mapping):
            ref = value.get("ref")
            return True, str(ref) if ref else None
        if value:
            return True, None
    return False, None


def _phone(row: Any, answers: Mapping[str, Any], spec: ComplaintSpec) -> str | None:
    if row.erased_at is not None or not spec.consented(answers):
        return None
    if row.phone:
        return str(row.phone)
    for key in spec.phone_keys:
        if answers.get(key):
            return str(answers[key])
    return None


async def _spool_complaints(
    db: Database, spool: IO[str], spec: ComplaintSpec, progress: Callable[[int], None] | None
) -> tuple[int, list[str]]:
    """Read every complaint once into the spool; return the count and the extra keys."""
    labels = spec.labels
    status_l, type_l = labels.get("status", {}), labels.get("report_type", {})
    category_l, area_l = labels.get("category", {}), labels.get("kelurahan", {})
    keys: dict[str, None] = {}
    count = 0
    last_id = 0
    while True:
        stmt = (
            select(
                Complaint.id, Complaint.ticket, Complaint.created_at, Complaint.status,
                Complaint.report_type, Complaint.category, Complaint.description,
                Complaint.kelurahan_code, Complaint.rw, Complaint.rt, Complaint.latitude,
                Complaint.longitude, Contact.channel, Contact.name, Contact.phone,
                Contact.erased_at, Complaint.answers,
            )
            .join(Contact, Contact.id == Complaint.contact_id)
            .where(Complaint.id > last_id)
            .order_by(Complaint.id)
            .limit(PAGE_SIZE)
        )
        async with db.transaction() as tx:
            rows = (await tx.session.execute(stmt)).all()
        if not rows:
            return count, list(keys)
        closings = await _closings(db, [row.id for row in rows])
        photos = {row.id: _photo_ref(row.answers or {}, spec) for row in rows}
        media = await _media_ids(db, {(row.channel, ref) for row in rows
                                      if (ref := photos[row.id][1])} if spec.photo_url else set())
        for row in rows:
            answers = row.answers or {}
            has_photo, ref = photos[row.id]
            media_id = media.get((row.channel, ref)) if ref else None
            if media_id is not None:
                photo: str | None = f"{spec.photo_url}/media/{media_id}"
            else:
                photo = spec.yes if has_photo else spec.no
            closed_at = note = reason = None
            if row.status in (DONE, REJECTED) and (row.id, row.status) in closings:
                when, text = closings[(row.id, row.status)]
                closed_at = _local_iso(when, spec.tz)
                if row.status == DONE:
                    note = text
                else:
                    reason = text
            fixed: list[Cell] = [
                row.ticket,
                _local_iso(row.created_at, spec.tz),
                row.status, status_l.get(row.status, row.status),
                row.report_type, type_l.get(row.report_type, row.report_type),
                row.category, category_l.get(row.category) if row.category else None,
                row.description,
                row.kelurahan_code,
                area_l.get(row.kelurahan_code) if row.kelurahan_code else None,
                row.rw, row.rt, row.latitude, row.longitude, row.channel,
                None if row.erased_at is not None else row.name,
                _phone(row, answers, spec),
                photo, closed_at, note, reason,
            ]
            cells: list[Cell] = []
            for column in spec.answers:
                cells += _answer_cells(column, answers.get(column.key), spec)
            extra = {k: v for k, v in flatten_answers(answers).items() if not _covered(k, spec)}
            keys.update(dict.fromkeys(extra))
            spool.write(json.dumps([fixed, cells, extra], ensure_ascii=False) + "\n")
        count += len(rows)
        last_id = rows[-1].id
        if progress is not None:
            progress(count)


def _spooled_rows(spool: IO[str], keys: Sequence[str]) -> Iterator[list[Cell]]:
    spool.seek(0)
    for line in spool:
        fixed, cells, extra = json.loads(line)
        yield [*fixed, *cells, *(extra.get(key) for key in keys)]


def _csv_cell(value: Cell) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return guard_formula(value)
    return csv_text(value)


def _write_csv(path: Path, header: Sequence[str], kinds: Sequence[str],
               rows: Iterator[list[Cell]], delimiter: str) -> None:
    # utf-8-sig writes the BOM Excel needs to read UTF-8; newline="" lets csv control CRLF.
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv_writer(f, delimiter)
        writer.writerow([guard_formula(name) for name in header])
        for row in rows:
            writer.writerow([_csv_cell(value) for value in row])


def _xlsx_cell(value: Cell, kind: str) -> Cell:
    if isinstance(value, str):
        if kind == "date":
            try:
                return (datetime.fromisoformat(value) if len(value) > 10
                        else date.fromisoformat(value))
            except ValueError:
                pass
        # openpyxl refuses control characters; Excel caps a cell at 32,767 characters.
        return guard_formula(openpyxl_parts()[0].sub("", value))[:XLSX_MAX_CELL_CHARS]
    return value


def _write_xlsx(path: Path, header: Sequence[str], kinds: Sequence[str],
                rows: Iterator[list[Cell]], _delimiter: str) -> None:
    # One sheet, continued in "Pengaduan (2)" past Excel's row limit.
    book = StreamingWorkbook()
    names = [*FIXED_COLUMNS, *([""] * (len(header) - len(FIXED_COLUMNS)))]
    widths = [float(WIDE[n]) if n in WIDE else float(min(40, max(10, len(h) + 2)))
              for n, h in zip(names, header, strict=True)]
    try:
        book.sheet("Pengaduan", [str(_xlsx_cell(name, "text")) for name in header], widths)
        for row in rows:
            book.append("Pengaduan", [_xlsx_cell(value, kind)
                                      for value, kind in zip(row, kinds, strict=True)])
        book.save(path)
    finally:
        book.close()


async def export_complaints(
    db: Database,
    out: Path,
    fmt: Literal["csv", "xlsx"],
    *,
    spec: ComplaintSpec | None = None,
    delimiter: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write every complaint to ``out``; return the number of rows (header excluded).

    ``spec``: headers, labels and answer columns (``bot.exports.complaint_spec``); without
    it, internal names and every answer as it is. ``delimiter``: CSV only (default ``;``
    or ``WARGA_CSV_DELIMITER``). ``progress`` is called (on the caller's event loop) with
    the running count of complaints read, after each page. The file appears complete or
    not at all (written beside ``out``, then renamed). Runs in a worker thread.
    """
    if fmt not in ("csv", "xlsx"):
        raise ValueError(f"unknown export format: {fmt!r}")
    chosen = csv_delimiter(delimiter)
    report = on_loop(progress)
    return await db.in_worker(lambda own: _export_complaints(
        own, Path(out), fmt, spec or ComplaintSpec(), chosen, report))


def on_loop(callback: Callable[[int], None] | None) -> Callable[[int], None] | None:
    """``callback`` called from a worker thread runs on the caller's event loop."""
    if callback is None:
        return None
    loop = asyncio.get_running_loop()
    return lambda n: loop.call_soon_threadsafe(callback, n)


async def _export_complaints(db: Database, out: Path, fmt: str, spec: ComplaintSpec,
                             delimiter: str, progress: Callable[[int], None] | None) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{secrets.token_hex(4)}.partial")
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        count, keys = await _spool_complaints(db, spool, spec, progress)
        answers = answer_headers(spec)
        extra = _extra_columns(keys)
        header = [*(spec.titles.get(n, n) for n in FIXED_COLUMNS),
                  *(title for _kind, title in answers), *extra]
        kinds = [*("date" if n in DATE_COLUMNS else "text" for n in FIXED_COLUMNS),
                 *(kind for kind, _title in answers), *("text" for _ in extra)]
        writer = _write_csv if fmt == "csv" else _write_xlsx
        try:
            # A worker thread already (or, for an in-memory database, one more).
            await asyncio.to_thread(writer, partial, header, kinds,
                                    _spooled_rows(spool, keys), delimiter)
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)
    return count
