"""Broadcast benchmark: one /siaran to N Telegram chats, through the activities feature's
fan-out, the outbox and python-telegram-bot, against a fake Bot API on loopback that
enforces Telegram's limits (30 messages/s overall, 1/s per chat; 429 when exceeded).

    python bench/broadcast.py [--recipients 1000] [--database-url URL]

Prints the time from confirmation to the last delivery, the rate against the platform
cap (1.00 = exactly 30 messages a second), the 429s received (should be 0), how long
the fan-out took, and the peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telegram import Bot
from telegram.request import HTTPXRequest

from bot.dispatcher import Dispatcher
from bot.features.activities import ActivitiesFeature
from bot.metrics import Metrics
from bot.outbox import OutboxSender
from conversations import library
from handlers.telegram import TelegramChannel
from storage.db import Database
from storage.migrate import upgrade
from storage.models_activities import Broadcast
from storage.repos_activities import ActivityRepo
from tests.fakes.telegram_limits import RATE, TOKEN, LimitedBotAPI

FIRST_CHAT = 7_000_001
COORDINATOR_CHAT = 9_000_001


def utc_now() -> datetime:
    return datetime.now(UTC)


async def seed(db: Database, recipients: int) -> int:
    now = utc_now()
    async with db.transaction() as tx:
        coordinator = await tx.contacts.upsert("telegram", str(COORDINATOR_CHAT), now)
        coordinator.role = "coordinator"
        for n in range(recipients):
            await tx.contacts.upsert("telegram", str(FIRST_CHAT + n), now, name=f"Warga {n}")
        await tx.session.flush()
        broadcast = await ActivityRepo(tx.session).add_broadcast(
            kind="siaran", requested_by=coordinator.id, audience={"type": "all"},
            body="Pembagian air bersih besok pukul 08.00 di Balai RW 03.", status="draft",
            due_at=now, created_at=now)
        return broadcast.id


async def run(recipients: int, database_url: str) -> None:
    await upgrade(database_url)
    db = Database(database_url)
    fake = await LimitedBotAPI().start()
    bot = Bot(TOKEN, base_url=f"{fake.url}/bot", request=HTTPXRequest(connection_pool_size=16))
    await bot.initialize()
    try:
        broadcast_id = await seed(db, recipients)
        dispatcher = Dispatcher(db, library.translator(), clock=utc_now, metrics=Metrics())
        feature = ActivitiesFeature()
        dispatcher.add_feature(feature)
        sender = OutboxSender(db, {"telegram": TelegramChannel(bot)}, clock=utc_now)
        dispatcher.on_enqueued.append(sender.wake)
        total = recipients + 1  # the coordinator is in "everyone" too
        running = asyncio.create_task(sender.run())
        started = time.monotonic()
        async with db.transaction() as tx:
            found = await ActivityRepo(tx.session).broadcast(broadcast_id)
            assert found is not None
            found.status = "scheduled"
        await feature.broadcaster.run()
        fanned_out = time.monotonic() - started
        await fake.wait_for(lambda: len(fake.delivered) >= total, within=total / 10 + 60)
        last = max(d.at for d in fake.delivered) - started
        first = min(d.at for d in fake.delivered) - started
        while True:  # the delivery report closes the broadcast
            await feature.broadcaster.run()
            async with db.session() as session:
                row = await session.get(Broadcast, broadcast_id)
                if row is not None and row.status == "done":
                    break
            await asyncio.sleep(0.05)
        await sender.stop()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    finally:
        await bot.shutdown()
        await fake.close()
        await db.close()
    minimum = (total - 1) / RATE
    rate = (total - 1) / (last - first) if last > first else float("inf")
    print(f"broadcast: {total} messages on {db.engine.dialect.name}")
    print(f"  confirmation → last delivery  {last:7.2f} s  "
          f"(minimum at {RATE}/s: {minimum:.2f} s, ratio {last / minimum:.3f})")
    print(f"  sending rate                  {rate:7.2f} msg/s = {rate / RATE:.3f} of the cap")
    print(f"  first delivery after          {first * 1000:7.1f} ms")
    print(f"  fan-out of all rows           {fanned_out * 1000:7.1f} ms")
    print(f"  429 Too Many Requests         {len(fake.refused):7d}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS                      {rss:7.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        asyncio.run(run(args.recipients, url))


if __name__ == "__main__":
    main()
