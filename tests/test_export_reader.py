"""The exports as a coordinator's spreadsheet reads them, checked with the project's own
readers (openpyxl, the csv module): headers, cell types, delimiter, BOM, frozen header and
widths, for complaints and assessments alike (one writer: storage.xlsx_stream)."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.exports import export
from storage.db import Database
from storage.models_volunteers import Assessment
from storage.xlsx_stream import StreamingWorkbook, csv_delimiter
from tests.test_export import PHONE, seed

pytestmark = pytest.mark.storage

NOW = datetime(2026, 12, 5, 0, 30, tzinfo=UTC)


def csv_rows(path: Path, delimiter: str) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with the BOM
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f, delimiter=delimiter))


def code_label_pairs(header: list[str]) -> list[tuple[str, str]]:
    return [(name, header[i + 1]) for i, name in enumerate(header) if name.endswith(" (kode)")]


async def test_complaints_xlsx_reads_as_typed_cells(db: Database, tmp_path: Path) -> None:
    await seed(db)
    out = tmp_path / "pengaduan.xlsx"
    assert (await export(db, "complaints", "xlsx", out)).rows == 3

    book = load_workbook(out, read_only=True)
    try:
        sheet = book["Pengaduan"]
        rows = list(sheet.iter_rows())
        header = [str(c.value) for c in rows[0]]
        assert len(header) == len(set(header)), "a column appears twice"
        # Every coded value sits next to its label.
        assert code_label_pairs(header) == [
            ("Status (kode)", "Status"), ("Jenis laporan (kode)", "Jenis laporan"),
            ("Kategori (kode)", "Kategori")]
        # No English technical name and no pair of the same value under two names.
        for gone in ("ticket", "category", "kategori", "rt_rw.rw", "lokasi.latitude", "foto",
                     "telepon", "_phone", "uraian", "jenis"):
            assert gone not in header
        cell = {name: c for name, c in zip(header, rows[1], strict=False)}
        for name, value in (("No. HP pelapor (jika setuju dihubungi)", PHONE), ("RT", "005"),
                            ("RW", "002"), ("No. tiket", "AIR-AAAAA"),
                            ("Kode kelurahan", "31.72.04.1004"),
                            ("Patokan", "004 dekat musala")):
            assert cell[name].value == value and cell[name].data_type == "s", name
            assert cell[name].number_format == "@", name  # stays text when edited
        reported = cell["Tanggal lapor (WIB)"]
        assert reported.is_date and reported.value == datetime(2026, 12, 5, 7, 30)
        assert reported.number_format == "yyyy-mm-dd hh:mm"
        since = cell["Sejak"]
        assert since.is_date and since.value == datetime(2026, 12, 1)
        assert since.number_format == "yyyy-mm-dd"
        assert cell["Rumah yang kena"].data_type == "n" and cell["Rumah yang kena"].value == 3
    finally:
        book.close()

    book = load_workbook(out)
    try:
        sheet = book["Pengaduan"]
        assert sheet.freeze_panes == "A2"
        assert all(c.font.b for c in sheet[1])
        widths = {sheet.cell(1, i).value: sheet.column_dimensions[letter].width
                  for i, letter in ((i, sheet.cell(1, i).column_letter)
                                    for i in range(1, sheet.max_column + 1))}
        assert widths["Isi laporan"] == 50
        assert widths["No. HP pelapor (jika setuju dihubungi)"] == 40
        assert widths["RT"] == 10
    finally:
        book.close()


async def test_complaints_csv_semicolon_by_default_and_strings_kept(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WARGA_CSV_DELIMITER", raising=False)
    await seed(db)
    out = tmp_path / "pengaduan.csv"
    await export(db, "complaints", "csv", out)
    header, first, *_ = csv_rows(out, ";")
    assert header[:3] == ["No. tiket", "Tanggal lapor (WIB)", "Status (kode)"]
    assert len(header) == len(set(header))
    row = dict(zip(header, first, strict=True))
    assert row["No. HP pelapor (jika setuju dihubungi)"] == PHONE
    assert (row["RT"], row["RW"]) == ("005", "002")
    assert row["Tanggal lapor (WIB)"] == "2026-12-05 07:30:00"
    assert row["Sejak"] == "2026-12-01"
    assert row["Lintang"] == "-6.1"

    # The other delimiter: by option, or by WARGA_CSV_DELIMITER.
    comma = tmp_path / "koma.csv"
    await export(db, "complaints", "csv", comma, delimiter=",")
    assert csv_rows(comma, ",")[0] == header
    monkeypatch.setenv("WARGA_CSV_DELIMITER", ",")
    env = tmp_path / "env.csv"
    await export(db, "complaints", "csv", env)
    assert env.read_bytes() == comma.read_bytes()


async def test_the_dashboard_child_process_writes_the_same_file(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WARGA_CSV_DELIMITER", raising=False)
    await seed(db)
    here, there = tmp_path / "a.csv", tmp_path / "b.csv"
    await export(db, "complaints", "csv", here, public_url="https://dasbor.example")
    await export(db, "complaints", "csv", there, public_url="https://dasbor.example",
                 in_process=False)
    assert here.read_bytes() == there.read_bytes()
    assert "https://dasbor.example/media/1" in there.read_text(encoding="utf-8-sig")


@pytest.mark.parametrize("bad", ["", ";;", '"', "\n", "a", "1"])
def test_a_delimiter_that_would_break_the_file_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="delimiter"):
        csv_delimiter(bad)


def test_tab_can_be_asked_for_as_typed() -> None:
    assert csv_delimiter("\\t") == "\t"
    assert csv_delimiter(",") == ","


async def seed_assessment(db: Database) -> None:
    async with db.transaction() as tx:
        volunteer = await tx.contacts.upsert("telegram", "222", NOW, name="Relawan")
        tx.session.add(Assessment(
            ref="RTA-23456", contact_id=volunteer.id, kelurahan_code="31.72.04.1004",
            rw="005", rt="003", head_name="Bapak Rahmat", nik_sealed="x", nik_hash="h" * 64,
            nik_masked="JRCMKMZC", kk_sealed="y", kk_hash="k" * 64,
            kk_masked="3172********0001", household_size=4, member_count=0, flags=[],
            answers={"patokan": "0042 gang buntu"}, flow_id="assessment", flow_version=1,
            consent_version="v1", specific_consent=True, created_at=NOW, updated_at=NOW))


async def test_assessments_share_the_writer_options(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WARGA_CSV_DELIMITER", raising=False)
    await seed_assessment(db)
    out = tmp_path / "asesmen.csv"
    done = await export(db, "assessments", "csv", out)
    assert done.rows == 1
    header, row = csv_rows(out, ";")
    cells = dict(zip(header, row, strict=True))
    assert (cells["rt"], cells["rw"], cells["patokan"]) == ("003", "005", "0042 gang buntu")
    for extra in done.files[1:]:
        assert csv_rows(extra, ";")[0]  # members and codebook: same delimiter and BOM
    comma = tmp_path / "koma.csv"
    await export(db, "assessments", "csv", comma, delimiter=",")
    assert csv_rows(comma, ",")[0] == header

    xlsx = tmp_path / "asesmen.xlsx"
    await export(db, "assessments", "xlsx", xlsx)
    book = load_workbook(xlsx)
    try:
        sheet = book["Rumah tangga"]
        assert sheet.freeze_panes == "A2"
        names = [c.value for c in sheet[1]]
        rt = sheet.cell(2, names.index("rt") + 1)
        assert rt.value == "003" and rt.data_type == "s" and rt.number_format == "@"
    finally:
        book.close()


def test_writer_date_cells_and_sheet_continuation(tmp_path: Path) -> None:
    out = tmp_path / "x.xlsx"
    book = StreamingWorkbook(max_rows=2)
    try:
        book.sheet("Data", ["kapan", "hari", "kode"], widths=[20, 12, 8])
        book.append("Data", [datetime(2026, 12, 5, 7, 30, 15), date(2026, 2, 28), "007"])
        book.append("Data", [datetime(1900, 3, 1), date(2026, 12, 31) + timedelta(days=1),
                             "+62812"])
        book.save(out)
    finally:
        book.close()
    wb = load_workbook(out)
    try:
        first, second = wb["Data"], wb["Data (2)"]
        assert [c.value for c in first[2]] == [datetime(2026, 12, 5, 7, 30, 15),
                                               datetime(2026, 2, 28), "007"]
        assert [c.value for c in second[2]] == [datetime(1900, 3, 1), datetime(2027, 1, 1),
                                                "+62812"]
        assert second.freeze_panes == "A2"
        assert [first.column_dimensions[x].width for x in "ABC"] == [20, 12, 8]
        assert [second.column_dimensions[x].width for x in "ABC"] == [20, 12, 8]
    finally:
        wb.close()


def test_cli_delimiter_option() -> None:
    from bot.cli import parser

    args = parser().parse_args(["export", "complaints", "--out", "x.csv", "--delimiter", ","])
    assert (args.what, args.format, args.delimiter) == ("complaints", "csv", ",")
    assert parser().parse_args(["export", "complaints", "--out", "x.csv"]).delimiter is None


async def test_warga_export_assessments_takes_the_delimiter(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.exports import run_export
    from bot.settings import Settings
    from tests.volunteers_harness import SECRET

    # Set (not deleted) so that the run's own setting is undone after the test.
    monkeypatch.setenv("WARGA_CSV_DELIMITER", ";")
    await seed_assessment(db)
    settings = Settings(database_url=str(db.url), data_dir=tmp_path, secret_key=SECRET)
    out = tmp_path / "asesmen.csv"
    assert await run_export(settings, "assessments", "csv", out, delimiter=",") == 0
    assert csv_rows(out, ",")[1][0] == "RTA-23456"
