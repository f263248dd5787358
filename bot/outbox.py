"""The outbox sender: durable rows → platform calls at the platforms' pace, replies first,
no recipient's backlog in another's way.

1. **Claim.** Due rows are taken under a short lease that this process renews while it
   holds them (a crashed sender's rows go to another within one lease). Only a
   recipient's oldest open row is taken, so one person's backlog never fills the
   sender's hands, and their messages keep their order — across replicas too.
2. **Pick.** Whenever the channel's limiter (``bot.limiter``: limits kept from actual
   send times) allows one more message, the best waiting row goes: replies before bulk,
   then round-robin over recipients with a backlog (one turn each per round), then the
   longest waiting. A recipient still cooling down is passed over, not waited for, and bulk
   leaves room for replies: a reply overtakes a broadcast within one slot.
3. **Send.** A bulk row is marked ``posting`` just before its platform call, after every
   wait: a crash loses no bulk message that was not handed over, and repeats none that
   was. Replies are sent at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.limiter import Candidate, Grant, Limiter, LocalLimiter
from bot.metrics import Metrics
from conversations.messages import (
    ChannelMisconfigured,
    Outbound,
    OutsideServiceWindow,
    RecipientBlocked,
    SendError,
    Throttled,
)
from handlers.base import Channel
from storage.db import Database
from storage.repos import ClaimedMessage, Repos

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# Rows held ready per channel: this many seconds at the channel's rate (and no more
# than HOLD_MAX), so the next pick never waits for the database.
HOLD_SECONDS = 2.0
HOLD_MAX = 200
# Replies claimed beyond that when woken by a new one (the held bulk is not in their way).
WAKE_CLAIM = 16
# Asked again at least this often: retries come due, other replicas queue rows, a dead
# sender's lease runs out.
POLL_SECONDS = 1.0
# Waiting rows shown to the limiter at each pick, best first.
CANDIDATES = 64
# A held row whose lease is this close to running out (a share of the lease, at most
# half a second) is left for the next claim.
LEASE_MARGIN = 0.5
# Old bodies blanked per transaction by the housekeeping job.
PURGE_BATCH = 500
# A delivery is recorded with the next claim, or this many seconds after it at the latest.
FLUSH_DELAY = 0.2


@dataclass(eq=False)
class _Job:
    row: ClaimedMessage
    message: Outbound
    cost: int
    lease_until: float


@dataclass(eq=False)
class _Lane:
    """One channel: its limiter and the rows held for it."""

    name: str
    channel: Channel
    limiter: Limiter
    target: int
    waiting: dict[int, _Job] = field(default_factory=dict)
    busy: set[str] = field(default_factory=set)
    # recipient → messages sent to them in a row while more of theirs waited.
    streak: dict[str, int] = field(default_factory=dict)

    def order(self, job: _Job) -> tuple[int, int, datetime, int]:
        """Replies first; then round-robin over backlogs: a recipient with more messages
        waiting takes one turn in each round (everyone with none waiting goes first);
        then the longest waiting."""
        return (job.row.priority, self.streak.get(job.row.recipient, 0), job.row.due_at,
                job.row.id)

    def serve(self, job: _Job) -> None:
        recipient = job.row.recipient
        if job.row.more:
            self.streak[recipient] = self.streak.get(recipient, 0) + 1
        else:
            self.streak.pop(recipient, None)


def _cost(channel: Channel, message: Outbound) -> int:
    """Platform messages one send makes (a long text is split): the limits count each."""
    cost = getattr(channel, "cost", None)
    if cost is None:
        return 1
    try:
        return max(1, int(cost(message)))
    except Exception:  # the send itself reports what is wrong with the message
        return 1


class OutboxSender:
    def __init__(
        self,
        db: Database,
        channels: Mapping[str, Channel],
        *,
        clock: Callable[[], datetime],
        metrics: Metrics | None = None,
        lease: timedelta = timedelta(seconds=10),
        limiters: Mapping[str, Limiter] | None = None,
        max_in_flight: int = 64,
        recipients: frozenset[str] | None = None,
    ) -> None:
        self.db = db
        # Only these recipients' rows (one `warga chat` terminal is one person); the
        # others stay pending for their own sender.
        self.recipients = recipients
        self.channels = dict(channels)
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.lease = lease
        self.max_in_flight = max(1, max_in_flight)
        limiters = dict(limiters or {})
        self.lanes: dict[str, _Lane] = {}
        for name, channel in self.channels.items():
            # Pacing follows the same clock as the rows' timestamps (injected in tests).
            limiter = limiters.get(name) or LocalLimiter(channel.pacing, self._seconds)
            target = max(4, min(HOLD_MAX, int(channel.pacing.rate * HOLD_SECONDS)))
            self.lanes[name] = _Lane(name, channel, limiter, target)
        self._wake = asyncio.Event()
        self._claim_wanted = True
        self._more_due = False
        self._next_poll = 0.0
        # Rows this process holds (waiting, on their way, or sent and not yet recorded),
        # with the attempt count that fences them: the heartbeat renews their lease.
        self._held: dict[int, int] = {}
        # Sent, not yet recorded: recorded by the next claim's transaction (one write for
        # both), at the latest FLUSH_DELAY after the send.
        self._sent: list[tuple[int, str | None]] = []
        self._flush_due = float("inf")
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._halt = asyncio.Event()
        self._failing = False

    def _seconds(self) -> float:
        """The rows' clock in seconds (injected, frozen in tests): the default limiter's.
        The sender's own timers — polls, recording deliveries, leases held in memory —
        keep real time (``time.monotonic``)."""
        return self.clock().timestamp()

    def wake(self) -> None:
        """Something was queued: claim it and send it as soon as the limits allow."""
        self._claim_wanted = True
        self._wake.set()

    # -- loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Send until stopped; sleeps until woken, a limit frees, or the next poll."""
        self._runner = asyncio.current_task()
        self._heartbeat_task = asyncio.create_task(self._heartbeat(), name="outbox-lease")
        try:
            while not self._stopping:
                try:
                    wait = await self._cycle()
                    if self._failing:
                        log.info("outbox: database reachable again, sending resumes")
                        self._failing = False
                except Exception as error:
                    # Log an outage once, not every second while it lasts.
                    if not self._failing:
                        log.error("outbox: cannot reach the database (%s); retrying",
                                  type(error).__name__)
                        self._failing = True
                    wait = 1.0
                if self._stopping:
                    break
                self._wake.clear()
                if self._claim_wanted:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)
        finally:
            # Let the heartbeat finish its transaction: cancelled mid-way, its database
            # connection would be dropped without being closed.
            self._halt.set()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task

    async def _cycle(self) -> float:
        """Claim if there is reason to, start every send the limits allow; how long to
        sleep then."""
        now = time.monotonic()
        waiting = sum(len(lane.waiting) for lane in self.lanes.values())
        low = sum(lane.target for lane in self.lanes.values()) // 2
        if (self._claim_wanted or now >= self._next_poll or now >= self._flush_due
                or (self._more_due and waiting < low)):
            await self._claim()
        wait = await self._dispatch()
        until = max(0.0, min(self._next_poll, self._flush_due) - time.monotonic())
        return until if wait is None else max(0.0, min(wait, until))

    def _need(self) -> tuple[int, int | None]:
        """How many rows to claim, and up to which priority."""
        waiting = sum(len(lane.waiting) for lane in self.lanes.values())
        need = sum(lane.target for lane in self.lanes.values()) - waiting
        if need <= 0:
            # Enough held already; a reply that just came must not wait behind it.
            return WAKE_CLAIM, 0
        return need, None

    async def claim_within(self, tx: Repos) -> bool:
        """Claim what is due — the replies ``tx`` has just queued among it — in ``tx``
        itself, as a claim of its own would (recording what was sent first): the rows
        are this sender's once ``tx`` commits, and nothing is taken if it rolls back.
        Saves the transaction a claim after every answer would take. False: not done
        (the sender is not running, is stopping, or sends for some recipients only):
        wake it instead."""
        if self._runner is None or self._stopping or self.recipients is not None:
            return False
        need, max_priority = self._need()
        now = self.clock()
        jobs: list[_Job] = []
        sent, self._sent = self._sent, []
        tx.after_rollback.append(lambda: self._unrecorded(sent))
        await tx.outbox.mark_sent_many(sent, now)
        rows = await self._claim_in(tx, now, need, max_priority, jobs)
        tx.after_commit.append(lambda: self._taken(sent, rows, jobs, need, max_priority))
        return True

    def _unrecorded(self, sent: list[tuple[int, str | None]]) -> None:
        """Deliveries a rolled-back transaction did not record: with a later claim."""
        self._sent = sent + self._sent
        self._flush_due = min(self._flush_due, time.monotonic() + FLUSH_DELAY)

    def _taken(self, sent: list[tuple[int, str | None]], rows: list[ClaimedMessage],
               jobs: list[_Job], need: int, max_priority: int | None) -> None:
        """A claim committed: what it recorded is settled, what it took is held (taken
        after ``stop`` gave its rows back, they wait for their lease to run out, as after
        a crash)."""
        for row_id, _ in sent:
            self._held.pop(row_id, None)
        if not self._sent:
            self._flush_due = float("inf")
        self._more_due = self._more_due or (max_priority is None and len(rows) == need)
        for job in jobs:
            self._held[job.row.id] = job.row.attempts
            self.lanes[job.row.channel].waiting[job.row.id] = job
        self._wake.set()

    async def _claim(self) -> int:
        """Take due rows into the lanes; returns how many."""
        self._claim_wanted = False
        self._next_poll = time.monotonic() + POLL_SECONDS
        if self._stopping:
            return 0
        need, max_priority = self._need()
        now = self.clock()
        jobs: list[_Job] = []
        sent, self._sent = self._sent, []
        self._flush_due = float("inf")
        try:
            async with self.db.transaction() as tx:
                # First what was sent: a recipient's next row becomes claimable with it.
                await tx.outbox.mark_sent_many(sent, now)
                rows = await self._claim_in(tx, now, need, max_priority, jobs)
        except BaseException:
            self._sent = sent + self._sent  # recorded with a later claim instead
            self._flush_due = min(self._flush_due, time.monotonic() + FLUSH_DELAY)
            raise
        for row_id, _ in sent:
            self._held.pop(row_id, None)
        self._more_due = max_priority is None and len(rows) == need
        for job in jobs:
            self._held[job.row.id] = job.row.attempts
            self.lanes[job.row.channel].waiting[job.row.id] = job
        return len(rows)

    async def _claim_in(self, tx: Repos, now: datetime, need: int, max_priority: int | None,
                        jobs: list[_Job]) -> list[ClaimedMessage]:
        others = None
        if self.recipients is not None:
            others = await tx.outbox.open_ids_not_for(list(self.lanes), self.recipients)
        rows = await tx.outbox.claim_due(
            now, limit=need, lease=self.lease, channels=list(self.lanes), heads=True,
            max_priority=max_priority, exclude=others)
        if self.recipients is not None:
            # A row queued for someone else between the two statements (PostgreSQL reads
            # committed) goes back at once, its attempt uncounted.
            strays = {r.id: r.attempts for r in rows if r.recipient not in self.recipients}
            if strays:
                await tx.outbox.release(strays)
            rows = [r for r in rows if r.recipient in self.recipients]
        for row in rows:
            if row.priority > 0 and (row.opted_out or row.stopped):
                # Bulk to someone who said stop, or who blocked us, is not sent.
                reason = "opted_out" if row.opted_out else "blocked"
                await tx.outbox.mark_failed(row.id, reason, status="skipped")
                self.metrics.outbound.labels(row.channel, reason).inc()
                self._claim_wanted |= row.more
                continue
            jobs.append(self._job(row))
        return rows

    def _job(self, row: ClaimedMessage) -> _Job:
        message = Outbound.from_dict(row.payload)
        if row.contact_id is not None:
            message.extra["last_inbound_at"] = (
                row.last_inbound_at.isoformat() if row.last_inbound_at else None
            )
            message.extra["window_closed"] = row.window_closed
            message.extra["bulk"] = row.priority > 0
        lane = self.lanes[row.channel]
        return _Job(row, message, _cost(lane.channel, message),
                    time.monotonic() + self.lease.total_seconds())

    async def _dispatch(self) -> float | None:
        """Start every send the limits allow now; seconds until one more might be."""
        best: float | None = None
        margin = min(LEASE_MARGIN, self.lease.total_seconds() / 4)
        for lane in self.lanes.values():
            while lane.waiting and len(self._tasks) < self.max_in_flight:
                now = time.monotonic()
                jobs = sorted((j for j in lane.waiting.values()
                               if j.row.recipient not in lane.busy), key=lane.order)
                ready: list[_Job] = []
                for job in jobs:
                    if job.lease_until - now < margin:
                        # Not renewed in time (database trouble): another sender (or
                        # this one, later) takes it up when the lease runs out.
                        del lane.waiting[job.row.id]
                        self._held.pop(job.row.id, None)
                        continue
                    ready.append(job)
                    if len(ready) == CANDIDATES:
                        break
                if not ready:
                    break
                pick = await lane.limiter.acquire(
                    [Candidate(j.row.recipient, j.cost, j.row.priority > 0) for j in ready])
                if pick.grant is None:
                    wait = pick.wait if pick.wait is not None else lane.limiter.poll
                    if wait is not None:
                        best = wait if best is None else min(best, wait)
                    break
                self._start(lane, ready[pick.index], pick.grant)
        return best

    def _start(self, lane: _Lane, job: _Job, grant: Grant) -> None:
        del lane.waiting[job.row.id]
        lane.busy.add(job.row.recipient)
        lane.serve(job)
        task = asyncio.create_task(self._send(lane, job, grant))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _heartbeat(self) -> None:
        """Renew the lease of every row this process holds, a few times per lease."""
        every = max(0.05, self.lease.total_seconds() / 3)
        while not self._halt.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._halt.wait(), timeout=every)
            if self._halt.is_set():
                return
            held = dict(self._held)
            if not held:
                continue
            until = time.monotonic() + self.lease.total_seconds()
            try:
                async with self.db.transaction() as tx:
                    ours = await tx.outbox.renew(held, self.clock() + self.lease)
            except Exception as error:
                log.warning("outbox: could not renew leases (%s)", type(error).__name__)
                continue
            for lane in self.lanes.values():
                for row_id, job in list(lane.waiting.items()):
                    if row_id in ours:
                        job.lease_until = until
                    elif row_id in held:
                        # Taken over by another sender (this one was too slow): theirs now.
                        del lane.waiting[row_id]
                        self._held.pop(row_id, None)

    async def drain(self, within: float = 30.0) -> None:
        """Send everything that is due now, and wait for it (tests, `warga chat`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            # A claim counts as the last word only once every earlier send is recorded: a
            # recipient's next row is claimable when the previous one is final.
            settled = not self._tasks and not self._sent
            claimed = await self._claim()
            wait = await self._dispatch()
            if self._tasks:
                await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED,
                                   timeout=max(0.0, deadline - loop.time()))
                continue
            if any(lane.waiting for lane in self.lanes.values()):
                # Held back by the platform's limits: wait for them (a real clock).
                await asyncio.sleep(max(0.001, min(wait if wait is not None else 0.01,
                                                   deadline - loop.time())))
                continue
            if not claimed and settled:
                return
        raise TimeoutError("outbox did not drain in time")

    async def stop(self) -> None:
        """Finish what is on its way, record it, and give back what was not started."""
        self._stopping = True
        self._wake.set()
        self._halt.set()
        runner = self._runner
        if runner is not None and not runner.done() and runner is not asyncio.current_task():
            await asyncio.wait([runner], timeout=10)
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=10)
        await self._flush_sent()
        unsent = {row_id: job.row.attempts for lane in self.lanes.values()
                  for row_id, job in lane.waiting.items()}
        for lane in self.lanes.values():
            lane.waiting.clear()
        if unsent:
            try:
                async with self.db.transaction() as tx:
                    await tx.outbox.release(unsent)
            except Exception as error:  # their lease runs out instead
                log.warning("outbox: could not give back %d rows (%s)", len(unsent),
                            type(error).__name__)
            for row_id in unsent:
                self._held.pop(row_id, None)

    # -- one message ---------------------------------------------------------------------

    async def _send(self, lane: _Lane, job: _Job, grant: Grant) -> None:
        row = job.row
        recorded_later = False
        try:
            if row.priority > 0 and not await self._mark_posting(row.id, row.attempts):
                await lane.limiter.release(grant)
                return
            self.metrics.send_delay.labels(lane.name, "bulk" if row.priority else "reply"
                                           ).observe(max(0.0, (self.clock() - row.due_at)
                                                         .total_seconds()))
            try:
                try:
                    result = await lane.channel.send(job.message)
                finally:
                    # Answered (or failed): the platform had it by now, if at all.
                    await self._answered(lane, grant)
            except SendError as err:
                await self._failed(row, lane.name, err)
                return
            except Exception as exc:  # a bug in a channel must not stop the outbox
                log.exception("channel %s raised while sending", lane.name)
                await self._failed(row, lane.name, SendError(type(exc).__name__))
                return
            self._sent.append((row.id, result.provider_message_id))
            recorded_later = True
            self.metrics.outbound.labels(lane.name, "sent").inc()
            if not row.priority:
                self.metrics.reply_latency.labels(lane.name).observe(
                    max(0.0, (self.clock() - row.due_at).total_seconds()))
            # The next claim records it; at once if the recipient has more waiting.
            self._flush_due = min(self._flush_due, time.monotonic() + FLUSH_DELAY)
            self._claim_wanted |= row.more
        except Exception:
            log.exception("outbox: sending row %d failed", row.id)
        finally:
            lane.busy.discard(row.recipient)
            if not recorded_later:
                self._held.pop(row.id, None)
                # Failed or skipped: recorded already, the recipient's next row may go.
                self._claim_wanted |= row.more
            self._wake.set()

    async def _answered(self, lane: _Lane, grant: Grant) -> None:
        try:
            await lane.limiter.answered(grant)
        except Exception as error:  # the limiter's own expiry frees the recipient later
            log.warning("outbox: could not record an answer in the limiter (%s)",
                        type(error).__name__)

    async def _mark_posting(self, row_id: int, attempts: int) -> bool:
        """Record that a bulk row goes to the platform now; False: do not send it.

        If the process dies during the platform call, nobody can know whether the message
        arrived; a bulk row marked here is then never sent again (at most once), while
        rows still waiting are taken up again after the lease (nothing lost). The attempt
        count fences out a sender whose lease was taken over.
        """
        try:
            async with self.db.transaction() as tx:
                return await tx.outbox.mark_posting(row_id, attempts)
        except Exception as error:  # the row stays leased and is taken up again later
            log.warning("outbox: could not mark row %d as posting (%s)", row_id,
                        type(error).__name__)
            return False

    async def _flush_sent(self) -> None:
        """Record what was sent and not yet recorded (stopping)."""
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
                    self._held.pop(row_id, None)

    async def _failed(self, row: ClaimedMessage, channel_name: str, err: SendError) -> None:
        now = self.clock()
        kind = type(err).__name__
        if isinstance(err, Throttled):
            self.metrics.throttled.labels(channel_name).inc()
        if isinstance(err, Throttled) and err.retry_after is not None:
            # The platform says how long this recipient must wait: wait exactly that.
            with contextlib.suppress(Exception):
                await self.lanes[channel_name].limiter.delay(row.recipient, err.retry_after)
        async with self.db.transaction() as tx:
            if isinstance(err, RecipientBlocked):
                await tx.outbox.mark_failed(row.id, kind, status="blocked")
                if row.contact_id is not None:
                    await tx.contacts.set_fields(row.contact_id, now, stopped=True)
                result = "blocked"
            elif isinstance(err, OutsideServiceWindow):
                if row.contact_id is not None:
                    # The next attempt sees the closed window and goes as the template.
                    await tx.contacts.set_fields(row.contact_id, now, window_closed=True)
                    await tx.outbox.mark_retry(row.id, now, kind)
                else:
                    await tx.outbox.mark_failed(row.id, kind)
                result = "outside_window"
            elif isinstance(err, ChannelMisconfigured):
                log.error("channel %s is misconfigured (%s); message kept", channel_name,
                          err.detail)
                await tx.outbox.mark_retry(row.id, now + timedelta(minutes=5), kind)
                result = "misconfigured"
            elif err.retry and row.attempts < MAX_ATTEMPTS:
                if isinstance(err, Throttled) and err.retry_after is not None:
                    wait = err.retry_after
                else:
                    wait = min(300.0, 2.0 ** row.attempts) * random.uniform(0.8, 1.2)
                await tx.outbox.mark_retry(row.id, now + timedelta(seconds=wait), kind)
                result = "throttled" if isinstance(err, Throttled) else "retry"
            else:
                await tx.outbox.mark_failed(row.id, f"{kind}: {err.detail}"[:300])
                result = "failed"
        self.metrics.outbound.labels(channel_name, result).inc()
        # The recipient's next row (or this one, retried) may be claimed now.
        self._claim_wanted = True


def add_outbox_housekeeping(scheduler: AsyncIOScheduler, db: Database,
                            clock: Callable[[], datetime], keep: timedelta) -> None:
    """Blank the bodies of final outbox rows older than ``keep`` (the rows stay: delivery
    counts and receipts still need them), every few hours."""

    async def purge_old_bodies() -> None:
        purged = 0
        while True:
            # Short transactions: SQLite's writers (the webhooks) wait for none of them long.
            async with db.transaction() as tx:
                done = await tx.outbox.purge_bodies(clock() - keep, limit=PURGE_BATCH)
            purged += done
            if done < PURGE_BATCH:
                break
            await asyncio.sleep(0)
        if purged:
            log.info("blanked %d outbox bodies older than %s", purged, keep)

    # First a few minutes after start-up (APScheduler keeps real time), then every 6 h.
    scheduler.add_job(purge_old_bodies, "interval", hours=6, id="housekeeping:outbox-bodies",
                      replace_existing=True,
                      next_run_time=datetime.now(UTC) + timedelta(minutes=5))
