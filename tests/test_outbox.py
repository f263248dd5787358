"""The outbox sender: pacing, priorities, retries and typed failures."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.outbox import OutboxSender
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
from storage.repos import REDACTED
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


# -- fairness, order, crashes ----------------------------------------------------------------


class GatedChannel(ScriptedChannel):
    """Delivers one message each time the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Semaphore(0)
        self.order: list[str] = []

    async def send(self, message: Outbound) -> SendResult:
        await self.gate.acquire()
        self.order.append(message.text)
        return await super().send(message)


async def test_one_contacts_backlog_does_not_delay_anothers_reply(db: Database) -> None:
    clock = Clock()
    channel = ScriptedChannel()
    for n in range(200):
        await enqueue(db, clock, "flooder", f"flood {n}")
    clock.advance(seconds=1)
    for name in ("siti", "budi", "ani"):
        await enqueue(db, clock, name, f"reply to {name}")
    sender = OutboxSender(db, {"test": channel}, clock=clock, max_in_flight=1)
    await sender.drain()
    # Every other reply went out among the flooder's first few, not after all 200.
    firsts = {text: n for n, text in enumerate(channel.delivered)}
    assert all(firsts[f"reply to {name}"] < 6 for name in ("siti", "budi", "ani"))
    # The flooder loses nothing, and keeps their order.
    assert [t for t in channel.delivered if t.startswith("flood")] == [
        f"flood {n}" for n in range(200)]


async def test_a_recipients_messages_keep_their_order_across_senders(db: Database) -> None:
    clock = Clock()
    first = await enqueue(db, clock, "siti", "first")
    async with db.transaction() as tx:  # a sender claims the first one, then dies
        [claimed] = await tx.outbox.claim_due(clock(), limit=10, lease=timedelta(seconds=10),
                                              heads=True)
        assert claimed.id == first
    await enqueue(db, clock, "siti", "second")
    channel = ScriptedChannel()
    sender = OutboxSender(db, {"test": channel}, clock=clock)
    await sender.drain()
    assert channel.delivered == []  # "second" waits for "first", still leased
    clock.advance(seconds=11)
    await sender.drain()
    assert channel.delivered == ["first", "second"]


async def test_a_reply_overtakes_queued_bulk_at_the_next_send(db: Database) -> None:
    clock = Clock()
    channel = GatedChannel()
    for n in range(50):
        await enqueue(db, clock, f"r{n}", f"bulk {n}", priority=10)
    sender = OutboxSender(db, {"test": channel}, clock=clock, max_in_flight=1)
    running = asyncio.create_task(sender.run())
    try:
        for _ in range(3):
            channel.gate.release()
        await wait_until(lambda: len(channel.order) == 3)
        await enqueue(db, clock, "waiting", "reply")
        sender.wake()
        # The send already under way finishes; the very next one is the reply.
        for _ in range(3):
            channel.gate.release()
        await wait_until(lambda: len(channel.order) == 6)
        assert channel.order[4] == "reply"
    finally:
        for _ in range(100):
            channel.gate.release()
        await sender.stop()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_bulk_claimed_by_a_sender_that_died_before_posting_it_is_sent(
        db: Database) -> None:
    clock = Clock()
    ids = [await enqueue(db, clock, f"r{n}", f"bulk {n}", priority=10) for n in range(5)]
    async with db.transaction() as tx:  # claimed, then the process dies before posting
        claimed = await tx.outbox.claim_due(clock(), limit=10, lease=timedelta(seconds=10))
        assert sorted(c.id for c in claimed) == ids
    channel = ScriptedChannel()
    sender = OutboxSender(db, {"test": channel}, clock=clock)
    clock.advance(seconds=11)  # one short lease later, not a minute
    await sender.drain()
    assert sorted(channel.delivered) == [f"bulk {n}" for n in range(5)]
    async with db.transaction() as tx:
        assert await tx.outbox.counts() == {"sent": 5}


async def test_a_sender_at_work_keeps_its_rows_and_a_dead_ones_are_taken_over(
        db: Database) -> None:
    """The lease is short and renewed while the sender holds the rows."""
    channel = GatedChannel()
    for n in range(3):
        await enqueue(db, utc_clock, f"r{n}", f"m{n}")
    alive = OutboxSender(db, {"test": channel}, clock=utc_clock,
                         lease=timedelta(seconds=0.3))
    running = asyncio.create_task(alive.run())
    try:
        await wait_until(lambda: len(alive._held) == 3)
        await asyncio.sleep(1.0)  # three leases: renewed meanwhile
        async with db.transaction() as tx:
            stolen = await tx.outbox.claim_due(utc_clock(), limit=10,
                                               lease=timedelta(seconds=1))
        assert stolen == []
        for _ in range(3):
            channel.gate.release()
        await wait_until(lambda: len(channel.delivered) == 3)
    finally:
        await alive.stop()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    assert sorted(channel.delivered) == ["m0", "m1", "m2"]


async def test_a_clean_stop_gives_back_what_it_did_not_send(db: Database) -> None:
    clock = Clock()
    channel = GatedChannel()
    for n in range(3):
        await enqueue(db, clock, f"r{n}", f"m{n}")
    sender = OutboxSender(db, {"test": channel}, clock=clock, max_in_flight=1)
    running = asyncio.create_task(sender.run())
    channel.gate.release()
    await wait_until(lambda: len(channel.delivered) == 1)
    await asyncio.sleep(0.05)
    channel.gate.release()  # the one under way may finish
    await sender.stop()
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    async with db.transaction() as tx:
        counts = await tx.outbox.counts()
    # Nothing is left leased to a sender that is gone: another takes it at once.
    assert "sending" not in counts
    assert counts.get("sent", 0) + counts.get("pending", 0) == 3


# -- ephemeral bodies ----------------------------------------------------------------------


async def test_an_ephemeral_body_is_gone_once_delivered(db: Database) -> None:
    clock = Clock()
    async with db.transaction() as tx:
        secret = await tx.outbox.enqueue(
            channel="test", recipient="siti", now=clock(), ephemeral=True,
            payload=Outbound("test", "siti", "Tautan masuk: https://x/masuk/abc").as_dict())
        plain = await tx.outbox.enqueue(
            channel="test", recipient="budi", now=clock(),
            payload=Outbound("test", "budi", "Laporan diterima").as_dict())
        failing = await tx.outbox.enqueue(
            channel="test", recipient="ani", now=clock(), ephemeral=True,
            payload=Outbound("test", "ani", "NIK 3172********0001").as_dict())
    assert secret and plain and failing
    channel = ScriptedChannel()
    channel.failures["ani"] = [PermanentFailure("bad request")]
    await OutboxSender(db, {"test": channel}, clock=clock).drain()
    assert "Tautan masuk: https://x/masuk/abc" in channel.delivered  # it did go out
    sent, kept, failed = (await row(db, secret)), (await row(db, plain)), (await row(db, failing))
    assert (sent.status, sent.payload) == ("sent", REDACTED)
    assert (failed.status, failed.payload) == ("failed", REDACTED)
    assert kept.payload["text"] == "Laporan diterima"


async def test_housekeeping_blanks_old_bodies_but_keeps_the_rows(db: Database) -> None:
    clock = Clock()
    old = await enqueue(db, clock, "siti", "lama")
    waiting = await enqueue(db, clock, "budi", "belum terkirim", priority=10)
    async with db.transaction() as tx:
        [claimed] = await tx.outbox.claim_due(clock(), limit=1, lease=timedelta(seconds=10))
        await tx.outbox.mark_sent(claimed.id, clock(), "p-1")
    clock.advance(days=8)
    recent = await enqueue(db, clock, "ani", "baru")
    async with db.transaction() as tx:
        [claimed] = await tx.outbox.claim_due(clock(), limit=1, lease=timedelta(seconds=10))
        assert claimed.id == recent
        await tx.outbox.mark_sent(recent, clock(), "p-2")
    async with db.transaction() as tx:
        assert await tx.outbox.purge_bodies(clock() - timedelta(days=7)) == 1
        assert await tx.outbox.purge_bodies(clock() - timedelta(days=7)) == 0
    assert (await row(db, old)).payload == REDACTED
    assert (await row(db, old)).provider_message_id == "p-1"
    assert (await row(db, recent)).payload["text"] == "baru"
    assert (await row(db, waiting)).payload["text"] == "belum terkirim"


def utc_clock() -> datetime:
    return datetime.now(UTC)


async def wait_until(predicate: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):  # bounded only to fail a hung test
        while not predicate():  # noqa: ASYNC110 - the sender has no event to wait on
            await asyncio.sleep(0.005)


# -- claimed in the answer's own transaction -----------------------------------------------


async def test_a_reply_claimed_in_its_answers_transaction_goes_once_if_committed(
        db: Database) -> None:
    clock = Clock()
    channel = ScriptedChannel()
    sender = OutboxSender(db, {"test": channel}, clock=clock, lease=timedelta(seconds=1))
    running = asyncio.create_task(sender.run())
    await asyncio.sleep(0.05)

    def reply(text: str) -> dict[str, object]:
        return Outbound(channel="test", user_id="ani", text=text).as_dict()

    try:
        async with db.transaction() as tx:
            first = await tx.outbox.enqueue(channel="test", recipient="ani", now=clock(),
                                            payload=reply("halo"))
            assert await sender.claim_within(tx)
        assert first is not None
        # Claimed as it was committed: no claim of its own needed, nobody woke the sender.
        assert (await row(db, first)).status == "sending"
        await wait_until(lambda: channel.delivered == ["halo"])
        # The next answer fails after the claim: nothing of it is taken, and the delivery
        # of "halo" it would have recorded is recorded later, not sent again.
        with pytest.raises(RuntimeError, match="answer failed"):
            async with db.transaction() as tx:
                await tx.outbox.enqueue(channel="test", recipient="ani", now=clock(),
                                        payload=reply("lagi"))
                assert await sender.claim_within(tx)
                raise RuntimeError("the answer failed")
        await enqueue(db, clock, "ani", "lagi")
        sender.wake()
        await wait_until(lambda: channel.delivered == ["halo", "lagi"])
        await asyncio.sleep(1.5)  # past the lease: an unrecorded row would go again
        assert channel.delivered == ["halo", "lagi"]
        async with db.transaction() as tx:
            assert await tx.outbox.counts() == {"sent": 2}
    finally:
        await sender.stop()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
