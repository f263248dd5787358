"""`warga export …`: streams records to CSV or XLSX, with progress on a terminal."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from bot.settings import Settings
from storage.db import Database


async def run_export(settings: Settings, what: str, fmt: str, out: Path) -> int:
    from storage.export import export_complaints
    from storage.migrate import upgrade

    await upgrade(settings.database_url)
    db = Database(settings.database_url)
    show = sys.stderr.isatty()

    def progress(n: int) -> None:
        if show:
            sys.stderr.write(f"\r{n} rows")
            sys.stderr.flush()

    try:
        fmt_literal: Literal["csv", "xlsx"] = "xlsx" if fmt == "xlsx" else "csv"
        rows = await export_complaints(db, out, fmt_literal, progress=progress)
    finally:
        await db.close()
    if show:
        sys.stderr.write("\n")
    print(f"{rows} {what} written to {out}")
    return 0
