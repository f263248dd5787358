"""The assessment flow on the pure engine: repeat groups, skip logic, read-back of
identity numbers, consent, edits from the summary, and the vulnerability flags."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

import pytest

from conversations.assessment import ASSESSMENT, age_on, vulnerability_flags
from conversations.complaint import COMPLAINT
from conversations.engine import Engine, Turn, mask_ids
from conversations.flow import (
    Derive,
    Flow,
    FlowError,
    Option,
    Repeat,
    Step,
    StepType,
    mermaid,
)
from conversations.forms import validate
from conversations.messages import Inbound, InboundKind, Location
from conversations.xpath import compile_expr
from storage.crypto import IdentityCipher
from tests.harness import START, translator

HEAD_NIK = "3172011203810001"  # man, born 12-03-1981
WIFE_NIK = "3172015506880002"  # woman, born 15-06-1988
KK = "3172012005150007"  # issued 20-05-2015
DAY = date(2026, 11, 28)

Input = str | tuple[str, str] | Location


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(translator(), sealer=IdentityCipher("flow-tests-secret-key-0123456789"))


def inbound(item: Input) -> Inbound:
    base: dict[str, Any] = {"channel": "console", "user_id": "r1",
                            "message_id": uuid.uuid4().hex}
    if isinstance(item, Location):
        return Inbound(kind=InboundKind.LOCATION, location=item, **base)
    if isinstance(item, tuple):
        return Inbound(kind=InboundKind.CHOICE, choice_id=item[1], **base)
    return Inbound(kind=InboundKind.TEXT, text=item, **base)


def run(engine: Engine, inputs: Sequence[Input], flow: Flow = ASSESSMENT) -> Turn:
    turn = engine.start(flow, START)
    for item in inputs:
        assert turn.state is not None, f"the flow ended before {item!r}"
        turn = engine.resume(flow, turn.state, inbound(item), START)
    return turn


def texts(engine: Engine, turn: Turn) -> str:
    return "\n".join(engine.tr("id", t) for t in turn.prompt.texts)


HEAD = ["ya", "kalibaru", "Budi Santoso", HEAD_NIK, KK, "rt 5 rw 3",
        "lewati", "1", "istri, anak"]
SCREEN = "hamil"  # the household health screen: someone is pregnant
CARDS = "lengkap"  # everyone has the identity documents of their age (411)
# Married: the roster has a spouse. Male: no pregnancy question.
HEAD_MEMBER = ["sd", "nelayan"]
WIFE = ["Siti Aminah", WIFE_NIK, "ya", "smp", "pengupas kerang"]
CHILD = ["Putri", "lewati", "perempuan", "3 maret 2024", "belum terdaftar"]
HOUSE = ["milik sendiri", "24", "keramik", "tembok", "seng", "sumur bor", "1", "sumur bor",
         "tidak bayar", "1",
         "leher angsa", "lubang", "450", "3 kg", "perahu, motor tempel", "pkh, sembako",
         "lewati", "lewati"]
FULL = [*HEAD, SCREEN, CARDS, *HEAD_MEMBER, *WIFE, *CHILD, *HOUSE]


def test_the_flow_is_valid_and_its_diagram_shows_the_repeat() -> None:
    assert validate(ASSESSMENT, translator().keys["id"]) is ASSESSMENT
    assert validate(ASSESSMENT, translator().keys["en"]) is ASSESSMENT
    diagram = mermaid(ASSESSMENT)
    assert 'subgraph anggota["repeat: anggota"]' in diagram
    assert "hamil" in diagram and "umur >= 10" in diagram


def test_three_members_with_skip_logic(engine: Engine) -> None:
    turn = run(engine, FULL)
    assert turn.state is not None and turn.state["status"] == "confirm"
    answers = turn.state["answers"]
    head, wife, child = answers["anggota"]
    assert head["hubungan"] == "1" and head["nama"] == "Budi Santoso"
    assert (head["jenis_kelamin"], head["tanggal_lahir"], head["umur"]) == ("1", "1981-03-12", 45)
    assert "hamil" not in head  # a man
    assert wife["hamil"] == "yes" and wife["jenis_kelamin"] == "2" and wife["umur"] == 38
    assert child["umur"] == 2
    assert not {"hamil", "pendidikan", "pekerjaan", "nik"} & set(child)  # a toddler
    assert answers["jarak_tinja"] == "1"  # asked: the water is from a well
    assert answers["daya_listrik"] == "1"
    assert answers["aset"] == ["502l", "502m"] and answers["bantuan"] == ["501b", "501a"]
    assert answers["kerentanan"] == ["balita", "ibu_hamil", "sanitasi_tidak_layak", "nelayan",
                                     "tanpa_nik", "perlu_adminduk"]
    assert child["alasan_tanpa_nik"] == "1"  # not yet registered: recorded, not blocked
    turn = engine.resume(ASSESSMENT, turn.state, inbound("ya"), START)
    assert turn.completed is not None and turn.completed["_meta"]["times"]["persetujuan"]


def test_no_septic_distance_for_piped_water(engine: Engine) -> None:
    house = ["milik sendiri", "24", "keramik", "tembok", "seng", "leding", "leding, tanpa meteran",
             "50rb", "1"]
    turn = run(engine, [*HEAD[:-1], "sendiri", "tidak ada", CARDS, "cerai mati", *HEAD_MEMBER,
                        *house])
    assert turn.state is not None
    assert "jarak_tinja" not in turn.state["answers"]
    assert turn.state["step"] == "kloset"  # fasilitas_bab was answered with "1"


def test_without_specific_consent_child_data_is_minimal(engine: Engine) -> None:
    inputs = ["tanpa data spesifik", *HEAD[1:-1], "anak", CARDS, "cerai mati", "sd", "nelayan",
              "Putri", "lewati", "perempuan", "3 maret 2024", *HOUSE]
    turn = run(engine, inputs)
    assert turn.state is not None and turn.state["status"] == "confirm"
    head, child = turn.state["answers"]["anggota"]
    assert "disabilitas" not in head and "penyakit_kronis" not in head
    assert head["nama"] == "Budi Santoso"  # an adult's name is not specific data
    assert set(child) == {"hubungan", "jenis_kelamin", "tanggal_lahir", "umur"}


@pytest.mark.parametrize("fewer", ["tidak", "sudah", "tidak ada lagi"])
def test_count_check_offers_to_fix_the_stated_size(engine: Engine, fewer: str) -> None:
    turn = run(engine, [*HEAD, "tidak ada", CARDS, *HEAD_MEMBER, fewer])  # 3 stated, 1 there
    assert turn.state is not None and turn.state["status"] == "repeat_more"
    shown = texts(engine, turn)
    assert "(1) tidak sama" in shown and "(3)" in shown
    assert [c for c, _ in turn.prompt.choices] == ["anggota:__add", "anggota:__fix"]
    turn = engine.resume(ASSESSMENT, turn.state, inbound(("", "anggota:__fix")), START)
    assert turn.state is not None
    assert turn.state["answers"]["jumlah_art"] == 1
    assert turn.state["step"] == "status_rumah"


def test_back_goes_into_the_group_without_losing_members(engine: Engine) -> None:
    turn = run(engine, [*HEAD[:-1], "sendiri", "tidak ada", CARDS, "cerai mati", *HEAD_MEMBER])
    assert turn.state is not None and turn.state["step"] == "status_rumah"  # 1 of 1: done
    turn = engine.resume(ASSESSMENT, turn.state, inbound("kembali"), START)
    assert turn.state is not None and turn.state["step"] == "kerja"
    assert turn.state["answers"]["anggota"] == []  # the member is being edited again
    turn = engine.resume(ASSESSMENT, turn.state, inbound("ojek"), START)
    assert turn.state is not None and turn.state["step"] == "status_rumah"
    assert turn.state["answers"]["anggota"][0]["pekerjaan"] == "13"


def test_the_next_member_starts_at_once_and_back_returns_to_the_last(engine: Engine) -> None:
    turn = run(engine, [*HEAD, "tidak ada", CARDS, *HEAD_MEMBER])  # 3 stated
    assert turn.state is not None and turn.state["step"] == "nama"
    shown = texts(engine, turn)
    assert "Anggota ke-2 dari 3" in shown and "Tambah anggota" not in shown
    # "ya", from the habit of "add another?", is not taken for a name.
    again = engine.resume(ASSESSMENT, turn.state, inbound("ya"), START)
    assert again.changed is False and "sudah dimulai" in texts(engine, again)
    turn = engine.resume(ASSESSMENT, turn.state, inbound("kembali"), START)
    assert turn.state is not None and turn.state["step"] == "kerja"
    turn = engine.resume(ASSESSMENT, turn.state, inbound("nelayan"), START)
    assert turn.state is not None and turn.state["step"] == "nama"
    assert [m["nama"] for m in turn.state["answers"]["anggota"]] == ["Budi Santoso"]


def test_back_from_the_first_member_question_leaves_the_group(engine: Engine) -> None:
    turn = run(engine, [*HEAD, "tidak ada", CARDS, "kembali"])
    assert turn.state is not None and turn.state["step"] == "kartu_keluarga"
    assert "anggota" not in turn.state["answers"] and "repeat" not in turn.state


def test_edit_a_member_from_the_summary_and_remove_one(engine: Engine) -> None:
    turn = run(engine, [*FULL, "ubah", ("", "edit:anggota"), ("", "edit:anggota.2")])
    assert turn.state is not None
    choices = [c for c, _ in turn.prompt.choices]
    assert "edit:anggota.2.pendidikan_ringkas" in choices and "edit:anggota.2.-" in choices
    assert "edit:anggota.2.jenis_kelamin" not in choices  # read from the NIK
    turn = engine.resume(ASSESSMENT, turn.state, inbound(("", "edit:anggota.2.pendidikan_ringkas")),
                         START)
    turn = engine.resume(ASSESSMENT, turn.state or {}, inbound("sma"), START)
    assert turn.state is not None and turn.state["status"] == "confirm"
    assert turn.state["answers"]["anggota"][1]["pendidikan"] == "13"  # 415: SMA
    # The head (member 1) comes from the head's answers: it cannot be removed here.
    turn = run(engine, [*FULL, "ubah", ("", "edit:anggota"), ("", "edit:anggota.1")])
    assert "edit:anggota.1.-" not in [c for c, _ in turn.prompt.choices]
    turn = run(engine, [*FULL, "ubah", ("", "edit:anggota"), ("", "edit:anggota.3"),
                        ("", "edit:anggota.3.-")])
    assert turn.state is not None and turn.state["status"] == "repeat_more"
    assert len(turn.state["answers"]["anggota"]) == 2


def test_editing_the_head_nik_follows_into_member_one(engine: Engine) -> None:
    other = "3172015203810009"  # a woman born 12-03-1981
    turn = run(engine, [*FULL, "ubah", "NIK kepala", other])
    assert turn.state is not None
    head = turn.state["answers"]["anggota"][0]
    assert head["nik"]["masked"] == "3172********0009" and head["jenis_kelamin"] == "2"
    # A woman of 45 now: the pregnancy question is asked for member 1.
    assert turn.state["step"] == "hamil"


def test_none_of_these_cannot_be_combined(engine: Engine) -> None:
    turn = run(engine, [*HEAD, "tidak ada, sulit jalan"])
    assert "tidak bisa digabung" in texts(engine, turn)
    assert turn.changed is False


def test_refusing_consent_ends_the_flow_at_once(engine: Engine) -> None:
    turn = run(engine, ["tidak"])
    assert turn.state is None and turn.completed is not None
    assert turn.completed["persetujuan"] == "0"
    # Nothing about the household was asked; the flags are computed (and empty).
    assert set(turn.completed) == {"persetujuan", "kerentanan", "_meta"}
    assert turn.completed["kerentanan"] == []


def test_the_nik_is_read_back_with_the_next_question_and_kembali_retypes_it(
        engine: Engine) -> None:
    turn = run(engine, HEAD[:4])
    assert turn.state is not None and turn.state["step"] == "no_kk"
    shown = texts(engine, turn)
    assert "3172********0001" in shown and "laki-laki" in shown and "12 Maret 1981" in shown
    assert "Kamis" not in shown  # no weekday in a read-back
    assert "kembali" in shown and "Nomor Kartu Keluarga" in shown
    assert turn.prompt.ephemeral  # the masked number leaves no copy in the outbox
    turn = engine.resume(ASSESSMENT, turn.state, inbound("kembali"), START)
    assert turn.state is not None and turn.state["step"] == "kepala_nik"
    turn = engine.resume(ASSESSMENT, turn.state, inbound(WIFE_NIK), START)
    assert turn.state is not None and "perempuan" in texts(engine, turn)
    assert turn.state["answers"]["kepala_nik"]["masked"] == "3172********0002"


def test_nanti_pauses_the_assessment_but_is_an_answer_elsewhere(engine: Engine) -> None:
    turn = run(engine, [*HEAD[:3], "nanti"])
    assert turn.paused and turn.state is not None and turn.state["step"] == "kepala_nik"
    complaint = run(engine, ["keluhan", "nanti"], flow=COMPLAINT)
    assert not complaint.paused
    assert complaint.state is not None and complaint.state["answers"]["uraian"] == "nanti"


def test_the_state_never_holds_an_identity_number(engine: Engine) -> None:
    turn = run(engine, [*FULL[:6], "Catatan: NIK istri 3172 0155 0688 0002"])
    dumped = json.dumps(turn.state)
    for number in (HEAD_NIK, KK, WIFE_NIK):
        assert number not in dumped
    assert "3172********0001" in dumped  # the masked form is what is shown and kept


def test_mask_ids_in_free_text() -> None:
    assert mask_ids("NIK saya 3172-0112-8500-0001 ya") == "NIK saya [nomor disembunyikan] ya"
    assert mask_ids("RT 005 telp 081234567890") == "RT 005 telp 081234567890"


@pytest.mark.parametrize(
    ("answers", "flags"),
    [
        ({"anggota": [{"hubungan": "1", "jenis_kelamin": "2", "tanggal_lahir": "1950-01-01"}],
          "jumlah_art": 1, "luas_lantai": 30, "air_minum": "9", "penerangan": "4",
          "bantuan": ["0"]},
         ["lansia", "kepala_perempuan", "lansia_tunggal", "air_tidak_layak", "tanpa_listrik",
          "tanpa_bantuan"]),
        ({"anggota": [{"umur": 30, "disabilitas": ["0"], "penyakit_kronis": "5"},
                      {"umur": 1}], "jumlah_art": 2, "luas_lantai": 10, "lantai": "8",
          "fasilitas_bab": "6", "bantuan": ["1"]},
         ["balita", "penyakit_kronis", "sanitasi_tidak_layak", "rumah_tidak_layak",
          "rumah_sempit"]),
        ({"anggota": [{"umur": 40, "disabilitas": ["1", "4"], "pekerjaan": "4"}],
          "fasilitas_bab": "1", "kloset": "1", "pembuangan_tinja": "1"},
         ["disabilitas", "nelayan"]),
        ({}, []),
    ],
)
def test_vulnerability_flags(answers: dict[str, Any], flags: list[str]) -> None:
    assert vulnerability_flags(answers, DAY) == flags


def test_age_counts_completed_years() -> None:
    assert age_on(date(1981, 11, 29), DAY) == 44
    assert age_on(date(1981, 11, 28), DAY) == 45


def _child(name: str, kind: StepType = StepType.TEXT, **kw: Any) -> Step:
    return Step(name, kind, "complaint.uraian.label", "complaint.uraian.title", **kw)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ((_child("n"), Step("g", StepType.REPEAT, "complaint.uraian.label",
                            "complaint.uraian.title",
                            repeat=Repeat((_child("c"),), "common.yes", "common.no",
                                          count=compile_expr("${m}")))),
         "repeat_count refers to 'm', which is not an earlier question"),
        ((Step("g", StepType.REPEAT, "complaint.uraian.label", "complaint.uraian.title",
               repeat=Repeat((_child("c"),), "common.yes", "common.no",
                             seed=(("c", compile_expr("${nowhere}")),))),),
         "seed 'c' <- '\\$\\{nowhere\\}' is not valid"),
        ((_child("x", confirm=True),), "only identity numbers are read back"),
        ((_child("x", StepType.NIK, derive=(Derive("missing", "sex"),)),),
         "derives 'missing'"),
        ((_child("x", StepType.CALCULATE),), "a calculation needs a formula"),
        ((Step("g", StepType.REPEAT, "complaint.uraian.label", "complaint.uraian.title"),),
         "a repeat step needs children"),
        ((Step("g", StepType.REPEAT, "complaint.uraian.label", "complaint.uraian.title",
               repeat=Repeat((_child("g"),), "common.yes", "common.no")),),
         "duplicate step id"),
        ((Step("o", StepType.SELECT_ONE, "complaint.uraian.label", "complaint.uraian.title",
               choices=(Option("a", "common.yes"),),
               repeat=Repeat((_child("c"),), "common.yes", "common.no")),),
         "only repeat steps have children"),
    ],
)
def test_new_flow_vocabulary_is_validated(steps: tuple[Step, ...], message: str) -> None:
    with pytest.raises(FlowError, match=message):
        validate(Flow("demo", 1, "flow.intro", steps, "flow.summary_intro"))


def test_the_diagrams_in_the_docs_are_the_generated_ones() -> None:
    from pathlib import Path

    from conversations.volunteers import REGISTRATION

    docs = (Path(__file__).resolve().parents[1] / "docs" / "volunteers.md").read_text(
        encoding="utf-8")
    for flow in (ASSESSMENT, REGISTRATION):
        assert f"```mermaid\n{mermaid(flow)}```" in docs, (
            "docs/volunteers.md is out of date: regenerate it from conversations.flow.mermaid")


@pytest.mark.parametrize(("before", "after"), [
    ({"persetujuan": "yes", "persetujuan_khusus": "yes"}, "1"),
    ({"persetujuan": "yes", "persetujuan_khusus": "no"}, "2"),
    ({"persetujuan": "yes"}, "2"),  # paused before the second answer: nothing specific yet
    ({"persetujuan": "no"}, "0"),
    ({"persetujuan": "2"}, "2"),
])
def test_a_draft_from_the_two_answer_consent_keeps_a_refusal(before: dict[str, str],
                                                              after: str) -> None:
    from conversations.assessment import from_two_consents

    answers = dict(before)
    from_two_consents(answers)
    assert answers["persetujuan"] == after
