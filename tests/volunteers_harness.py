"""Several people talking to one bot (a coordinator, volunteers, residents), with the
volunteers feature registered; transcripts show who said what and who was told what.

A script is a list of ``(who, action)`` pairs, or ``Later``/``Restart``/``Sweep`` steps.
Lines ``[who] > text`` are inputs; ``<`` lines are replies to that person; ``<[to X]``
lines are messages the bot sent someone else (a coordinator's notification).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.dispatcher import Dispatcher
from bot.features.complaints import ComplaintsFeature
from bot.features.volunteers import Timing, VolunteersFeature
from bot.metrics import Metrics
from bot.outbox import OutboxSender
from bot.settings import Secret, Settings
from conversations.messages import Inbound, InboundKind, Location, Media, Outbound
from storage.db import Database
from tests.harness import (
    Action,
    Button,
    Clock,
    Later,
    Photo,
    Pin,
    RecordingChannel,
    Restart,
    Unsupported,
    describe,
    render,
    translator,
)

SECRET = Secret("test-secret-key-for-warga-volunteers-0123456789")
CHANNEL = "console"


def settings() -> Settings:
    return Settings(secret_key=SECRET)


@dataclass
class Sweep:
    """The scheduler's periodic job runs now."""


Step = tuple[str, Action] | Later | Restart | Sweep


class Team:
    """One bot on one database; people by name ("koordinator", "relawan", "warga")."""

    def __init__(self, db: Database, clock: Clock | None = None, *, seed: int = 5,
                 timing: Timing | None = None) -> None:
        self.db = db
        self.clock = clock or Clock()
        self.rng = random.Random(seed)
        self.timing = timing
        self.channel = RecordingChannel(CHANNEL)
        self.metrics = Metrics()
        self._build()

    def _build(self) -> None:
        self.feature = VolunteersFeature(settings(), rng=self.rng, timing=self.timing)
        self.dispatcher = Dispatcher(self.db, translator(), clock=self.clock,
                                     metrics=self.metrics)
        self.dispatcher.add_feature(ComplaintsFeature())
        self.dispatcher.add_feature(self.feature)
        self.sender = OutboxSender(self.db, {CHANNEL: self.channel}, clock=self.clock,
                                   metrics=self.metrics)

    async def add(self, who: str, role: str = "resident", volunteer_type: str | None = None,
                  name: str | None = None) -> int:
        """Create a contact with a role (as `warga coordinator add` would)."""
        async with self.db.transaction() as tx:
            contact = await tx.contacts.upsert(CHANNEL, who, self.clock(),
                                               name=name or who.title(), inbound=False)
            contact.role = role
            contact.volunteer_type = volunteer_type
            return contact.id

    def inbound(self, who: str, action: Action) -> Inbound:
        base: dict[str, Any] = {"channel": CHANNEL, "user_id": who, "message_id": uuid.uuid4().hex,
                "contact_name": who.title(), "timestamp": self.clock()}
        if isinstance(action, str):
            return Inbound(kind=InboundKind.TEXT, text=action, **base)
        if isinstance(action, Button):
            return Inbound(kind=InboundKind.CHOICE, choice_id=action.choice_id, **base)
        if isinstance(action, Pin):
            return Inbound(kind=InboundKind.LOCATION,
                           location=Location(action.latitude, action.longitude), **base)
        if isinstance(action, Photo):
            return Inbound(kind=InboundKind.MEDIA,
                           media=Media(kind="photo", ref=action.ref, unique_id="u-" + action.ref),
                           **base)
        if isinstance(action, Unsupported):
            return Inbound(kind=InboundKind.UNSUPPORTED, unsupported=action.what, **base)
        raise TypeError(action)

    async def send(self, who: str, action: Action) -> list[Outbound]:
        """Deliver one action from ``who``; everything the bot sent because of it."""
        before = len(self.channel.sent)
        await self.dispatcher.handle(self.inbound(who, action))
        await self.sender.drain()
        return self.channel.sent[before:]

    async def say(self, who: str, action: Action) -> Outbound:
        """Deliver and expect exactly one message back to ``who``."""
        mine = [o for o in await self.send(who, action) if o.user_id == who]
        assert len(mine) == 1, f"expected one reply to {action!r}, got {len(mine)}"
        return mine[0]

    async def step(self, item: Step) -> list[Outbound]:
        if isinstance(item, Later):
            self.clock.advance(hours=item.hours)
            return []
        if isinstance(item, Restart):
            await self.sender.stop()
            self._build()
            return []
        if isinstance(item, Sweep):
            before = len(self.channel.sent)
            await self.feature.sweep(self.db, self.clock())
            await self.sender.drain()
            return self.channel.sent[before:]
        who, action = item
        return await self.send(who, action)

    async def run(self, script: Sequence[Step]) -> str:
        lines: list[str] = []
        for item in script:
            if isinstance(item, tuple):
                who, action = item
                lines.append(f"[{who}] > {describe(action)}")
            else:
                lines.append(f"> {describe(item)}" if not isinstance(item, Sweep)
                             else "> [scheduler sweep]")
            actor = item[0] if isinstance(item, tuple) else None
            for out in await self.step(item):
                rendered = render(out)
                if out.user_id != actor:
                    rendered = [f"<[to {out.user_id}]{line[1:]}" for line in rendered]
                lines.extend(rendered)
        return "\n".join(lines) + "\n"

    def now(self) -> datetime:
        return self.clock()
