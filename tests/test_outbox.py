"""The outbox sender: pacing, priorities, retries and typed failures."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.outbox import OutboxSender, Pacer
from conversations.messages import (
    ChannelUnavailable,
    Outbound,
    Pacing,
    PermanentFailure,
    RecipientBlocked,
    SendError,
    SendResult,
    Throttled,
)
from storage.db import Database
from storage.models import Contact, OutboxMessage
from tests.harness import Clock

pytestmark = [pytest.mark.storage]


class ScriptedChannel:
    """Fails as told, per recipient, then succeeds; keeps what it delivered."""

    name = "test"

    def __init__(self, pacing: Pacing | None = None) -> None:
        self.pacing = pacing or Pacing(rate=10_000.0, per_recipient_interval=0.0, burst=100)
        self.failures: dict[str, list[SendError]] = {}
        self.delivered: list[str] = []

    async def send(self, message: Outbound) -> SendResult:
        queue = self.failures.get(message.user_id)
        if queue:
            raise queue.pop(0)
        self.delivered.append(message.text)
        return SendResult(provider_message_id=f"p-{len(self.delivered)}")


async def add_contact(db: Database, clock: Clock, external_id: str) -> int:
    async with db.transaction() as tx:
        contact = await tx.contacts.touch("test", external_id, clock())
        return contact.id


async def enqueue(db: Database, clock: Clock, recipient: str, text: str, *,
                  priority: int = 0, contact_id: int | None = None) -> int:
    async with db.transaction() as tx:
        row_id = await tx.outbox.enqueue(
            channel="test", recipient=recipient, now=clock(), priority=priority,
            contact_id=contact_id,
            payload=Outbound(channel="test", user_id=recipient, text=text).as_dict(),
        )
    assert row_id is not None
    return row_id


async def row(db: Database, row_id: int) -> OutboxMessage:
    async with db.session() as s:
        found = await s.get(OutboxMessage, row_id)
        assert found is not None
        return found


async def test_replies_go_before_bulk(db: Database) -> None:
    clock = Clock()
    channel = ScriptedChannel()
    for n in range(5):
        await enqueue(db, clock, f"r{n}", f"bulk {n}", priority=10)
    await enqueue(db, clock, "waiting", "reply", priority=0)
    sender = OutboxSender(db, {"test": channel}, clock=clock)
    await sender.drain()
    assert channel.delivered[0] == "reply"
    assert sorted(channel.delivered[1:]) == [f"bulk {n}" for n in range(5)]


async def test_network_errors_are_retried_with_backoff(db: Database) -> None:
    clock = Clock()
    channel = ScriptedChannel()
    channel.failures["u1"] = [ChannelUnavailable("timeout"), ChannelUnavailable("timeout")]
    row_id = await enqueue(db, clock, "u1", "hello")
    sender = OutboxSender(db, {"test": channel}, clock=clock)
    await sender.drain()
    first = await row(db, row_id)
    assert first.status == "pending" and first.attempts == 1
    assert first.next_attempt_at > clock()
    assert channel.delivered == []
    clock.advance(seconds=10)
    await sender.drain()
    clock.advance(seconds=10)
    await sender.drain()
    done = await row(db, row_id)
    assert (done.status, done.attempts, done.provider_message_id) == ("sent", 3, "p-1")
    assert channel.delivered == ["hello"]


async def test_throttling_waits_what_the_platform_asks(db: Database) -> None:
    clock = Clock()
    channel = ScriptedChannel()
    channel.failures["u1"] = [Throttled("429", retry_after=37)]
    row_id = await enqueue(db, clock, "u1", "hello")
    sender = OutboxSender(db, {"test": channel}, clock=clock)
    await sender.drain()
    waiting = await row(db, row_id)
    assert waiting.next_attempt_at == clock() + timedelta(seconds=37)
    clock.advance(seconds=38)
    await sender.drain()
    assert channel.delivered == ["hello"]


async def test_blocked_recipient_stops_the_contact_without_retries(db: Database) -> None:
    clock = Clock()
    channel = ScriptedChannel()
    contact_id = await add_contact(db, clock, "u1")
    channel.failures["u1"] = [RecipientBlocked("bot was blocked by the user")]
    row_id = await enqueue(db, clock, "u1", "hello", contact_id=contact_id)
    sender = OutboxSender(db, {"test": channel}, clock=clock)
    await sender.drain()
    assert (await row(db, row_id)).status == "blocked"
    async with db.session() as s:
        contact = (await s.execute(select(Contact).where(Contact.id == contact_id))).scalar_one()
        assert contact.stopped is True
    # Bulk to a stopped contact is skipped, not attempted.
    bulk_id = await enqueue(db, clock, "u1", "news", priority=10, contact_id=contact_id)
    await sender.drain()
    skipped = await row(db, bulk_id)
    assert (skipped.status, skipped.error) == ("skipped", "blocked")
    assert channel.delivered == []


async def test_permanent_failures_are_not_retried(db: Database) -> None:
    clock = Clock()
    channel = ScriptedChannel()
    channel.failures["u1"] = [PermanentFailure("bad request")]
    row_id = await enqueue(db, clock, "u1", "hello")
    sender = OutboxSender(db, {"test": channel}, clock=clock)
    await sender.drain()
    failed = await row(db, row_id)
    assert failed.status == "failed" and "PermanentFailure" in (failed.error or "")


async def test_a_send_interrupted_by_a_crash_is_taken_again_after_the_lease(db: Database) -> None:
    clock = Clock()
    row_id = await enqueue(db, clock, "u1", "hello")
    async with db.transaction() as tx:  # a process claims the row, then dies
        [claimed] = await tx.outbox.claim_due(clock(), limit=10, lease=timedelta(seconds=60))
        assert claimed.id == row_id
    channel = ScriptedChannel()
    sender = OutboxSender(db, {"test": channel}, clock=clock)
    await sender.drain()
    assert channel.delivered == []  # still leased to the dead process
    clock.advance(seconds=61)
    await sender.drain()
    assert channel.delivered == ["hello"]


def test_pacer_keeps_the_overall_and_per_recipient_limits() -> None:
    now = [100.0]
    pacer = Pacer(Pacing(rate=30.0, per_recipient_interval=1.0, burst=1), lambda: now[0])
    slots = [pacer.reserve(f"chat{n}") for n in range(60)]
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert all(gap == pytest.approx(1 / 30) for gap in gaps)  # 30 per second, no faster
    assert slots[-1] - slots[0] == pytest.approx(59 / 30)
    same = [pacer.reserve("chat0") for _ in range(3)]
    assert same[1] - same[0] == pytest.approx(1.0) and same[2] - same[1] == pytest.approx(1.0)


def test_pacer_burst_allows_a_few_quick_messages_then_paces() -> None:
    now = [0.0]
    pacer = Pacer(Pacing(rate=80.0, per_recipient_interval=6.0, burst=3), lambda: now[0])
    slots = [pacer.reserve("628123") for _ in range(5)]
    assert slots[2] - slots[0] < 0.1  # three back to back
    assert slots[3] == pytest.approx(slots[0] + 6.0)
    assert slots[4] == pytest.approx(slots[1] + 6.0)
