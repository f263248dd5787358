"""Golden transcripts of activities by chat: creating one with an Indonesian date, RSVP
and its change, reschedule and cancel notices, reminders, opt-out honoured, a resident
refused. Regenerate with ``WARGA_UPDATE_GOLDEN=1 pytest tests/test_activities.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from conversations.i18n import JAKARTA
from storage.db import Database
from storage.models import OutboxMessage
from storage.models_activities import Activity, ActivityRsvp, Broadcast
from storage.repos_activities import ActivityRepo
from tests.activity_world import COORDINATOR, World
from tests.harness import Button, Clock, Later, check_golden

pytestmark = [pytest.mark.e2e]

# Monday 30 November 2026, 09.00 WIB: "Sabtu ini" is 5 December.
MONDAY = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
RESIDENTS = {"siti": "Siti", "budi": "Budi", "ani": "Ani", "joko": "Joko"}


async def meet(world: World) -> None:
    """Everyone has written to the bot once; Siti and Ani live in RW 03 Kalibaru (Siti
    said so with /wilayah, Ani reported a problem there), Budi in RW 05, Joko is new."""
    world.names.update(RESIDENTS)
    for user in (*RESIDENTS, COORDINATOR):
        await world.send(user, "halo")
    for action in ("/wilayah", "kalibaru", "RT 2 RW 3", "ya"):
        await world.send("siti", action)
    for action in ("/wilayah", "kalibaru", "RT 1 RW 5", "ya"):
        await world.send("budi", action)
    async with world.db.transaction() as tx:
        ani = await tx.contacts.get_by_external("console", "ani")
        assert ani is not None
        await tx.complaints.create(
            new_ticket=lambda: "AIR-ANI23", contact_id=ani.id, now=world.clock(),
            actor="test", report_type="air", category="keruh", description="Air keruh",
            kelurahan_code="31.72.04.1004", rt="007", rw="003", flow_id="complaint",
            flow_version=1, answers={})


CREATE = [
    (COORDINATOR, "/kegiatan"),
    (COORDINATOR, "Bersih-bersih saluran RW 03"),
    (COORDINATOR, "kerja bakti"),
    (COORDINATOR, "secepatnya"),
    (COORDINATOR, "Sabtu ini jam 7 pagi"),
    (COORDINATOR, "Balai RW 03, Jl. Kalibaru Barat"),
    (COORDINATOR, "Bawa sapu, cangkul dan karung"),
    (COORDINATOR, "3"),
    (COORDINATOR, "kalibaru"),
    (COORDINATOR, "3"),
    (COORDINATOR, Button("ulang:none")),
    (COORDINATOR, Button("pengingat:standar")),
    (COORDINATOR, "ya"),
    (COORDINATOR, Button("kegiatan:1:umumkan")),
]


async def create_and_publish(world: World) -> None:
    for user, action in CREATE:
        await world.send(user, action)


async def test_creating_an_activity_with_an_indonesian_date(db: Database) -> None:
    world = World(db, Clock(MONDAY))
    await meet(world)
    check_golden("activity_create", await world.run(CREATE))
    async with db.session() as s:
        [activity] = (await s.execute(select(Activity))).scalars().all()
        sends = (await s.execute(select(Broadcast).order_by(Broadcast.id))).scalars().all()
    assert activity.starts_at.astimezone(JAKARTA) == datetime(2026, 12, 5, 7, 0, tzinfo=JAKARTA)
    assert activity.status == "published" and activity.reminders == ["malam", "2jam"]
    assert activity.audience["rw"] == "003"
    # The announcement, then the evening-before (Friday 19.00) and 2-hours-before
    # reminders; 05.00 is in quiet hours, so the latter goes before them, Friday 20.30.
    assert [(b.kind, b.due_at.astimezone(JAKARTA).strftime("%a %H:%M")) for b in sends] == [
        ("announce", "Mon 09:00"), ("reminder", "Fri 19:00"), ("reminder", "Fri 20:30")]
    # Siti (by what she said) and Ani (by her report) live in RW 03; Budi does not.
    assert len(world.to("siti")) and world.to("ani")[-1].startswith("📣")
    assert not any(t.startswith("📣") for t in world.to("budi"))


async def test_a_time_already_past_is_asked_again(db: Database) -> None:
    """Refused at the question itself (yesterday; earlier today); and a time that passes
    while the form is still being filled is caught when it is saved."""
    world = World(db, Clock(MONDAY))
    await meet(world)
    script: list[tuple[str, str | Button | Later]] = [(COORDINATOR, a) for a in (
        "/kegiatan", "Rapat warga bulanan", "rapat", "kemarin jam 7 malam",
        "hari ini jam 8 pagi", "hari ini jam 10", "Musala Al-Ikhlas", "lewati", "1", "1",
        "3")]
    script += [(COORDINATOR, Later(2)), (COORDINATOR, "ya"),
               (COORDINATOR, "tadi jam 9"), (COORDINATOR, "Rabu depan jam 19.30"),
               (COORDINATOR, "ya"), (COORDINATOR, Button("kegiatan:1:draf"))]
    transcript = await world.run(script)
    check_golden("activity_past_time", transcript)
    assert transcript.count("Waktu itu sudah lewat") == 3
    async with db.session() as s:
        [activity] = (await s.execute(select(Activity))).scalars().all()
    assert activity.status == "draft" and activity.reminders == []
    assert activity.starts_at.astimezone(JAKARTA) == datetime(2026, 12, 9, 19, 30, tzinfo=JAKARTA)


async def test_rsvp_its_change_and_the_reminders(db: Database) -> None:
    world = World(db, Clock(MONDAY))
    await meet(world)
    await create_and_publish(world)
    script: list[tuple[str, str | Button | Later]] = [
        ("siti", Button("rsvp:1:yes")),
        ("ani", "mungkin"),
        ("ani", "/jadwal"),
        ("ani", Button("jadwal:1")),
        ("ani", Button("rsvp:1:yes")),
        ("siti", Button("rsvp:1:yes")),
        ("budi", "hadir"),
        ("joko", "/jadwal"),
        (COORDINATOR, "/jadwal"),
        (COORDINATOR, Button("jadwal:1")),
        ("siti", Later(4 * 24 + 10)),  # Friday 19.00: the evening before
        ("siti", Button("rsvp:1:no")),
        ("siti", Later(1.5)),  # Friday 20.30: two hours before, moved out of quiet hours
        ("ani", Later(11)),  # it has begun
        ("ani", Button("rsvp:1:no")),
    ]
    check_golden("activity_rsvp", await world.run(script))
    async with db.session() as s:
        answers = dict((await s.execute(select(ActivityRsvp.contact_id, ActivityRsvp.answer)
                                        )).all())
        reminders = (await s.execute(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.batch.like("reminder:%")))).scalar_one()
    assert sorted(answers.values()) == ["no", "yes"]  # Budi is not in RW 03: no answer
    # Evening: Siti and Ani (coming); two hours before: Ani only (Siti said no meanwhile).
    assert reminders == 3


async def test_reschedule_and_cancel_tell_those_coming(db: Database) -> None:
    world = World(db, Clock(MONDAY))
    await meet(world)
    await create_and_publish(world)
    # Budi (RW 05) is not in the audience: his pressed "no" is refused, not counted.
    for user, answer in (("siti", "yes"), ("ani", "maybe"), ("budi", "no")):
        await world.send(user, Button(f"rsvp:1:{answer}"))
    script: list[tuple[str, str | Button | Later]] = [
        (COORDINATOR, "/jadwal"),
        (COORDINATOR, Button("jadwal:1")),
        (COORDINATOR, Button("kegiatan:1:pindah")),
        (COORDINATOR, "tgl 12 pukul 08.00"),
        (COORDINATOR, "ya"),
        ("siti", Later(4 * 24 + 10)),  # Friday 4 December 19.00: no reminder any more
        ("siti", Later(7 * 24)),  # Friday 11 December 19.00: the moved reminder
        (COORDINATOR, Button("jadwal:1")),
        (COORDINATOR, Button("kegiatan:1:batal")),
        (COORDINATOR, "Hujan deras, saluran meluap"),
        (COORDINATOR, "ya"),
        ("ani", Button("rsvp:1:yes")),
        ("ani", Later(11)),  # Saturday 06.00: the cancelled activity reminds nobody
    ]
    check_golden("activity_cancel_reschedule", await world.run(script))
    async with db.session() as s:
        statuses = (await s.execute(select(Broadcast.kind, Broadcast.status)
                                    .order_by(Broadcast.id))).all()
    assert [tuple(r) for r in statuses] == [
        ("announce", "done"), ("reminder", "cancelled"), ("reminder", "cancelled"),
        ("reminder", "done"), ("reminder", "cancelled"), ("reschedule", "done"),
        ("cancel", "done")]
    assert "budi" not in {o.user_id for o in world.channel.sent
                          if o.text.startswith(("🕒", "❌"))}


async def test_opted_out_residents_get_no_broadcast_until_they_come_back(db: Database) -> None:
    world = World(db, Clock(MONDAY))
    await meet(world)
    script: list[tuple[str, str | Button | Later]] = [
        ("budi", "berhenti"),
        (COORDINATOR, "/siaran"),
        (COORDINATOR, "Besok pagi ada pembagian air bersih di Balai RW 03 mulai pukul 08.00."),
        (COORDINATOR, "semua warga"),
        (COORDINATOR, "ya"),
        (COORDINATOR, Button("siaran:1:kirim")),
        (COORDINATOR, "/siaran status"),
        ("budi", "mulai"),
        (COORDINATOR, "/siaran"),
        (COORDINATOR, "Pembagian air diundur ke pukul 09.00."),
        (COORDINATOR, "1"),
        (COORDINATOR, "ya"),
        (COORDINATOR, Button("siaran:2:kirim")),
    ]
    check_golden("activity_opt_out", await world.run(script))
    assert sum("pembagian air" in t.lower() for t in world.to("budi")) == 1
    assert sum("pembagian air" in t.lower() for t in world.to("siti")) == 2


async def test_a_resident_may_not_schedule_or_broadcast(db: Database) -> None:
    world = World(db, Clock(MONDAY))
    await meet(world)
    await create_and_publish(world)
    script: list[tuple[str, str | Button | Later]] = [
        ("budi", "/kegiatan"),
        ("budi", "kegiatan"),
        ("budi", "/siaran"),
        ("budi", Button("kegiatan:1:batal")),
        ("budi", Button("siaran:1:kirim")),
        ("budi", "/jadwal"),
    ]
    check_golden("activity_refused", await world.run(script))
    async with db.session() as s:
        [activity] = (await s.execute(select(Activity))).scalars().all()
    assert activity.status == "published"


async def test_a_draft_is_announced_later_from_the_schedule(db: Database) -> None:
    world = World(db, Clock(MONDAY))
    await meet(world)
    for user, action in CREATE[:-1]:
        await world.send(user, action)
    await world.send(COORDINATOR, Button("kegiatan:1:draf"))
    assert not world.to("siti")[-1].startswith("📣")
    await world.send(COORDINATOR, "/jadwal")
    assert "(draf)" in world.to(COORDINATOR)[-1]
    await world.send(COORDINATOR, Button("jadwal:1"))
    assert world.channel.sent[-1].choices[0].id == "kegiatan:1:umumkan"
    await world.send(COORDINATOR, Button("kegiatan:1:umumkan"))
    assert world.to("siti")[-1].startswith("📣")
    # A second press announces nothing twice.
    await world.send(COORDINATOR, Button("kegiatan:1:umumkan"))
    assert sum(t.startswith("📣") for t in world.to("siti")) == 1


async def test_rsvp_to_a_cancelled_or_unknown_activity(db: Database) -> None:
    world = World(db, Clock(MONDAY))
    await meet(world)
    await create_and_publish(world)
    await world.send("siti", Button("rsvp:99:yes"))
    assert "tidak ditemukan" in world.to("siti")[-1]
    await world.send("siti", Button("rsvp:1:nanti"))
    assert "tidak ditemukan" in world.to("siti")[-1]
    async with db.transaction() as tx:
        activity = await ActivityRepo(tx.session).get(1)
        assert activity is not None
        activity.status = "cancelled"
    await world.send("siti", Button("rsvp:1:yes"))
    assert "sudah dibatalkan" in world.to("siti")[-1]


async def test_a_button_pressed_mid_flow_answers_and_asks_the_question_again(
        db: Database) -> None:
    world = World(db, Clock(MONDAY))
    await meet(world)
    await create_and_publish(world)
    await world.send("siti", "lapor")
    replies = await world.send("siti", Button("rsvp:1:yes"))
    assert len(replies) == 1
    assert "tercatat *hadir*" in replies[0].text
    assert replies[0].choices[0].id.startswith("jenis:")


def test_the_flow_diagrams_in_the_docs_are_current() -> None:
    from pathlib import Path

    from conversations.activity import FLOWS
    from conversations.flow import mermaid

    docs = (Path(__file__).resolve().parents[1] / "docs" / "activities.md").read_text("utf-8")
    for flow in FLOWS:
        assert f"```mermaid\n{mermaid(flow)}```" in docs, (
            f"docs/activities.md is out of date for flow {flow.id!r}: regenerate it from "
            "conversations.flow.mermaid")


async def test_cancelling_a_flow_names_what_was_cancelled(db: Database) -> None:
    world = World(db, Clock(MONDAY))
    await meet(world)
    await create_and_publish(world)
    said = {}
    for start in ("/kegiatan", "/siaran"):
        await world.send(COORDINATOR, start)
        await world.send(COORDINATOR, "batal")
        said[start] = world.to(COORDINATOR)[-1]
    await world.send(COORDINATOR, Button("kegiatan:1:pindah"))
    await world.send(COORDINATOR, "batal")
    said["pindah"] = world.to(COORDINATOR)[-1]
    await world.send(COORDINATOR, Button("kegiatan:1:batal"))
    await world.send(COORDINATOR, "batal")
    said["batal"] = world.to(COORDINATOR)[-1]
    assert "kegiatan baru tidak jadi dibuat" in said["/kegiatan"]
    assert "siaran dibatalkan" in said["/siaran"]
    assert "waktu kegiatan tidak jadi diubah" in said["pindah"]
    assert "kegiatan tidak jadi dibatalkan" in said["batal"]
    assert not any("laporan" in text for text in said.values())


async def test_rt_and_rw_read_the_same_for_residents_and_coordinators(db: Database) -> None:
    world = World(db, Clock(MONDAY))
    await meet(world)
    assert any("tercatat: RT 002/RW 003, Kelurahan Kalibaru" in t for t in world.to("siti"))
    for action in ("/siaran", "Rapat RT besok malam.", "satu rt", "kalibaru", "RT 2 RW 3"):
        await world.send(COORDINATOR, action)
    await world.send(COORDINATOR, "ya")
    assert "Penerima: warga RT 002/RW 003 Kelurahan Kalibaru" in world.to(COORDINATOR)[-1]


async def test_a_time_alone_moves_the_hour_and_keeps_the_day(db: Database) -> None:
    world = World(db, Clock(MONDAY))
    await meet(world)
    await create_and_publish(world)
    await world.send("siti", Button("rsvp:1:yes"))
    for action in (Button("kegiatan:1:pindah"), "jam 10", "ya"):
        await world.send(COORDINATOR, action)
    asked = world.channel.sent[-1]
    assert "Tanggalnya tetap" in asked.text
    assert "Sabtu, 5 Desember 2026 pukul 10.00 WIB" in asked.text
    keep, new = (c.id for c in asked.choices)
    await world.send(COORDINATOR, Button(keep))
    assert "dipindah ke Sabtu, 5 Desember 2026 pukul 10.00 WIB" in world.to(COORDINATOR)[-1]
    async with db.session() as s:
        [activity] = (await s.execute(select(Activity))).scalars().all()
    assert activity.starts_at.astimezone(JAKARTA) == datetime(2026, 12, 5, 10, 0, tzinfo=JAKARTA)
    assert world.to("siti")[-1].startswith("🕒")
    # The other button, pressed later, moves it to the typed day instead; pressed
    # again, nothing changes twice.
    await world.send(COORDINATOR, Button(new))
    assert "dipindah ke Senin, 30 November 2026 pukul 10.00 WIB" in world.to(COORDINATOR)[-1]
    await world.send(COORDINATOR, Button(new))
    assert "tidak ada yang diubah" in world.to(COORDINATOR)[-1]
    # A date said in full is taken as it is, without the question.
    for action in (Button("kegiatan:1:pindah"), "tgl 12 jam 8", "ya"):
        await world.send(COORDINATOR, action)
    assert "dipindah ke Sabtu, 12 Desember 2026 pukul 08.00 WIB" in world.to(COORDINATOR)[-1]
