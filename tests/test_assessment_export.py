"""Assessment export to CSV and XLSX, read back: register codes beside Indonesian labels,
one row per member, one row per house (shared by its keluarga), identity numbers masked
unless a coordinator asked (audited)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.cli import parser
from bot.features.volunteers import export_columns, progress_bar, run_assessment_export
from bot.settings import Settings
from storage.crypto import IdentityCipher
from storage.db import Database
from storage.export_assessments import csv_paths, export_assessments
from storage.models import AuditEntry
from storage.models_volunteers import Assessment
from storage.xlsx_stream import StreamingWorkbook
from tests.harness import Clock
from tests.test_assessment_transcripts import (
    HEAD_NIK,
    HOUSEHOLD,
    KK,
    WIFE_NIK,
    R,
    team_with_volunteer,
)
from tests.volunteers_harness import SECRET

pytestmark = pytest.mark.storage


async def two_households(db: Database) -> None:
    team = await team_with_volunteer(db, Clock())
    evil = "=HYPERLINK(\"http://x\")"
    script = list(HOUSEHOLD)
    script[7] = (R, evil)  # the landmark: a formula must stay text
    await team.run([*script, (R, "ya")])
    # The same household again: an update of the first ("pembaruan: ya").
    await team.run([*HOUSEHOLD[:5], (R, "ya"), *HOUSEHOLD[5:], (R, "ya")])


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f, delimiter=";"))


def read_sheet(path: Path, name: str) -> list[dict[str, Any]]:
    workbook = load_workbook(path, read_only=True)
    rows = list(workbook[name].iter_rows(values_only=True))
    workbook.close()
    header = [str(h) for h in rows[0]]
    # A row ends at its last non-empty cell (as Excel writes them too).
    return [dict(zip(header, (*row, *[None] * (len(header) - len(row))), strict=True))
            for row in rows[1:]]


def leftovers(folder: Path) -> list[Path]:
    """Partial files an export left behind (none: they are renamed or removed)."""
    return list(folder.glob(".*partial"))


def ref(kind: str, number: str) -> str:
    """The keyed reference a masked export shows instead of any digit of the number."""
    return IdentityCipher(SECRET.reveal()).reference(kind, number)


def check_household(row: dict[str, Any], *, full: bool = False) -> None:
    def s(key: str) -> str:
        return "" if row[key] is None else str(row[key])

    assert s("kode_kelurahan") == "31.72.04.1004" and s("kelurahan") == "Kalibaru"
    assert (s("rw"), s("rt")) == ("003", "005")
    assert s("nik_kepala") == (HEAD_NIK if full else ref("nik", HEAD_NIK))
    assert s("no_kk") == (KK if full else ref("kk", KK))
    assert s("air_minum") == "4" and s("air_minum_label") == "Sumur bor/pompa"
    assert s("jarak_tinja") == "1" and s("jarak_tinja_label") == "< 10 meter"
    assert s("bantuan") == "501b;501a"
    assert s("bantuan_label") == ("Program Keluarga Harapan (PKH); "
                                  "Program Bantuan Sosial Sembako/BPNT")
    assert s("bantuan.501a") == "1" and s("bantuan.501b") == "1" and s("bantuan.501e") == "0"
    assert s("aset") == "502l;502m" and s("aset.502i") == "0"
    assert s("kerentanan") == ("balita;ibu_hamil;sanitasi_tidak_layak;nelayan;tanpa_nik;"
                               "perlu_adminduk")
    assert s("luas_lantai") == "24" and s("penerangan") == "1" and s("daya_listrik") == "1"
    assert s("skrining") == "hamil"
    assert s("kerentanan_label").startswith("Balita; Ibu hamil")
    assert s("jumlah_art") == s("jumlah_anggota_tercatat") == "3"
    assert s("relawan_jenis") == "tagana" and s("versi_pemberitahuan") == "asesmen-2026-12"
    assert s("dibuat") == "2026-11-28 10:00:00"  # WIB; a date cell in XLSX


def check_members(rows: list[dict[str, Any]], *, full: bool = False) -> None:
    def s(row: dict[str, Any], key: str) -> str:
        return "" if row[key] is None else str(row[key])

    assert len(rows) == 6
    head, wife, child = rows[:3]
    assert [s(r, "no_urut") for r in rows[:3]] == ["1", "2", "3"]
    assert s(head, "hubungan") == "1" and s(head, "hubungan_label") == "Kepala keluarga"
    assert s(wife, "nik") == (WIFE_NIK if full else ref("nik", WIFE_NIK))
    assert s(wife, "jenis_kelamin_label") == "Perempuan" and s(wife, "hamil") == "1"
    assert s(wife, "tanggal_lahir") == "1988-06-15" and s(wife, "umur") == "38"
    assert s(child, "nik") == "" and s(child, "hamil") == "" and s(child, "pendidikan") == ""
    assert s(head, "disabilitas") == ""  # the health screen flagged only a pregnancy
    assert s(child, "alasan_tanpa_nik") == "1" and s(head, "status_kawin") == "2"
    assert s(head, "bekerja") == "1" and s(head, "pekerjaan") == "4"
    assert s(head, "pekerjaan_label") == "Perikanan"
    assert s(head, "pendidikan") == "3" and s(head, "pendidikan_label") == "SD"
    assert s(head, "partisipasi_sekolah") == "3"


def check_building(row: dict[str, Any], *, house: str, kk: int) -> None:
    """The house sheet's row of the script's house (HOUSEHOLD): one KK stated."""
    def s(key: str) -> str:
        return "" if row[key] is None else str(row[key])

    assert s("rumah") == house and s("jumlah_kk_tercatat") == str(kk)
    assert s("jumlah_kk_rumah") == "1" and s("jumlah_kk_rumah_label") == "1"
    assert s("kode_kelurahan") == "31.72.04.1004" and s("kelurahan") == "Kalibaru"
    assert (s("rw"), s("rt")) == ("003", "005")
    assert s("luas_lantai") == "24" and s("penerangan") == "1" and s("daya_listrik") == "1"
    assert s("lantai_label") and s("dinding_label") and s("atap_label")
    assert "air_minum" not in row and "kepala_nama" not in row  # the keluarga's, not the house's


async def test_csv_round_trip(db: Database, tmp_path: Path) -> None:
    await two_households(db)
    households, members, buildings = export_columns()
    seen: list[int] = []
    result = await export_assessments(db, tmp_path / "asesmen.csv", "csv",
                                      households=households, members=members,
                                      houses=buildings, progress=seen.append, page_size=1)
    assert (result.households, result.members, result.houses) == (2, 6, 2) and seen == [1, 2]
    house_path, member_path, building_path, book_path = csv_paths(tmp_path / "asesmen.csv")
    assert building_path.name == "asesmen_bangunan_rumah.csv"
    assert result.files == [house_path, member_path, building_path, book_path]
    houses = read_csv(house_path)
    assert len(houses) == 2
    for row in houses:
        check_household(row)
    assert houses[0]["pembaruan_dari"] == "" and houses[1]["pembaruan_dari"] == houses[0]["ref"]
    assert houses[0]["patokan"] == "'=HYPERLINK(\"http://x\")"
    # Each keluarga here is the only one of its house: its own house row.
    assert [(r["rumah"], r["kk_ke"]) for r in houses] == [(r["ref"], "1") for r in houses]
    buildings_read = read_csv(building_path)
    assert [b["rumah"] for b in buildings_read] == [r["ref"] for r in houses]
    for building in buildings_read:
        check_building(building, house=building["rumah"], kk=1)
    assert buildings_read[0]["patokan"] == "'=HYPERLINK(\"http://x\")"
    check_members(read_csv(member_path))
    book = read_csv(book_path)
    assert {"variabel": "air_minum", "pertanyaan": "Sumber air minum", "kode": "3",
            "label": "Leding"} in book
    # The house sheet's coded columns are the households sheet's variables: one entry each.
    stated = [line for line in book if line["variabel"] == "jumlah_kk_rumah"]
    assert [line["kode"] for line in stated] == [str(n) for n in range(1, 9)]
    for path in result.files:
        text = path.read_text(encoding="utf-8-sig")
        assert HEAD_NIK not in text and WIFE_NIK not in text and KK not in text
    assert not leftovers(tmp_path)


async def test_xlsx_round_trip_with_full_numbers(db: Database, tmp_path: Path) -> None:
    await two_households(db)
    households, members, buildings = export_columns()
    cipher = IdentityCipher(SECRET.reveal())
    out = tmp_path / "asesmen.xlsx"
    result = await export_assessments(db, out, "xlsx", households=households, members=members,
                                      houses=buildings, reveal=cipher.decrypt)
    assert result.files == [out] and result.houses == 2
    workbook = load_workbook(out, read_only=True)
    assert workbook.sheetnames == ["Rumah tangga", "Anggota", "Bangunan rumah", "Kodebuku"]
    workbook.close()
    houses = read_sheet(out, "Rumah tangga")
    for row in houses:
        check_household(row, full=True)
    assert houses[0]["patokan"] == "'=HYPERLINK(\"http://x\")"
    buildings_read = read_sheet(out, "Bangunan rumah")
    assert [b["rumah"] for b in buildings_read] == [r["ref"] for r in houses]
    for building in buildings_read:
        check_building(building, house=building["rumah"], kk=1)
    check_members(read_sheet(out, "Anggota"), full=True)


async def test_the_command_masks_by_default_and_audits_full_numbers(
        db: Database, database_url: str, tmp_path: Path) -> None:
    await two_households(db)
    settings = Settings(database_url=database_url, secret_key=SECRET, data_dir=tmp_path)
    out = tmp_path / "a.xlsx"
    assert await run_assessment_export(settings, "xlsx", out) == 0
    check_household(read_sheet(out, "Rumah tangga")[0])
    # Full numbers: refused without a coordinator's name, or for a volunteer.
    assert await run_assessment_export(settings, "csv", tmp_path / "b.csv", full_ids=True) == 2
    assert await run_assessment_export(settings, "csv", tmp_path / "b.csv", full_ids=True,
                                       requested_by=f"console:{R}") == 2
    assert not (tmp_path / "b.csv").exists()
    assert await run_assessment_export(settings, "csv", tmp_path / "b.csv", full_ids=True,
                                       requested_by="console:koordinator",
                                       reason="verifikasi Dukcapil") == 0
    check_household(read_csv(tmp_path / "b.csv")[0], full=True)
    async with db.session() as s:
        [entry] = (await s.execute(select(AuditEntry).where(
            AuditEntry.action == "export.full_identity_numbers"))).scalars()
        assert entry.details["reason"] == "verifikasi Dukcapil"
        assert entry.details["file"].endswith("b.csv")


def test_cli_arguments() -> None:
    args = parser().parse_args(["export", "assessments", "--format", "xlsx", "--out", "x.xlsx",
                                "--full-ids", "--requested-by", "telegram:1", "--reason", "r"])
    assert (args.what, args.full_ids, args.requested_by, args.reason) == (
        "assessments", True, "telegram:1", "r")


def test_progress_bar() -> None:
    assert progress_bar(1000, 3000) == (
        "[##########--------------------]  33% 1.000/3.000 rumah tangga")
    assert progress_bar(0, 0).startswith("[" + "#" * 30)


def test_streaming_xlsx_writer(tmp_path: Path) -> None:
    book = StreamingWorkbook(max_rows=3)
    book.sheet("Data", ["a", "b", "c"])
    rows: list[list[Any]] = [
        [" spasi di depan", 1.5, True],
        ["<b>&\"'</b>", None, 7],
        ["kontrol\x07dibuang", "", "x" * 40_000],
        ["baris keempat", 4, None],
    ]
    for row in rows:
        book.append("Data", row)
    path = tmp_path / "s.xlsx"
    book.save(path)
    workbook = load_workbook(path, read_only=True)
    # The header counts as a row: the fourth data row goes on in "Data (2)".
    assert workbook.sheetnames == ["Data", "Data (2)"]
    first = list(workbook["Data"].iter_rows(values_only=True))
    second = list(workbook["Data (2)"].iter_rows(values_only=True))
    workbook.close()
    assert first[0] == ("a", "b", "c")
    assert first[1] == (" spasi di depan", 1.5, True)
    assert first[2][0] == "<b>&\"'</b>" and first[2][1] is None and first[2][2] == 7
    assert second == [("a", "b", "c"), ("kontroldibuang", None, "x" * 32_767),
                      ("baris keempat", 4)]


async def test_a_keluarga_without_a_card_number_is_saved_flagged_and_exported(
        db: Database, tmp_path: Path) -> None:
    team = await team_with_volunteer(db, Clock())
    script = list(HOUSEHOLD)
    at = script.index((R, KK))
    script[at:at + 1] = [(R, "ga ada"), (R, "hilang")]  # no card at hand: lost
    await team.run([*script, (R, "ya")])
    households, members, buildings = export_columns()
    result = await export_assessments(db, tmp_path / "asesmen.csv", "csv",
                                      households=households, members=members,
                                      houses=buildings)
    assert result.households == 1
    [row] = read_csv(csv_paths(tmp_path / "asesmen.csv")[0])
    assert row["no_kk"] == "" and row["alasan_tanpa_kk"] == "3"
    assert "tanpa_kk" in row["kerentanan"].split(";")
    full = await export_assessments(db, tmp_path / "penuh.csv", "csv", households=households,
                                    members=members, houses=buildings,
                                    reveal=IdentityCipher(SECRET.reveal()).decrypt)
    assert full.households == 1
    [row] = read_csv(csv_paths(tmp_path / "penuh.csv")[0])
    assert row["no_kk"] == "" and row["nik_kepala"] == HEAD_NIK


SAVED = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


async def seed_houses(db: Database, keluarga: list[tuple[str, dict[str, Any]]]) -> None:
    """Keluarga rows as the assessment stores them, with only the answers a house needs."""
    async with db.transaction() as tx:
        volunteer = await tx.contacts.upsert("telegram", "333", SAVED, name="Relawan")
        for n, (ref_, answers) in enumerate(keluarga):
            tx.session.add(Assessment(
                ref=ref_, contact_id=volunteer.id, kelurahan_code="31.72.04.1004", rw="003",
                rt=f"{n + 1:03d}", head_name=f"Kepala {n}", nik_sealed="x",
                nik_hash=f"{n:064d}", nik_masked="3172********0001", household_size=1,
                member_count=0, flags=[], answers=answers, flow_id="assessment",
                flow_version=1, consent_version="v1", specific_consent=True,
                created_at=SAVED, updated_at=SAVED))
            await tx.session.flush()


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_one_house_row_per_house_whatever_the_pages(
        db: Database, tmp_path: Path, fmt: str) -> None:
    house = {"jumlah_kk_rumah": "3", "lantai": "2", "patokan": "Depan masjid"}
    await seed_houses(db, [
        ("RTA-00001", {**house, "rumah": "RTA-00001", "kk_ke": 1}),
        ("RTA-00002", {"jumlah_kk_rumah": "1", "lantai": "4", "rumah": "RTA-00002",
                       "kk_ke": 1}),
        ("RTA-00003", {**house, "lantai": "9", "rumah": "RTA-00001", "kk_ke": 2}),
        ("RTA-00004", {"lantai": "6"}),  # saved before houses were recorded
        # A house whose first keluarga is not in the table: its KK 2 gives the answers.
        ("RTA-00005", {"jumlah_kk_rumah": "2", "lantai": "1", "rumah": "RTA-0000X",
                       "kk_ke": 2}),
        ("RTA-00006", {**house, "lantai": "9", "rumah": "RTA-00001", "kk_ke": 3}),
    ])
    households, members, buildings = export_columns()
    out = tmp_path / f"asesmen.{fmt}"
    result = await export_assessments(db, out, fmt,  # type: ignore[arg-type]
                                      households=households, members=members,
                                      houses=buildings, page_size=2)
    assert (result.households, result.houses) == (6, 4)
    if fmt == "csv":
        keluarga = read_csv(csv_paths(out)[0])
        rows = read_csv(csv_paths(out)[2])
    else:
        keluarga = read_sheet(out, "Rumah tangga")
        rows = read_sheet(out, "Bangunan rumah")

    def s(value: Any) -> str:
        return "" if value is None else str(value)

    assert [(s(k["rumah"]), s(k["kk_ke"])) for k in keluarga] == [
        ("RTA-00001", "1"), ("RTA-00002", "1"), ("RTA-00001", "2"), ("RTA-00004", "1"),
        ("RTA-0000X", "2"), ("RTA-00001", "3")]
    got = [(s(r["rumah"]), s(r["jumlah_kk_tercatat"]), s(r["jumlah_kk_rumah"]),
            s(r["lantai"]), s(r["rt"])) for r in rows]
    assert got == [
        ("RTA-00001", "3", "3", "2", "001"),  # the first keluarga's answers, three counted
        ("RTA-00002", "1", "1", "4", "002"),
        ("RTA-00004", "1", "", "6", "004"),
        ("RTA-0000X", "1", "2", "1", "005"),
    ]
    assert s(rows[0]["patokan"]) == "Depan masjid"
    assert s(rows[0]["jumlah_kk_rumah_label"]) == "3"
