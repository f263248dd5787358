"""APScheduler 3.11 wiring. Database rows are the truth; the in-memory job store is
rebuilt from them at start-up, so a restart neither loses nor repeats work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.feature import Timer
from bot.metrics import Metrics
from storage.db import Database

log = logging.getLogger(__name__)

# APScheduler's default misfire grace is 1 s: a job due while the event loop was busy
# would be dropped silently. Ours run late rather than never.
JOB_DEFAULTS = {"misfire_grace_time": 3600, "coalesce": True, "max_instances": 1}
DEDUPE_RETENTION = timedelta(days=30)
SESSION_RETENTION = timedelta(days=30)


def create_scheduler(timezone: str) -> AsyncIOScheduler:
    return AsyncIOScheduler(timezone=timezone, job_defaults=JOB_DEFAULTS)


def add_housekeeping(
    scheduler: AsyncIOScheduler, db: Database, metrics: Metrics, clock: Callable[[], datetime]
) -> None:
    async def forget_old_inbound_ids() -> None:
        async with db.transaction() as tx:
            removed = await tx.inbound.forget_before(clock() - DEDUPE_RETENTION)
        if removed:
            log.info("forgot %d inbound ids older than %s", removed, DEDUPE_RETENTION)

    async def forget_stale_sessions() -> None:
        async with db.transaction() as tx:
            removed = await tx.sessions.forget_before(clock() - SESSION_RETENTION)
        if removed:
            log.info("forgot %d conversations untouched for %s", removed, SESSION_RETENTION)

    async def outbox_gauge() -> None:
        async with db.transaction() as tx:
            counts = await tx.outbox.counts()
        metrics.outbox_pending.set(counts.get("pending", 0) + counts.get("sending", 0))

    scheduler.add_job(forget_old_inbound_ids, "interval", hours=6, id="housekeeping:inbound",
                      replace_existing=True)
    scheduler.add_job(forget_stale_sessions, "interval", hours=6,
                      id="housekeeping:sessions", replace_existing=True)
    scheduler.add_job(outbox_gauge, "interval", seconds=15, id="housekeeping:outbox-gauge",
                      replace_existing=True)


def add_timers(scheduler: AsyncIOScheduler, timers: Iterable[Timer],
               clock: Callable[[], datetime]) -> None:
    """The features' jobs; each id once (a restart replaces, never doubles, a job)."""
    for timer in timers:
        extra = {"next_run_time": clock()} if timer.at_start else {}
        scheduler.add_job(timer.run, timer.trigger, id=timer.id, replace_existing=True,
                          **timer.args, **extra)
