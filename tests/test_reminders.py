"""Reminders: when they are due, who gets them, exactly once (restarts, two replicas,
a replica dying mid-way), rebuilt from the database into APScheduler, recurring
activities rolled to their next date with cron rules."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from typing import cast

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func, select

from bot.broadcast import Broadcaster, next_occurrence
from bot.features.activities import ActivitiesFeature
from bot.scheduler import create_scheduler
from bot.settings import Settings, SettingsError
from conversations.activity import (
    QUIET_HOURS,
    QuietHours,
    reminder_intro,
    reminder_times,
    reminders_from_answers,
)
from conversations.i18n import JAKARTA
from conversations.parsing import parse_when
from storage.db import Database
from storage.models import OutboxMessage
from storage.models_activities import Activity, Broadcast
from storage.repos_activities import ActivityRepo
from tests.activity_world import COORDINATOR, World
from tests.harness import Button, Clock

# Monday 30 November 2026, 09.00 WIB.
MONDAY = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def wib(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=JAKARTA)


# -- when -------------------------------------------------------------------------------


def test_the_default_reminders_are_the_evening_before_and_two_hours_before() -> None:
    assert reminder_times(wib(5, 9), ["malam", "2jam"]) == [
        ("malam", wib(4, 19)), ("2jam", wib(5, 7))]
    # Without quiet hours, 07.00 less two hours is 05.00.
    assert reminder_times(wib(5, 7), ["malam", "2jam"], None) == [
        ("malam", wib(4, 19)), ("2jam", wib(5, 5))]


def test_quiet_hours_run_across_midnight() -> None:
    quiet = QuietHours.parse("21:00-05:30")
    assert quiet == QUIET_HOURS
    assert quiet is not None
    inside = [wib(4, 21), wib(4, 23, 59), wib(5, 0), wib(5, 3), wib(5, 5, 29)]
    outside = [wib(4, 20, 59), wib(5, 5, 30), wib(5, 12)]
    assert all(quiet.contains(m) for m in inside)
    assert not any(quiet.contains(m) for m in outside)
    # Before midnight or after it, the span is the same night's: it began on the 4th.
    assert {quiet.earlier(m) for m in inside} == {wib(4, 20, 30)}
    assert {quiet.later(m) for m in inside} == {wib(5, 5, 30)}
    assert [quiet.earlier(m) for m in outside] == outside
    assert [quiet.later(m) for m in outside] == outside
    # A span within one day, and no quiet hours at all.
    siesta = QuietHours.parse("13:00-15:00")
    assert siesta is not None and siesta.contains(wib(5, 14)) and not siesta.contains(wib(5, 23))
    assert siesta.later(wib(5, 13)) == wib(5, 15)
    assert QuietHours.parse("off") is None
    for wrong in ("21:00", "21:00-21:00", "25:00-05:00", "malam"):
        with pytest.raises(ValueError):
            QuietHours.parse(wrong)


def test_a_reminder_whose_offset_lands_in_quiet_hours_goes_the_evening_before() -> None:
    # 06.30 less two hours is 04.30, inside quiet hours: it goes at 20.30 the evening
    # before, after the 19.00 one, and says "tomorrow" rather than "soon".
    times = reminder_times(wib(5, 6, 30), ["malam", "2jam"])
    assert times == [("malam", wib(4, 19)), ("2jam", wib(4, 20, 30))]
    assert reminder_intro("2jam", wib(5, 6, 30), wib(4, 20, 30)) == "malam"
    # 22.00 less 30 minutes is 21.30: 20.30 the same day, still "soon"; one hour before
    # falls on the same moment and reminds once.
    assert reminder_times(wib(5, 22), ["30menit", "1jam"]) == [("30menit", wib(5, 20, 30))]
    assert reminder_intro("30menit", wib(5, 22), wib(5, 20, 30)) == "30menit"
    assert reminder_intro("2jam", wib(5, 23, 59), wib(5, 20, 30)) == "pagi"
    assert reminder_intro("2jam", wib(5, 9), wib(5, 7)) == "2jam"
    # Announced at 22.00 for 06.30: 20.30 has gone, so it goes when quiet hours end.
    assert reminder_times(wib(5, 6, 30), ["2jam"], now=wib(4, 22)) == [("2jam", wib(5, 5, 30))]
    assert reminder_intro("2jam", wib(5, 6, 30), wib(5, 5, 30)) == "2jam"
    # Another span, as WARGA_QUIET_HOURS may set it.
    late = QuietHours.parse("22:00-06:00")
    assert reminder_times(wib(5, 7), ["2jam"], late) == [("2jam", wib(4, 21, 30))]


def test_reminders_are_in_time_order_and_never_at_or_after_the_start() -> None:
    # 19.30 on Friday: 24 hours before and "the evening before" are both Thursday 19.x.
    times = reminder_times(wib(4, 19, 30), ["30menit", "sehari", "malam", "pagi", "1jam"])
    assert times == [("malam", wib(3, 19)), ("sehari", wib(3, 19, 30)),
                     ("pagi", wib(4, 6)), ("1jam", wib(4, 18, 30)),
                     ("30menit", wib(4, 19))]
    # At 06.15 "this morning at 06.00" comes too late to help, and is left out.
    assert [code for code, _ in reminder_times(wib(5, 6, 15), ["pagi", "2jam"])] == ["2jam"]
    # Two codes at one moment remind once; unknown codes are ignored.
    assert reminder_times(wib(5, 19), ["malam", "sehari", "kemarin"]) == [("malam", wib(4, 19))]


def test_quiet_hours_are_set_by_the_environment() -> None:
    assert Settings.from_env({}, dotenv=None).quiet_hours == "21:00-05:30"
    late = Settings.from_env({"WARGA_QUIET_HOURS": "22:00-06:00"}, dotenv=None)
    feature = ActivitiesFeature(late)
    assert feature.quiet == QuietHours(time(22, 0), time(6, 0))
    assert ActivitiesFeature(Settings.from_env({"WARGA_QUIET_HOURS": "off"},
                                               dotenv=None)).quiet is None
    for wrong in ("22:00", "22:00-22:00", "24:00-06:00", "malam"):
        with pytest.raises(SettingsError, match="WARGA_QUIET_HOURS"):
            Settings.from_env({"WARGA_QUIET_HOURS": wrong}, dotenv=None)


def test_lusa_jam_8_malem_is_eight_in_the_evening() -> None:
    when = parse_when("lusa jam 8 malem", wib(1, 9))
    assert when is not None and (when.date, when.time) == (wib(3, 20).date(), time(20, 0))


def test_reminder_choices_from_the_flow() -> None:
    assert reminders_from_answers({"pengingat": "standar"}) == ["malam", "2jam"]
    assert reminders_from_answers({"pengingat": "tanpa"}) == []
    assert reminders_from_answers({"pengingat": "pilih",
                                   "pengingat_pilih": ["30menit", "pagi"]}) == ["pagi", "30menit"]


def _activity(starts_at: datetime, recurrence: str) -> Activity:
    return Activity(starts_at=starts_at, recurrence=recurrence)


def test_cron_rules_give_the_next_date_of_a_series() -> None:
    weekly = _activity(wib(5, 7), "weekly")
    assert next_occurrence(weekly, wib(5, 7)) == wib(12, 7)
    # After a long outage, the next date still ahead, not the missed ones.
    assert next_occurrence(weekly, wib(20, 8)) == wib(26, 7)
    monthly = _activity(wib(12, 8), "monthly")
    assert next_occurrence(monthly, wib(12, 8)) == datetime(2027, 1, 12, 8, tzinfo=JAKARTA)
    # Monthly on the 31st: months without one are skipped, as cron does.
    end = _activity(datetime(2027, 1, 31, 9, tzinfo=JAKARTA), "monthly")
    assert next_occurrence(end, end.starts_at) == datetime(2027, 3, 31, 9, tzinfo=JAKARTA)
    assert next_occurrence(_activity(wib(5, 7), "none"), wib(5, 7)) is None


# -- who, and exactly once ---------------------------------------------------------------


async def published(world: World, *, recurrence: str = "none",
                    reminders: tuple[str, ...] = ("malam", "2jam"),
                    coming: dict[str, str] | None = None) -> int:
    """An activity on Saturday 5 December 07.00 for everyone, announced; the answers."""
    for user in ("siti", "budi", "ani", COORDINATOR):
        await world.send(user, "halo")
    now = world.clock()
    async with world.db.transaction() as tx:
        repo = ActivityRepo(tx.session)
        activity = await repo.create(
            title="Kerja bakti", kind="kerja_bakti", starts_at=wib(5, 7), place="Balai RW 03",
            audience={"type": "all"}, recurrence=recurrence, reminders=list(reminders),
            status="draft", created_at=now, updated_at=now)
        await world.feature.broadcaster.publish(tx, activity, now, None)
        activity_id = activity.id
    await world.settle()
    for user, answer in (coming or {"siti": "yes", "budi": "maybe", "ani": "no"}).items():
        await world.send(user, Button(f"rsvp:{activity_id}:{answer}"))
    return activity_id


def reminders_to(world: World) -> dict[str, int]:
    out: dict[str, int] = {}
    for message in world.channel.sent:
        if message.text.startswith("⏰"):
            out[message.user_id] = out.get(message.user_id, 0) + 1
    return out


@pytest.mark.e2e
async def test_reminders_go_to_those_coming_once_each(db: Database) -> None:
    world = World(db, Clock(MONDAY))
    await published(world)
    world.clock.now = wib(4, 18, 59)
    await world.settle()
    assert reminders_to(world) == {}
    world.clock.now = wib(4, 19)
    await world.settle()
    assert reminders_to(world) == {"siti": 1, "budi": 1}
    world.clock.now = wib(5, 6)
    await world.settle()
    await world.settle()
    assert reminders_to(world) == {"siti": 2, "budi": 2}


@pytest.mark.e2e
async def test_a_restart_neither_loses_nor_repeats_a_reminder(db: Database) -> None:
    world = World(db, Clock(MONDAY))
    await published(world)
    world.clock.now = wib(4, 19, 5)
    world.build()  # a new process: no memory of what the old one did
    await world.settle()
    world.build()
    await world.settle()
    assert reminders_to(world) == {"siti": 1, "budi": 1}


@pytest.mark.e2e
async def test_a_reminder_late_after_an_outage_still_goes_but_never_after_the_start(
        db: Database) -> None:
    world = World(db, Clock(MONDAY))
    activity_id = await published(world)
    world.clock.now = wib(5, 6, 30)  # down from Friday afternoon until 06.30 on the day
    await world.settle()
    assert reminders_to(world) == {"siti": 2, "budi": 2}  # both, late rather than never
    world2 = World(db, Clock(MONDAY))
    await published(world2, coming={"siti": "yes"})
    world2.clock.now = wib(5, 7, 30)  # down until after the start
    await world2.settle()
    assert reminders_to(world2) == {}
    async with db.session() as s:
        statuses = (await s.execute(select(Broadcast.status).where(
            Broadcast.kind == "reminder", Broadcast.activity_id != activity_id))).scalars()
        assert set(statuses) == {"expired"}


@pytest.mark.e2e
async def test_two_replicas_running_at_once_queue_each_reminder_once(db: Database) -> None:
    world = World(db, Clock(MONDAY))
    await published(world)
    world.clock.now = wib(4, 19)
    replicas = [Broadcaster(db, world.dispatcher, clock=world.clock, chunk=1)
                for _ in range(3)]
    await asyncio.gather(*(r.run() for r in replicas))
    async with db.session() as s:
        rows = (await s.execute(select(OutboxMessage.dedupe_key).where(
            OutboxMessage.batch.like("reminder:%")))).scalars().all()
    assert len(rows) == len(set(rows)) == 2


@pytest.mark.e2e
async def test_a_replica_dying_mid_fan_out_is_taken_over_after_its_lease(db: Database) -> None:
    world = World(db, Clock(MONDAY))
    await published(world, coming={"siti": "yes", "budi": "yes", "ani": "yes"})
    world.clock.now = wib(4, 19)
    dying = Broadcaster(db, world.dispatcher, clock=world.clock, chunk=1,
                        lease=timedelta(seconds=60))
    async with db.transaction() as tx:
        [claimed] = await ActivityRepo(tx.session).claim_due(
            world.clock(), lease=dying.lease, token=dying.token)
    async with db.transaction() as tx:
        assert await dying._chunk(tx, claimed)  # one recipient queued, then it dies
    other = Broadcaster(db, world.dispatcher, clock=world.clock, chunk=1)
    await other.run()
    assert await _queued(db, claimed) == 1  # the lease still holds: nobody takes over
    world.clock.advance(seconds=61)
    await other.run()
    assert await _queued(db, claimed) == 3
    # The dead one coming back to life finds its lease gone and stops.
    async with db.transaction() as tx:
        assert not await dying._chunk(tx, claimed)
    assert await _queued(db, claimed) == 3
    await world.settle()
    assert reminders_to(world) == {"siti": 1, "budi": 1, "ani": 1}


async def _queued(db: Database, broadcast_id: int) -> int:
    async with db.session() as s:
        return int((await s.execute(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.batch == f"reminder:{broadcast_id}"))).scalar_one())


@pytest.mark.e2e
async def test_cancel_drops_and_reschedule_moves_the_reminders(db: Database) -> None:
    world = World(db, Clock(MONDAY))
    activity_id = await published(world)
    async with db.transaction() as tx:
        activity = await ActivityRepo(tx.session).get(activity_id)
        assert activity is not None
        await world.feature.broadcaster.reschedule(tx, activity, wib(12, 8), world.clock(),
                                                   requested_by=None)
    async with db.session() as s:
        pending = (await s.execute(select(Broadcast.due_at).where(
            Broadcast.kind == "reminder", Broadcast.status == "scheduled"))).scalars().all()
    assert sorted(d.astimezone(JAKARTA) for d in pending) == [wib(11, 19), wib(12, 6)]
    async with db.transaction() as tx:
        activity = await ActivityRepo(tx.session).get(activity_id)
        assert activity is not None
        await world.feature.broadcaster.cancel(tx, activity, world.clock(), reason=None,
                                               requested_by=None)
    world.clock.now = wib(12, 7)
    await world.settle()
    assert reminders_to(world) == {}


# -- recurring ---------------------------------------------------------------------------


@pytest.mark.e2e
async def test_a_weekly_activity_rolls_to_next_week_with_fresh_answers(db: Database) -> None:
    world = World(db, Clock(MONDAY))
    first = await published(world, recurrence="weekly", reminders=("2jam",))
    world.clock.now = wib(5, 7, 1)  # it has begun: the next one is made
    await world.settle()
    world.build()
    await world.settle()  # a second process rolls nothing twice
    async with db.session() as s:
        series = (await s.execute(select(Activity).order_by(Activity.id))).scalars().all()
        sends = (await s.execute(select(Broadcast).where(
            Broadcast.activity_id == series[-1].id).order_by(Broadcast.id))).scalars().all()
    assert [a.id for a in series] == [first, first + 1]
    following = series[1]
    assert following.previous_id == first and following.seq == 2
    assert following.starts_at.astimezone(JAKARTA) == wib(12, 7)
    assert following.status == "published"
    assert [(b.kind, b.due_at.astimezone(JAKARTA)) for b in sends] == [
        ("announce", wib(9, 7)), ("reminder", wib(11, 20, 30))]
    before = len([m for m in world.to("siti") if m.startswith("📣")])
    world.clock.now = wib(9, 7)
    await world.settle()
    assert len([m for m in world.to("siti") if m.startswith("📣")]) == before + 1
    assert "rsvp:2:yes" in [c.id for c in world.channel.sent[-1].choices]


@pytest.mark.e2e
async def test_stopping_a_series_rolls_it_no_further(db: Database) -> None:
    world = World(db, Clock(MONDAY))
    activity_id = await published(world, recurrence="monthly")
    await world.send(COORDINATOR, Button(f"jadwal:{activity_id}"))
    assert f"kegiatan:{activity_id}:henti" in [c.id for c in world.channel.sent[-1].choices]
    await world.send(COORDINATOR, Button(f"kegiatan:{activity_id}:henti"))
    world.clock.now = wib(6, 7)
    await world.settle()
    async with db.session() as s:
        assert (await s.execute(select(func.count()).select_from(Activity))).scalar_one() == 1


# -- APScheduler -------------------------------------------------------------------------


async def startup(feature: ActivitiesFeature, scheduler: AsyncIOScheduler) -> None:
    """What the app does with a feature's start-up hook once the scheduler exists."""
    hook = feature.spec().startup
    assert hook is not None
    await hook(scheduler)


@pytest.mark.e2e
async def test_timers_are_rebuilt_from_the_database_as_one_wake_up(db: Database) -> None:
    world = World(db, Clock(MONDAY))
    await published(world)
    scheduler = create_scheduler("Asia/Jakarta")
    await startup(world.feature, scheduler)
    scheduler.start(paused=True)
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)
    assert set(jobs) == {"activities:tick", "activities:wake"}
    # One timer, at the first reminder: however many are pending, start-up adds two jobs.
    assert jobs["activities:wake"].next_run_time == wib(4, 19)
    # Late rather than never: the service's misfire grace, not APScheduler's one second.
    assert jobs["activities:wake"].misfire_grace_time == 3600


@pytest.mark.e2e
async def test_the_scheduler_wakes_for_a_reminder_due_in_a_moment(db: Database) -> None:
    """Real time: the APScheduler job fires, the reminder is queued and sent."""
    # Without quiet hours: run in the evening, the reminder would wait for the morning.
    world = World(db, cast(Clock, _RealClock()), quiet=None)
    for user in ("siti", COORDINATOR):
        await world.send(user, "halo")
    now = datetime.now(UTC)
    async with db.transaction() as tx:
        repo = ActivityRepo(tx.session)
        activity = await repo.create(
            title="Posyandu", kind="posyandu", starts_at=now + timedelta(hours=2, seconds=1),
            place="Posyandu Melati", audience={"type": "all"}, recurrence="none",
            reminders=["2jam"], status="draft", created_at=now, updated_at=now)
        await world.feature.broadcaster.publish(tx, activity, now, None)
        siti = await tx.contacts.get_by_external("console", "siti")
        assert siti is not None
        await repo.set_rsvp(activity.id, siti.id, "yes", now)
    scheduler = AsyncIOScheduler(timezone="Asia/Jakarta",
                                 job_defaults={"misfire_grace_time": 3600, "coalesce": True})
    world.dispatcher.on_enqueued.append(world.sender.wake)
    sending = asyncio.create_task(world.sender.run())
    try:
        await startup(world.feature, scheduler)
        scheduler.start()
        async with asyncio.timeout(20):
            while True:  # polled: the recording channel has no event to wait on
                if reminders_to(world):
                    break
                await asyncio.sleep(0.05)
    finally:
        scheduler.pause()
        await world.feature.idle()
        scheduler.shutdown(wait=False)
        await world.sender.stop()
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
    assert reminders_to(world) == {"siti": 1}


class _RealClock:
    def __call__(self) -> datetime:
        return datetime.now(UTC)
