"""Send limiters: when the next message may be handed to a platform (rules in
``storage.send_limits``).

- ``LocalLimiter`` keeps the state in memory: one process per bot token (the SQLite
  default, ``warga chat``, tests).
- ``DatabaseLimiter`` keeps it in PostgreSQL, shared by every replica that sends with the
  same token, so that together they stay under the platform's caps. PostgreSQL rather
  than Redis: replicas need it anyway, the sender cannot work without it either, and the
  limiter's load at the platforms' caps (two short transactions a message) is small
  beside the outbox's own (docs/performance.md).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from conversations.messages import Pacing
from storage.db import Database
from storage.send_limits import (
    Candidate,
    Grant,
    Pick,
    Rules,
    SendLimitRepo,
    bulk_wait,
    charged,
    delayed,
    idle,
    next_bulk_after,
    recipient_wait,
    window_wait,
)

__all__ = ["Candidate", "DatabaseLimiter", "Grant", "Limiter", "LocalLimiter", "Pick"]


class Limiter(Protocol):
    # How long to wait before asking again when only answers still on their way (perhaps
    # another replica's) hold the room; None: this process is told (``answered``).
    poll: float | None

    async def acquire(self, candidates: Sequence[Candidate]) -> Pick: ...

    async def answered(self, grant: Grant) -> None: ...

    async def release(self, grant: Grant) -> None: ...

    async def delay(self, recipient: str, seconds: float) -> None: ...


@dataclass(slots=True)
class _Slot:
    cost: int
    answered: float | None = None


class LocalLimiter:
    """The limits of one channel, in memory, on the given monotonic clock."""

    poll: float | None = None

    def __init__(self, pacing: Pacing, clock: Callable[[], float]) -> None:
        self.rules = Rules.of(pacing.rate, pacing.per_recipient_interval, pacing.burst)
        self.clock = clock
        self._slots: deque[_Slot] = deque()
        self._grants: dict[int, _Slot] = {}
        # recipient → the bucket's theoretical arrival time
        self._tat: dict[str, float] = {}
        self._busy: set[str] = set()
        self._next_bulk: float | None = None
        self._ids = 0

    async def acquire(self, candidates: Sequence[Candidate]) -> Pick:
        rules = self.rules
        now = self.clock()
        slots = self._slots
        while slots and slots[0].answered is not None and slots[0].answered <= now - rules.span:
            slots.popleft()
        window = [(s.cost, s.answered) for s in slots]
        waits: dict[tuple[int, bool], float | None] = {}
        best: float | None = None
        for index, candidate in enumerate(candidates):
            if candidate.recipient in self._busy:
                continue  # one message at a time; its answer frees the recipient
            key = (candidate.cost, candidate.bulk)
            if key not in waits:
                waits[key] = window_wait(window, now, candidate.cost, candidate.bulk, rules)
            wait = waits[key]
            if wait is None:
                continue
            wait = max(wait, recipient_wait(self._tat.get(candidate.recipient), now,
                                            candidate.cost, rules),
                       bulk_wait(self._next_bulk, now, candidate.bulk))
            if wait <= 0:
                if candidate.bulk:
                    self._next_bulk = next_bulk_after(self._next_bulk, now, rules)
                self._ids += 1
                slot = _Slot(candidate.cost)
                slots.append(slot)
                self._grants[self._ids] = slot
                self._busy.add(candidate.recipient)
                return Pick(Grant(candidate.recipient, candidate.cost, now, self._ids), index)
            best = wait if best is None else min(best, wait)
        return Pick(None, wait=best)

    async def answered(self, grant: Grant) -> None:
        now = self.clock()
        slot = self._grants.pop(grant.slot or 0, None)
        if slot is not None:
            slot.answered = now
        self._busy.discard(grant.recipient)
        self._tat[grant.recipient] = charged(self._tat.get(grant.recipient), now, grant.cost,
                                             self.rules)
        if len(self._tat) > 20_000:
            self._tat = {r: t for r, t in self._tat.items() if not idle(t, now, self.rules)}

    async def release(self, grant: Grant) -> None:
        slot = self._grants.pop(grant.slot or 0, None)
        if slot is not None:
            slot.cost = 0
            slot.answered = self.clock()
        self._busy.discard(grant.recipient)

    async def delay(self, recipient: str, seconds: float) -> None:
        self._tat[recipient] = delayed(self._tat.get(recipient), self.clock(), seconds,
                                       self.rules)


class DatabaseLimiter:
    """The limits of one channel and token, shared through PostgreSQL (``scope`` names
    the token: every replica sending with it uses the same scope)."""

    poll: float | None = 0.02

    def __init__(self, db: Database, scope: str, pacing: Pacing) -> None:
        self.db = db
        self.scope = scope
        self.rules = Rules.of(pacing.rate, pacing.per_recipient_interval, pacing.burst)
        self._acquired = 0

    async def acquire(self, candidates: Sequence[Candidate]) -> Pick:
        async with self.db.transaction() as tx:
            repo = SendLimitRepo(tx.session, self.scope, self.rules)
            pick = await repo.acquire(candidates)
            self._acquired += 1
            if self._acquired % 500 == 0:
                await repo.forget_idle()
        return pick

    async def answered(self, grant: Grant) -> None:
        await self._retrying(lambda repo: repo.answered(grant))

    async def release(self, grant: Grant) -> None:
        await self._retrying(lambda repo: repo.release(grant))

    async def delay(self, recipient: str, seconds: float) -> None:
        await self._retrying(lambda repo: repo.delay(recipient, seconds))

    async def _retrying(self, work: Callable[[SendLimitRepo], Awaitable[None]]) -> None:
        # Losing an answer would keep the recipient "busy" until the flight timeout: try
        # a few times through a short outage.
        for attempt in range(3):
            try:
                async with self.db.transaction() as tx:
                    await work(SendLimitRepo(tx.session, self.scope, self.rules))
                return
            except Exception:
                if attempt == 2:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
