"""The outbox sender: durable rows → paced platform calls, replies before bulk.

Pacing is by reservation: each send books the next free slot of its channel (overall
rate) and of its recipient (per-chat interval), so a broadcast runs at the platform's
cap without ever provoking a 429, and a resident's reply is never queued behind it
(rows are claimed in priority order and bulk rows are claimed only a little ahead).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from bot.metrics import Metrics
from conversations.messages import (
    ChannelMisconfigured,
    Outbound,
    OutsideServiceWindow,
    Pacing,
    RecipientBlocked,
    SendError,
    SendResult,
    Throttled,
)
from storage.db import Database

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# Limits are checked once more at the moment of sending, against when earlier messages
# were answered by the platform (it had them by then, however long our side was held up
# by a commit or a busy loop): a platform that counts arrivals never sees more than its
# limit. The margin covers clock granularity.
SEND_MARGIN = 0.01


class Channel(Protocol):
    name: str
    pacing: Pacing

    async def send(self, message: Outbound) -> SendResult: ...


class Pacer:
    """Books send slots; never lets a channel or a recipient go over its limit."""

    def __init__(self, pacing: Pacing, clock: Callable[[], float]) -> None:
        self.pacing = pacing
        self.clock = clock
        self._next_global = 0.0
        # recipient → times of their recent slots (for the burst allowance)
        self._recent: dict[str, list[float]] = {}
        # The latest ``rate`` sends, and each recipient's latest few: [when it went, or
        # when the platform answered once it has].
        self._went: deque[list[float]] = deque(maxlen=max(1, int(pacing.rate)))
        self._went_to: dict[str, list[list[float]]] = {}

    def recipient_ready(self, recipient: str) -> float:
        recent = self._recent.get(recipient)
        if not recent or len(recent) < self.pacing.burst:
            return 0.0
        return recent[-self.pacing.burst] + self.pacing.per_recipient_interval

    def reserve(self, recipient: str) -> float:
        """The monotonic time at which this message may go."""
        now = self.clock()
        slot = max(now, self._next_global, self.recipient_ready(recipient))
        self._next_global = slot + 1.0 / self.pacing.rate
        recent = self._recent.setdefault(recipient, [])
        recent.append(slot)
        del recent[: -max(self.pacing.burst, 1)]
        if len(self._recent) > 50_000:
            self._forget(now)
        return slot

    def hold(self, recipient: str) -> tuple[float, list[float]]:
        """Book the moment this message really goes: now, or later if the platform's
        limits, counted from when earlier messages were answered, need it. Returns the
        moment and the booking, to pass to ``answered`` once the platform answers."""
        now = self.clock()
        at = max(now, self._went[-1][0]) if self._went else now
        if len(self._went) == self._went.maxlen:
            at = max(at, self._went[0][0] + 1.0 + SEND_MARGIN)
        burst = max(self.pacing.burst, 1)
        went = self._went_to.setdefault(recipient, [])
        if len(went) >= burst:
            at = max(at, went[-burst][0] + self.pacing.per_recipient_interval
                     * (1 + SEND_MARGIN))
        booking = [at]
        self._went.append(booking)
        went.append(booking)
        del went[:-burst]
        if len(self._went_to) > 50_000:
            horizon = now - self.pacing.per_recipient_interval * (1 + SEND_MARGIN)
            self._went_to = {r: t for r, t in self._went_to.items() if t and t[-1][0] > horizon}
        return at, booking

    def answered(self, booking: list[float]) -> None:
        """The platform answered (or the call ended): it had the message by now."""
        booking[0] = max(booking[0], self.clock())

    def delay(self, recipient: str, seconds: float) -> None:
        """The platform told us to wait for this recipient."""
        until = self.clock() + seconds
        self._recent[recipient] = [until - self.pacing.per_recipient_interval] * max(
            self.pacing.burst, 1
        )

    def _forget(self, now: float) -> None:
        horizon = now - self.pacing.per_recipient_interval
        self._recent = {r: t for r, t in self._recent.items() if t and t[-1] > horizon}


class OutboxSender:
    def __init__(
        self,
        db: Database,
        channels: dict[str, Channel],
        *,
        clock: Callable[[], datetime],
        metrics: Metrics | None = None,
        lease: timedelta = timedelta(seconds=60),
        lookahead: float = 1.0,
        max_in_flight: int = 64,
        on_blocked: Callable[[int], None] | None = None,
    ) -> None:
        self.db = db
        self.channels = channels
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.lease = lease
        self.lookahead = lookahead
        self.max_in_flight = max_in_flight
        # Pacing follows the same clock as the rows' timestamps (injected in tests).
        self.pacers = {name: Pacer(ch.pacing, self._seconds) for name, ch in channels.items()}
        self._wake = asyncio.Event()
        self._in_flight: set[int] = set()
        # Sent but not yet recorded; recorded together by _flush_sent.
        self._sent: list[tuple[int, str | None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._failing = False

    def _seconds(self) -> float:
        return self.clock().timestamp()

    def wake(self) -> None:
        self._wake.set()

    # -- loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Send until cancelled; sleeps until woken or the next row is due."""
        while not self._stopping:
            try:
                claimed = await self.pump()
                if self._failing:
                    log.info("outbox: database reachable again, sending resumes")
                    self._failing = False
            except Exception as error:
                # Log an outage once, not every second while it lasts.
                if not self._failing:
                    log.error("outbox: cannot reach the database (%s); retrying",
                              type(error).__name__)
                    self._failing = True
                claimed = 0
                await asyncio.sleep(1.0)
            if claimed:
                continue
            self._wake.clear()
            # Ask the database first: a coroutine made before an await that is cancelled
            # would never be awaited (RuntimeWarning at shutdown).
            timeout = await self._idle_wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)

    async def _idle_wait(self) -> float:
        if self._in_flight:
            return 0.05
        try:
            async with self.db.transaction() as tx:
                due = await tx.outbox.next_due_at()
        except Exception:
            return 1.0  # the next pump reports the outage
        if due is None:
            return 5.0
        return max(0.01, min(5.0, (due - self.clock()).total_seconds()))

    async def pump(self) -> int:
        """Claim what can go in the next moment and start sending it; returns rows claimed."""
        room = self.max_in_flight - len(self._in_flight)
        if room <= 0:
            await asyncio.sleep(0.01)
            return 0
        budget = sum(int(p.pacing.rate * self.lookahead) + 1 for p in self.pacers.values())
        limit = max(1, min(room, budget))
        now = self.clock()
        async with self.db.transaction() as tx:
            rows = await tx.outbox.claim_due(
                now, limit=limit, lease=self.lease, channels=list(self.channels),
                exclude=list(self._in_flight),
            )
            jobs = []
            put_back = 0
            for row in rows:
                if row.priority > 0 and (row.opted_out or row.stopped):
                    # Bulk to someone who said stop, or who blocked us, is not sent.
                    reason = "opted_out" if row.opted_out else "blocked"
                    await tx.outbox.mark_failed(row.id, reason, status="skipped")
                    self.metrics.outbound.labels(row.channel, reason).inc()
                    continue
                pacer = self.pacers[row.channel]
                wait = pacer.recipient_ready(row.recipient) - pacer.clock()
                if wait > self.lookahead:
                    # This recipient is in cool-down (perhaps because of a row earlier in
                    # this very batch): put it back without using a slot.
                    await tx.outbox.put_back(row.id, now + timedelta(seconds=wait))
                    put_back += 1
                    continue
                # Book the slot now, so the next row for the same person sees it.
                slot = pacer.reserve(row.recipient)
                message = Outbound.from_dict(row.payload)
                if row.contact_id is not None:
                    message.extra["last_inbound_at"] = (
                        row.last_inbound_at.isoformat() if row.last_inbound_at else None
                    )
                    message.extra["window_closed"] = row.window_closed
                    message.extra["bulk"] = row.priority > 0
                jobs.append((row.id, row.channel, row.recipient, row.attempts, row.contact_id,
                             message, row.priority, slot))
        for job in jobs:
            self._in_flight.add(job[0])
            task = asyncio.create_task(self._send(*job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(rows) - put_back

    async def drain(self, within: float = 30.0) -> None:
        """Send everything that is due now, and wait for it (tests, `warga chat`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            claimed = await self.pump()
            if self._tasks:
                await asyncio.wait(set(self._tasks), timeout=max(0.0, deadline - loop.time()))
                continue
            if self._flusher is not None and not self._flusher.done():
                await self._flusher
                continue
            if not claimed:
                return
        raise TimeoutError("outbox did not drain in time")

    async def stop(self) -> None:
        self._stopping = True
        self.wake()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=10)
        if self._flusher is not None:
            await self._flusher
        await self._flush_sent()

    # -- one message ---------------------------------------------------------------------

    async def _send(
        self, row_id: int, channel_name: str, recipient: str, attempts: int,
        contact_id: int | None, message: Outbound, priority: int, slot: float,
    ) -> None:
        channel = self.channels[channel_name]
        pacer = self.pacers[channel_name]
        recorded_later = False
        try:
            delay = slot - pacer.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            if priority > 0 and not await self._mark_posting(row_id, attempts):
                return
            at, booking = pacer.hold(recipient)
            if at > pacer.clock():
                await asyncio.sleep(at - pacer.clock())
            try:
                try:
                    result = await channel.send(message)
                finally:
                    pacer.answered(booking)
            except SendError as err:
                await self._failed(row_id, channel_name, recipient, attempts, contact_id, err)
                return
            except Exception as exc:  # a bug in a channel must not stop the outbox
                log.exception("channel %s raised while sending", channel_name)
                await self._failed(row_id, channel_name, recipient, attempts, contact_id,
                                   SendError(type(exc).__name__))
                return
            self._sent.append((row_id, result.provider_message_id))
            recorded_later = True
            self.metrics.outbound.labels(channel_name, "sent").inc()
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.create_task(self._flush_sent())
        finally:
            if not recorded_later:
                self._in_flight.discard(row_id)

    async def _mark_posting(self, row_id: int, attempts: int) -> bool:
        """Record that a bulk row goes to the platform now; False: do not send it.

        If the process dies during the platform call, nobody can know whether the message
        arrived; a bulk row marked here is then never sent again (at most once), while
        rows still waiting for their slot are taken up again after the lease (nothing
        lost). The attempt count fences out a replica whose lease was taken over.
        """
        try:
            async with self.db.transaction() as tx:
                return await tx.outbox.mark_posting(row_id, attempts)
        except Exception as error:  # the row stays leased and is taken up again later
            log.warning("outbox: could not mark row %d as posting (%s)", row_id,
                        type(error).__name__)
            return False

    async def _flush_sent(self) -> None:
        """Record deliveries in batches: one transaction for many sends."""
        while self._sent:
            batch, self._sent = self._sent, []
            try:
                async with self.db.transaction() as tx:
                    await tx.outbox.mark_sent_many(batch, self.clock())
            except Exception:
                # The rows stay leased as 'sending'; after the lease they are sent again
                # (at least once) rather than lost.
                log.exception("could not record %d deliveries", len(batch))
            finally:
                for row_id, _ in batch:
                    self._in_flight.discard(row_id)

    async def _failed(
        self, row_id: int, channel_name: str, recipient: str, attempts: int,
        contact_id: int | None, err: SendError,
    ) -> None:
        now = self.clock()
        kind = type(err).__name__
        async with self.db.transaction() as tx:
            if isinstance(err, RecipientBlocked):
                await tx.outbox.mark_failed(row_id, kind, status="blocked")
                if contact_id is not None:
                    await tx.contacts.set_fields(contact_id, now, stopped=True)
                result = "blocked"
            elif isinstance(err, OutsideServiceWindow):
                if contact_id is not None:
                    # The next attempt sees the closed window and goes as the template.
                    await tx.contacts.set_fields(contact_id, now, window_closed=True)
                    await tx.outbox.mark_retry(row_id, now, kind)
                else:
                    await tx.outbox.mark_failed(row_id, kind)
                result = "outside_window"
            elif isinstance(err, ChannelMisconfigured):
                log.error("channel %s is misconfigured (%s); message kept", channel_name,
                          err.detail)
                await tx.outbox.mark_retry(row_id, now + timedelta(minutes=5), kind)
                result = "misconfigured"
            elif err.retry and attempts < MAX_ATTEMPTS:
                if isinstance(err, Throttled) and err.retry_after is not None:
                    wait = err.retry_after
                    self.pacers[channel_name].delay(recipient, wait)
                else:
                    wait = min(300.0, 2.0 ** attempts) * random.uniform(0.8, 1.2)
                await tx.outbox.mark_retry(row_id, now + timedelta(seconds=wait), kind)
                result = "throttled" if isinstance(err, Throttled) else "retry"
            else:
                await tx.outbox.mark_failed(row_id, f"{kind}: {err.detail}"[:300])
                result = "failed"
        self.metrics.outbound.labels(channel_name, result).inc()
        if result in ("retry", "throttled"):
            self.wake()
