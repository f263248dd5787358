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
from bot.exports import complaint_spec
from storage.db import Database
from storage.export import FIXED_COLUMNS, export_complaints, flatten_answers, guard_formula
from storage.models import MediaFile

pytestmark = pytest.mark.storage

NOW = datetime(2026, 12, 5, 0, 30, tzinfo=UTC)
MULTILINE = 'Air "keruh", bau 🤢\nsejak Senin; tolong cek'
HEADER = [
    "No. tiket", "Tanggal lapor (WIB)", "Status (kode)", "Status", "Jenis laporan (kode)",
    "Jenis laporan", "Kategori (kode)", "Kategori", "Isi laporan", "Kode kelurahan",
    "Kelurahan", "RW", "RT", "Lintang", "Bujur", "Kanal", "Nama pelapor",
    "No. HP pelapor (jika setuju dihubungi)", "Foto", "Tanggal ditutup (WIB)",
    "Catatan penyelesaian", "Alasan penolakan",
    # The complaint form's own answers, in its order.
    "Sejak", "Rumah yang kena", "Tempat", "Patokan", "Boleh dihubungi",
    # Keys an older form version asked: still a column each.
    "darurat", "answers.description", "catatan", "kontak", "sebutan",
]
PHONE = "+6281234567890"


async def seed(db: Database) -> None:
    codes = iter(["AIR-AAAAA", "AIR-BBBBB", "LAI-CCCCC"])
    async with db.transaction() as tx:
        tg = await tx.contacts.upsert("telegram", "111", NOW, name="Bu Siti", phone=PHONE)
        wa = await tx.contacts.upsert("whatsapp", "6281299990000", NOW, name="Pak Budi",
                                      phone="+6281299990000")
        first = await tx.complaints.create(
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
                "jenis": "air",
                "kategori": "keruh",
                "uraian": MULTILINE,
                "kelurahan": {"code": "31.72.04.1004", "name": "Kalibaru"},
                "rt_rw": {"rt": "005", "rw": "002"},
                "lokasi": {"latitude": -6.1, "longitude": 106.93},
                "tempat": {"pin": None, "kelurahan": None, "rt_rw": None,
                           "landmark": "pos ronda"},
                "sejak": "2026-12-01",
                "jumlah_kk": 3,
                "patokan": "004 dekat musala",
                "foto": {"kind": "photo", "ref": "AgAD1", "unique_id": "u1"},
                "boleh_dihubungi": "yes",
                "telepon": PHONE,
                "_phone": PHONE,
                "darurat": True,
                "description": "ikut di answers",
            },
        )
        tx.session.add(MediaFile(channel="telegram", ref="AgAD1", unique_id="u1",
                                 mime_type="image/jpeg", sha256="a" * 64, size=3,
                                 path="/srv/warga/media/aa/aaaa.jpg", created_at=NOW))
        await tx.complaints.set_status(first, "selesai", NOW + timedelta(days=1), "koordinator",
                                       "Pipa sudah diganti")
        second = await tx.complaints.create(
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
                "boleh_dihubungi": "no",
                "telepon": "+6281299990000",
                "darurat": False,
                "catatan": "+62 812 tolong",
                "kontak": "@admin",
                "sebutan": "-1+1",
                "foto": {"kind": "photo", "ref": "not-kept-yet"},
            },
        )
        await tx.complaints.set_status(second, "ditolak", NOW + timedelta(days=2), "koordinator",
                                       "Bukan wilayah kami")
        await tx.complaints.create(
            new_ticket=lambda: next(codes),
            contact_id=wa.id,
            now=NOW + timedelta(days=2),
            actor="warga",
            report_type="keluhan",
            description="Jalan rusak\x07 di RW 02",
            flow_id="complaint",
            flow_version=1,
            answers={},
        )


def read_csv(path: Path, delimiter: str = ";") -> tuple[list[str], list[dict[str, str]]]:
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
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
    spec = complaint_spec(public_url="https://dasbor.example/")
    assert await export_complaints(db, out, "csv", spec=spec, progress=seen.append) == 3
    assert seen == [3]
    assert sorted(p.name for p in out.parent.iterdir()) == ["pengaduan.csv"]

    header, rows = read_csv(out)
    assert header == HEADER
    first, second, third = rows
    assert {k: v for k, v in first.items() if v} == {
        "No. tiket": "AIR-AAAAA",
        "Tanggal lapor (WIB)": "2026-12-05 07:30:00",
        "Status (kode)": "selesai",
        "Status": "Selesai",
        "Jenis laporan (kode)": "air",
        "Jenis laporan": "Masalah air bersih",
        "Kategori (kode)": "keruh",
        "Kategori": "Air keruh / kotor / berwarna",
        "Isi laporan": MULTILINE,
        "Kode kelurahan": "31.72.04.1004",
        "Kelurahan": "Kalibaru",
        "RW": "002",
        "RT": "005",
        "Lintang": "-6.1",
        "Bujur": "106.93",
        "Kanal": "telegram",
        "Nama pelapor": "Bu Siti",
        "No. HP pelapor (jika setuju dihubungi)": PHONE,
        "Foto": "https://dasbor.example/media/1",
        "Tanggal ditutup (WIB)": "2026-12-06 07:30:00",
        "Catatan penyelesaian": "Pipa sudah diganti",
        "Sejak": "2026-12-01",
        "Rumah yang kena": "3",
        "Tempat": "pos ronda",
        "Patokan": "004 dekat musala",
        "Boleh dihubungi": "ya",
        "darurat": "true",
        "answers.description": "ikut di answers",
    }
    # No consent to be contacted: no phone, though the contact has one.
    assert second["No. HP pelapor (jika setuju dihubungi)"] == ""
    assert second["Boleh dihubungi"] == "tidak"
    assert (second["Status"], second["Alasan penolakan"]) == ("Ditolak", "Bukan wilayah kami")
    assert second["Tanggal ditutup (WIB)"] == "2026-12-07 07:30:00"
    assert second["Catatan penyelesaian"] == ""
    assert second["Foto"] == "ya"  # sent, our copy not kept yet: no link to give
    assert second["darurat"] == "false"
    # Formula injection: text starting with = + - @ is neutralised.
    assert second["Isi laporan"] == '\'=HYPERLINK("http://evil","klik")'
    assert second["catatan"] == "'+62 812 tolong"
    assert second["kontak"] == "'@admin"
    assert second["sebutan"] == "'-1+1"
    assert (third["Jenis laporan"], third["Kategori (kode)"], third["Kategori"]) == (
        "Keluhan lain", "", "")
    assert (third["Foto"], third["Status"], third["Tanggal ditutup (WIB)"]) == (
        "tidak", "Diterima", "")
    # Never a server path or a hash.
    text = out.read_text(encoding="utf-8-sig")
    assert "/srv/warga" not in text and "a" * 64 not in text and "AgAD1" not in text


async def test_xlsx_export(db: Database, tmp_path: Path) -> None:
    await seed(db)
    out = tmp_path / "pengaduan.xlsx"
    assert await export_complaints(db, out, "xlsx", spec=complaint_spec()) == 3

    header, rows = read_xlsx(out)
    assert header == HEADER
    first, second, third = rows
    assert first["No. tiket"] == "AIR-AAAAA"
    assert first["Tanggal lapor (WIB)"] == datetime(2026, 12, 5, 7, 30)
    assert first["Tanggal ditutup (WIB)"] == datetime(2026, 12, 6, 7, 30)
    assert first["Sejak"] == datetime(2026, 12, 1)
    assert first["Isi laporan"] == MULTILINE
    assert (first["RT"], first["RW"]) == ("005", "002")
    assert first["No. HP pelapor (jika setuju dihubungi)"] == PHONE
    assert first["Lintang"] == -6.1 and first["Bujur"] == 106.93
    assert first["Rumah yang kena"] == 3
    assert first["darurat"] is True
    assert first["Foto"] == "ya"  # no dashboard address given: yes/no only
    assert first["catatan"] is None
    assert second["darurat"] is False
    assert second["No. HP pelapor (jika setuju dihubungi)"] is None
    assert second["Isi laporan"] == '\'=HYPERLINK("http://evil","klik")'
    assert (second["catatan"], second["kontak"], second["sebutan"]) == (
        "'+62 812 tolong",
        "'@admin",
        "'-1+1",
    )
    # Control characters openpyxl cannot store are dropped, not fatal.
    assert third["Isi laporan"] == "Jalan rusak di RW 02"


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
    assert len(header) == len(set(header))
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
