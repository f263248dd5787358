"""Complaint export to CSV and XLSX, read back with the csv module and openpyxl."""

from __future__ import annotations

import csv
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

import storage.export as export_module
from storage.db import Database
from storage.export import FIXED_COLUMNS, export_complaints, flatten_answers, guard_formula

pytestmark = pytest.mark.storage

NOW = datetime(2026, 12, 5, 0, 30, tzinfo=UTC)
MULTILINE = 'Air "keruh", bau 🤢\nsejak Senin; tolong cek'
ANSWER_COLUMNS = [
    "kategori",
    "lokasi.rt",
    "lokasi.rw",
    "lokasi.titik.lat",
    "foto",
    "jumlah_kk",
    "darurat",
    "answers.description",
    "catatan",
    "kontak",
    "sebutan",
]


async def seed(db: Database) -> None:
    codes = iter(["AIR-AAAAA", "AIR-BBBBB", "AIR-CCCCC"])
    async with db.transaction() as tx:
        tg = await tx.contacts.upsert("telegram", "111", NOW)
        wa = await tx.contacts.upsert("whatsapp", "6281234567890", NOW)
        await tx.complaints.create(
            new_ticket=lambda: next(codes),
            contact_id=tg.id,
            now=NOW,
            actor="warga",
            report_type="air",
            category="keruh",
            description=MULTILINE,
            kelurahan_code="31.72.04.1004",
            rw="002",
            rt="005",
            latitude=-6.1,
            longitude=106.93,
            flow_id="complaint",
            flow_version=2,
            answers={
                "kategori": "keruh",
                "lokasi": {"rt": "005", "rw": "002", "titik": {"lat": -6.1}},
                "foto": ["AgAD1", "AgAD2"],
                "jumlah_kk": 3,
                "darurat": True,
                "description": "ikut di answers",
            },
        )
        await tx.complaints.create(
            new_ticket=lambda: next(codes),
            contact_id=wa.id,
            now=NOW + timedelta(hours=20),
            actor="warga",
            report_type="air",
            category="bau",
            description='=HYPERLINK("http://evil","klik")',
            flow_id="complaint",
            flow_version=2,
            answers={
                "kategori": "bau",
                "darurat": False,
                "catatan": "+62 812 tolong",
                "kontak": "@admin",
                "sebutan": "-1+1",
            },
        )
        await tx.complaints.create(
            new_ticket=lambda: next(codes),
            contact_id=wa.id,
            now=NOW + timedelta(days=2),
            actor="warga",
            report_type="lain",
            description="Jalan rusak\x07 di RW 02",
            flow_id="complaint",
            flow_version=1,
            answers={},
        )


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [dict(zip(header, row, strict=True)) for row in reader]
    return header, rows


def read_xlsx(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    workbook = load_workbook(path)
    sheet = workbook.active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert all(cell.font.b for cell in sheet[1])
    workbook.close()
    header = [str(v) for v in values[0]]
    return header, [dict(zip(header, row, strict=True)) for row in values[1:]]


async def test_csv_export(db: Database, tmp_path: Path) -> None:
    await seed(db)
    out = tmp_path / "exports" / "pengaduan.csv"
    seen: list[int] = []
    assert await export_complaints(db, out, "csv", progress=seen.append) == 3
    assert seen == [3]
    assert sorted(p.name for p in out.parent.iterdir()) == ["pengaduan.csv"]

    header, rows = read_csv(out)
    assert header == [*FIXED_COLUMNS, *ANSWER_COLUMNS]
    first, second, third = rows
    assert first == {
        "ticket": "AIR-AAAAA",
        "created_at": "2026-12-05T07:30:00+07:00",
        "status": "diterima",
        "report_type": "air",
        "category": "keruh",
        "description": MULTILINE,
        "kelurahan_code": "31.72.04.1004",
        "rw": "002",
        "rt": "005",
        "latitude": "-6.1",
        "longitude": "106.93",
        "channel": "telegram",
        "kategori": "keruh",
        "lokasi.rt": "005",
        "lokasi.rw": "002",
        "lokasi.titik.lat": "-6.1",
        "foto": "AgAD1; AgAD2",
        "jumlah_kk": "3",
        "darurat": "true",
        "answers.description": "ikut di answers",
        "catatan": "",
        "kontak": "",
        "sebutan": "",
    }
    assert second["created_at"] == "2026-12-06T03:30:00+07:00"
    assert second["channel"] == "whatsapp"
    assert second["darurat"] == "false"
    assert second["latitude"] == "" and second["lokasi.rt"] == ""
    # Formula injection: text starting with = + - @ is neutralised.
    assert second["description"] == '\'=HYPERLINK("http://evil","klik")'
    assert second["catatan"] == "'+62 812 tolong"
    assert second["kontak"] == "'@admin"
    assert second["sebutan"] == "'-1+1"
    assert third["report_type"] == "lain"
    assert third["category"] == "" and third["kategori"] == ""


async def test_xlsx_export(db: Database, tmp_path: Path) -> None:
    await seed(db)
    out = tmp_path / "pengaduan.xlsx"
    assert await export_complaints(db, out, "xlsx") == 3

    header, rows = read_xlsx(out)
    assert header == [*FIXED_COLUMNS, *ANSWER_COLUMNS]
    first, second, third = rows
    assert first["ticket"] == "AIR-AAAAA"
    assert first["created_at"] == "2026-12-05T07:30:00+07:00"
    assert first["description"] == MULTILINE
    assert first["rt"] == "005"
    assert first["latitude"] == -6.1 and first["longitude"] == 106.93
    assert first["jumlah_kk"] == 3
    assert first["darurat"] is True
    assert first["foto"] == "AgAD1; AgAD2"
    assert first["lokasi.titik.lat"] == -6.1
    assert first["catatan"] is None
    assert second["darurat"] is False
    assert second["description"] == '\'=HYPERLINK("http://evil","klik")'
    assert (second["catatan"], second["kontak"], second["sebutan"]) == (
        "'+62 812 tolong",
        "'@admin",
        "'-1+1",
    )
    # Control characters openpyxl cannot store are dropped, not fatal.
    assert third["description"] == "Jalan rusak di RW 02"


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_empty_export_has_header_only(db: Database, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"kosong.{fmt}"
    seen: list[int] = []
    assert await export_complaints(db, out, fmt, progress=seen.append) == 0  # type: ignore[arg-type]
    assert seen == []
    if fmt == "csv":
        header, rows = read_csv(out)
    else:
        header, rows = read_xlsx(out)
    assert header == list(FIXED_COLUMNS)
    assert rows == []


async def test_export_pages_through_every_complaint(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_module, "PAGE_SIZE", 2)
    codes = (f"AIR-{n:05d}" for n in itertools.count())
    async with db.transaction() as tx:
        contact = await tx.contacts.upsert("telegram", "9", NOW)
        for i in range(5):
            await tx.complaints.create(
                new_ticket=lambda: next(codes),
                contact_id=contact.id,
                now=NOW,
                actor="w",
                report_type="air",
                description=f"d{i}",
                flow_id="c",
                flow_version=1,
                # A key that only the last complaint has still gets its column.
                answers={"n": i} if i < 4 else {"n": i, "akhir": "ya"},
            )
    out = tmp_path / "semua.csv"
    seen: list[int] = []
    assert await export_complaints(db, out, "csv", progress=seen.append) == 5
    assert seen == [2, 4, 5]
    header, rows = read_csv(out)
    assert header[-2:] == ["n", "akhir"]
    assert [r["description"] for r in rows] == [f"d{i}" for i in range(5)]
    assert [r["akhir"] for r in rows] == ["", "", "", "", "ya"]


async def test_failed_export_leaves_no_file(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(db)

    def broken(path: Path, *_args: object) -> None:
        path.write_text("ticket,created_at\nAIR-AAAAA,")
        raise OSError("disk full")

    monkeypatch.setattr(export_module, "_write_csv", broken)
    folder = tmp_path / "exports"
    with pytest.raises(OSError, match="disk full"):
        await export_complaints(db, folder / "x.csv", "csv")
    assert list(folder.iterdir()) == []


async def test_unknown_format_is_refused(db: Database, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        await export_complaints(db, tmp_path / "x.pdf", "pdf")  # type: ignore[arg-type]


def test_flatten_answers() -> None:
    assert flatten_answers(
        {
            "a": {"b": 1, "c": {"d": "x"}},
            "e": ["x", 2, True, None, {"k": "v"}],
            "f": None,
            "g": 1.5,
            "h": {},
        }
    ) == {"a.b": 1, "a.c.d": "x", "e": 'x; 2; true; ; {"k":"v"}', "f": None, "g": 1.5}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("+6281234567890", "+6281234567890"),  # a phone number is data, not a formula
        ("-5", "-5"),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("Air keruh", "Air keruh"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_guard_formula(text: str, expected: str) -> None:
    assert guard_formula(text) == expected
