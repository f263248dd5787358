"""The one contract between the dispatcher and a feature.

A feature (complaints, tickets, volunteers, activities, a form by itself…) declares what it
adds in a :class:`FeatureSpec` — forms, commands with their menu text and roles, typed
button payloads, menu entries, deep links, timers, dashboard pages — and is then bound to a
narrow :class:`FeatureContext` (database, notify, clock, translator, sealer). Each message
is handled with a :class:`Context`: the transaction, the contact, the typed session, and
the few flow operations a feature may ask for. No feature sees the dispatcher.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from bot.metrics import Metrics
from bot.session import Session
from conversations.buttons import Payload
from conversations.engine import Engine, Prompt, Turn
from conversations.flow import Flow
from conversations.forms import Form
from conversations.i18n import T, Translator
from conversations.messages import Inbound, Outbound
from conversations.qtypes import IdentitySealer
from storage.db import Database
from storage.repos import ContactState, Repos

if TYPE_CHECKING:
    from aiohttp import web
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

REPLY = 0
BULK = 10

Handler = Callable[["Context", str], Awaitable[None]]
FlowAction = Callable[["Context", dict[str, Any]], Awaitable[list[T]]]
# Sees every turn of one flow before it is applied; may change it (a warning found in the
# database, a paused draft put aside elsewhere).
FlowHook = Callable[["Context", Flow, Turn], Awaitable[None]]


class Notify(Protocol):
    async def __call__(
        self, tx: Repos, contact_id: int, *texts: T, now: datetime,
        choices: list[tuple[str, T | str]] | None = None, priority: int = REPLY,
        dedupe_key: str | None = None, batch: str | None = None,
        media_path: str | None = None,
    ) -> int | None: ...


class Conversation(Protocol):
    """What the dispatcher does for a feature inside one message."""

    async def start_flow(self, ctx: Context, flow_id: str, extra: dict[str, Any] | None,
                         intro: list[T] | None, *, answers: dict[str, Any] | None = None,
                         narrow: dict[str, list[str]] | None = None) -> None: ...

    async def start_or_offer(self, ctx: Context, flow_id: str,
                             extra: dict[str, Any] | None, *,
                             answers: dict[str, Any] | None = None,
                             narrow: dict[str, list[str]] | None = None) -> None: ...

    def reask(self, ctx: Context, *intro: T) -> None: ...

    def menu(self, ctx: Context, intro: T) -> None: ...

    def keep_alive(self, ctx: Context) -> None: ...


@dataclass
class Context:
    """Everything one inbound message is handled with, inside its transaction."""

    tx: Repos
    contact: ContactState
    inbound: Inbound
    now: datetime
    session: Session
    conversation: Conversation
    replies: list[Prompt] = field(default_factory=list)
    # The open question was already asked again in this turn (asked once, not per feature).
    reasked: bool = False

    @property
    def lang(self) -> str:
        return self.contact.language or "id"

    def say(self, *texts: T, choices: list[tuple[str, T | str]] | None = None,
            ephemeral: bool = False) -> None:
        """Add to this turn's reply; ``ephemeral``: its body is blanked once delivered."""
        self.replies.append(Prompt(texts=list(texts), choices=list(choices or []),
                                   ephemeral=ephemeral))

    async def start_flow(self, flow_id: str, extra: dict[str, Any] | None = None,
                         intro: list[T] | None = None) -> None:
        await self.conversation.start_flow(self, flow_id, extra, intro)

    async def start_or_offer(self, flow_id: str, extra: dict[str, Any] | None = None, *,
                             answers: dict[str, Any] | None = None,
                             narrow: dict[str, list[str]] | None = None) -> None:
        """Start a flow (with the answers already given), or offer to finish the one under
        way first."""
        await self.conversation.start_or_offer(self, flow_id, extra, answers=answers,
                                               narrow=narrow)

    def reask(self, *intro: T) -> None:
        """After something outside the flow under way, ask its open question again, once."""
        self.conversation.reask(self, *intro)

    def menu(self, intro: T) -> None:
        self.conversation.menu(self, intro)

    def keep_alive(self) -> None:
        """The flow under way continues now (a draft picked up again)."""
        self.conversation.keep_alive(self)

    def data(self, feature: str) -> dict[str, Any]:
        return self.session.data(feature)


@dataclass(frozen=True)
class Command:
    """'/name args' anywhere; 'name args' typed outside a flow.

    ``names`` are lower-case words ("relawan", "daftar relawan"); ``roles`` limits who may
    use it (others get a polite refusal, ``refusal`` when the feature has a more helpful
    one); ``menu_text`` is the catalog key of its line in Telegram's command menu, for the
    roles that see it.
    """

    names: tuple[str, ...]
    handler: Handler
    roles: frozenset[str] | None = None
    # For people without the role, act as if the command did not exist (a resident's
    # "tiket AIR-…" is a status check; an officer's is the ticket's management view).
    others_pass: bool = False
    menu_text: str | None = None
    # Also when typed as the whole message inside a flow (then the flow's question comes
    # again): "status" mid-report.
    in_flow: bool = False
    refusal: T | None = None


@dataclass(frozen=True)
class Matcher:
    """Free text a feature recognises outside a flow (a ticket number in a sentence)."""

    test: Callable[[str], bool]
    handler: Callable[[Context, str], Awaitable[None]]


@dataclass(frozen=True)
class MenuItem:
    key: str
    label: T
    handler: Callable[[Context], Awaitable[None]]
    roles: frozenset[str] | None = None


@dataclass(frozen=True)
class Button:
    """Buttons of one payload type, wherever they were sent (an RSVP, a ticket)."""

    payload: type[Payload]
    handler: Callable[[Context, Any], Awaitable[None]]
    # Said when a button of this kind arrives malformed (stale or forged).
    invalid: str = "flow.stale_button"


@dataclass(frozen=True)
class FormUse:
    """A form the feature runs, and what happens with the answers."""

    form: Form | Flow
    on_complete: FlowAction
    hook: FlowHook | None = None

    @property
    def flow(self) -> Flow:
        return self.form.flow if isinstance(self.form, Form) else self.form


@dataclass(frozen=True)
class DeepLink:
    """A Telegram ``/start <prefix>_<rest>`` link."""

    prefix: str
    handler: Handler


@dataclass(frozen=True)
class Timer:
    """A job the scheduler runs (its rows in the database are the truth)."""

    id: str
    trigger: str  # "interval" or "cron"
    args: Mapping[str, Any]
    run: Callable[[], Awaitable[None]]
    # Also once as soon as the service starts.
    at_start: bool = False


@dataclass(frozen=True)
class Page:
    """Routes a feature adds to the HTTP server (dashboard pages)."""

    add_routes: Callable[[web.Application], None]


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    forms: tuple[FormUse, ...] = ()
    commands: tuple[Command, ...] = ()
    buttons: tuple[Button, ...] = ()
    menu: tuple[MenuItem, ...] = ()
    deep_links: tuple[DeepLink, ...] = ()
    timers: tuple[Timer, ...] = ()
    pages: tuple[Page, ...] = ()
    matchers: tuple[Matcher, ...] = ()
    # Called once the scheduler exists (timers planned from the database's rows).
    startup: Callable[[AsyncIOScheduler], Awaitable[None]] | None = None
    # A feature that keeps identity numbers brings the sealer the engine encrypts them with.
    sealer: IdentitySealer | None = None


EventHandler = Callable[[Context, Mapping[str, Any]], Awaitable[list[T]]]


@dataclass
class FeatureContext:
    """The narrow context a feature works through once the service is up."""

    db: Database
    clock: Callable[[], datetime]
    translator: Translator
    notify: Notify
    # Wake the outbox after a transaction that queued messages.
    wake: Callable[[], None]
    # Pure flow operations (recap, refresh a draft) — no I/O.
    engine: Engine
    # One message for a contact, in their language, as the outbox stores it.
    render: Callable[[ContactState, Sequence[Prompt]], Outbound]
    sealer: IdentitySealer | None = None
    session_hours: float = 24.0
    metrics: Metrics | None = None
    _subscribers: dict[str, list[EventHandler]] = field(default_factory=dict)

    def subscribe(self, event: str, handler: EventHandler) -> None:
        self._subscribers.setdefault(event, []).append(handler)

    async def emit(self, event: str, ctx: Context, details: Mapping[str, Any]) -> list[T]:
        """Tell the subscribers; what they say is added to the reply."""
        texts: list[T] = []
        for handler in self._subscribers.get(event, ()):
            texts += await handler(ctx, details)
        return texts


class Feature(Protocol):
    """A capability: declares what it adds, then works through its context."""

    def spec(self) -> FeatureSpec: ...

    def bind(self, app: FeatureContext) -> None: ...
