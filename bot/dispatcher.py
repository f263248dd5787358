"""The dispatcher: dedupe → contact upsert → per-contact order → routes → engine, all in one
transaction with the replies written to the outbox.

What a message can mean is a short list of routes, tried in order (:meth:`_route`); what
the features add comes from their declarations (:mod:`bot.feature`), never from their
reaching into the dispatcher.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time as _time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.feature import (
    BULK,
    REPLY,
    Button,
    Command,
    Context,
    DeepLink,
    Feature,
    FeatureContext,
    FeatureSpec,
    FlowAction,
    FlowHook,
    FormUse,
    Matcher,
    MenuItem,
    Timer,
)
from bot.inbound_limit import InboundGate
from bot.metrics import Metrics
from bot.session import Session
from conversations.buttons import check_namespace, prefix_of
from conversations.engine import Engine, Prompt, Turn
from conversations.flow import Flow
from conversations.forms import Form, validate
from conversations.i18n import LANGUAGES, T, Translator
from conversations.matching import clean_text, match_command, match_option, normalize
from conversations.messages import Choice, Inbound, InboundKind, Media, Outbound
from conversations.parsing import parse_yes_no
from conversations.qtypes import IdentitySealer
from storage.db import Database
from storage.repos import ContactState, Repos

__all__ = ["BULK", "REPLY", "Command", "Context", "Dispatcher", "MenuItem"]

log = logging.getLogger(__name__)

# Words that work outside and inside a flow (whole message).
KEYWORDS: dict[str, frozenset[str]] = {
    "menu": frozenset({"menu", "start", "mulai lagi", "home"}),
    "greet": frozenset({"halo", "hallo", "hai", "hi", "hello", "assalamualaikum",
                        "assalamualaikum wr wb", "permisi", "pagi", "siang", "sore", "malam",
                        "selamat pagi", "selamat siang", "selamat sore", "selamat malam", "p"}),
    "language": frozenset({"bahasa", "language", "ganti bahasa", "change language"}),
    "help": frozenset({"bantuan", "tolong", "help", "bingung", "info"}),
    "stop": frozenset({"berhenti", "stop", "unsubscribe", "jangan kirim lagi"}),
    "resume_sub": frozenset({"mulai", "subscribe", "langganan"}),
    "lang_en": frozenset({"english", "bahasa inggris", "inggris"}),
    "lang_id": frozenset({"indonesia", "bahasa indonesia", "indonesian"}),
}
# Telegram-style commands of the dispatcher itself ('/bahasa'); features add their own.
SLASH = {
    "start": "greet", "menu": "menu", "bahasa": "language", "language": "language",
    "bantuan": "help", "help": "help", "berhenti": "stop", "stop": "stop",
    "mulai": "resume_sub", "batal": "cancel",
}

MediaFetcher = Callable[[Media], Awaitable[bytes]]


class Dispatcher:
    def __init__(
        self,
        db: Database,
        translator: Translator,
        *,
        clock: Callable[[], datetime],
        session_hours: float = 24.0,
        media_dir: Path = Path("data/media"),
        max_media_bytes: int = 10 * 1024 * 1024,
        metrics: Metrics | None = None,
        coordinators: tuple[str, ...] = (),
        sealer: IdentitySealer | None = None,
    ) -> None:
        self.db = db
        self.tr = translator
        self.engine = Engine(translator, session_hours, sealer=sealer)
        self.clock = clock
        self.session_hours = session_hours
        self.media_dir = media_dir
        self.max_media_bytes = max_media_bytes
        self.metrics = metrics or Metrics()
        self.coordinators = set(coordinators)
        self.flows: dict[str, Flow] = {}
        self.actions: dict[str, FlowAction] = {}
        self.flow_hooks: dict[str, FlowHook] = {}
        self.media_fetchers: dict[str, MediaFetcher] = {}
        self.commands: list[Command] = []
        self.menu_items: list[MenuItem] = []
        self.buttons: dict[str, Button] = {}
        self.deep_links: dict[str, DeepLink] = {}
        self.matchers: list[Matcher] = []
        self.timers: list[Timer] = []
        self.specs: list[FeatureSpec] = []
        self.on_enqueued: list[Callable[[], None]] = []
        # The outbox sender's claim inside the transaction that queued a reply
        # (``OutboxSender.claim_within``): True when it took what was queued.
        self.claim_within: Callable[[Repos], Awaitable[bool]] | None = None
        self.app = FeatureContext(
            db=db, clock=clock, translator=translator, notify=self.notify, wake=self.wake,
            engine=self.engine, render=self.render, sealer=sealer, session_hours=session_hours,
            metrics=self.metrics,
        )
        # The per-contact inbound limit (bot.inbound_limit); None: no limit.
        self.inbound_gate: InboundGate | None = None
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._background: set[asyncio.Task[None]] = set()

    # -- features ------------------------------------------------------------------------

    def add_feature(self, feature: Feature) -> None:
        """Take in what a feature declares, check it against the rest, and bind it."""
        spec = feature.spec()
        if spec.sealer is not None and self.engine.sealer is None:
            self.engine.sealer = spec.sealer
            self.app.sealer = spec.sealer
        for use in spec.forms:
            self.add_form(use)
        self.commands.extend(spec.commands)
        self.menu_items.extend(spec.menu)
        for button in spec.buttons:
            self.buttons[button.payload.prefix] = button
        for link in spec.deep_links:
            self.deep_links[link.prefix] = link
        self.matchers.extend(spec.matchers)
        self.timers.extend(spec.timers)
        self.specs.append(spec)
        # Buttons of features and of questions share one namespace.
        check_namespace([p for s in self.specs for p in (b.payload.prefix for b in s.buttons)],
                        [step.name for flow in self.flows.values() for step in flow.all_steps()])
        feature.bind(self.app)

    def add_form(self, use: FormUse) -> None:
        if isinstance(use.form, Form):
            self.tr.add_texts(use.form.texts, use.form.flow.source or use.form.flow.id)
        flow = use.flow
        if flow.id in self.flows and self.flows[flow.id] is not flow:
            raise ValueError(f"two features run a form with the id {flow.id!r}")
        self.flows[flow.id] = validate(flow, self.tr.keys["id"])
        self.actions[flow.id] = use.on_complete
        if use.hook is not None:
            self.flow_hooks[flow.id] = use.hook

    def command_menu(self, role: str | None) -> list[tuple[str, str]]:
        """(command, catalog key of its description) a person with ``role`` sees."""
        out = []
        for command in self.commands:
            if command.menu_text and (command.roles is None or role in command.roles):
                out.append((command.names[0], command.menu_text))
        return out

    def wake(self) -> None:
        for wake in self.on_enqueued:
            wake()

    async def notify(
        self,
        tx: Repos,
        contact_id: int,
        *texts: T,
        now: datetime,
        choices: list[tuple[str, T | str]] | None = None,
        priority: int = REPLY,
        dedupe_key: str | None = None,
        batch: str | None = None,
        media_path: str | None = None,
    ) -> int | None:
        """Queue a message to someone other than the sender, in their own language."""
        contact = await tx.contacts.get(contact_id)
        if contact is None:
            return None
        state = ContactState.from_orm(contact)
        outbound = self.render(state, [Prompt(texts=list(texts), choices=list(choices or []))])
        if media_path:
            outbound = replace(outbound, media_path=media_path)
        return await tx.outbox.enqueue(
            channel=contact.channel, recipient=contact.external_id,
            payload=outbound.as_dict(), now=now, contact_id=contact.id, priority=priority,
            dedupe_key=dedupe_key, batch=batch,
        )

    # -- entry point ---------------------------------------------------------------------

    async def handle(self, inbound: Inbound) -> bool:
        """Handle one inbound message; False when it was a re-delivery and was ignored."""
        inbound = _without_nul(inbound)
        key = f"{inbound.channel}:{inbound.user_id}"
        started = _time.perf_counter()
        claimed: list[bool] = []

        async def unit(tx: Repos) -> bool:
            claimed.clear()  # run again alone if its batch rolled back
            return await self._admitted(tx, inbound, claimed)

        async with self._contact_lock(key):
            if not await self.db.run(unit):
                self.metrics.duplicates.labels(inbound.channel).inc()
                return False
            self.metrics.inbound.labels(inbound.channel, inbound.kind.value).inc()
            self.metrics.handle_seconds.labels(inbound.channel).observe(
                _time.perf_counter() - started
            )
        if not claimed:
            self.wake()
        if inbound.media is not None and inbound.channel in self.media_fetchers:
            # Download after the commit: a slow platform must not hold up the webhook.
            task = asyncio.create_task(self._store_media(inbound.channel, inbound.media))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return True

    async def _admitted(self, tx: Repos, inbound: Inbound, claimed: list[bool]) -> bool:
        """The inbound limit first: a message over it is stored (acknowledged, not lost)
        and handled in its turn (``handle_held``); False for a re-delivery."""
        gate = self.inbound_gate
        if gate is not None:
            verdict = await gate.admit(tx, inbound, self)
            if verdict is not True:
                return verdict is False
        return await self._handle_in(tx, inbound, claimed)

    async def handle_held(self, channel: str, external_id: str) -> bool:
        """Handle a contact's oldest held message if its turn has come; False if not."""
        gate = self.inbound_gate
        if gate is None:
            return False
        async with self._contact_lock(f"{channel}:{external_id}"):

            async def turn(tx: Repos) -> Inbound | None:
                inbound = await gate.take_turn(tx, channel, external_id)
                if inbound is not None:
                    await self._handle_in(tx, inbound)
                return inbound

            inbound = await self.db.run(turn)
        if inbound is None:
            return False
        self.metrics.inbound.labels(inbound.channel, inbound.kind.value).inc()
        for wake in self.on_enqueued:
            wake()
        return True

    async def idle(self) -> None:
        """Wait for background media downloads (tests, shutdown)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def _handle_in(self, tx: Repos, inbound: Inbound,
                         claimed: list[bool] | None = None) -> bool:
        """Everything one message changes, inside one transaction; False for a re-delivery.

        ``claimed`` (given): the sender may claim the reply in this same transaction; it
        then holds True and nobody needs to wake the sender."""
        now = self.clock()
        if not await tx.inbound.remember(inbound.channel, inbound.message_id, now):
            return False
        contact: ContactState | None = None
        if inbound.kind in (InboundKind.STOPPED, InboundKind.RESUMED):
            # Not a message from the person: the window and "last seen" stay as they were.
            contact = await tx.contacts.state(inbound.channel, inbound.user_id)
        if contact is None:
            # The session document comes with the contact (one statement on SQLite).
            contact, document = await tx.contacts.touch_reading_session(
                inbound.channel, inbound.user_id, now,
                name=inbound.contact_name, alt_id=inbound.alt_user_id,
            )
        else:
            document = await tx.sessions.state(contact.id)
        ids = {f"{contact.channel}:{contact.external_id}", f"{contact.channel}:{contact.alt_id}"}
        if ids & self.coordinators:
            contact.role = "coordinator"
        session = Session.from_json(document)
        ctx = Context(tx, contact, inbound, now, session, self)
        await self._route(ctx)
        queued = await self._persist(ctx)
        await tx.contacts.save_changes(contact, now)
        if queued and claimed is not None and self.claim_within is not None:
            # The reply leaves as soon as it is committed, without a claim of its own.
            if await self.claim_within(tx):
                claimed.append(True)
        return True

    # -- routing -------------------------------------------------------------------------

    async def _route(self, ctx: Context) -> None:
        inbound = ctx.inbound
        if inbound.kind in (InboundKind.STOPPED, InboundKind.RESUMED):
            ctx.contact.stopped = inbound.kind == InboundKind.STOPPED
            return
        flow, fstate = self._active_flow(ctx)
        if inbound.kind == InboundKind.UNSUPPORTED:
            self._unsupported(ctx, flow, fstate)
            return
        text = self._typed_text(ctx, flow, fstate)
        word = match_command(text, KEYWORDS) if text else None
        if text.startswith("/"):
            word = self._slash(ctx, text) or word
        for route in (self._stale_session, self._language_answer, self._resume_answer,
                      self._menu_button, self._feature_button, self._feature_command,
                      self._deep_link):
            if await route(ctx, text, word):
                return
        if await self._keyword(ctx, text, word):
            return
        if ctx.session.in_flow:
            assert flow is not None and fstate is not None
            turn = self.engine.resume(flow, fstate, ctx.inbound, ctx.now)
            await self._apply(ctx, flow, turn)
            return
        for route in (self._matched_text, self._menu_answer):
            if await route(ctx, text, word):
                return
        if word == "help":
            self.menu(ctx, T("bot.help"))
        elif word == "greet" or not text:
            name = f" {ctx.contact.name}" if ctx.contact.name else ""
            self.menu(ctx, T("bot.welcome", name=name))
        else:
            self.menu(ctx, T("bot.unknown"))

    def _typed_text(self, ctx: Context, flow: Flow | None,
                    fstate: dict[str, Any] | None) -> str:
        """The message as text; "2" typed after a numbered list becomes that button —
        unless the open question numbers its options by their codes, as on paper (a "4"
        at a list that starts at 0 is code 4, not the fourth button)."""
        inbound = ctx.inbound
        text = clean_text(inbound.text or "") if inbound.kind == InboundKind.TEXT else ""
        offered = ctx.session.offered
        if text.isdigit() and flow is not None and fstate is not None \
                and fstate.get("status") == "asking" and fstate.get("step") \
                and flow.find(fstate["step"])[0].params.get("numbers") == "code":
            return text
        if text.isdigit() and len(offered) >= 2 and 1 <= int(text) <= len(offered):
            ctx.inbound = replace(inbound, kind=InboundKind.CHOICE,
                                  choice_id=offered[int(text) - 1], text=None)
            return ""
        return text

    async def _stale_session(self, ctx: Context, text: str, word: str | None) -> bool:
        """A session gone stale: offer to continue it, with a recap, before anything else."""
        flow, fstate = self._active_flow(ctx)
        expires = ctx.session.expires_at
        if not (flow and fstate and not ctx.session.paused and expires and expires < ctx.now):
            return False
        ctx.session.paused = True
        self._offer_resume(ctx, flow, fstate, T("bot.resume_expired"))
        return True

    async def _language_answer(self, ctx: Context, text: str, word: str | None) -> bool:
        choice = ctx.inbound.choice_id or ""
        if choice.startswith("lang:") or (ctx.session.awaiting == "language" and text):
            return self._pick_language(ctx, choice, text)
        return False

    async def _resume_answer(self, ctx: Context, text: str, word: str | None) -> bool:
        choice = ctx.inbound.choice_id or ""
        if choice.startswith("resume:") or (ctx.session.awaiting == "resume" and text and
                                             word is None):
            return await self._answer_resume(ctx, choice, text)
        return False

    async def _menu_button(self, ctx: Context, text: str, word: str | None) -> bool:
        choice = ctx.inbound.choice_id or ""
        if not choice.startswith("menu:"):
            return False
        await self._menu_choice(ctx, choice.removeprefix("menu:"))
        return True

    async def _feature_button(self, ctx: Context, text: str, word: str | None) -> bool:
        choice = ctx.inbound.choice_id or ""
        button = self.buttons.get(prefix_of(choice))
        if button is None:
            return False
        before = ctx.session.flow
        payload = button.payload.unpack(choice)
        if payload is None:
            ctx.say(T(button.invalid))
        else:
            await button.handler(ctx, payload)
        if ctx.session.flow is before:
            # A button from another message (an RSVP, a ticket) pressed mid-flow: the
            # flow's own question comes again, so the person knows where they are.
            self.reask(ctx)
        return True

    async def _feature_command(self, ctx: Context, text: str, word: str | None) -> bool:
        found = self._find_command(text, ctx.session.in_flow, ctx.contact.role)
        if found is None:
            return False
        command, args = found
        if command.roles is not None and ctx.contact.role not in command.roles:
            ctx.say(command.refusal or T("bot.not_allowed"))
            self.reask(ctx)
            return True
        await command.handler(ctx, args)
        return True

    async def _deep_link(self, ctx: Context, text: str, word: str | None) -> bool:
        payload = ctx.session.start_payload
        if not payload:
            return False
        key, _, rest = payload.partition("_")
        link = self.deep_links.get(key)
        if link is None:
            return False
        await link.handler(ctx, rest)
        return True

    async def _keyword(self, ctx: Context, text: str, word: str | None) -> bool:
        """The dispatcher's own words: language, stop/start, cancel, menu."""
        flow, fstate = self._active_flow(ctx)
        if word in ("lang_en", "lang_id"):
            self._set_language(ctx, "en" if word == "lang_en" else "id")
        elif word == "language":
            self._ask_language(ctx)
        elif word == "stop":
            ctx.contact.opted_out = True
            await ctx.tx.audit.add(_actor(ctx.contact), "contact.opt_out", ctx.now,
                                   subject=_actor(ctx.contact))
            ctx.say(T("bot.opted_out"))
        elif word == "resume_sub" and not ctx.session.in_flow:
            ctx.contact.opted_out = False
            ctx.say(T("bot.opted_in"))
        elif word == "cancel" and not ctx.session.in_flow:
            # /batal from Telegram's command menu (in a flow the engine cancels): drop a
            # paused flow, or just show the menu.
            if flow and fstate:
                ctx.session.end_flow()
                await ctx.tx.audit.add(_actor(ctx.contact), "flow.cancelled", ctx.now,
                                       subject=flow.id)
                self.menu(ctx, T(flow.cancelled))
            else:
                self.menu(ctx, T("bot.menu_intro"))
        elif word == "menu":
            if flow and fstate:
                ctx.session.paused = True
            self.menu(ctx, T("bot.menu_intro"))
        else:
            return False
        return True

    async def _matched_text(self, ctx: Context, text: str, word: str | None) -> bool:
        for matcher in self.matchers:
            if text and matcher.test(text):
                await matcher.handler(ctx, text)
                return True
        return False

    async def _menu_answer(self, ctx: Context, text: str, word: str | None) -> bool:
        if ctx.session.awaiting == "menu" and (text or ctx.inbound.choice_id):
            picked = self._match_menu(ctx, text)
            if picked:
                await self._menu_choice(ctx, picked)
                return True
        return False

    def _find_command(self, text: str, in_flow: bool,
                      role: str | None = None) -> tuple[Command, str] | None:
        """'/relawan ABC' → (relawan, 'ABC'); 'daftar relawan ABC' too, outside a flow."""
        if not text or not self.commands:
            return None
        slash = text.startswith("/")
        body = text[1:] if slash else text
        head, _, rest = body.partition(" ")
        head = head.split("@", 1)[0]
        words = normalize(body).split()
        # A command meant for the person's role wins over one for everybody: an officer's
        # "tiket AIR-…" manages the ticket, a resident's checks its status.
        for command in sorted(self.commands, key=lambda c: c.roles is None):
            if command.others_pass and command.roles is not None and role not in command.roles:
                continue
            for name in command.names:
                parts = name.split()
                if slash:
                    if len(parts) == 1 and head.lower() == name:
                        return command, rest.strip()
                elif in_flow:
                    if command.in_flow and words == parts:
                        return command, ""
                elif words[: len(parts)] == parts:
                    # Keep the arguments as typed (codes are case-sensitive to the eye).
                    original = body.split(None, len(parts))
                    return command, original[len(parts)].strip() if len(original) > len(
                        parts) else ""
        return None

    def _slash(self, ctx: Context, text: str) -> str | None:
        """Telegram-style commands: '/bahasa', '/start payload'."""
        command, _, payload = text[1:].partition(" ")
        command = command.split("@", 1)[0].lower()
        ctx.session.start_payload = payload.strip()[:64] or None
        return SLASH.get(command)

    # -- menu ----------------------------------------------------------------------------

    def menu_entries(self, ctx: Context) -> list[tuple[str, T]]:
        extra = [(item.key, item.label) for item in self.menu_items
                 if item.roles is None or ctx.contact.role in item.roles]
        return [*extra, ("bahasa", T("menu.language")), ("bantuan", T("menu.help"))]

    def menu(self, ctx: Context, intro: T) -> None:
        ctx.session.awaiting = "menu"
        ctx.say(intro, T("bot.menu_question"),
                choices=[(f"menu:{key}", label) for key, label in self.menu_entries(ctx)])

    def _match_menu(self, ctx: Context, text: str) -> str | None:
        items = self.menu_entries(ctx)
        return match_option(text, [(k, [*self.tr.labels(label.key), k]) for k, label in items])

    async def _menu_choice(self, ctx: Context, key: str) -> None:
        ctx.session.awaiting = None
        if key == "bahasa":
            self._ask_language(ctx)
            return
        if key == "bantuan":
            self.menu(ctx, T("bot.help"))
            return
        for item in self.menu_items:
            if item.key == key and (item.roles is None or ctx.contact.role in item.roles):
                await item.handler(ctx)
                return
        # An unknown or forbidden entry (an old button): the menu again.
        self.menu(ctx, T("bot.unknown"))

    # -- flows ---------------------------------------------------------------------------

    def _active_flow(self, ctx: Context) -> tuple[Flow | None, dict[str, Any] | None]:
        fstate = ctx.session.flow
        if not fstate:
            return None, None
        flow = self.flows.get(fstate["flow"])
        if flow is None:
            ctx.session.end_flow()
            return None, None
        return flow, fstate

    async def start_flow(self, ctx: Context, flow_id: str, extra: dict[str, Any] | None = None,
                         intro: list[T] | None = None, *,
                         answers: dict[str, Any] | None = None,
                         narrow: dict[str, list[str]] | None = None) -> None:
        flow = self.flows[flow_id]
        flow_ctx = {"channel": ctx.contact.channel, "phone": ctx.contact.phone, **(extra or {})}
        turn = self.engine.start(flow, ctx.now, flow_ctx, answers=answers, narrow=narrow,
                                 intro=intro)
        ctx.session.awaiting = None
        await self._apply(ctx, flow, turn)

    async def start_or_offer(self, ctx: Context, flow_id: str,
                             extra: dict[str, Any] | None = None, *,
                             answers: dict[str, Any] | None = None,
                             narrow: dict[str, list[str]] | None = None) -> None:
        """Start a flow, or offer to finish the one under way first."""
        flow, fstate = self._active_flow(ctx)
        if flow and fstate:
            self._offer_resume(ctx, flow, fstate, T("bot.resume_unfinished"))
            return
        await self.start_flow(ctx, flow_id, extra, answers=answers, narrow=narrow)

    def keep_alive(self, ctx: Context) -> None:
        ctx.session.paused = False
        ctx.session.awaiting = None
        ctx.session.expires_at = ctx.now + timedelta(hours=self.session_hours)

    def _offer_resume(self, ctx: Context, flow: Flow, fstate: dict[str, Any], why: T) -> None:
        ctx.session.awaiting = "resume"
        recap = self.engine.recap(flow, fstate) or [T("bot.resume_nothing_yet")]
        ctx.say(why, *recap, T("bot.resume_question"),
                choices=[("resume:yes", T("bot.resume_yes")), ("resume:no", T("bot.resume_no"))])

    async def _answer_resume(self, ctx: Context, choice: str, text: str) -> bool:
        flow, fstate = self._active_flow(ctx)
        if flow is None or fstate is None:
            ctx.session.awaiting = None
            return False
        answer = {"resume:yes": True, "resume:no": False}.get(choice)
        if answer is None:
            answer = parse_yes_no(text)
        if answer is None:
            ctx.say(T("answer.yes_no"), T("bot.resume_question"),
                    choices=[("resume:yes", T("bot.resume_yes")),
                             ("resume:no", T("bot.resume_no"))])
            return True
        ctx.session.awaiting = None
        ctx.session.paused = False
        if answer:
            turn = self.engine.reask(flow, fstate, [T("bot.resumed")])
            await self._apply(ctx, flow, turn)
        else:
            ctx.session.end_flow()
            await ctx.tx.audit.add(_actor(ctx.contact), "flow.discarded", ctx.now,
                                   subject=flow.id)
            self.menu(ctx, T("bot.discarded"))
        return True

    async def _apply(self, ctx: Context, flow: Flow, turn: Turn) -> None:
        hook = self.flow_hooks.get(flow.id)
        if hook is not None:
            await hook(ctx, flow, turn)
        session = ctx.session
        if turn.completed is not None:
            session.end_flow()
            texts = await self.actions[flow.id](ctx, turn.completed)
            turn.prompt.texts.extend(texts)
        elif turn.state is None:
            session.end_flow()
            if turn.cancelled:
                await ctx.tx.audit.add(_actor(ctx.contact), "flow.cancelled", ctx.now,
                                       subject=flow.id)
        elif turn.paused:
            # "nanti": kept as it is, offered again later (no expiry while paused).
            session.flow = turn.state
            session.paused = True
        else:
            session.flow = turn.state
            session.paused = False
            session.expires_at = ctx.now + timedelta(hours=self.session_hours)
        ctx.replies.append(turn.prompt)
        if turn.state is None:
            ctx.replies.append(Prompt(texts=[T("bot.after_flow")]))

    def reask(self, ctx: Context, *intro: T) -> None:
        """After something outside the flow under way, ask its open question again, once."""
        flow, fstate = self._active_flow(ctx)
        if flow and fstate and not ctx.session.paused and not ctx.reasked:
            ctx.replies.append(self.engine.reask(flow, fstate, list(intro)).prompt)
            ctx.reasked = True

    def _unsupported(self, ctx: Context, flow: Flow | None, fstate: dict[str, Any] | None) -> None:
        kind = ctx.inbound.unsupported or "other"
        key = f"bot.unsupported.{kind}" if kind in _UNSUPPORTED else "bot.unsupported.other"
        if flow and fstate and not ctx.session.paused:
            ctx.replies.append(self.engine.reask(flow, fstate, [T(key)]).prompt)
        else:
            ctx.say(T(key), T("bot.menu_hint"))

    # -- language ------------------------------------------------------------------------

    def _ask_language(self, ctx: Context) -> None:
        ctx.session.awaiting = "language"
        ctx.say(T("bot.language_prompt"),
                choices=[("lang:id", "Bahasa Indonesia"), ("lang:en", "English")])

    def _pick_language(self, ctx: Context, choice: str, text: str) -> bool:
        lang = choice.removeprefix("lang:") if choice.startswith("lang:") else None
        if lang is None:
            norm = normalize(text)
            lang = {"1": "id", "2": "en", "indonesia": "id", "bahasa indonesia": "id",
                    "english": "en", "inggris": "en", "id": "id", "en": "en"}.get(norm)
        if lang not in LANGUAGES:
            ctx.session.awaiting = None
            return False
        self._set_language(ctx, lang)
        return True

    def _set_language(self, ctx: Context, lang: str) -> None:
        ctx.contact.language = lang
        ctx.session.awaiting = None
        flow, fstate = self._active_flow(ctx)
        if flow and fstate and not ctx.session.paused:
            ctx.replies.append(self.engine.reask(flow, fstate, [T("bot.language_set")]).prompt)
        else:
            self.menu(ctx, T("bot.language_set"))

    # -- persistence ---------------------------------------------------------------------

    async def _persist(self, ctx: Context) -> bool:
        """Save the session and queue the turn's reply; True if a reply was queued."""
        session = ctx.session
        session.start_payload = None
        fstate = session.flow
        outbound = None
        if ctx.replies:
            wants_keyboard = any(p.request_location or p.request_contact for p in ctx.replies)
            # One turn, one message: a message cannot both take a reply keyboard away and
            # carry buttons of its own (Telegram would need a second message), so the
            # removal rides on the next message without buttons. The keyboard hid itself
            # once used (one-time); it only lingers if the person typed instead.
            shown = session.keyboard and not wants_keyboard
            buttons = any(p.choices for p in ctx.replies)
            outbound = self.render(ctx.contact, ctx.replies,
                                   remove_keyboard=shown and not buttons)
            session.keyboard = wants_keyboard or (shown and buttons)
            session.offered = [c.id for c in outbound.choices]
        await ctx.tx.sessions.save(
            ctx.contact.id,
            session.to_json(),
            ctx.now,
            flow_id=fstate["flow"] if fstate else None,
            flow_version=fstate["version"] if fstate else None,
            step=fstate["step"] if fstate else None,
            status=("paused" if session.paused else fstate["status"]) if fstate else None,
            expires_at=session.expires_at if fstate else None,
        )
        if outbound is not None:
            await ctx.tx.outbox.enqueue(
                channel=ctx.contact.channel,
                recipient=ctx.contact.external_id,
                payload=outbound.as_dict(),
                now=ctx.now,
                contact_id=ctx.contact.id,
                priority=REPLY,
                dedupe_key=f"reply:{ctx.inbound.channel}:{ctx.inbound.message_id}",
                ephemeral=any(p.ephemeral for p in ctx.replies),
            )
        return outbound is not None

    def render(self, contact: ContactState, prompts: Sequence[Prompt], *,
               remove_keyboard: bool = False) -> Outbound:
        """All prompts of one turn as one message (cheap phones; WhatsApp paces per user)."""
        lang = contact.language or "id"
        texts = [self.tr(lang, t) for p in prompts for t in p.texts]
        last_with_choices = next((p for p in reversed(prompts) if p.choices), None)
        choices = tuple(
            Choice(cid, label if isinstance(label, str) else self.tr(lang, label))
            for cid, label in (last_with_choices.choices if last_with_choices else [])
        )
        return Outbound(
            channel=contact.channel,
            user_id=contact.external_id,
            text=_join(t for t in texts if t),
            choices=choices,
            request_location=any(p.request_location for p in prompts),
            request_contact=any(p.request_contact for p in prompts),
            remove_keyboard=remove_keyboard,
            extra={"lang": lang, **({"coded": True} if last_with_choices is not None
                                    and last_with_choices.coded else {})},
        )

    async def _store_media(self, channel: str, media: Media) -> None:
        """Keep the bytes of a photo (platform URLs expire within minutes)."""
        fetch = self.media_fetchers[channel]
        try:
            async with self.db.transaction() as tx:
                if await tx.media.by_ref(channel, media.ref):
                    return
            data = await fetch(media)
            if len(data) > self.max_media_bytes:
                log.warning("media over the size limit on %s (%d bytes)", channel, len(data))
                return
            digest = hashlib.sha256(data).hexdigest()
            self.media_dir.mkdir(parents=True, exist_ok=True)
            path = self.media_dir / digest
            if not path.exists():
                # Unique temp name: two people may send the very same photo at once.
                tmp = path.with_suffix(f".{uuid.uuid4().hex}.part")
                await asyncio.to_thread(tmp.write_bytes, data)
                tmp.replace(path)
            async with self.db.transaction() as tx:
                await tx.media.add(channel=channel, ref=media.ref, unique_id=media.unique_id,
                                   mime_type=media.mime_type, sha256=digest, size=len(data),
                                   path=str(path), created_at=self.clock())
        except Exception as exc:  # the answer is kept either way; only the bytes are missing
            log.warning("media download failed on %s: %s", channel, type(exc).__name__)

    # -- ordering ------------------------------------------------------------------------

    def _contact_lock(self, key: str) -> _LockGuard:
        return _LockGuard(self._locks, key)


class _LockGuard:
    """Per-contact lock that is dropped from the table when nobody waits on it."""

    def __init__(self, table: dict[str, tuple[asyncio.Lock, int]], key: str) -> None:
        self.table = table
        self.key = key

    async def __aenter__(self) -> None:
        lock, users = self.table.get(self.key, (asyncio.Lock(), 0))
        self.table[self.key] = (lock, users + 1)
        await lock.acquire()

    async def __aexit__(self, *exc: object) -> None:
        lock, users = self.table[self.key]
        lock.release()
        if users <= 1:
            del self.table[self.key]
        else:
            self.table[self.key] = (lock, users - 1)


_UNSUPPORTED = {"voice", "audio", "video", "sticker", "document", "group", "reaction",
                "contact", "other"}


def _without_nul(inbound: Inbound) -> Inbound:
    """PostgreSQL text cannot hold NUL; no person types one, so it goes at the edge."""
    fields = ("user_id", "message_id", "text", "choice_id", "contact_name", "alt_user_id",
              "phone")
    changes = {f: v.replace("\x00", "") for f in fields
               if isinstance(v := getattr(inbound, f), str) and "\x00" in v}
    return replace(inbound, **changes) if changes else inbound


def _join(texts: Iterable[str]) -> str:
    """Paragraphs apart by a blank line; consecutive bullet lines stay together."""
    out = ""
    previous = ""
    for text in texts:
        if out:
            bullets = text.startswith("•") and previous.startswith("•")
            out += "\n" if bullets else "\n\n"
        out += text
        previous = text
    return out


def _actor(contact: ContactState) -> str:
    return f"{contact.channel}:{contact.id}"
