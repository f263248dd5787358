"""Button data can be forged (any client can send any callback data): every button
handler checks that the person may act on what the button names."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models_activities import ActivityRsvp
from storage.models_volunteers import AssessmentDraft, DataRequest
from tests.activity_world import World
from tests.dashboard_helpers import add_complaint, add_contact
from tests.harness import Button, Clock
from tests.test_activities import MONDAY, create_and_publish, meet
from tests.test_assessment_transcripts import START, R, by, team_with_volunteer
from tests.test_tickets import Town

pytestmark = [pytest.mark.e2e]


async def test_activities_outside_ones_audience_are_neither_shown_nor_answered(
        db: Database) -> None:
    world = World(db, Clock(MONDAY))
    await meet(world)
    await create_and_publish(world)  # for RW 03 Kalibaru: Siti and Ani, not Budi
    for forged in ("jadwal:1", "rsvp:1:yes"):
        [reply] = await world.send("budi", Button(forged))
        assert "bukan untuk wilayah" in reply.text, forged
        assert "Balai RW 03" not in reply.text
    [reply] = await world.send("budi", "hadir")  # typed: only what is meant for him
    assert "bukan untuk wilayah" not in reply.text
    async with db.session() as s:
        count = (await s.execute(select(func.count()).select_from(ActivityRsvp))).scalar_one()
    assert count == 0
    # The audience still can, and so can the coordinator.
    [reply] = await world.send("siti", Button("jadwal:1"))
    assert "Balai RW 03" in reply.text
    await world.send("siti", Button("rsvp:1:yes"))
    async with db.session() as s:
        count = (await s.execute(select(func.count()).select_from(ActivityRsvp))).scalar_one()
    assert count == 1


async def test_ticket_buttons_of_someone_else(db: Database, tmp_path: Path) -> None:
    town = Town(db, tmp_path)
    now = town.clock()
    reporter = await add_contact(town.db, "warga", now, name="Siti")
    await add_contact(town.db, "relawan", now, name="Pak Joko", role="volunteer")
    complaint = await add_complaint(town.db, reporter, now, description="Pipa bocor besar")
    cid = complaint.id
    # A resident pressing officers' buttons; a volunteer not assigned to the ticket.
    for who in ("warga2", "relawan"):
        for forged in (f"tkv:{cid}", f"tks:{cid}:diterima:diproses"):
            out = await town.say(who, Button(forged))
            texts = " ".join(m.text for m in out if m.user_id == who)
            assert "Pipa bocor besar" not in texts, (who, forged)
            assert "Diproses" not in texts or "tidak" in texts.lower()
    async with db.session() as s:
        status = (await s.execute(select(complaint.__class__.status).where(
            complaint.__class__.id == cid))).scalar_one()
    assert status == "diterima"
    # Someone else's "Sudah teratasi?" answer.
    out = await town.say("warga2", Button("tkr:1:belum"))
    assert [m.user_id for m in out] == ["warga2"]


async def test_volunteer_and_data_request_buttons_of_someone_else(db: Database) -> None:
    team = await team_with_volunteer(db)
    await team.run([*START[:5], *by(R, "nanti")])  # the volunteer's draft
    await team.add("warga")
    async with db.session() as s:
        draft_id = (await s.execute(select(AssessmentDraft.id))).scalar_one()
    # A resident pressing a volunteer's draft, approval and request buttons.
    for forged in (f"asm:draft:{draft_id}", "vol:ok:1", "vol:code", "dsr:done:1",
                   "dsr:list"):
        out = await team.say("warga", Button(forged))
        assert "Budi Santoso" not in out.text and "Kode undangan" not in out.text, forged
    await team.run([("warga", "hapus data"), ("warga", "lewati"), ("warga", "ya")])
    out = await team.say(R, Button("dsr:done:1"))  # a volunteer is no coordinator
    assert "selesai" not in out.text.lower() or "tidak" in out.text.lower()
    async with db.session() as s:
        assert (await s.execute(select(DataRequest.status))).scalar_one() == "baru"
        assert (await s.execute(select(func.count()).select_from(AssessmentDraft))
                ).scalar_one() == 1
