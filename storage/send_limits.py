"""Send limits from actual send times, and their shared state for several replicas.

A platform counts messages when they *arrive*; we only know when we handed one over and
when the platform answered, and the arrival is somewhere in between. So:

- **Bot-wide** (at most ``rate`` messages in any ``span`` seconds): a message counts from
  the moment it is handed over until ``span`` after the platform answered it. Then no
  window the platform looks at can hold more than ``rate``, however requests overtake
  each other on the way. Bulk leaves ``reserve`` of the rate to replies, so a reply finds
  room within one send slot even while a broadcast runs at the cap. Bulk also goes
  evenly, one message every ``1 / (rate - reserve)`` seconds (catching up at most two),
  rather than in bursts: whatever a crash cuts off mid-send (marked ``posting``, perhaps
  on the wire) is then a message or two, not a second's worth.
- **Per recipient** (a token bucket of ``burst`` messages refilled one per ``interval``,
  kept as its theoretical arrival time ``tat``, the GCRA): after a quiet spell a reply
  goes at once, a short exchange of a few messages too, a backlog at one per interval.
  One message at a time per recipient, and the bucket is charged with the time the
  platform *answered* — at or after the arrival it counts.

The rules are pure functions (``LocalLimiter`` in ``bot.limiter`` keeps the state in
memory); ``SendLimitRepo`` keeps the same state in PostgreSQL for replicas that share a
bot token, under one advisory lock per channel, with the database's clock as the one
clock every replica reads.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

# Clock granularity and the platform's own rounding: a little room on every limit.
MARGIN = 0.01
# A message still unanswered this long after it was handed over is taken as answered
# then (its sender died, or the call hangs beyond the clients' timeouts): after a crash,
# the recipients whose message was on its way wait this long at most.
FLIGHT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Rules:
    """One channel's limits (from its ``Pacing``)."""

    rate: int
    interval: float
    burst: int
    span: float = 1.0 + MARGIN
    reserve: int = 0

    @property
    def bulk_interval(self) -> float:
        """Seconds between two bulk messages."""
        return self.span / max(1, self.rate - self.reserve)

    @classmethod
    def of(cls, rate: float, interval: float, burst: int) -> Rules:
        whole = max(1, int(rate))
        # One message of every second's worth is kept for replies when the cap allows it.
        return cls(rate=whole, interval=max(0.0, interval), burst=max(1, burst),
                   reserve=1 if whole >= 4 else 0)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A message that could go now: to whom, how many platform messages it makes, and
    whether it is bulk."""

    recipient: str
    cost: int = 1
    bulk: bool = False


@dataclass(frozen=True, slots=True)
class Grant:
    """Leave to hand one message to the platform now; give it back with ``answered``."""

    recipient: str
    cost: int
    started: float
    slot: int | None = None


@dataclass(frozen=True, slots=True)
class Pick:
    """The outcome of an ``acquire``: the candidate that may go (its index), or none and
    how long until one might (None: only an answer still on its way frees room)."""

    grant: Grant | None
    index: int = -1
    wait: float | None = None


def window_wait(slots: Iterable[tuple[int, float | None]], now: float, cost: int, bulk: bool,
                rules: Rules) -> float | None:
    """Seconds until ``cost`` more messages fit the bot-wide window; 0 now; None while
    messages still on their way hold the room. ``slots``: (cost, answered or None)."""
    limit = rules.rate - (rules.reserve if bulk else 0)
    cost = min(cost, limit)
    used = 0
    answered: list[tuple[float, int]] = []
    horizon = now - rules.span
    for units, at in slots:
        if at is None:
            used += units
        elif at > horizon:
            used += units
            answered.append((at, units))
    free = limit - used
    if cost <= free:
        return 0.0
    need = cost - free
    for at, units in sorted(answered):
        need -= units
        if need <= 0:
            return at + rules.span - now
    return None


def recipient_wait(tat: float | None, now: float, cost: int, rules: Rules) -> float:
    """Seconds until the recipient's bucket holds ``cost`` messages (0: now)."""
    if tat is None or rules.interval <= 0:
        return 0.0
    cost = min(cost, rules.burst)
    ready = tat - (rules.burst - cost) * rules.interval + MARGIN
    return max(0.0, ready - now)


def bulk_wait(next_bulk: float | None, now: float, bulk: bool) -> float:
    """Seconds until the next bulk message may start (0 for replies)."""
    if not bulk or next_bulk is None:
        return 0.0
    return max(0.0, next_bulk - now)


def next_bulk_after(next_bulk: float | None, now: float, rules: Rules) -> float | None:
    """When the bulk message after this one may start; None on an unpaced channel (the
    console, benchmarks, tests: no per-recipient interval), which sends bulk at will."""
    if rules.interval <= 0:
        return None
    # Kept to the schedule rather than to the moment this one went: a sender woken a
    # little late catches up (two messages at most), so the rate stays 29/s on average.
    start = now if next_bulk is None else max(next_bulk, now - 2 * rules.bulk_interval)
    return start + rules.bulk_interval


def charged(tat: float | None, answered: float, cost: int, rules: Rules) -> float:
    """The bucket after ``cost`` messages the platform answered at ``answered``."""
    return max(tat if tat is not None else -math.inf, answered) + cost * rules.interval


def delayed(tat: float | None, now: float, seconds: float, rules: Rules) -> float:
    """The bucket after the platform asked us to wait ``seconds`` for this recipient."""
    held = now + seconds + (rules.burst - 1) * rules.interval
    return held if tat is None else max(tat, held)


def idle(tat: float | None, now: float, rules: Rules) -> bool:
    """The bucket is full again: nothing to remember about this recipient."""
    return tat is None or tat + rules.interval * rules.burst <= now


# -- shared state in PostgreSQL -------------------------------------------------------------


# The send_pace row that spaces a scope's bulk messages (no recipient is called "").
BULK = ""


def lock_key(scope: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock``."""
    return int.from_bytes(hashlib.sha256(scope.encode()).digest()[:8], "big", signed=True)


_NOW_LOCKED = text(
    "SELECT extract(epoch FROM clock_timestamp())::float8 FROM "
    "(SELECT pg_advisory_xact_lock(:key)) AS locked")
_NOW = text("SELECT extract(epoch FROM clock_timestamp())::float8")
_SLOTS = text("SELECT id, cost, started_at, answered_at FROM send_slots WHERE scope = :scope")
_FORGET_SLOTS = text("DELETE FROM send_slots WHERE id IN :ids").bindparams(
    bindparam("ids", expanding=True))
_PACES = text(
    "SELECT recipient, tat, busy_until, busy_cost FROM send_pace "
    "WHERE scope = :scope AND recipient IN :recipients").bindparams(
    bindparam("recipients", expanding=True))
_TAKE_SLOT = text(
    "INSERT INTO send_slots (scope, recipient, cost, started_at) "
    "VALUES (:scope, :recipient, :cost, :now) RETURNING id")
_BUSY = text(
    "INSERT INTO send_pace (scope, recipient, tat, busy_until, busy_cost) "
    "VALUES (:scope, :recipient, :tat, :until, :cost) ON CONFLICT (scope, recipient) "
    "DO UPDATE SET tat = excluded.tat, busy_until = excluded.busy_until, "
    "busy_cost = excluded.busy_cost")
_ANSWERED = text(
    "UPDATE send_slots SET answered_at = extract(epoch FROM clock_timestamp())::float8 "
    "WHERE id = :slot RETURNING answered_at")
_CHARGE = text(
    "UPDATE send_pace SET tat = GREATEST(tat, :answered) + :charge, busy_until = NULL, "
    "busy_cost = 0 WHERE scope = :scope AND recipient = :recipient")
_RELEASE_SLOT = text("DELETE FROM send_slots WHERE id = :slot")
_RELEASE_PACE = text(
    "UPDATE send_pace SET busy_until = NULL, busy_cost = 0 "
    "WHERE scope = :scope AND recipient = :recipient")
_DELAY = text(
    "INSERT INTO send_pace (scope, recipient, tat, busy_until, busy_cost) "
    "VALUES (:scope, :recipient, :tat, NULL, 0) ON CONFLICT (scope, recipient) "
    "DO UPDATE SET tat = GREATEST(send_pace.tat, excluded.tat)")
_FORGET_PACES = text(
    "DELETE FROM send_pace WHERE scope = :scope AND busy_until IS NULL AND tat <= :before "
    "AND recipient <> ''")


class SendLimitRepo:
    """The limiter's state in PostgreSQL, one transaction per call (see module doc)."""

    def __init__(self, session: AsyncSession, scope: str, rules: Rules) -> None:
        self.s = session
        self.scope = scope
        self.rules = rules

    async def acquire(self, candidates: Sequence[Candidate]) -> Pick:
        """The first candidate that may go now, its slot taken; or how long to wait."""
        rules = self.rules
        now = float((await self.s.execute(_NOW_LOCKED, {"key": lock_key(self.scope)}))
                    .scalar_one())
        slots: list[tuple[int, float | None]] = []
        stale: list[int] = []
        for slot_id, cost, started, answered in (
                await self.s.execute(_SLOTS, {"scope": self.scope})).all():
            if answered is None and started + FLIGHT_TIMEOUT <= now:
                answered = started + FLIGHT_TIMEOUT
            if answered is not None and answered <= now - rules.span:
                stale.append(slot_id)
                continue
            slots.append((int(cost), answered))
        if stale:
            await self.s.execute(_FORGET_SLOTS, {"ids": stale})
        recipients = sorted({c.recipient for c in candidates} | {BULK})
        paces: dict[str, tuple[float, float | None, int]] = {}
        if recipients:
            for recipient, tat, busy_until, busy_cost in (await self.s.execute(
                    _PACES, {"scope": self.scope, "recipients": recipients})).all():
                paces[recipient] = (float(tat), busy_until, int(busy_cost))
        best: float | None = None
        bulk_pace = paces.get(BULK)
        next_bulk = bulk_pace[0] if bulk_pace is not None else None
        for index, candidate in enumerate(candidates):
            tat: float | None = None
            found = paces.get(candidate.recipient)
            if found is not None:
                tat, busy_until, busy_cost = found
                if busy_until is not None and busy_until > now:
                    continue  # one message at a time; its answer frees the recipient
                if busy_until is not None:  # its sender died: take it as answered then
                    tat = charged(tat, busy_until, busy_cost, rules)
            wait = window_wait(slots, now, candidate.cost, candidate.bulk, rules)
            if wait is None:
                continue
            wait = max(wait, recipient_wait(tat, now, candidate.cost, rules),
                       bulk_wait(next_bulk, now, candidate.bulk))
            if wait <= 0:
                if candidate.bulk and rules.interval > 0:
                    await self.s.execute(_BUSY, {
                        "scope": self.scope, "recipient": BULK,
                        "tat": next_bulk_after(next_bulk, now, rules), "until": None,
                        "cost": 0})
                slot = (await self.s.execute(_TAKE_SLOT, {
                    "scope": self.scope, "recipient": candidate.recipient,
                    "cost": candidate.cost, "now": now})).scalar_one()
                await self.s.execute(_BUSY, {
                    "scope": self.scope, "recipient": candidate.recipient,
                    "tat": tat if tat is not None else now - rules.interval * rules.burst,
                    "until": now + FLIGHT_TIMEOUT, "cost": candidate.cost})
                return Pick(Grant(candidate.recipient, candidate.cost, now, int(slot)), index)
            best = wait if best is None else min(best, wait)
        return Pick(None, wait=best)

    async def answered(self, grant: Grant) -> None:
        """The platform answered (or the call ended): charge the recipient's bucket."""
        answered = (await self.s.execute(_ANSWERED, {"slot": grant.slot})).scalar_one_or_none()
        if answered is None:  # forgotten as stale: answered as late as that
            answered = float((await self.s.execute(_NOW)).scalar_one())
        await self.s.execute(_CHARGE, {"scope": self.scope, "recipient": grant.recipient,
                                       "answered": float(answered),
                                       "charge": grant.cost * self.rules.interval})

    async def release(self, grant: Grant) -> None:
        """The message never went out: give its slot back uncharged."""
        await self.s.execute(_RELEASE_SLOT, {"slot": grant.slot})
        await self.s.execute(_RELEASE_PACE, {"scope": self.scope, "recipient": grant.recipient})

    async def forget_idle(self) -> None:
        """Drop recipients whose bucket is full again (nothing left to remember)."""
        now = float((await self.s.execute(_NOW)).scalar_one())
        await self.s.execute(_FORGET_PACES, {
            "scope": self.scope, "before": now - self.rules.interval * self.rules.burst})

    async def delay(self, recipient: str, seconds: float) -> None:
        """The platform asked us to wait this long for this recipient."""
        now = float((await self.s.execute(_NOW)).scalar_one())
        await self.s.execute(_DELAY, {"scope": self.scope, "recipient": recipient,
                                      "tat": delayed(None, now, seconds, self.rules)})
