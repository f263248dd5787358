"""The shorter household assessment: checks that save prompts or protect the register
match without blocking the volunteer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.features.volunteers import export_columns
from conversations.assessment import floor_area, vulnerability_flags
from conversations.engine import Engine
from storage.crypto import IdentityCipher
from storage.db import Database
from storage.export_assessments import csv_paths, export_assessments
from tests.harness import Button, Photo, Pin, check_golden, translator
from tests.test_assessment_export import read_csv, read_sheet
from tests.test_assessment_flow import ASSESSMENT, CARDS, DAY, KK, inbound, run
from tests.test_assessment_flow import HEAD as FLOW_HEAD
from tests.test_assessment_flow import HEAD_MEMBER as FLOW_HEAD_MEMBER
from tests.test_assessment_flow import HOUSE as FLOW_HOUSE
from tests.test_assessment_flow import START as MOMENT
from tests.test_assessment_transcripts import (
    HEAD_MEMBER,
    HEAD_NIK,
    START,
    WIFE_NIK,
    R,
    assessments,
    by,
    team_with_volunteer,
)
from tests.test_assessment_transcripts import (
    KK as CARD,
)
from tests.volunteers_harness import Step


@pytest.mark.e2e
async def test_the_same_nik_twice_in_one_household_is_warned_and_asked_again(
        db: Database) -> None:
    team = await team_with_volunteer(db)
    await team.run([*START, *HEAD_MEMBER, (R, "Siti Aminah")])
    shown = await team.run(by(R, HEAD_NIK))
    assert "sudah dicatat untuk *Budi Santoso*" in shown
    assert "laki-laki" not in shown  # not read back as if it were hers
    assert "NIK Siti Aminah?" in shown  # asked again
    shown = await team.run(by(R, WIFE_NIK))
    assert "sudah dicatat" not in shown and "perempuan" in shown
    assert await assessments(db) == []


@pytest.mark.parametrize(("typed", "area"), [
    ("24", 24), ("4x6", 24), ("4 x 6 m", 24), ("3,5x6", 21), ("2.5 X 3", 8), ("24 m2", 24),
    ("0", None), ("40x30", None), ("empat kali enam", None), ("4x", None),
])
def test_floor_area_as_typed(typed: str, area: int | None) -> None:
    assert floor_area(typed) == area


def head_with(roster: str, screen: str = "tidak ada") -> list[str]:
    """Up to the head's answers, with this roster (no spouse in it: the head's marital
    status is asked) and health screen."""
    married = [] if "istri" in roster else ["cerai mati"]
    return [*FLOW_HEAD[:-1], roster, screen, CARDS, *married, *FLOW_HEAD_MEMBER]


def test_floor_area_4x6_lighting_in_one_list_and_no_work_questions_for_a_pupil() -> None:
    engine = Engine(translator(), sealer=IdentityCipher("short-tests-secret-key-0123456789"))
    turn = run(engine, [*head_with("anak"),
                        "Andi", "lewati", "laki", "10 januari 2014", "belum terdaftar",
                        "belum kawin", "masih sekolah"])
    assert turn.state is not None and turn.state["step"] == "status_rumah"  # 2 of 2
    child = turn.state["answers"]["anggota"][1]
    assert child["partisipasi_sekolah"] == "2" and "bekerja" not in child
    assert "pekerjaan" not in child and child["umur"] == 12
    house = ["kontrak", "4x6", "keramik", "tembok", "seng", "isi ulang", "3-1", "150rb",
             "sendiri", "leher angsa", "septik", "pln 900"]
    turn = run(engine, [*head_with("anak"),
                        "Andi", "lewati", "laki", "10 januari 2014", "belum terdaftar",
                        "belum kawin", "masih sekolah", *house])
    assert turn.state is not None
    answers = turn.state["answers"]
    assert answers["luas_lantai"] == 24 and answers["luas_lantai_ukuran"] == "4x6"
    assert (answers["penerangan"], answers["daya_listrik"]) == ("1", "2")
    assert turn.state["step"] == "bahan_bakar"  # no separate question for the power


def test_pregnancy_is_asked_only_of_ever_married_women() -> None:
    engine = Engine(translator(), sealer=IdentityCipher("short-tests-secret-key-0123456789"))
    woman = "3172015506060003"  # a woman born 15-06-2006: 20 on the day
    turn = run(engine, [*head_with("anak", "hamil"), "Rina", woman, "belum kawin"])
    assert turn.state is not None and turn.state["step"] == "pendidikan_ringkas"
    turn = run(engine, [*head_with("anak", "hamil"), "Rina", woman, "cerai hidup"])
    assert turn.state is not None and turn.state["step"] == "hamil"


def test_no_family_card_is_recorded_with_a_reason_and_flagged() -> None:
    engine = Engine(translator(), sealer=IdentityCipher("short-tests-secret-key-0123456789"))
    head = FLOW_HEAD[:FLOW_HEAD.index(KK)]
    turn = run(engine, [*head, "ga ada", "hilang", "rt 5 rw 3", "lewati", "1", "sendiri"])
    assert turn.state is not None and turn.state["step"] == "skrining"
    assert turn.state["answers"]["alasan_tanpa_kk"] == "3"
    assert "no_kk" not in turn.state["answers"]
    assert "tanpa_kk" in vulnerability_flags(turn.state["answers"], DAY)


KALIBARU = "31.72.04.1004"
SPOUSE_NIK = "3172015403850002"  # a woman born 14-03-1985: 41 on the day
SON_NIK = "3172011001140003"  # a boy born 10-01-2014: 12, in school
DAUGHTER_NIK = "3172014507220004"  # a girl born 05-07-2022: 4
# The household of four on the happy path: 30 prompts (from 59) — the kelurahan from the
# volunteer's area, a roster giving every relationship and the size, the head's marital
# status from the spouse in it, work and sector in one question, the next member begun at
# the stated count, read-backs with the next question, consent in one answer, name and NIK
# and RT/RW and landmark in one message, and two field-list groups. The bound holds it so
# that it cannot grow unnoticed.
PROMPT_BUDGET = 30


def four() -> list[Step]:
    return by(
        # The kelurahan is the volunteer's area: not asked.
        R, "/asesmen", Button("persetujuan:1"), f"Budi Santoso {HEAD_NIK}",
        CARD, "RT 5 RW 3 Gang Melati", "1",
        "istri dan 2 anak",  # the roster: relationships and the size at once
        "0",  # health screen: nobody (the paper code)
        "lengkap",  # identity documents: adults KTP and birth certificate, children KIA too
        "tamat smp", "nelayan",  # married: his wife is in the roster
        f"Siti Aminah {SPOUSE_NIK}", "tamat sd", "tidak",
        f"Andi {SON_NIK}", "belum kawin", "masih sekolah",
        f"Ani {DAUGHTER_NIK}",
        "kontrak", "4x6", "keramik, tembok, seng", "isi ulang", "leding, meteran sendiri",
        "150rb", "sendiri, leher angsa, septik",
        "pln 900, 4",  # lighting, and the paper code of elpiji 3 kg (its fifth option)
        "motor, smartphone",
        "pkh, sembako",
        Pin(-6.0962, 106.9321), Photo("rumah-budi"), Button("confirm:yes"),
    )


@pytest.mark.e2e
async def test_the_assessment_survives_nanti_between_parts(db: Database) -> None:
    team = await team_with_volunteer(db, area=KALIBARU)
    script = four()
    house = script.index((R, "isi ulang"))
    await team.run(script[:house])
    shown = await team.run([(R, "nanti"), (R, "/asesmen"), (R, Button("asm:draft:1"))])
    assert "Bagian 4 dari 6 · Air & sanitasi" in shown  # the part it stopped at
    await team.run(script[house:])
    [a] = await assessments(db)
    assert a.member_count == 4 and a.answers["air_minum"] == "2"


@pytest.mark.e2e
async def test_household_of_four_golden_and_prompt_count(db: Database) -> None:
    team = await team_with_volunteer(db, area=KALIBARU)
    script = four()
    transcript = await team.run(script)
    parts = [line for line in transcript.splitlines() if "📍 *Bagian" in line]
    assert [p.split(" · ")[0] for p in parts] == [
        f"< 📍 *Bagian {n} dari 6" for n in range(1, 7)]
    prompts = sum(1 for line in transcript.splitlines()
                  if line.startswith(f"[{R}] >") and line != f"[{R}] > /asesmen")
    print(f"household of four: {prompts} prompts")
    check_golden("assessment_household_of_four", transcript)
    [a] = await assessments(db)
    assert a.household_size == a.member_count == 4
    head, spouse, son, daughter = a.answers["anggota"]
    assert son["partisipasi_sekolah"] == "2" and "bekerja" not in son
    assert "hamil" not in spouse and "disabilitas" not in head  # screened: nobody
    assert daughter["umur"] == 4 and "pendidikan_ringkas" not in daughter
    assert a.answers["luas_lantai"] == 24 and a.answers["daya_listrik"] == "2"
    assert a.answers["bahan_bakar"] == "4"  # the paper code, not the fourth option
    assert [m["kode_411"] for m in a.answers["anggota"]] == [5, 5, 3, 3]  # Regsosek sums
    assert {m["keberadaan"] for m in a.answers["anggota"]} == {"1"}
    assert a.answers["kelurahan"]["name"] == "Kalibaru"
    assert [m["hubungan"] for m in a.answers["anggota"]] == ["1", "2", "3", "3"]
    assert head["status_kawin"] == "2" and (head["bekerja"], head["pekerjaan"]) == ("yes", "4")
    assert (spouse["bekerja"], "pekerjaan" in spouse) == ("no", False)
    assert prompts <= PROMPT_BUDGET


def test_the_roster_gives_the_size_and_each_relationship_and_more_can_be_added() -> None:
    engine = _engine()
    turn = run(engine, [*FLOW_HEAD[:-1], "istri, anak 2 orang"])
    assert turn.state is not None and turn.state["answers"]["jumlah_art"] == 4
    assert "Jumlah anggota rumah tangga: *4*" in engine.tr("id", turn.prompt.texts[0])
    turn = run(engine, [*head_with("anak"), "Andi", "lewati"])
    assert turn.state is not None and turn.state["step"] == "jenis_kelamin"  # not hubungan
    # The roster typed badly: asked again, saying why; nothing is kept.
    for typed, why in (("istri, anak2", "Ada berapa orang anak?"),
                       ("istri, tetangga", '"tetangga" belum saya kenali'),
                       ("kepala, istri", "Kepala keluarga sudah dicatat")):
        turn = run(engine, [*FLOW_HEAD[:-1], typed])
        assert turn.state is not None and turn.state["step"] == "susunan", typed
        assert why in engine.tr("id", turn.prompt.texts[0]), typed
    # "tidak ada" is an answer here (nobody else), not "skip".
    turn = run(engine, [*FLOW_HEAD[:-1], "tidak ada"])
    assert turn.state is not None and turn.state["answers"]["susunan"] == []
    assert turn.state["answers"]["jumlah_art"] == 1


def test_back_passes_over_what_was_filled_in_and_the_size_follows_the_roster() -> None:
    engine = _engine()
    turn = run(engine, [*FLOW_HEAD[:-1], "istri", "kembali"])
    assert turn.state is not None and turn.state["step"] == "susunan"  # not the size
    assert "jumlah_art" not in turn.state["answers"]
    turn = engine.resume(ASSESSMENT, turn.state, inbound("istri, anak, anak"), MOMENT)
    assert turn.state is not None and turn.state["answers"]["jumlah_art"] == 4
    # Changed from the summary, the size is asked (and then stays as answered).
    family = [*head_with("istri"), "Siti Aminah", WIFE_NIK, "smp", "tidak", *FLOW_HOUSE]
    turn = run(engine, [*family, "ubah", ("", "edit:jumlah_art")])
    assert turn.state is not None and turn.state["step"] == "jumlah_art"


def test_a_member_beyond_the_roster_is_asked_the_relationship() -> None:
    engine = _engine()
    family = [*head_with("istri"), "Siti Aminah", WIFE_NIK, "smp", "tidak", *FLOW_HOUSE]
    turn = run(engine, [*family, "ubah", ("", "edit:anggota"), ("", "edit:anggota.+"),
                        "Rudi", "lewati"])
    assert turn.state is not None and turn.state["step"] == "hubungan"
    assert "Apa hubungan Rudi" in "\n".join(engine.tr("id", t) for t in turn.prompt.texts)


def test_a_draft_of_the_previous_form_asks_nothing_it_answered() -> None:
    from conversations.assessment import upgrade_draft

    engine = _engine()
    turn = run(engine, [*head_with("istri")])
    assert turn.state is not None
    state = turn.state
    # As version 2 kept it: a stated size, no roster; the head's work in two answers.
    state["answers"].pop("susunan")
    state["notes"].remove("bagian_1")
    state["repeat"]["answers"].update({"bekerja": "yes", "pekerjaan": "4"})
    state["repeat"]["answers"].pop("kerja", None)
    state["version"] = 2
    upgrade_draft(state)
    turn = engine.refresh(ASSESSMENT, state)
    assert turn.state is not None and turn.state["step"] == "nama"
    shown = "\n".join(engine.tr("id", t) for t in turn.prompt.texts)
    assert "Bagian 1" not in shown and "Selain" not in shown
    assert turn.state["answers"]["anggota"][0]["kerja"] == "4"


SECOND_HEAD_NIK = "3172010505950005"  # a man born 05-05-1995
SECOND_KK = "3172012106200008"  # issued 21-06-2020


@pytest.mark.e2e
async def test_two_kk_in_one_house_share_the_house_answers(db: Database, tmp_path: Path) -> None:
    team = await team_with_volunteer(db, area=KALIBARU)
    script = four()
    at = script.index((R, "RT 5 RW 3 Gang Melati")) + 1
    script[at] = (R, "2")  # two KK in the house
    saved = await team.run(script)
    assert "*/kk_berikutnya*" in saved and "KK 2 dari 2" in saved
    second = await team.run(by(
        R, "/kk_berikutnya", Button("persetujuan:1"),
        "Joko", SECOND_HEAD_NIK, SECOND_KK, "sendiri", "0", "lengkap",
        "nikah", "tamat sma", "ojek",
        "kontrak", "leding", "leding, meteran sendiri", "100rb", "sendiri",
        "leher angsa", "3 kg", "motor", "tidak ada", Button("confirm:yes")))
    first, other = await assessments(db)
    assert other.answers["rumah"] == first.answers["rumah"] == first.ref
    assert (first.answers["kk_ke"], other.answers["kk_ke"]) == (1, 2)
    for key in ("rt_rw", "luas_lantai", "atap", "penerangan_daya", "lokasi"):
        assert other.answers[key] == first.answers[key], key
    assert "Berapa luas lantai" not in second  # the house block is not asked again
    households, members, buildings = export_columns()
    # Two keluarga records sharing one house record, in both formats.
    result = await export_assessments(db, tmp_path / "a.csv", "csv", households=households,
                                      members=members, houses=buildings)
    assert (result.households, result.houses) == (2, 1)
    paths = csv_paths(tmp_path / "a.csv")
    rows = read_csv(paths[0])
    assert [r["rumah"] for r in rows] == [first.ref, first.ref]
    assert [r["kk_ke"] for r in rows] == ["1", "2"]
    [house] = read_csv(paths[2])
    assert (house["rumah"], house["jumlah_kk_tercatat"], house["jumlah_kk_rumah"]) == (
        first.ref, "2", "2")
    assert house["luas_lantai"] == "24" and house["rt"] == "005"
    result = await export_assessments(db, tmp_path / "a.xlsx", "xlsx", households=households,
                                      members=members, houses=buildings)
    assert (result.households, result.houses) == (2, 1)
    rows = read_sheet(tmp_path / "a.xlsx", "Rumah tangga")
    assert [(r["rumah"], r["kk_ke"]) for r in rows] == [(first.ref, 1), (first.ref, 2)]
    [house] = read_sheet(tmp_path / "a.xlsx", "Bangunan rumah")
    assert (house["rumah"], house["jumlah_kk_tercatat"], house["jumlah_kk_rumah"]) == (
        first.ref, 2, "2")


def _at_materials() -> tuple[Engine, Any]:
    engine = Engine(translator(), sealer=IdentityCipher("short-tests-secret-key-0123456789"))
    return engine, run(engine, [*head_with("sendiri"), "kontrak", "4x6"])


@pytest.mark.parametrize("typed", ["keramik, tembok, seng", "2, 1, 3", "2 1 3",
                                   "Keramik; tembok dan seng"])
def test_floor_wall_and_roof_in_one_message(typed: str) -> None:
    engine, turn = _at_materials()
    assert turn.state is not None and turn.state["step"] == "lantai"
    shown = "\n".join(engine.tr("id", t) for t in turn.prompt.texts)
    assert "*2. Dinding*: 1 Tembok" in shown and "*3. Atap*" in shown
    assert [c for c, _ in turn.prompt.choices][:2] == ["lantai:1", "lantai:2"]
    turn = engine.resume(ASSESSMENT, turn.state, inbound(typed), MOMENT)
    assert turn.state is not None
    answers = turn.state["answers"]
    assert (answers["lantai"], answers["dinding"], answers["atap"]) == ("2", "1", "3")
    assert turn.state["step"] == "air_minum"
    assert "Lantai: Keramik · Dinding: Tembok · Atap: Seng" in engine.tr(
        "id", turn.prompt.texts[0])


def test_one_answer_to_the_group_asks_the_rest_one_by_one() -> None:
    engine, turn = _at_materials()
    assert turn.state is not None
    turn = engine.resume(ASSESSMENT, turn.state, inbound("keramik"), MOMENT)
    assert turn.state is not None and turn.state["step"] == "dinding"
    shown = "\n".join(engine.tr("id", t) for t in turn.prompt.texts)
    assert "Atap" not in shown  # the rest of the group, one question at a time
    # A part that fits nothing is asked again on its own; the ones before it are kept.
    engine, turn = _at_materials()
    assert turn.state is not None
    turn = engine.resume(ASSESSMENT, turn.state, inbound("keramik, kaca, seng"), MOMENT)
    assert turn.state is not None and turn.state["step"] == "dinding"
    assert turn.state["answers"]["lantai"] == "2" and "atap" not in turn.state["answers"]
    # "kembali" goes back one answer, not the whole group.
    turn = engine.resume(ASSESSMENT, turn.state, inbound("kembali"), MOMENT)
    assert turn.state is not None and turn.state["step"] == "lantai"


def test_a_question_that_no_longer_applies_takes_no_part() -> None:
    engine, turn = _at_materials()
    assert turn.state is not None
    for answer in ("keramik, tembok, seng", "isi ulang", "leding, meteran sendiri", "50rb"):
        turn = engine.resume(ASSESSMENT, turn.state or {}, inbound(answer), MOMENT)
    assert turn.state is not None and turn.state["step"] == "fasilitas_bab"
    turn = engine.resume(ASSESSMENT, turn.state, inbound("tidak ada fasilitas, lubang tanah"),
                         MOMENT)
    assert turn.state is not None
    answers = turn.state["answers"]
    assert answers["fasilitas_bab"] == "6" and "kloset" not in answers
    assert answers["pembuangan_tinja"] == "4"


def _engine() -> Engine:
    return Engine(translator(), sealer=IdentityCipher("short-tests-secret-key-0123456789"))


def test_name_and_nik_in_one_message_or_apart() -> None:
    engine = _engine()
    consent_and_place = ["ya", "ya", "kalibaru"]
    turn = run(engine, [*consent_and_place, f"Budi Santoso NIK: {HEAD_NIK[:4]} {HEAD_NIK[4:]}"])
    assert turn.state is not None and turn.state["step"] == "no_kk"
    answers = turn.state["answers"]
    assert answers["kepala_nama"] == "Budi Santoso"
    assert answers["kepala_nik"]["masked"] == "3172********0001"
    assert "laki-laki" in "\n".join(engine.tr("id", t) for t in turn.prompt.texts)
    # A number that cannot be an NIK: the name is kept, the NIK asked again with why.
    turn = run(engine, [*consent_and_place, "Budi Santoso 3172013203810001"])
    assert turn.state is not None and turn.state["step"] == "kepala_nik"
    assert turn.state["answers"]["kepala_nama"] == "Budi Santoso"
    shown = "\n".join(engine.tr("id", t) for t in turn.prompt.texts)
    assert "NIK kepala rumah tangga?" in shown and "tanggal" in shown.lower()
    # The name alone: the NIK is its own question, as before.
    turn = run(engine, [*consent_and_place, "Budi Santoso"])
    assert turn.state is not None and turn.state["step"] == "kepala_nik"


def test_rt_rw_and_landmark_in_one_message() -> None:
    engine = _engine()
    head = FLOW_HEAD[:FLOW_HEAD.index("rt 5 rw 3")]
    turn = run(engine, [*head, "rt 5 rw 3, gg Melati dekat musholla"])
    assert turn.state is not None and turn.state["step"] == "jumlah_kk_rumah"
    answers = turn.state["answers"]
    assert answers["rt_rw"] == {"rt": "005", "rw": "003"}
    assert answers["patokan"] == "gg Melati dekat musholla"
    turn = run(engine, [*head, "005/003"])
    assert turn.state is not None and turn.state["step"] == "patokan"


def test_a_member_typed_with_the_heads_nik_is_asked_again() -> None:
    engine = _engine()
    turn = run(engine, [*head_with("istri"), f"Siti Aminah {HEAD_NIK}"])
    assert turn.state is not None and turn.state["step"] == "nik"
    shown = "\n".join(engine.tr("id", t) for t in turn.prompt.texts)
    assert "sudah dicatat untuk *Budi Santoso*" in shown
    turn = engine.resume(ASSESSMENT, turn.state, inbound(WIFE_NIK), MOMENT)
    assert turn.state is not None and turn.state["step"] == "pendidikan_ringkas"


def test_too_many_answers_and_a_bad_name_beside_a_nik_lose_nothing_silently() -> None:
    engine, turn = _at_materials()
    assert turn.state is not None
    turn = engine.resume(ASSESSMENT, turn.state, inbound("2 1 3 4"), MOMENT)
    assert turn.state is not None and turn.state["step"] == "air_minum"
    assert "lebihnya (*4*) tidak dipakai" in engine.tr("id", turn.prompt.texts[1])
    engine = _engine()
    turn = run(engine, ["ya", "kalibaru", f"😀 {HEAD_NIK}"])
    assert turn.state is not None and turn.state["step"] == "kepala_nama"
    assert "kepala_nama" not in turn.state["answers"]  # not "😀 [nomor disembunyikan]"


def test_identity_documents_asked_per_member_only_when_someone_lacks_one() -> None:
    engine = _engine()
    start = [*FLOW_HEAD[:-1], "anak", "tidak ada"]
    turn = run(engine, [*start, "ada yang belum"])
    assert turn.state is not None and turn.state["step"] == "kartu_identitas"
    assert "Kartu identitas yang dimiliki Budi Santoso?" in "\n".join(
        engine.tr("id", t) for t in turn.prompt.texts)
    turn = run(engine, [*start, "ada yang belum", "ktp, akta", "cerai mati", "sd",
                        "nelayan", "Putri", "lewati", "perempuan", "3 maret 2024",
                        "belum terdaftar", "0"])
    assert turn.state is not None
    head, child = turn.state["answers"]["anggota"]
    assert (head["kode_411"], child["kode_411"]) == (5, 0)  # summed as on paper
    assert "perlu_adminduk" in vulnerability_flags(turn.state["answers"], DAY)
    # "Lengkap": nobody is asked, each member's sum follows from the age.
    turn = run(engine, [*start, "lengkap", "cerai mati", "sd", "nelayan", "Putri", "lewati",
                        "perempuan", "3 maret 2024", "belum terdaftar"])
    assert turn.state is not None
    assert [m["kode_411"] for m in turn.state["answers"]["anggota"]] == [5, 3]
