"""APScheduler 3.11 wiring. Database rows are the truth; the in-memory job store is
rebuilt from them at start-up, so a restart neither loses nor repeats work.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

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


class Scheduler(AsyncIOScheduler):
    """An AsyncIOScheduler whose running jobs can be waited for at shutdown.

    APScheduler's ``shutdown(wait=True)`` does not wait for coroutine jobs; one cut off
    mid-transaction by the database closing would drop its connection unclosed.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._running_jobs: set[asyncio.Task[Any]] = set()

    def add_job(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        if inspect.iscoroutinefunction(func):
            func = self._tracked(func)
        return super().add_job(func, *args, **kwargs)

    def _tracked(self, func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        async def run(*args: Any, **kwargs: Any) -> Any:
            task = asyncio.current_task()
            if task is not None:
                self._running_jobs.add(task)
            try:
                return await func(*args, **kwargs)
            finally:
                if task is not None:
                    self._running_jobs.discard(task)

        return run

    def track(self, task: asyncio.Task[Any]) -> None:
        """Work a job started and did not await: waited for at shutdown like the job."""
        self._running_jobs.add(task)
        task.add_done_callback(self._running_jobs.discard)

    async def stop(self) -> None:
        """Start no more jobs and wait (up to ten seconds) for the running ones.

        Paused first and shut down after: APScheduler's shutdown cancels the coroutine
        jobs still running, which would cut one off mid-transaction (and log it as a
        failure)."""
        if self.running:
            self.pause()
        if self._running_jobs:
            await asyncio.wait(set(self._running_jobs), timeout=10.0)
        if self.running:
            self.shutdown(wait=False)


def create_scheduler(timezone: str) -> Scheduler:
    return Scheduler(timezone=timezone, job_defaults=JOB_DEFAULTS)


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
