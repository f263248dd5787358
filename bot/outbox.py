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
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from bot.metrics import Metrics
from conversations.messages import (
    ChannelMisconfigured,
    Outbound,
    OutsideServiceWindow,
    Pacing,
    RecipientBlocked,
    SendError,
    Throttled,
)
from handlers.base import Channel
from storage.db import Database

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# Limits are checked once more just before each platform call, counting every message
# that may reach the platform inside the window: those still on their way, and those
# answered (it had them by then) within the window. Our side may be held up (a commit, a
# busy loop) and requests may overtake each other; the platform counts arrivals, and
# still never sees more than its limit. The margin covers clock granularity.
SEND_MARGIN = 0.01
# How long to wait before asking again when too many messages are still on their way.
IN_FLIGHT_POLL = 0.005


class Sending:
    """One message on its way to the platform: booked for ``at``, then answered."""

    __slots__ = ("at", "done")

    def __init__(self, at: float) -> None:
        self.at = at
        self.done = False


def _ready(sent: Sequence[Sending], limit: int, span: float, now: float) -> float | None:
    """The first moment from ``now`` at which one more message keeps at most ``limit`` in
    any ``span`` seconds; None while too many are still on their way to tell."""
    if len(sent) < limit:
        return now
    room = limit - 1 - sum(1 for s in sent if not s.done)
    if room < 0:
        return None
    answered = sorted(s.at for s in sent if s.done)
    if len(answered) <= room:
        return now
    return max(now, answered[-(room + 1)] + span)


class Pacer:
    """Books send slots; never lets a channel or a recipient go over its limit."""

    def __init__(self, pacing: Pacing, clock: Callable[[], float]) -> None:
        self.pacing = pacing
        self.clock = clock
        self._next_global = 0.0
        # recipient → times of their recent slots (for the burst allowance)
        self._recent: dict[str, list[float]] = {}
        # Messages that may still share a window with the next one, overall and per
        # recipient (for the check just before the platform call).
        self._sending: deque[Sending] = deque()
        self._sending_to: dict[str, list[Sending]] = {}

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

    def hold(self, recipient: str) -> Sending | None:
        """Book the moment this message may go so that, whenever it and the others reach
        the platform, no window holds more than the limits; None: too many are still on
        their way to tell, ask again shortly. Pass the booking to ``answered``."""
        now = self.clock()
        span = 1.0 + SEND_MARGIN
        interval = self.pacing.per_recipient_interval * (1 + SEND_MARGIN)
        sending = self._sending
        while sending and sending[0].done and sending[0].at <= now - span:
            sending.popleft()  # answered before any window that is still open
        mine = [s for s in self._sending_to.get(recipient, ())
                if not (s.done and s.at <= now - interval)]
        at = _ready(sending, max(1, int(self.pacing.rate)), span, now)
        if at is None:
            return None
        # Later only lets more of the answered ones out of the overall window.
        at = _ready(mine, max(self.pacing.burst, 1), interval, at)
        if at is None:
            return None
        booking = Sending(at)
        sending.append(booking)
        mine.append(booking)
        self._sending_to[recipient] = mine
        if len(self._sending_to) > 50_000:
            self._sending_to = {r: t for r, t in self._sending_to.items()
                                if any(not s.done or s.at > now - interval for s in t)}
        return booking

    def answered(self, booking: Sending) -> None:
        """The platform answered (or the call ended): it had the message by now."""
        booking.at = max(booking.at, self.clock())
        booking.done = True

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
        # One bulk message per channel at a time is between "posting" and the platform's
        # answer: a process killed then leaves at most one message in doubt.
        self._bulk_posting = {name: asyncio.Lock() for name in channels}
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
            booking = pacer.hold(recipient)
            while booking is None:
                await asyncio.sleep(IN_FLIGHT_POLL)
                booking = pacer.hold(recipient)
            if booking.at > pacer.clock():
                await asyncio.sleep(booking.at - pacer.clock())
            try:
                try:
                    if priority > 0:
                        async with self._bulk_posting[channel_name]:
                            # Marked only once nothing but the platform call is left: a
                            # process that dies while waiting for its slot leaves the row
                            # to be taken up again.
                            if not await self._mark_posting(row_id, attempts):
                                return
                            result = await channel.send(message)
                    else:
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
