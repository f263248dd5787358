"""Exports: one entry point for the command line and the dashboard.

``export(db, what, fmt, out)`` writes complaints or assessments to CSV or XLSX. Every
export streams (keyset pages in, rows out, one spreadsheet writer:
``storage.xlsx_stream``) on a database connection of its own, off the event loop: in a
worker thread, or — ``in_process=False``, what the dashboard asks for — in a child
process, so that not even Python's GIL is shared with the residents' replies
(docs/performance.md: a thread still held each reply up at every switch).
``run_export`` is ``warga export …``; ``python -m bot.exports`` is the child.

``complaint_spec`` gives the complaint export its Indonesian headers, the labels beside
the codes and one column per answer of the complaint form. CSV uses ``;`` unless told
otherwise (``delimiter``, else ``WARGA_CSV_DELIMITER``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any, Literal

from bot.settings import Settings
from conversations.i18n import T
from storage.db import Database
from storage.export import JAKARTA, AnswerColumn, ComplaintSpec
from storage.xlsx_stream import csv_delimiter

What = Literal["complaints", "assessments"]
Format = Literal["csv", "xlsx"]


@dataclass
class Exported:
    """What an export wrote: complaints or households, members and houses (assessments),
    files."""

    rows: int
    members: int = 0
    files: list[Path] = field(default_factory=list)
    houses: int = 0


# Headers of the fixed columns (storage.export.FIXED_COLUMNS), one literal key each.
HEADERS = {
    "ticket": T("export.col.ticket"),
    "created_at": T("export.col.created_at"),
    "status": T("export.col.status"),
    "status_label": T("export.col.status_label"),
    "report_type": T("export.col.report_type"),
    "report_type_label": T("export.col.report_type_label"),
    "category": T("export.col.category"),
    "category_label": T("export.col.category_label"),
    "description": T("export.col.description"),
    "kelurahan_code": T("export.col.kelurahan_code"),
    "kelurahan": T("export.col.kelurahan"),
    "rw": T("export.col.rw"),
    "rt": T("export.col.rt"),
    "latitude": T("export.col.latitude"),
    "longitude": T("export.col.longitude"),
    "channel": T("export.col.channel"),
    "reporter_name": T("export.col.reporter_name"),
    "reporter_phone": T("export.col.reporter_phone"),
    "photo": T("export.col.photo"),
    "closed_at": T("export.col.closed_at"),
    "close_note": T("export.col.close_note"),
    "reject_reason": T("export.col.reject_reason"),
}
# Answers the fixed columns of the complaint export already show.
COVERED = frozenset({"jenis", "kategori", "uraian", "kelurahan", "rt_rw", "lokasi", "foto",
                     "telepon"})
_KINDS = {"select_one": "code", "select_multiple": "multi", "integer": "number",
          "decimal": "number", "date": "date", "datetime": "text", "yes_no": "yes_no",
          "place": "place", "geopoint": "point", "kelurahan": "area", "rt_rw": "rt_rw",
          "image": "image", "text": "text", "calculate": "text"}
# Never exported as an answer: the phone is gated by consent, identity numbers stay out.
_PRIVATE_TYPES = frozenset({"phone", "nik", "kk", "note", "repeat"})


def complaint_spec(lang: str = "id", *, tz: tzinfo = JAKARTA,
                   public_url: str | None = None) -> ComplaintSpec:
    """Headers, labels and answer columns of the complaint export, from the form."""
    from bot.features.tickets import KELURAHAN_NAMES
    from conversations import library
    from conversations.complaint import COMPLAINT, STATUSES
    from conversations.qtypes.yes_no import is_yes
    tr = library.translator()

    def choices(name: str) -> dict[str, str]:
        return {o.value: tr(lang, o.label) for o in COMPLAINT.step(name).choices}

    answers: list[AnswerColumn] = []
    for step in COMPLAINT.steps:
        kind = str(step.type)
        if step.name in COVERED or step.name.startswith("_") or kind in _PRIVATE_TYPES:
            continue
        title = tr(lang, step.title)
        answers.append(AnswerColumn(
            step.name, title, _KINDS.get(kind, "text"),
            labels={o.value: tr(lang, o.label) for o in step.choices},
            title_code=tr(lang, T("export.code_column", title=title))))

    def consented(given: Any) -> bool:
        return is_yes(given.get("boleh_dihubungi"))

    return ComplaintSpec(
        titles={name: tr(lang, key) for name, key in HEADERS.items()},
        labels={"status": {s: tr(lang, f"status.{s}") for s in STATUSES},
                "report_type": choices("jenis"), "category": choices("kategori"),
                "kelurahan": dict(KELURAHAN_NAMES)},
        answers=answers, skip=COVERED, consented=consented,
        yes=tr(lang, T("export.yes")), no=tr(lang, T("export.no")),
        photo_url=public_url.rstrip("/") if public_url else None, tz=tz)


async def export(db: Database, what: What, fmt: Format, out: Path, *, tz: tzinfo = JAKARTA,
                 progress: Callable[[int], None] | None = None,
                 reveal: Callable[[str, str], str] | None = None,
                 in_process: bool = True, delimiter: str | None = None,
                 public_url: str | None = None) -> Exported:
    """Write every complaint or assessment to ``out``.

    Assessments: NIK and No. KK masked unless ``reveal`` is given (the command line
    gives it only for a coordinator's audited request). ``progress`` gets the running
    count of records written. ``in_process=False``: in a child process (masked only).
    ``delimiter``: of CSV files (default ``;``, or ``WARGA_CSV_DELIMITER``).
    ``public_url``: the dashboard's address, for photo links in the complaint export.
    """
    if fmt not in ("csv", "xlsx"):
        raise ValueError(f"unknown export format: {fmt!r}")
    chosen = csv_delimiter(delimiter)
    if not in_process and reveal is None and not db.in_memory:
        return await _in_child(db.url, what, fmt, out, tz, chosen, public_url)
    if what == "complaints":
        from storage.export import export_complaints

        count = await export_complaints(db, out, fmt, progress=progress, delimiter=chosen,
                                        spec=complaint_spec(tz=tz, public_url=public_url))
        return Exported(count, files=[out])
    if what == "assessments":
        from bot.features.volunteers import export_columns
        from storage.export_assessments import export_assessments

        households, members, houses = export_columns()
        result = await export_assessments(db, out, fmt, households=households,
                                          members=members, houses=houses, reveal=reveal,
                                          progress=progress, tz=tz, delimiter=chosen)
        return Exported(result.households, result.members, list(result.files),
                        houses=result.houses)
    raise ValueError(f"unknown export: {what!r}")


async def run_export(settings: Settings, what: str, fmt: str, out: Path, *,
                     full_ids: bool = False, requested_by: str | None = None,
                     reason: str | None = None, delimiter: str | None = None) -> int:
    """``warga export complaints|assessments``, with progress on a terminal."""
    fmt_literal: Format = "xlsx" if fmt == "xlsx" else "csv"
    if delimiter is not None:
        # The assessments feature writes through the shared writer, which reads this.
        os.environ["WARGA_CSV_DELIMITER"] = csv_delimiter(delimiter)
    if what == "assessments":
        # The assessments feature keeps its audit rules for full identity numbers.
        from bot.features.volunteers import run_assessment_export

        return await run_assessment_export(settings, fmt_literal, out, full_ids=full_ids,
                                           requested_by=requested_by, reason=reason)
    from storage.migrate import upgrade

    await upgrade(settings.database_url)
    db = Database(settings.database_url)
    show = sys.stderr.isatty()

    def progress(n: int) -> None:
        if show:
            sys.stderr.write(f"\r{n} rows")
            sys.stderr.flush()

    try:
        done = await export(db, "complaints", fmt_literal, out, tz=settings.tz,
                            progress=progress, delimiter=delimiter,
                            public_url=settings.public_url)
    finally:
        await db.close()
    if show:
        sys.stderr.write("\n")
    print(f"{done.rows} {what} written to {out}")
    return 0


async def _in_child(url: str, what: What, fmt: Format, out: Path, tz: tzinfo,
                    delimiter: str, public_url: str | None) -> Exported:
    """Run the export as ``python -m bot.exports`` and read its one line of JSON."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.exports", what, fmt, str(out), str(tz), delimiter,
        public_url or "",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "WARGA_DATABASE_URL": url})
    stdout, stderr = await process.communicate()
    if process.returncode != 0:
        last = (stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1]
        raise RuntimeError(f"export failed in its process: {last[:200]}")
    done = json.loads(stdout.decode().strip().splitlines()[-1])
    return Exported(int(done["rows"]), int(done["members"]), [Path(f) for f in done["files"]],
                    houses=int(done.get("houses", 0)))


def _child(argv: list[str]) -> int:
    what, fmt, out, zone, delimiter, public_url = argv
    from zoneinfo import ZoneInfo

    # Background work: on a busy machine the service's replies get the CPU first — the
    # lowest priority there is short of SCHED_IDLE (which a busy machine could starve),
    # and scheduled as batch work (the service's wake-ups preempt it at once).
    with contextlib.suppress(AttributeError, OSError):
        os.nice(19)
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))

    async def main() -> Exported:
        db = Database(os.environ["WARGA_DATABASE_URL"])
        try:
            return await export(db, what, fmt, Path(out),  # type: ignore[arg-type]
                                tz=ZoneInfo(zone) if zone != "WIB" else JAKARTA,
                                delimiter=delimiter, public_url=public_url or None)
        finally:
            await db.close()

    done = asyncio.run(main())
    print(json.dumps({"rows": done.rows, "members": done.members, "houses": done.houses,
                      "files": [str(f) for f in done.files]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1:]))
