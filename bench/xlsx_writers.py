"""The two ways this project wrote XLSX, on the same rows: openpyxl's write-only mode and
``storage.xlsx_stream`` (the one every export uses now). Each runs in a fresh process so
that its peak memory is its own.

    python bench/xlsx_writers.py [--rows 100000] [--columns 60] [--json]

The rows look like an assessment export's: codes, labels, short texts, numbers, empty
cells. Printed: seconds, cells per second, peak RSS, file size — for each writer.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

Cell = str | int | float | None


def rows(count: int, columns: int) -> Iterator[list[Cell]]:
    rng = random.Random(2026)
    labels = ["Sumur bor/pompa", "Air isi ulang", "Leding meteran", "Milik sendiri", ""]
    for n in range(count):
        row: list[Cell] = []
        for c in range(columns):
            kind = c % 5
            if kind == 0:
                row.append(str(rng.randint(0, 12)))
            elif kind == 1:
                row.append(rng.choice(labels) or None)
            elif kind == 2:
                row.append(rng.randint(0, 90))
            elif kind == 3:
                row.append(round(-6.1 + rng.random() / 100, 6))
            else:
                row.append(f"Anggota {n}-{c}")
        yield row


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_openpyxl(path: Path, header: list[str], data: Iterator[list[Cell]]) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Rumah tangga")
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    cells = []
    for name in header:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        cells.append(cell)
    sheet.append(cells)
    for row in data:
        sheet.append(row)
    book.save(path)


def write_stream(path: Path, header: list[str], data: Iterator[list[Cell]]) -> None:
    from storage.xlsx_stream import StreamingWorkbook

    book = StreamingWorkbook()
    try:
        book.sheet("Rumah tangga", header)
        for row in data:
            book.append("Rumah tangga", row)
        book.save(path)
    finally:
        book.close()


WRITERS = {"openpyxl-write-only": write_openpyxl, "xlsx_stream": write_stream}


def once(writer: str, count: int, columns: int, out: Path) -> dict[str, Any]:
    header = [f"kolom_{c}" for c in range(columns)]
    started = time.perf_counter()
    WRITERS[writer](out, header, rows(count, columns))
    seconds = time.perf_counter() - started
    return {"writer": writer, "rows": count, "columns": columns, "seconds": round(seconds, 2),
            "cells_per_s": round(count * columns / seconds),
            "peak_rss_mib": round(peak_rss_mib(), 1),
            "file_mib": round(out.stat().st_size / 2**20, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--columns", type=int, default=60)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--only", choices=sorted(WRITERS), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        print(json.dumps(once(args.only, args.rows, args.columns, Path(args.out))))
        return 0
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for writer in WRITERS:
            done = subprocess.run(
                [sys.executable, __file__, "--only", writer, "--rows", str(args.rows),
                 "--columns", str(args.columns), "--out", str(Path(tmp) / f"{writer}.xlsx")],
                capture_output=True, text=True, check=True)
            results[writer] = json.loads(done.stdout.strip().splitlines()[-1])
    if args.json:
        print(json.dumps(results))
        return 0
    for r in results.values():
        print(f"{r['writer']:>20}: {r['rows']:,} rows x {r['columns']} columns in "
              f"{r['seconds']} s ({r['cells_per_s']:,} cells/s); peak RSS "
              f"{r['peak_rss_mib']} MiB; file {r['file_mib']} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
