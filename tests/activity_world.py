"""A small world for activity tests: one dispatcher (with the activities feature), one
outbox sender, one recording channel, many people on a fake clock; and its transcripts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from bot.dispatcher import Dispatcher
from bot.features.activities import ActivitiesFeature
from bot.features.complaints import ComplaintsFeature
from bot.metrics import Metrics
from bot.outbox import OutboxSender
from conversations.activity import QUIET_HOURS, QuietHours
from conversations.messages import Inbound, InboundKind, Outbound
from storage.db import Database
from tests.harness import Button, Clock, Later, RecordingChannel, describe, render, translator

COORDINATOR = "koordinator"


@dataclass
class World:
    db: Database
    clock: Clock = field(default_factory=Clock)
    names: dict[str, str] = field(default_factory=dict)
    quiet: QuietHours | None = QUIET_HOURS

    def __post_init__(self) -> None:
        self.channel = RecordingChannel("console")
        self.metrics = Metrics()
        self.build()

    def build(self) -> None:
        """A new process on the same database (also what a restart does)."""
        self.dispatcher = Dispatcher(self.db, translator(), clock=self.clock,
                                     metrics=self.metrics,
                                     coordinators=(f"console:{COORDINATOR}",))
        self.feature = ActivitiesFeature()
        self.feature.quiet = self.quiet
        self.dispatcher.add_feature(ComplaintsFeature())
        self.dispatcher.add_feature(self.feature)
        # One message at a time: transcripts in outbox order on every database.
        self.sender = OutboxSender(self.db, {"console": self.channel}, clock=self.clock,
                                   metrics=self.metrics, max_in_flight=1)

    def inbound(self, user: str, action: str | Button) -> Inbound:
        base = {"channel": "console", "user_id": user, "message_id": uuid.uuid4().hex,
                "contact_name": self.names.get(user, user.title()),
                "timestamp": self.clock()}
        if isinstance(action, Button):
            return Inbound(kind=InboundKind.CHOICE, choice_id=action.choice_id, **base)  # type: ignore[arg-type]
        return Inbound(kind=InboundKind.TEXT, text=action, **base)  # type: ignore[arg-type]

    async def settle(self) -> list[Outbound]:
        """Let timers and the outbox do all that is due now; what was sent, in order."""
        before = len(self.channel.sent)
        while True:
            sent = len(self.channel.sent)
            await self.feature.broadcaster.run()
            await self.sender.drain()
            if len(self.channel.sent) == sent:
                return self.channel.sent[before:]

    async def send(self, user: str, action: str | Button | Later) -> list[Outbound]:
        if isinstance(action, Later):
            self.clock.advance(hours=action.hours)
            return await self.settle()
        await self.dispatcher.handle(self.inbound(user, action))
        return await self.settle()

    async def run(self, script: list[tuple[str, str | Button | Later]]) -> str:
        lines: list[str] = []
        for user, action in script:
            lines.append(f"> {user}: {describe(action)}")
            for out in await self.send(user, action):
                lines.append(f"  to {out.user_id}:")
                lines.extend("  " + line for line in render(out))
        return "\n".join(lines) + "\n"

    def to(self, user: str) -> list[str]:
        return [o.text for o in self.channel.sent if o.user_id == user]
