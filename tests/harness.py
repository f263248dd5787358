"""A bot on a real database with a recording channel, and golden transcripts.

Transcripts live in ``tests/golden/<name>.txt``; regenerate them after an intended
change with ``WARGA_UPDATE_GOLDEN=1 pytest tests/test_transcripts.py`` and read the diff.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.dispatcher import Dispatcher
from bot.features.complaints import ComplaintsFeature
from bot.metrics import Metrics
from bot.outbox import OutboxSender
from conversations import library
from conversations.i18n import Translator
from conversations.messages import (
    Inbound,
    InboundKind,
    Location,
    Media,
    Outbound,
    Pacing,
    SendResult,
)
from conversations.tickets import TICKET_RE
from storage.db import Database

GOLDEN = Path(__file__).parent / "golden"
TICKET_IN_TEXT = re.compile(r"\b[A-Z]{3}-[0-9A-Z]{5}\b")
# Saturday 28 November 2026, 10.00 WIB
START = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)

_TRANSLATOR: Translator | None = None


def translator() -> Translator:
    global _TRANSLATOR
    if _TRANSLATOR is None:
        _TRANSLATOR = library.translator()
    return _TRANSLATOR


class Clock:
    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class RecordingChannel:
    """Keeps what would have been sent."""

    def __init__(self, name: str = "console") -> None:
        self.name = name
        self.pacing = Pacing(rate=10_000.0, per_recipient_interval=0.0, burst=10_000)
        self.sent: list[Outbound] = []

    async def send(self, message: Outbound) -> SendResult:
        self.sent.append(message)
        return SendResult(provider_message_id=uuid.uuid4().hex)


@dataclass
class Button:
    choice_id: str


@dataclass
class Pin:
    latitude: float
    longitude: float


@dataclass
class Photo:
    ref: str = "photo-1"


@dataclass
class Unsupported:
    what: str


@dataclass
class Later:
    hours: float


@dataclass
class Restart:
    """A new process: new dispatcher and sender on the same database."""


Action = str | Button | Pin | Photo | Unsupported | Later | Restart


class Bot:
    def __init__(self, db: Database, clock: Clock | None = None, user: str = "u1",
                 channel: str = "console", name: str | None = "Siti") -> None:
        self.db = db
        self.clock = clock or Clock()
        self.user = user
        self.name = name
        self.channel = RecordingChannel(channel)
        self.metrics = Metrics()
        self._build()

    def _build(self) -> None:
        self.dispatcher = Dispatcher(self.db, translator(), clock=self.clock,
                                     metrics=self.metrics)
        # Residents' reports: the feature every conversation here starts from.
        self.dispatcher.add_feature(ComplaintsFeature())
        self.sender = OutboxSender(self.db, {self.channel.name: self.channel},
                                   clock=self.clock, metrics=self.metrics)

    def inbound(self, action: Action) -> Inbound:
        base = {"channel": self.channel.name, "user_id": self.user,
                "message_id": uuid.uuid4().hex, "contact_name": self.name,
                "timestamp": self.clock()}
        if isinstance(action, str):
            return Inbound(kind=InboundKind.TEXT, text=action, **base)  # type: ignore[arg-type]
        if isinstance(action, Button):
            return Inbound(kind=InboundKind.CHOICE, choice_id=action.choice_id, **base)  # type: ignore[arg-type]
        if isinstance(action, Pin):
            return Inbound(kind=InboundKind.LOCATION,  # type: ignore[arg-type]
                           location=Location(action.latitude, action.longitude), **base)
        if isinstance(action, Photo):
            return Inbound(kind=InboundKind.MEDIA,  # type: ignore[arg-type]
                           media=Media(kind="photo", ref=action.ref, unique_id="u-" + action.ref),
                           **base)
        if isinstance(action, Unsupported):
            return Inbound(kind=InboundKind.UNSUPPORTED, unsupported=action.what, **base)  # type: ignore[arg-type]
        raise TypeError(action)

    async def send(self, action: Action) -> list[Outbound]:
        """Deliver one user action; return what the bot sent back."""
        if isinstance(action, Later):
            self.clock.advance(hours=action.hours)
            return []
        if isinstance(action, Restart):
            await self.sender.stop()
            self._build()
            return []
        before = len(self.channel.sent)
        await self.dispatcher.handle(self.inbound(action))
        await self.sender.drain()
        return self.channel.sent[before:]

    async def say(self, action: Action) -> Outbound:
        """Deliver and expect exactly one reply."""
        replies = await self.send(action)
        assert len(replies) == 1, f"expected one reply to {action!r}, got {len(replies)}"
        return replies[0]

    async def run(self, actions: list[Action]) -> str:
        """Run a script; return its transcript."""
        lines: list[str] = []
        for action in actions:
            lines.append(f"> {describe(action)}")
            for out in await self.send(action):
                lines.extend(render(out))
        return "\n".join(lines) + "\n"


def describe(action: Action) -> str:
    if isinstance(action, str):
        return action if len(action) <= 80 else f"{action[:40]}… ({len(action)} characters)"
    if isinstance(action, Button):
        return f"[button {action.choice_id}]"
    if isinstance(action, Pin):
        return f"[location {action.latitude}, {action.longitude}]"
    if isinstance(action, Photo):
        return f"[photo {action.ref}]"
    if isinstance(action, Unsupported):
        return f"[{action.what}]"
    if isinstance(action, Later):
        return f"[{action.hours} hours later]"
    return "[restart]"


def render(out: Outbound) -> list[str]:
    text = TICKET_IN_TEXT.sub(_ticket_placeholder, out.text)
    lines = [f"< {line}" if line else "<" for line in text.split("\n")]
    lines += [f"<   [{c.id}] {c.label}" for c in out.choices]
    if out.request_location:
        lines.append("<   [request location]")
    if out.request_contact:
        lines.append("<   [request contact]")
    if out.remove_keyboard:
        lines.append("<   [remove keyboard]")
    return lines


def _ticket_placeholder(match: re.Match[str]) -> str:
    ticket = match.group(0)
    if ticket == "AIR-4K7QX":  # the example in the help text
        return ticket
    assert TICKET_RE.match(ticket)
    return ticket[:4] + "#####"


def check_golden(name: str, transcript: str) -> None:
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("WARGA_UPDATE_GOLDEN") or not path.exists():
        if os.environ.get("CI") and not path.exists():
            raise AssertionError(f"golden transcript {path.name} is missing")
        path.parent.mkdir(exist_ok=True)
        path.write_text(transcript, encoding="utf-8")
        if not os.environ.get("WARGA_UPDATE_GOLDEN"):
            raise AssertionError(f"wrote new golden transcript {path.name}; review and rerun")
        return
    expected = path.read_text(encoding="utf-8")
    assert transcript == expected, f"transcript {name} differs from {path}"
