"""Golden transcripts of the household assessment through dispatcher, engine and
database; and the checks that no NIK or No. KK is stored in the clear."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.crypto import IdentityCipher
from storage.db import Database
from storage.models import AuditEntry, ConversationSession
from storage.models_volunteers import (
    Assessment,
    AssessmentDraft,
    AssessmentIdentity,
    ConsentRecord,
    VolunteerApplication,
)
from storage.repos_volunteers import VolunteerRepo
from tests.harness import Action, Button, Clock, Later, Photo, Pin, Restart, check_golden
from tests.volunteers_harness import SECRET, Step, Team

pytestmark = [pytest.mark.e2e]

R = "relawan"
HEAD_NIK = "3172011203810001"
WIFE_NIK = "3172015506880002"
KK = "3172012005150007"


def by(who: str, *actions: Action) -> list[Step]:
    return [(who, a) for a in actions]


START = by(R, "/asesmen", Button("persetujuan:1"),
           Button("kelurahan:1004"), "Budi Santoso", HEAD_NIK,
           KK, "RT 5 RW 3", "Gang Melati, dekat musholla Al-Ikhlas", "1", "istri, anak",
           "hamil",  # the household health screen
           "lengkap")  # identity documents: as expected for their ages
HEAD_MEMBER = by(R, "SD", "nelayan")  # married: the roster has a spouse
WIFE = by(R, "Siti Aminah", WIFE_NIK, "ya", "smp", "pengupas kerang")
CHILD = by(R, "Putri", "lewati", "perempuan", "3 maret 2024", "belum terdaftar")
HOUSE = by(R, "1", "24", "keramik", "tembok", "seng", "sumur bor", "kurang dari 10 m", "sumur bor",
           "tidak bayar", "1",
           "leher angsa", "lubang tanah", "450", "3 kg", "perahu, motor tempel",
           "pkh, sembako",
           Pin(-6.0962, 106.9321), Photo("rumah-budi"))
HOUSEHOLD = [*START, *HEAD_MEMBER, *WIFE, *CHILD, *HOUSE]


async def team_with_volunteer(db: Database, clock: Clock | None = None, *,
                              area: str | None = None) -> Team:
    """A coordinator and a volunteer; with ``area``, the volunteer registered for that
    kelurahan (its Kemendagri code) and was approved."""
    team = Team(db, clock)
    await team.add("koordinator", "coordinator")
    volunteer = await team.add(R, "volunteer", "tagana")
    if area is not None:
        async with db.transaction() as tx:
            tx.session.add(VolunteerApplication(
                contact_id=volunteer, volunteer_type="tagana", full_name="Relawan",
                kelurahan_code=area, status="disetujui", created_at=team.clock()))
    return team


async def assessments(db: Database) -> list[Assessment]:
    async with db.session() as s:
        return list((await s.execute(select(Assessment).order_by(Assessment.id))).scalars())


async def test_three_members_with_skip_logic(db: Database) -> None:
    team = await team_with_volunteer(db)
    check_golden("assessment_three_members",
                 await team.run([*HOUSEHOLD, (R, Button("confirm:yes"))]))
    [a] = await assessments(db)
    assert (a.kelurahan_code, a.rt, a.rw) == ("31.72.04.1004", "005", "003")
    # Stored: keyed references, no digit of the numbers.
    cipher = IdentityCipher(SECRET.reveal())
    assert (a.nik_masked, a.kk_masked) == (cipher.reference("nik", HEAD_NIK),
                                           cipher.reference("kk", KK))
    assert a.household_size == a.member_count == 3
    assert a.flags == ["balita", "ibu_hamil", "sanitasi_tidak_layak", "nelayan", "tanpa_nik",
                       "perlu_adminduk"]
    head, wife, child = a.answers["anggota"]
    assert "hamil" not in head and wife["hamil"] == "yes"
    assert not {"hamil", "pendidikan", "pekerjaan"} & set(child)
    assert a.answers["jarak_tinja"] == "1" and a.specific_consent is True
    assert a.latitude == pytest.approx(-6.0962)
    async with db.session() as s:
        kinds = sorted((i.kind, i.role, i.position) for i in
                       (await s.execute(select(AssessmentIdentity))).scalars())
        assert kinds == [("kk", "kk", None), ("nik", "anggota", 2), ("nik", "kepala", 1)]
        consents = (await s.execute(select(ConsentRecord).order_by(ConsentRecord.id))).scalars()
        assert [(c.scope, c.granted, c.assessment_id) for c in consents] == [
            ("umum", True, a.id), ("spesifik", True, a.id)]
        session = (await s.execute(select(ConversationSession).where(
            ConversationSession.flow_id.is_not(None)))).scalars().all()
        assert session == []


async def test_invalid_nik_is_reprompted_with_its_reason(db: Database) -> None:
    team = await team_with_volunteer(db)
    script = [*START[:4], *by(
        R,
        "31720112038",  # 11 digits
        "3172 0132 0381 0001",  # day 32: no such birth date
        "3172011203810000",  # serial 0000
        "9972011203810001",  # 99 is no province
        "NIK 3172-0112-0381-0001",  # right, typed with a prefix and dashes
        "kembali",  # the read-back is not what the card says: type again
        HEAD_NIK,
    )]
    check_golden("assessment_invalid_nik", await team.run(script))


async def test_edit_from_the_summary(db: Database) -> None:
    team = await team_with_volunteer(db)
    await team.run(HOUSEHOLD)
    script = by(
        R,
        "ubah",
        "Sumber air minum",  # a household answer, picked by its title
        "leding",  # no well any more: the septic-tank distance no longer applies
        Button("confirm:no"),
        Button("edit:anggota"),
        "2",  # Siti Aminah
        Button("edit:anggota.2.kerja"),
        "12",  # the paper code: trade
        "kirim",
    )
    check_golden("assessment_edit_summary", await team.run(script))
    [a] = await assessments(db)
    assert a.answers["air_minum"] == "3" and "jarak_tinja" not in a.answers
    assert a.answers["anggota"][1]["pekerjaan"] == "12"


async def test_pause_and_resume_across_a_restart(db: Database) -> None:
    clock = Clock()
    team = await team_with_volunteer(db, clock)
    await team.run([*START, *HEAD_MEMBER, *WIFE[:2]])
    script: list[Step] = [
        (R, "nanti"),  # at the second member's pregnancy, her NIK just read back
        Restart(),
        Later(18),
        (R, "halo"),
        (R, "/asesmen"),
        (R, Button("asm:draft:1")),
        (R, "ya"),
    ]
    check_golden("assessment_pause_resume", await team.run(script))
    async with db.session() as s:
        assert (await s.execute(select(func.count(AssessmentDraft.id)))).scalar_one() == 0
    await team.run([*WIFE[3:], *CHILD, *HOUSE, (R, "ya")])
    [a] = await assessments(db)
    assert [m["nama"] for m in a.answers["anggota"]] == ["Budi Santoso", "Siti Aminah", "Putri"]


async def test_menu_pause_then_asesmen_continues(db: Database) -> None:
    team = await team_with_volunteer(db)
    await team.run(START[:4])
    await team.send(R, "menu")
    out = await team.say(R, "/asesmen")
    assert "lanjutkan asesmen" in out.text and "NIK kepala rumah tangga" in out.text


async def test_several_drafts_and_a_new_assessment(db: Database) -> None:
    team = await team_with_volunteer(db)
    await team.run([*START[:4], (R, "nanti")])
    await team.run([(R, "/asesmen"), (R, Button("asm:new")), *START[1:3], (R, "Ani Lestari"),
                    (R, "nanti")])
    out = await team.say(R, "/asesmen")
    assert "Ani Lestari" in out.text and "Budi Santoso" in out.text
    assert [c.id for c in out.choices] == ["asm:draft:2", "asm:draft:1", "asm:new"]
    out = await team.say(R, Button("asm:new"))
    assert "Pemberitahuan untuk responden" in out.text
    # Nobody else's draft can be opened by guessing its number.
    await team.add("lain", "volunteer", "pkh")
    out = await team.say("lain", Button("asm:draft:2"))
    assert "sudah tidak ada" in out.text


async def test_duplicate_nik_in_the_same_kelurahan_is_flagged(db: Database) -> None:
    team = await team_with_volunteer(db)
    await team.run([*HOUSEHOLD, (R, "ya")])
    [first] = await assessments(db)
    # The kelurahan is now the volunteer's own (that of the first assessment): not asked.
    again = [*START[:2], *START[3:]]
    script = [*again[:4], *by(R, "tidak")]  # NIK typed: warned at once; "tidak" stops
    check_golden("assessment_duplicate_nik", await team.run(script))
    assert len(await assessments(db)) == 1
    # Answered "ya", it is saved as an update linked to the earlier record.
    await team.run([*again[:4], (R, "ya"), *again[4:], *HEAD_MEMBER, *WIFE, *CHILD, *HOUSE,
                    (R, "ya")])
    first_again, second = await assessments(db)
    assert second.duplicate_of == first.id == first_again.id
    # Another kelurahan is another household (NIKs stay where they were first issued): a
    # volunteer of Marunda, whose kelurahan is filled in from the registration.
    other = "relawan_marunda"
    contact_id = await team.add(other, "volunteer", "tagana")
    async with db.transaction() as tx:
        tx.session.add(VolunteerApplication(
            contact_id=contact_id, volunteer_type="tagana", kelurahan_code="31.72.04.1003",
            status="disetujui", created_at=team.clock()))
    out = await team.run(by(other, "/asesmen", Button("persetujuan:1"), "Budi Santoso",
                            HEAD_NIK, KK))
    assert "Kelurahan: *Marunda*" in out and "sudah pernah diases" not in out


async def test_duplicate_found_by_family_card(db: Database) -> None:
    team = await team_with_volunteer(db)
    await team.run([*HOUSEHOLD, (R, "ya")])
    other_head = "3172010101700003"
    outs = await team.run([*START[:4], (R, other_head), (R, KK)])
    assert "No. KK ini sudah pernah diases" in outs and "pembaruan" in outs


async def test_consent_refused_keeps_only_the_proof(db: Database) -> None:
    team = await team_with_volunteer(db)
    out = await team.run(by(R, "/asesmen", "tidak"))
    assert "Tanpa persetujuan responden tidak ada data" in out
    assert await assessments(db) == []
    async with db.session() as s:
        [record] = (await s.execute(select(ConsentRecord))).scalars()
        assert (record.granted, record.subject, record.assessment_id) == (
            False, "rumah_tangga", None)
        assert len(record.notice_sha256) == 64


async def test_a_resident_is_refused_politely(db: Database) -> None:
    team = await team_with_volunteer(db)
    await team.add("warga")
    out = await team.say("warga", "/asesmen")
    assert "hanya untuk relawan yang sudah terdaftar" in out.text
    assert "/relawan KODE" in out.text
    out = await team.say("warga", Button("asm:new"))
    assert "hanya untuk relawan" in out.text
    # Typed outside a flow, and from the menu, the same.
    out = await team.say("warga", "asesmen")
    assert "hanya untuk relawan" in out.text
    assert "menu:asesmen" not in [c.id for c in (await team.say("warga", "menu")).choices]
    assert await assessments(db) == []


async def test_no_plaintext_identity_numbers_in_the_database_file(
        db: Database, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("scans the SQLite file")
    team = await team_with_volunteer(db)
    await team.run([*HOUSEHOLD, (R, "ya")])  # a saved assessment
    # A draft: an update of that household, with the number typed into a free-text answer.
    await team.run([*START[:5], *by(R, "ya", KK, "RT 5 RW 3",
                                    "Catatan: KK lama 3172-0120-0515-0007", "nanti")])
    # A session in the middle, just past the KK and its read-back.
    await team.run([(R, "/asesmen"), (R, Button("asm:new")), *START[1:5], (R, "ya")])
    out = await team.say(R, KK)
    assert "3172********0007" in out.text
    await db.close()  # everything on disk
    path = Path(database_url.split("///", 1)[1])
    blobs = [p.read_bytes() for p in path.parent.glob(path.name + "*")]
    assert blobs and sum(len(b) for b in blobs) > 10_000
    for number in (HEAD_NIK, WIFE_NIK, KK):
        for blob in blobs:
            assert number.encode() not in blob, f"{number} in plain text in {path.name}*"
            # Nor as UTF-16 or with the usual separators.
            assert number.encode("utf-16-le") not in blob
    reopened = Database(database_url)
    try:
        async with reopened.transaction() as tx:
            repo = VolunteerRepo(tx.session)
            assert await repo.count_assessments() == 1
            [draft] = (await tx.session.execute(select(AssessmentDraft))).scalars()
            assert draft.state["answers"]["patokan"] == "Catatan: KK lama [nomor disembunyikan]"
            [state] = (await tx.session.execute(select(ConversationSession.state).where(
                ConversationSession.flow_id == "assessment"))).scalars()
            assert state["flow"]["answers"]["no_kk"]["sealed"]
            entries = (await tx.session.execute(select(AuditEntry.action))).scalars().all()
            assert "assessment.created" in entries
    finally:
        await reopened.close()


async def test_correcting_the_number_drops_the_update_question(db: Database) -> None:
    team = await team_with_volunteer(db)
    await team.run([*HOUSEHOLD, (R, "ya")])
    await team.run([*HOUSEHOLD[:5], (R, "ya"), *HOUSEHOLD[5:]])
    out = await team.say(R, "ubah")
    assert "edit:pembaruan" in [c.id for c in out.choices]
    await team.run(by(R, "NIK kepala", "3172010101700003"))
    async with db.session() as s:
        state = (await s.execute(select(ConversationSession.state))).scalars().all()
    [flow] = [st["flow"] for st in state if st.get("flow")]
    assert flow["status"] == "confirm"
    # The KK is still the old household's: the question stays, about that number now.
    assert flow["ctx"]["duplicate"]["by"] == "kk"
    out = await team.say(R, "ubah")
    await team.run(by(R, "No. KK", "3172012005160008"))
    async with db.session() as s:
        state = (await s.execute(select(ConversationSession.state))).scalars().all()
    [flow] = [st["flow"] for st in state if st.get("flow")]
    assert "duplicate" not in flow["ctx"] and "pembaruan" not in flow["answers"]
    assert flow["status"] == "confirm"


async def test_no_identity_number_in_any_table(db: Database) -> None:
    """Every row of every table, read back through SQL (SQLite and PostgreSQL)."""
    from storage.models import Base

    team = await team_with_volunteer(db)
    await team.run([*HOUSEHOLD, (R, "ya")])
    await team.run([*START[:5], *by(R, "ya", KK, "nanti")])
    await team.run([(R, "/asesmen"), (R, Button("asm:new")), *START[1:5], (R, "ya")])
    await team.say(R, KK)
    seen = 0
    async with db.session() as s:
        for table in Base.metadata.sorted_tables:
            for row in (await s.execute(select(table))).all():
                text = repr(tuple(row))
                seen += 1
                for number in (HEAD_NIK, WIFE_NIK, KK):
                    assert number not in text, f"{number} in {table.name}"
    assert seen > 50
