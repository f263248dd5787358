"""A per-contact inbound limit that loses nothing.

A person may send ``burst`` messages at once (an album of photos, quick taps), then
``per_minute`` a minute. A message over that is still acknowledged to the platform — it
is stored, in the same transaction as its dedupe — and handled in its turn, when the
allowance has refilled, in the order it came; later messages of the same person wait
behind it. The first message held in a spell gets one short notice, so the person knows
their messages arrived and why the answers slow down.

Why hold rather than refuse: a person who taps fast, or whose phone delivers a backlog
at once after a dead spot, has every answer applied as if nothing happened, only later;
a sender flooding thousands of messages gets one answer per allowance, and the rest of
the service — every other resident's intake and replies — never waits behind them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any, Protocol

from conversations.engine import Prompt
from conversations.i18n import T
from conversations.messages import Inbound, InboundKind, Location, Media
from storage.db import Database
from storage.repos import ContactState, Repos
from storage.repos_inbound import InboundHoldRepo


class Renders(Protocol):
    """What the gate needs of the dispatcher: a rendered notice and a counter."""

    metrics: Any

    def render(self, state: ContactState, prompts: list[Prompt]) -> Any: ...

log = logging.getLogger(__name__)

REPLY = 0
# Contacts whose turn is looked at per round, and how often a replica looks for held
# messages it has not been told about (another replica held them, or it restarted).
ROUND = 50
POLL_SECONDS = 30.0
# Updates that carry nothing the person typed (block / unblock) are never held.
_UNGATED = frozenset({InboundKind.STOPPED, InboundKind.RESUMED})


def inbound_to_dict(inbound: Inbound) -> dict[str, Any]:
    data = asdict(inbound)
    data["kind"] = inbound.kind.value
    data["timestamp"] = inbound.timestamp.isoformat() if inbound.timestamp else None
    return data


def inbound_from_dict(data: dict[str, Any]) -> Inbound:
    fields = dict(data)
    fields["kind"] = InboundKind(fields["kind"])
    if fields.get("timestamp"):
        fields["timestamp"] = datetime.fromisoformat(fields["timestamp"])
    if fields.get("location"):
        fields["location"] = Location(**fields["location"])
    if fields.get("media"):
        fields["media"] = Media(**fields["media"])
    return Inbound(**fields)


class InboundGate:
    """Decides, inside the message's transaction, whether it is handled now or held."""

    def __init__(self, db: Database, *, burst: int, per_minute: float,
                 clock: Callable[[], datetime]) -> None:
        self.db = db
        self.burst = max(1, burst)
        self.interval = 60.0 / per_minute
        self.tolerance = (self.burst - 1) * self.interval
        self.clock = clock
        self._wake = asyncio.Event()
        self._stopping = False

    async def admit(self, tx: Repos, inbound: Inbound, dispatcher: Renders
                    ) -> bool | None:
        """True: handle it now. False: held (stored; to be handled in turn). None: it was
        held before (a re-delivery): nothing to do."""
        if inbound.kind in _UNGATED:
            return True
        holds = InboundHoldRepo(tx)
        now = self.clock()
        queued = await holds.admit(inbound.channel, inbound.user_id, now.timestamp(),
                                   self.interval, self.tolerance)
        if queued == 0:
            return True
        if not await holds.hold(inbound.channel, inbound.user_id, inbound.message_id,
                                inbound_to_dict(inbound), now):
            return None
        if queued == 1:
            await self._notice(tx, inbound, now, dispatcher)
        dispatcher.metrics.inbound_held.labels(inbound.channel).inc()
        self._wake.set()
        return False

    async def _notice(self, tx: Repos, inbound: Inbound, now: datetime,
                      dispatcher: Renders) -> None:
        """One short answer for the spell: everything arrived, answers come in turn."""
        contact = await tx.contacts.get_by_external(inbound.channel, inbound.user_id)
        if contact is None:
            return
        state = ContactState.from_orm(contact)
        outbound = dispatcher.render(state, [Prompt(texts=[T("bot.slow_down")])])
        await tx.outbox.enqueue(
            channel=contact.channel, recipient=contact.external_id,
            payload=outbound.as_dict(), now=now, contact_id=contact.id, priority=REPLY,
            dedupe_key=f"slow:{inbound.channel}:{inbound.message_id}")

    async def take_turn(self, tx: Repos, channel: str, external_id: str) -> Inbound | None:
        """The contact's oldest held message, if its turn has come (off the queue)."""
        found = await InboundHoldRepo(tx).take_turn(
            channel, external_id, self.clock().timestamp(), self.interval, self.tolerance)
        return None if found is None else inbound_from_dict(found)

    # -- the held messages' turns ---------------------------------------------------------

    async def run(self, handle: Callable[[str, str], Awaitable[bool]]) -> None:
        """Hand each held message to ``handle(channel, external_id)`` in its turn."""
        while not self._stopping:
            self._wake.clear()
            try:
                wait = await self.handle_due(handle)
            except Exception as error:
                log.warning("inbound limit: could not look at held messages (%s)",
                            type(error).__name__)
                wait = 5.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def handle_due(self, handle: Callable[[str, str], Awaitable[bool]]) -> float:
        """Hand every held message whose turn has come to ``handle``; seconds until the
        next turn."""
        async with self.db.transaction() as tx:
            due = await InboundHoldRepo(tx).due(ROUND)
        if not due:
            return POLL_SECONDS
        now = self.clock().timestamp()
        soonest = POLL_SECONDS
        for channel, external_id, tat in due:
            ready = tat - self.tolerance
            if ready <= now:
                await handle(channel, external_id)
                soonest = 0.0
            else:
                soonest = min(soonest, ready - now)
        return max(0.0, soonest)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def held(self) -> int:
        async with self.db.transaction() as tx:
            return await InboundHoldRepo(tx).held()
