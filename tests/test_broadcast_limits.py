"""Acceptance: a broadcast to 500 Telegram chats against a Bot API that enforces 30
messages a second overall and one a second per chat gets no 429 and finishes within
1.15 times the theoretical minimum.

The real pieces run: the activities feature fans the broadcast out, the outbox paces it,
``handlers.telegram.TelegramChannel`` (python-telegram-bot) posts every message over
loopback to ``tests.fakes.telegram_limits``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.dispatcher import Dispatcher
from bot.features.activities import ActivitiesFeature
from bot.metrics import Metrics
from bot.outbox import OutboxSender
from handlers.telegram import TelegramChannel
from storage.db import Database
from storage.models_activities import Broadcast
from storage.repos_activities import ActivityRepo
from tests.fakes.telegram_limits import RATE, TOKEN, LimitedBotAPI
from tests.harness import translator

pytestmark = [pytest.mark.e2e]

RECIPIENTS = 500
COORDINATOR_CHAT = 9_000_001
FIRST_CHAT = 7_000_001
HANG = 60.0  # seconds before a hung broadcast fails the test (not a measurement)


def utc_now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def fake() -> AsyncIterator[LimitedBotAPI]:
    api = await LimitedBotAPI().start()
    try:
        yield api
    finally:
        await api.close()
    assert api.problems == [], api.problems


async def seed(db: Database, count: int) -> int:
    """``count`` residents and a coordinator on Telegram; returns a siaran ready to go."""
    now = utc_now()
    async with db.transaction() as tx:
        coordinator = await tx.contacts.upsert("telegram", str(COORDINATOR_CHAT), now)
        coordinator.role = "coordinator"
        for n in range(count):
            await tx.contacts.upsert("telegram", str(FIRST_CHAT + n), now, name=f"Warga {n}")
        await tx.session.flush()
        broadcast = await ActivityRepo(tx.session).add_broadcast(
            kind="siaran", requested_by=coordinator.id, audience={"type": "all"},
            body="Pembagian air bersih besok pukul 08.00 di Balai RW 03.", status="draft",
            due_at=now, created_at=now)
        return broadcast.id


async def test_broadcast_to_500_chats_stays_under_telegrams_limits_at_full_speed(
        db: Database, fake: LimitedBotAPI) -> None:
    broadcast_id = await seed(db, RECIPIENTS)
    dispatcher = Dispatcher(db, translator(), clock=utc_now, metrics=Metrics())
    feature = ActivitiesFeature()
    dispatcher.add_feature(feature)
    bot = Bot(TOKEN, base_url=f"{fake.url}/bot",
              request=HTTPXRequest(connection_pool_size=16))
    await bot.initialize()  # getMe; and shutdown() then closes the connections
    channel = TelegramChannel(bot)
    sender = OutboxSender(db, {"telegram": channel}, clock=utc_now)
    dispatcher.on_enqueued.append(sender.wake)
    total = RECIPIENTS + 1  # the coordinator is a resident too
    loop = asyncio.get_running_loop()
    running = asyncio.create_task(sender.run())
    try:
        started = loop.time()
        async with db.transaction() as tx:
            found = await ActivityRepo(tx.session).broadcast(broadcast_id)
            assert found is not None
            found.status = "scheduled"
        await feature.broadcaster.run()
        await fake.wait_for(lambda: len(fake.delivered) >= total, within=HANG)
        last = max(d.at for d in fake.delivered)
        first = min(d.at for d in fake.delivered)
        # The delivery report comes once every row is final.
        await wait_report(feature, db, broadcast_id)
        await fake.wait_for(lambda: len(fake.delivered) >= total + 1, within=HANG)
    finally:
        await sender.stop()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await bot.shutdown()

    assert fake.refused == [], f"{len(fake.refused)} messages refused with 429"
    per_chat = fake.per_chat()
    assert all(per_chat.get(FIRST_CHAT + n) == 1 for n in range(RECIPIENTS))
    report = fake.texts(COORDINATOR_CHAT)[-1]
    assert "Terkirim: 501" in report and "Gagal: 0" in report
    # The theoretical minimum: 501 messages at 30 a second, the first one at once.
    minimum = (total - 1) / RATE
    elapsed = last - started
    # The one timed assertion of the suite, because the acceptance criterion is a time.
    assert elapsed <= 1.15 * minimum, (
        f"{total} messages took {elapsed:.2f} s from confirmation to the last delivery; "
        f"the platform allows {minimum:.2f} s at best, and 1.15x that is the bar "
        f"(first delivery after {first - started:.2f} s)")


async def wait_report(feature: ActivitiesFeature, db: Database, broadcast_id: int) -> None:
    async with asyncio.timeout(HANG):
        while True:
            await feature.broadcaster.run()
            async with db.session() as session:
                found = await session.get(Broadcast, broadcast_id)
                assert found is not None
                if found.status == "done":
                    return
            await asyncio.sleep(0.05)
