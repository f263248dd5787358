"""SLA escalation with an injected clock: across a weekend and a public holiday, once per
deadline, to every coordinator by chat, and again only after a reopening.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import select

from bot.dispatcher import Dispatcher
from bot.features.tickets import Actor, TicketsFeature
from bot.scheduler import add_timers
from storage.db import Database
from storage.models import OutboxMessage
from storage.models_tickets import TicketEscalation
from storage.repos_tickets import TicketRepo
from tests.dashboard_helpers import add_complaint, add_contact, dashboard_settings
from tests.harness import Clock, translator

pytestmark = pytest.mark.storage

WIB = ZoneInfo("Asia/Jakarta")
HOLIDAY = date(2026, 12, 1)  # a Tuesday, made a public holiday for this test


def at(day: int, hour: int, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=WIB)


async def messages_to(db: Database, contact_id: int) -> list[str]:
    async with db.session() as session:
        rows = (await session.execute(select(OutboxMessage).where(
            OutboxMessage.contact_id == contact_id).order_by(OutboxMessage.id))).scalars()
        return [str(r.payload["text"]) for r in rows]


@pytest.fixture
def feature(db: Database, tmp_path: Path) -> TicketsFeature:
    settings = dashboard_settings(str(db.url), tmp_path, holidays=(HOLIDAY,))
    feature = TicketsFeature(settings)
    Dispatcher(db, translator(), clock=Clock()).add_feature(feature)
    return feature


async def test_escalation_skips_the_weekend_and_the_holiday(db: Database,
                                                            feature: TicketsFeature) -> None:
    # Reported Saturday 28 November, 10.00 WIB.
    created = at(28, 10, month=11)
    koor1 = await add_contact(db, "koor1", created, role="coordinator", name="Ani")
    koor2 = await add_contact(db, "koor2", created, role="coordinator", name="Dewi",
                              language="en")
    volunteer = await add_contact(db, "relawan", created, role="volunteer")
    resident = await add_contact(db, "warga", created)
    late = await add_complaint(db, resident, created)
    # The same problem, reported later: it follows `late` and is not escalated on its own.
    follower = await add_complaint(db, resident, at(29, 8, month=11))
    async with db.transaction() as tx:
        await TicketRepo(tx.session).link(follower.id, late.id, created)
    # Closed the same day: never escalated.
    done = await add_complaint(db, resident, created, rw="009")
    async with db.transaction() as tx:
        complaint = await TicketRepo(tx.session).get(done.id)
        assert complaint is not None
        await feature.change_status(tx, complaint, "selesai", Actor(koor1, "console",
                                                                    "coordinator"),
                                    created, note="Sudah")

    # Verify by: Mon 30 Nov, (Tue 1 Dec holiday), Wed 2, Thu 3 → due at Fri 4 Dec 00.00.
    # Without the holiday it would be due Thu 3 Dec 00.00: Thursday noon is still fine.
    for moment in (at(30, 9, month=11), at(2, 23), at(3, 12), at(3, 23)):
        assert await feature.escalate_overdue(db, moment) == [], moment
    assert await feature.escalate_overdue(db, at(4, 7)) == [late.ticket]
    # Once: the next runs (and a restart, which rebuilds nothing) stay quiet.
    assert await feature.escalate_overdue(db, at(4, 7) .replace(minute=15)) == []
    assert await feature.escalate_overdue(db, at(7, 9)) == []

    [ani] = await messages_to(db, koor1)
    assert ani.startswith("⚠ 1 tiket melewati batas layanan:")
    assert f"{late.ticket} — Diterima — Batas verifikasi Kamis, 3 Desember 2026" in ani
    [dewi] = await messages_to(db, koor2)
    assert dewi.startswith("⚠ 1 tickets are past their service deadline:")
    assert await messages_to(db, volunteer) == []

    # Verified on Friday 4 Dec 09.00: act by Mon 7, Tue 8, Wed 9, Thu 10, Fri 11.
    async with db.transaction() as tx:
        complaint = await TicketRepo(tx.session).get(late.id)
        assert complaint is not None
        await feature.change_status(tx, complaint, "diverifikasi",
                                    Actor(koor1, "console", "coordinator"), at(4, 9))
    assert await feature.escalate_overdue(db, at(11, 20)) == []
    # Saturday morning: the act deadline has passed (weekend or not, it is late).
    assert await feature.escalate_overdue(db, at(12, 8)) == [late.ticket]
    assert await feature.escalate_overdue(db, at(14, 8)) == []

    # Closed, then reopened by the reporter on Monday 14 Dec: a new deadline, a new
    # escalation when it passes (Tue 15 … Mon 21 → due Tue 22 00.00).
    reporter = Actor(resident, "console", "resident")
    async with db.transaction() as tx:
        complaint = await TicketRepo(tx.session).get(late.id)
        assert complaint is not None
        await feature.change_status(tx, complaint, "selesai",
                                    Actor(koor1, "console", "coordinator"), at(14, 9),
                                    note="Diperbaiki")
        await feature.answer_resolution(tx, reporter, None, False, at(14, 10))
    assert await feature.escalate_overdue(db, at(21, 20)) == []
    assert await feature.escalate_overdue(db, at(22, 8)) == [late.ticket]
    async with db.session() as session:
        kinds = (await session.execute(select(TicketEscalation.kind).order_by(
            TicketEscalation.id))).scalars().all()
    assert kinds == ["verify", "act", "act"]
    assert len(await messages_to(db, koor1)) == 3 + 1  # + the reopening alert


async def test_the_schedule_registers_its_jobs(db: Database, feature: TicketsFeature) -> None:
    scheduler = AsyncIOScheduler(timezone="Asia/Jakarta")

    add_timers(scheduler, feature.spec().timers, Clock())
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"tickets:sla", "tickets:proof-photos", "tickets:housekeeping"}
    # Escalations only in office hours: deadlines fall at midnight.
    assert "hour='7-20'" in str(jobs["tickets:sla"].trigger)


async def test_many_overdue_tickets_make_one_short_message(db: Database,
                                                           feature: TicketsFeature) -> None:
    created = at(28, 10, month=11)
    koor = await add_contact(db, "koor", created, role="coordinator")
    resident = await add_contact(db, "warga", created)
    for n in range(25):
        await add_complaint(db, resident, created, rw=f"{n:03d}")
    assert len(await feature.escalate_overdue(db, at(10, 8))) == 25
    [message] = await messages_to(db, koor)
    assert message.count("\n• ") == 21 and "5 tiket lainnya" in message
