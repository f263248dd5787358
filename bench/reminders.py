"""Reminder benchmark: lateness (due → sent) through the real timer path, and start-up
with 100,000 pending reminders.

    python bench/reminders.py [--reminders 40] [--coming 10] [--every 0.25]
                              [--pending 100000] [--database-url URL]

1. Lateness: ``--reminders`` reminders due ``--every`` seconds apart, each to ``--coming``
   people (the default, 40 messages a second, is above Telegram's cap), with the
   service's own pieces running in real time (APScheduler wake-up job, claim, fan-out,
   outbox) and a channel without platform limits, so the figures are the service's own
   delay. Prints p50/p99/max from due to handed to the channel, for the first message of
   each reminder and for every message.
2. Start-up: ``--pending`` reminder rows in the database; the time the feature takes to
   rebuild its timers (what `warga serve` does at start), and how many jobs that makes.
   For comparison, the time APScheduler takes with one job per reminder instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert

from bot.dispatcher import Dispatcher
from bot.features.activities import ActivitiesFeature
from bot.metrics import Metrics
from bot.outbox import OutboxSender
from bot.scheduler import create_scheduler
from conversations import library
from conversations.messages import Outbound, Pacing, SendResult
from storage.db import Database
from storage.migrate import upgrade
from storage.models_activities import Broadcast
from storage.repos_activities import ActivityRepo


def utc_now() -> datetime:
    return datetime.now(UTC)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


class Stopwatch:
    """A channel without limits that notes when each message is handed to it."""

    name = "bench"
    pacing = Pacing(rate=100_000.0, per_recipient_interval=0.0, burst=100_000)

    def __init__(self) -> None:
        self.sent: list[tuple[str, datetime]] = []

    async def send(self, message: Outbound) -> SendResult:
        self.sent.append((message.text, utc_now()))
        return SendResult()


class _Services:
    """What the app hands to ``schedule`` (the feature uses nothing of it)."""


async def lateness(db: Database, reminders: int, coming: int, every: float) -> None:
    now = utc_now()
    due: dict[str, datetime] = {}
    async with db.transaction() as tx:
        people = [await tx.contacts.upsert("bench", f"p{n}", now, inbound=False)
                  for n in range(coming)]
        repo = ActivityRepo(tx.session)
        for n in range(reminders):
            at = now + timedelta(seconds=2 + n * every)
            title = f"Kegiatan {n:03d}"
            activity = await repo.create(
                title=title, kind="kerja_bakti", starts_at=at + timedelta(hours=2),
                place="Balai RW 03", audience={"type": "all"}, recurrence="none",
                reminders=["2jam"], status="published", created_at=now, updated_at=now)
            for person in people:
                await repo.set_rsvp(activity.id, person.id, "yes", now)
            await repo.add_broadcast(
                kind="reminder", activity_id=activity.id,
                audience={"type": "rsvp", "activity_id": activity.id, "answers": ["yes"]},
                params={"code": "2jam"}, status="scheduled", due_at=at, created_at=now)
            due[title] = at
    dispatcher = Dispatcher(db, library.translator(), clock=utc_now, metrics=Metrics())
    feature = ActivitiesFeature()
    dispatcher.add_feature(feature)
    channel = Stopwatch()
    sender = OutboxSender(db, {"bench": channel}, clock=utc_now)
    dispatcher.on_enqueued.append(sender.wake)
    scheduler = create_scheduler("Asia/Jakarta")
    sending = asyncio.create_task(sender.run())
    try:
        await feature.schedule(scheduler, cast(Any, _Services()))
        scheduler.start()
        async with asyncio.timeout(60 + reminders):
            while True:  # polled: the channel has no event to wait on
                if len(channel.sent) >= reminders * coming:
                    break
                await asyncio.sleep(0.05)
    finally:
        scheduler.pause()
        await feature.idle()
        scheduler.shutdown(wait=False)
        await sender.stop()
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sending
    lates: list[float] = []
    first: dict[str, float] = {}
    for text, at in channel.sent:
        title = next(t for t in due if t in text)
        late = (at - due[title]).total_seconds()
        lates.append(late)
        first[title] = min(first.get(title, late), late)
    print(f"reminder lateness: {reminders} reminders × {coming} people, due {every} s apart, "
          f"{db.engine.dialect.name}")
    firsts = list(first.values())
    print(f"  first message of a reminder  p50 {pct(firsts, 0.5):6.1f} ms   "
          f"p99 {pct(firsts, 0.99):6.1f} ms   max {max(firsts) * 1000:6.1f} ms")
    print(f"  every message                p50 {pct(lates, 0.5):6.1f} ms   "
          f"p99 {pct(lates, 0.99):6.1f} ms   max {max(lates) * 1000:6.1f} ms   "
          f"(mean {statistics.mean(lates) * 1000:.1f} ms)")


async def startup(db: Database, pending: int) -> None:
    now = utc_now()
    async with db.transaction() as tx:
        activity = await ActivityRepo(tx.session).create(
            title="Posyandu", kind="posyandu", starts_at=now + timedelta(days=60),
            place="Posyandu Melati", audience={"type": "all"}, recurrence="none",
            reminders=["2jam"], status="published", created_at=now, updated_at=now)
        activity_id = activity.id
    rows = [{"kind": "reminder", "activity_id": activity_id, "requested_by": None,
             "audience": {"type": "rsvp", "activity_id": activity_id, "answers": ["yes"]},
             "params": {"code": "2jam"}, "status": "scheduled",
             "due_at": now + timedelta(minutes=10, seconds=n * 25), "cursor": 0,
             "enqueued": 0, "created_at": now} for n in range(pending)]
    for start in range(0, pending, 5000):
        async with db.transaction() as tx:
            await tx.session.execute(insert(Broadcast), rows[start:start + 5000])
    dispatcher = Dispatcher(db, library.translator(), clock=utc_now, metrics=Metrics())
    feature = ActivitiesFeature()
    dispatcher.add_feature(feature)
    scheduler = create_scheduler("Asia/Jakarta")
    began = time.perf_counter()
    await feature.schedule(scheduler, cast(Any, _Services()))
    scheduler.start(paused=True)
    ours = time.perf_counter() - began
    jobs = len(scheduler.get_jobs())
    scheduler.shutdown(wait=False)

    # The alternative, for comparison: one APScheduler job per pending reminder.
    naive = create_scheduler("Asia/Jakarta")
    began = time.perf_counter()
    async with db.session() as session:
        from sqlalchemy import select

        dues = (await session.execute(select(Broadcast.id, Broadcast.due_at).where(
            Broadcast.status == "scheduled"))).all()

    async def nothing() -> None:
        return None

    for broadcast_id, at in dues:
        naive.add_job(nothing, "date", run_date=at, id=f"reminder:{broadcast_id}",
                      replace_existing=True)
    naive.start(paused=True)
    per_job = time.perf_counter() - began
    naive.shutdown(wait=False)
    print(f"start-up with {pending:,} pending reminders ({db.engine.dialect.name})")
    print(f"  timers rebuilt from the database   {ours * 1000:8.1f} ms  ({jobs} APScheduler jobs)")
    print(f"  one job per reminder instead       {per_job * 1000:8.1f} ms  ({len(dues):,} jobs)")


async def run(args: argparse.Namespace, url: str) -> None:
    await upgrade(url)
    db = Database(url)
    try:
        await lateness(db, args.reminders, args.coming, args.every)
        await startup(db, args.pending)
    finally:
        await db.close()
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reminders", type=int, default=40)
    parser.add_argument("--coming", type=int, default=10)
    parser.add_argument("--every", type=float, default=0.25)
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args, args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"))


if __name__ == "__main__":
    main()
