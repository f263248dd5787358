"""Exports: one entry point for the command line and the dashboard.

``export(db, what, fmt, out)`` writes complaints or assessments to CSV or XLSX. Every
export streams (keyset pages in, rows out, one spreadsheet writer:
``storage.xlsx_stream``) on a database connection of its own, off the event loop: in a
worker thread, or — ``in_process=False``, what the dashboard asks for — in a child
process, so that not even Python's GIL is shared with the residents' replies
(docs/performance.md: a thread still held each reply up at every switch).
``run_export`` is ``warga export …``; ``python -m bot.exports`` is the child.
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
from typing import Literal

from bot.settings import Settings
from storage.db import Database
from storage.export import JAKARTA

What = Literal["complaints", "assessments"]
Format = Literal["csv", "xlsx"]


@dataclass
class Exported:
    """What an export wrote: complaints or households, members (assessments), files."""

    rows: int
    members: int = 0
    files: list[Path] = field(default_factory=list)


async def export(db: Database, what: What, fmt: Format, out: Path, *, tz: tzinfo = JAKARTA,
                 progress: Callable[[int], None] | None = None,
                 reveal: Callable[[str, str], str] | None = None,
                 in_process: bool = True) -> Exported:
    """Write every complaint or assessment to ``out``.

    Assessments: NIK and No. KK masked unless ``reveal`` is given (the command line
    gives it only for a coordinator's audited request). ``progress`` gets the running
    count of records written. ``in_process=False``: in a child process (masked only).
    """
    if fmt not in ("csv", "xlsx"):
        raise ValueError(f"unknown export format: {fmt!r}")
    if not in_process and reveal is None and not db.in_memory:
        return await _in_child(db.url, what, fmt, out, tz)
    if what == "complaints":
        from storage.export import export_complaints

        count = await export_complaints(db, out, fmt, progress=progress)
        return Exported(count, files=[out])
    if what == "assessments":
        from bot.features.volunteers import export_columns
        from storage.export_assessments import export_assessments

        households, members = export_columns()
        result = await export_assessments(db, out, fmt, households=households,
                                          members=members, reveal=reveal,
                                          progress=progress, tz=tz)
        return Exported(result.households, result.members, list(result.files))
    raise ValueError(f"unknown export: {what!r}")


async def run_export(settings: Settings, what: str, fmt: str, out: Path, *,
                     full_ids: bool = False, requested_by: str | None = None,
                     reason: str | None = None) -> int:
    """``warga export complaints|assessments``, with progress on a terminal."""
    fmt_literal: Format = "xlsx" if fmt == "xlsx" else "csv"
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
                            progress=progress)
    finally:
        await db.close()
    if show:
        sys.stderr.write("\n")
    print(f"{done.rows} {what} written to {out}")
    return 0


async def _in_child(url: str, what: What, fmt: Format, out: Path, tz: tzinfo) -> Exported:
    """Run the export as ``python -m bot.exports`` and read its one line of JSON."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.exports", what, fmt, str(out), str(tz),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "WARGA_DATABASE_URL": url})
    stdout, stderr = await process.communicate()
    if process.returncode != 0:
        last = (stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1]
        raise RuntimeError(f"export failed in its process: {last[:200]}")
    done = json.loads(stdout.decode().strip().splitlines()[-1])
    return Exported(int(done["rows"]), int(done["members"]), [Path(f) for f in done["files"]])


def _child(argv: list[str]) -> int:
    what, fmt, out, zone = argv
    from zoneinfo import ZoneInfo

    # Background work: on a busy machine the service's replies get the CPU first.
    with contextlib.suppress(AttributeError, OSError):
        os.nice(10)

    async def main() -> Exported:
        db = Database(os.environ["WARGA_DATABASE_URL"])
        try:
            return await export(db, what, fmt, Path(out),  # type: ignore[arg-type]
                                tz=ZoneInfo(zone) if zone != "WIB" else JAKARTA)
        finally:
            await db.close()

    done = asyncio.run(main())
    print(json.dumps({"rows": done.rows, "members": done.members,
                      "files": [str(f) for f in done.files]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1:]))
