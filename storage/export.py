"""Complaint exports for coordinators: CSV (UTF-8 with BOM) and XLSX.

One row per complaint: the fixed columns of ``FIXED_COLUMNS``, then one column per
answer key. Answers differ between complaints (flow versions, skip logic), so the
answer columns are the union of every key seen, in order of first appearance. To know
that union before the header is written without reading the table twice, rows are read
once, in keyset pages (each page its own short transaction, so SQLite writers are not
held up), into a temporary JSON-lines spool; the output file is then written from the
spool. Memory stays bounded by the page size and the number of distinct keys. All of it
runs in a worker thread with its own database connection (``Database.in_worker``): the
service's event loop goes on answering residents meanwhile. XLSX goes through the one
streaming writer of every export, ``storage.xlsx_stream``.

Flattening: a dict answer becomes ``key.sub`` columns (recursively); a list becomes
one cell joined with ``"; "`` (dict/list items as compact JSON); booleans are native in
XLSX and ``true``/``false`` in CSV. An answer key equal to a fixed column name, e.g.
``description``, is exported as ``answers.description``.

Text cells starting with ``= + - @`` (or tab / carriage return) get a leading ``'`` so
a spreadsheet never runs them as formulas; numbers we produce (coordinates, numeric
answers) are left alone.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy import select

from storage.db import Database
from storage.models import Complaint, Contact
from storage.xlsx_stream import StreamingWorkbook

Cell = str | int | float | bool | None

FIXED_COLUMNS: tuple[str, ...] = (
    "ticket",
    "created_at",
    "status",
    "report_type",
    "category",
    "description",
    "kelurahan_code",
    "rw",
    "rt",
    "latitude",
    "longitude",
    "channel",
)
PAGE_SIZE = 500
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_CELL_CHARS = 32_767

try:
    JAKARTA: timezone | ZoneInfo = ZoneInfo("Asia/Jakarta")
except ZoneInfoNotFoundError:  # no tz database on the machine; WIB has had no DST since 1964
    JAKARTA = timezone(timedelta(hours=7), "WIB")


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


def _jakarta_iso(value: datetime) -> str:
    return value.astimezone(JAKARTA).isoformat(timespec="seconds")


def _answer_columns(keys: Sequence[str]) -> list[str]:
    return [f"answers.{key}" if key in FIXED_COLUMNS else key for key in keys]


async def _spool_complaints(
    db: Database, spool: IO[str], progress: Callable[[int], None] | None
) -> tuple[int, list[str]]:
    """Read every complaint once into the spool; return the count and the answer keys."""
    keys: dict[str, None] = {}
    count = 0
    last_id = 0
    while True:
        stmt = (
            select(
                Complaint.id,
                Complaint.ticket,
                Complaint.created_at,
                Complaint.status,
                Complaint.report_type,
                Complaint.category,
                Complaint.description,
                Complaint.kelurahan_code,
                Complaint.rw,
                Complaint.rt,
                Complaint.latitude,
                Complaint.longitude,
                Contact.channel,
                Complaint.answers,
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
        for row in rows:
            fixed: list[Cell] = [
                row.ticket,
                _jakarta_iso(row.created_at),
                row.status,
                row.report_type,
                row.category,
                row.description,
                row.kelurahan_code,
                row.rw,
                row.rt,
                row.latitude,
                row.longitude,
                row.channel,
            ]
            answers = flatten_answers(row.answers or {})
            keys.update(dict.fromkeys(answers))
            spool.write(json.dumps([fixed, answers], ensure_ascii=False) + "\n")
        count += len(rows)
        last_id = rows[-1].id
        if progress is not None:
            progress(count)


def _spooled_rows(spool: IO[str], keys: Sequence[str]) -> Iterator[list[Cell]]:
    spool.seek(0)
    for line in spool:
        fixed, answers = json.loads(line)
        yield [*fixed, *(answers.get(key) for key in keys)]


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return guard_formula(value)
    return str(value)


def _write_csv(path: Path, header: Sequence[str], rows: Iterator[list[Cell]]) -> None:
    # utf-8-sig writes the BOM Excel needs to read UTF-8; newline="" lets csv control CRLF.
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([guard_formula(name) for name in header])
        for row in rows:
            writer.writerow([_csv_cell(value) for value in row])


def _xlsx_cell(value: Cell) -> Cell:
    if isinstance(value, str):
        # openpyxl refuses control characters; Excel caps a cell at 32,767 characters.
        return guard_formula(ILLEGAL_CHARACTERS_RE.sub("", value))[:XLSX_MAX_CELL_CHARS]
    return value


def _write_xlsx(path: Path, header: Sequence[str], rows: Iterator[list[Cell]]) -> None:
    # Bold header, frozen below it; one sheet (continued in "Pengaduan (2)" past Excel's
    # row limit).
    book = StreamingWorkbook()
    try:
        book.sheet("Pengaduan", [str(_xlsx_cell(name)) for name in header])
        for row in rows:
            book.append("Pengaduan", [_xlsx_cell(value) for value in row])
        book.save(path)
    finally:
        book.close()


async def export_complaints(
    db: Database,
    out: Path,
    fmt: Literal["csv", "xlsx"],
    *,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write every complaint to ``out``; return the number of rows (header excluded).

    ``progress`` is called (on the caller's event loop) with the running count of
    complaints read, after each page. The file appears complete or not at all (written
    beside ``out``, then renamed). Runs in a worker thread (see the module doc).
    """
    if fmt not in ("csv", "xlsx"):
        raise ValueError(f"unknown export format: {fmt!r}")
    report = on_loop(progress)
    return await db.in_worker(lambda own: _export_complaints(own, Path(out), fmt, report))


def on_loop(callback: Callable[[int], None] | None) -> Callable[[int], None] | None:
    """``callback`` called from a worker thread runs on the caller's event loop."""
    if callback is None:
        return None
    loop = asyncio.get_running_loop()
    return lambda n: loop.call_soon_threadsafe(callback, n)


async def _export_complaints(db: Database, out: Path, fmt: str,
                             progress: Callable[[int], None] | None) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{secrets.token_hex(4)}.partial")
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        count, keys = await _spool_complaints(db, spool, progress)
        header = [*FIXED_COLUMNS, *_answer_columns(keys)]
        writer = _write_csv if fmt == "csv" else _write_xlsx
        try:
            # A worker thread already (or, for an in-memory database, one more).
            await asyncio.to_thread(writer, partial, header, _spooled_rows(spool, keys))
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)
    return count
