"""Stopping the scheduler lets a job that is running finish its work (a transaction cut
off mid-way would leave its connection dangling and log a failure)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.scheduler import create_scheduler


async def test_a_running_job_finishes_when_the_scheduler_stops() -> None:
    scheduler = create_scheduler("Asia/Jakarta")
    began, finished = asyncio.Event(), []

    async def job() -> None:
        began.set()
        await asyncio.sleep(0.2)  # a transaction under way
        finished.append(True)

    scheduler.start()
    scheduler.add_job(job, "date", id="work",
                      run_date=datetime.now(ZoneInfo("Asia/Jakarta")) + timedelta(seconds=0.05))
    async with asyncio.timeout(5):
        await began.wait()
    await scheduler.stop()
    assert finished == [True]  # not cancelled half-way


async def test_no_job_starts_once_stopped() -> None:
    scheduler = create_scheduler("Asia/Jakarta")
    ran: list[int] = []
    first = asyncio.Event()

    async def job() -> None:
        ran.append(1)
        first.set()

    scheduler.start()
    scheduler.add_job(job, "interval", seconds=0.05, id="tick")
    async with asyncio.timeout(5):
        await first.wait()
    await scheduler.stop()
    await asyncio.sleep(0.01)
    seen = len(ran)
    await asyncio.sleep(0.3)
    assert len(ran) == seen and not scheduler.running
