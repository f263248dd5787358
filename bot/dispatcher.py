"""The dispatcher: dedupe → contact upsert → per-contact order → keywords/menu → engine,
all in one transaction with the replies written to the outbox.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time as _time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from bot.metrics import Metrics
from conversations.complaint import COMPLAINT
from conversations.engine import Engine, Prompt, Turn
from conversations.flow import Flow
from conversations.forms import validate
from conversations.i18n import LANGUAGES, T, Translator
from conversations.matching import clean_text, match_command, match_option, normalize
from conversations.messages import Choice, Inbound, InboundKind, Media, Outbound
from conversations.parsing import parse_yes_no
from conversations.tickets import find_ticket, new_ticket
from storage.db import Database
from storage.repos import ContactState, Repos

log = logging.getLogger(__name__)

REPLY = 0
BULK = 10

# Words that work outside and inside a flow (whole message).
KEYWORDS: dict[str, frozenset[str]] = {
    "menu": frozenset({"menu", "start", "mulai lagi", "home"}),
    "greet": frozenset({"halo", "hallo", "hai", "hi", "hello", "assalamualaikum",
                        "assalamualaikum wr wb", "permisi", "pagi", "siang", "sore", "malam",
                        "selamat pagi", "selamat siang", "selamat sore", "selamat malam", "p"}),
    "report": frozenset({"lapor", "laporan", "pengaduan", "aduan", "lapor air", "buat laporan"}),
    "status": frozenset({"status", "cek", "cek status", "cek laporan", "tiket", "laporan saya"}),
    "language": frozenset({"bahasa", "language", "ganti bahasa", "change language"}),
    "help": frozenset({"bantuan", "tolong", "help", "bingung", "info"}),
    "stop": frozenset({"berhenti", "stop", "unsubscribe", "jangan kirim lagi"}),
    "resume_sub": frozenset({"mulai", "subscribe", "langganan"}),
    "lang_en": frozenset({"english", "bahasa inggris", "inggris"}),
    "lang_id": frozenset({"indonesia", "bahasa indonesia", "indonesian"}),
}

MediaFetcher = Callable[[Media], Awaitable[bytes]]
FlowAction = Callable[["Context", dict[str, Any]], Awaitable[list[T]]]
Handler = Callable[["Context", str], Awaitable[None]]
# Sees every turn of one flow before it is applied; may change it (a warning found in the
# database, a paused draft put aside elsewhere).
FlowHook = Callable[["Context", Flow, Turn], Awaitable[None]]


@dataclass(frozen=True)
class Command:
    """A feature's command: '/name args' anywhere; 'name args' typed outside a flow.

    ``names`` are lower-case words ("relawan", "daftar relawan"); ``roles`` limits who may
    use it (others get a polite refusal).
    """

    names: tuple[str, ...]
    handler: Handler
    roles: frozenset[str] | None = None
    # For people without the role, act as if the command did not exist (a resident's
    # "tiket AIR-…" is a status check; an officer's is the ticket's management view).
    others_pass: bool = False


@dataclass(frozen=True)
class MenuItem:
    key: str
    label: T
    handler: Callable[[Context], Awaitable[None]]
    roles: frozenset[str] | None = None


class Feature(Protocol):
    """A capability plugged into the dispatcher (volunteers, activities, tickets…)."""

    def register(self, dispatcher: Dispatcher) -> None: ...


@dataclass
class Context:
    """Everything one inbound message is handled with, inside its transaction."""

    tx: Repos
    contact: ContactState
    inbound: Inbound
    now: datetime
    state: dict[str, Any]
    replies: list[Prompt] = field(default_factory=list)
    # The open question was already asked again in this turn (asked once, not per feature).
    reasked: bool = False

    @property
    def lang(self) -> str:
        return self.contact.language or "id"

    def say(self, *texts: T, choices: list[tuple[str, T | str]] | None = None) -> None:
        self.replies.append(Prompt(texts=list(texts), choices=list(choices or [])))


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
    ) -> None:
        self.db = db
        self.tr = translator
        self.engine = Engine(translator, session_hours)
        self.clock = clock
        self.session_hours = session_hours
        self.media_dir = media_dir
        self.max_media_bytes = max_media_bytes
        self.metrics = metrics or Metrics()
        self.coordinators = set(coordinators)
        self.flows: dict[str, Flow] = {COMPLAINT.id: COMPLAINT}
        self.actions: dict[str, FlowAction] = {COMPLAINT.id: self._create_complaint}
        self.media_fetchers: dict[str, MediaFetcher] = {}
        self.commands: list[Command] = []
        self.menu_extra: list[MenuItem] = []
        # Buttons outside flows, by choice-id prefix ("rsvp" for "rsvp:12:yes").
        self.choice_handlers: dict[str, Handler] = {}
        # Telegram deep links, by payload prefix ("relawan" for "/start relawan_KODE").
        self.start_payloads: dict[str, Handler] = {}
        self.flow_hooks: dict[str, FlowHook] = {}
        self.on_enqueued: list[Callable[[], None]] = []
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._background: set[asyncio.Task[None]] = set()

    # -- extension points ----------------------------------------------------------------

    def add_feature(self, feature: Feature) -> None:
        feature.register(self)

    def add_flow(self, flow: Flow, action: FlowAction) -> None:
        self.flows[flow.id] = validate(flow, self.tr.keys["id"])
        self.actions[flow.id] = action

    def add_command(self, command: Command) -> None:
        self.commands.append(command)

    def add_menu_item(self, item: MenuItem) -> None:
        self.menu_extra.append(item)

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
        async with self._contact_lock(key):
            if not await self.db.run(lambda tx: self._handle_in(tx, inbound)):
                self.metrics.duplicates.labels(inbound.channel).inc()
                return False
            self.metrics.inbound.labels(inbound.channel, inbound.kind.value).inc()
            self.metrics.handle_seconds.labels(inbound.channel).observe(
                _time.perf_counter() - started
            )
        for wake in self.on_enqueued:
            wake()
        if inbound.media is not None and inbound.channel in self.media_fetchers:
            # Download after the commit: a slow platform must not hold up the webhook.
            task = asyncio.create_task(self._store_media(inbound.channel, inbound.media))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return True

    async def idle(self) -> None:
        """Wait for background media downloads (tests, shutdown)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def _handle_in(self, tx: Repos, inbound: Inbound) -> bool:
        """Everything one message changes, inside one transaction; False for a re-delivery."""
        now = self.clock()
        if not await tx.inbound.remember(inbound.channel, inbound.message_id, now):
            return False
        contact: ContactState | None = None
        if inbound.kind in (InboundKind.STOPPED, InboundKind.RESUMED):
            # Not a message from the person: the window and "last seen" stay as they were.
            contact = await tx.contacts.state(inbound.channel, inbound.user_id)
        if contact is None:
            contact = await tx.contacts.touch(
                inbound.channel, inbound.user_id, now,
                name=inbound.contact_name, alt_id=inbound.alt_user_id,
            )
        ids = {f"{contact.channel}:{contact.external_id}", f"{contact.channel}:{contact.alt_id}"}
        if ids & self.coordinators:
            contact.role = "coordinator"
        state = await tx.sessions.state(contact.id) or {}
        ctx = Context(tx, contact, inbound, now, state)
        await self._route(ctx)
        await self._persist(ctx)
        await tx.contacts.save_changes(contact, now)
        return True

    # -- routing -------------------------------------------------------------------------

    async def _route(self, ctx: Context) -> None:
        inbound = ctx.inbound
        if inbound.kind == InboundKind.STOPPED:
            ctx.contact.stopped = True
            return
        if inbound.kind == InboundKind.RESUMED:
            ctx.contact.stopped = False
            return
        flow, fstate = self._active_flow(ctx)
        if inbound.kind == InboundKind.UNSUPPORTED:
            self._unsupported(ctx, flow, fstate)
            return
        text = clean_text(inbound.text or "") if inbound.kind == InboundKind.TEXT else ""
        offered: list[str] = ctx.state.get("choices") or []
        if text.isdigit() and len(offered) >= 2 and 1 <= int(text) <= len(offered):
            # "2" typed after a numbered list means the second button.
            inbound = ctx.inbound = replace(inbound, kind=InboundKind.CHOICE,
                                            choice_id=offered[int(text) - 1], text=None)
            text = ""
        choice = inbound.choice_id or ""
        word = match_command(text, KEYWORDS) if text else None
        if text.startswith("/"):
            word = self._slash(ctx, text) or word

        # Session gone stale: offer to continue it, with a recap, before anything else.
        if flow and fstate and not ctx.state.get("paused") and self._expired(ctx):
            ctx.state["paused"] = True
            self._offer_resume(ctx, flow, fstate, T("bot.resume_expired"))
            return

        if choice.startswith("lang:") or (ctx.state.get("await") == "language" and text):
            if self._pick_language(ctx, choice, text):
                return
        if choice.startswith("resume:") or (ctx.state.get("await") == "resume" and text and
                                             word is None):
            if await self._answer_resume(ctx, choice, text):
                return
        if choice.startswith("menu:"):
            await self._menu_choice(ctx, choice.removeprefix("menu:"))
            return
        prefix = choice.partition(":")[0]
        if prefix in self.choice_handlers:
            await self.choice_handlers[prefix](ctx, choice)
            if ctx.state.get("flow") is fstate:
                # A button from another message (an RSVP, a ticket) pressed mid-flow: the
                # flow's own question comes again, so the person knows where they are.
                self._reask_if_flow(ctx, flow, fstate)
            return
        in_flow = bool(flow and fstate and not ctx.state.get("paused"))
        found = self._feature_command(text, in_flow, ctx.contact.role)
        if found is not None:
            command, args = found
            if command.roles is not None and ctx.contact.role not in command.roles:
                ctx.say(T("bot.not_allowed"))
                self._reask_if_flow(ctx, flow, fstate)
                return
            await command.handler(ctx, args)
            return
        payload = ctx.state.get("start_payload")
        if payload:
            key, _, rest = payload.partition("_")
            if key in self.start_payloads:
                await self.start_payloads[key](ctx, rest)
                return

        if word in ("lang_en", "lang_id"):
            self._set_language(ctx, "en" if word == "lang_en" else "id")
            return
        if word == "language":
            ctx.state["await"] = "language"
            ctx.say(T("bot.language_prompt"),
                    choices=[("lang:id", "Bahasa Indonesia"), ("lang:en", "English")])
            return
        if word == "stop":
            ctx.contact.opted_out = True
            await ctx.tx.audit.add(_actor(ctx.contact), "contact.opt_out", ctx.now,
                                   subject=_actor(ctx.contact))
            ctx.say(T("bot.opted_out"))
            return
        if word == "resume_sub" and not (flow and not ctx.state.get("paused")):
            ctx.contact.opted_out = False
            ctx.say(T("bot.opted_in"))
            return
        if word == "status" or (find_ticket(text) and not (flow and not ctx.state.get("paused"))):
            await self._status(ctx, find_ticket(text))
            self._reask_if_flow(ctx, flow, fstate)
            return
        if word == "cancel" and not in_flow:
            # /batal from Telegram's command menu (in a flow the engine cancels): drop a
            # paused report, or just show the menu.
            if flow and fstate:
                ctx.state.pop("flow", None)
                ctx.state["paused"] = False
                await ctx.tx.audit.add(_actor(ctx.contact), "flow.cancelled", ctx.now,
                                       subject=flow.id)
                self._menu(ctx, T("flow.cancelled"))
            else:
                self._menu(ctx, T("bot.menu_intro"))
            return
        if word == "menu":
            if flow and fstate:
                ctx.state["paused"] = True
            self._menu(ctx, T("bot.menu_intro"))
            return

        if flow and fstate and not ctx.state.get("paused"):
            if word == "report":
                self._reask_if_flow(ctx, flow, fstate, T("bot.already_in_flow"))
                return
            turn = self.engine.resume(flow, fstate, inbound, ctx.now)
            await self._apply(ctx, flow, turn)
            return

        if ctx.state.get("await") == "menu" and (text or choice):
            picked = self._match_menu(ctx, text)
            if picked:
                await self._menu_choice(ctx, picked)
                return
        if word == "report":
            await self._start_or_offer(ctx, COMPLAINT.id)
            return
        if word == "help":
            self._menu(ctx, T("bot.help"))
            return
        if word == "greet" or not text:
            name = f" {ctx.contact.name}" if ctx.contact.name else ""
            self._menu(ctx, T("bot.welcome", name=name))
            return
        self._menu(ctx, T("bot.unknown"))

    def _feature_command(self, text: str, in_flow: bool,
                         role: str | None = None) -> tuple[Command, str] | None:
        """'/relawan ABC' → (relawan, 'ABC'); 'daftar relawan ABC' too, outside a flow."""
        if not text or not self.commands:
            return None
        slash = text.startswith("/")
        if in_flow and not slash:
            return None
        body = text[1:] if slash else text
        head, _, rest = body.partition(" ")
        head = head.split("@", 1)[0]
        words = normalize(body).split()
        for command in self.commands:
            if command.others_pass and command.roles is not None and role not in command.roles:
                continue
            for name in command.names:
                parts = name.split()
                if slash and len(parts) == 1 and head.lower() == name:
                    return command, rest.strip()
                if not slash and words[: len(parts)] == parts:
                    # Keep the arguments as typed (codes are case-sensitive to the eye).
                    original = body.split(None, len(parts))
                    return command, original[len(parts)].strip() if len(original) > len(
                        parts) else ""
        return None

    def _slash(self, ctx: Context, text: str) -> str | None:
        """Telegram-style commands: '/lapor', '/start payload'."""
        command, _, payload = text[1:].partition(" ")
        command = command.split("@", 1)[0].lower()
        ctx.state["start_payload"] = payload.strip()[:64] or None
        return {
            "start": "greet",
            "menu": "menu",
            "lapor": "report",
            "status": "status",
            "bahasa": "language",
            "language": "language",
            "bantuan": "help",
            "help": "help",
            "berhenti": "stop",
            "stop": "stop",
            "mulai": "resume_sub",
            "batal": "cancel",
        }.get(command)

    # -- menu ----------------------------------------------------------------------------

    def menu_items(self, ctx: Context) -> list[tuple[str, T]]:
        extra = [(item.key, item.label) for item in self.menu_extra
                 if item.roles is None or ctx.contact.role in item.roles]
        return [
            ("lapor", T("menu.report")),
            ("status", T("menu.status")),
            *extra,
            ("bahasa", T("menu.language")),
            ("bantuan", T("menu.help")),
        ]

    def _menu(self, ctx: Context, intro: T) -> None:
        ctx.state["await"] = "menu"
        ctx.say(intro, T("bot.menu_question"),
                choices=[(f"menu:{key}", label) for key, label in self.menu_items(ctx)])

    def _match_menu(self, ctx: Context, text: str) -> str | None:
        items = self.menu_items(ctx)
        return match_option(text, [(k, [*self.tr.labels(label.key), k]) for k, label in items])

    async def _menu_choice(self, ctx: Context, key: str) -> None:
        ctx.state["await"] = None
        if key == "lapor":
            await self._start_or_offer(ctx, COMPLAINT.id)
        elif key == "status":
            await self._status(ctx, None)
        elif key == "bahasa":
            ctx.state["await"] = "language"
            ctx.say(T("bot.language_prompt"),
                    choices=[("lang:id", "Bahasa Indonesia"), ("lang:en", "English")])
        elif key == "bantuan":
            self._menu(ctx, T("bot.help"))
        else:
            await self.extra_menu_choice(ctx, key)

    async def extra_menu_choice(self, ctx: Context, key: str) -> None:
        """Menu entries added by features; unknown or forbidden keys show the menu again."""
        for item in self.menu_extra:
            if item.key == key and (item.roles is None or ctx.contact.role in item.roles):
                await item.handler(ctx)
                return
        self._menu(ctx, T("bot.unknown"))

    # -- flows ---------------------------------------------------------------------------

    def _active_flow(self, ctx: Context) -> tuple[Flow | None, dict[str, Any] | None]:
        fstate = ctx.state.get("flow")
        if not fstate:
            return None, None
        flow = self.flows.get(fstate["flow"])
        if flow is None:
            ctx.state.pop("flow", None)
            return None, None
        return flow, fstate

    def _expired(self, ctx: Context) -> bool:
        expires = ctx.state.get("expires_at")
        return bool(expires) and datetime.fromisoformat(expires) < ctx.now

    async def start_flow(self, ctx: Context, flow_id: str, extra: dict[str, Any] | None = None,
                         intro: list[T] | None = None) -> None:
        flow = self.flows[flow_id]
        flow_ctx = {"channel": ctx.contact.channel, "phone": ctx.contact.phone, **(extra or {})}
        turn = self.engine.start(flow, ctx.now, flow_ctx)
        if intro:
            turn.prompt.texts[:0] = intro
        ctx.state["await"] = None
        await self._apply(ctx, flow, turn)

    async def start_or_offer(self, ctx: Context, flow_id: str,
                             extra: dict[str, Any] | None = None) -> None:
        """Start a flow, or offer to finish the one under way first."""
        await self._start_or_offer(ctx, flow_id, extra)

    async def _start_or_offer(self, ctx: Context, flow_id: str,
                              extra: dict[str, Any] | None = None) -> None:
        flow, fstate = self._active_flow(ctx)
        if flow and fstate:
            self._offer_resume(ctx, flow, fstate, T("bot.resume_unfinished"))
            return
        await self.start_flow(ctx, flow_id, extra)

    def _offer_resume(self, ctx: Context, flow: Flow, fstate: dict[str, Any], why: T) -> None:
        ctx.state["await"] = "resume"
        recap = self.engine.recap(flow, fstate) or [T("bot.resume_nothing_yet")]
        ctx.say(why, *recap, T("bot.resume_question"),
                choices=[("resume:yes", T("bot.resume_yes")), ("resume:no", T("bot.resume_no"))])

    async def _answer_resume(self, ctx: Context, choice: str, text: str) -> bool:
        flow, fstate = self._active_flow(ctx)
        if flow is None or fstate is None:
            ctx.state["await"] = None
            return False
        answer = {"resume:yes": True, "resume:no": False}.get(choice)
        if answer is None:
            answer = parse_yes_no(text)
        if answer is None:
            ctx.say(T("answer.yes_no"), T("bot.resume_question"),
                    choices=[("resume:yes", T("bot.resume_yes")),
                             ("resume:no", T("bot.resume_no"))])
            return True
        ctx.state["await"] = None
        ctx.state["paused"] = False
        if answer:
            turn = self.engine.reask(flow, fstate, [T("bot.resumed")])
            await self._apply(ctx, flow, turn)
        else:
            ctx.state.pop("flow", None)
            await ctx.tx.audit.add(_actor(ctx.contact), "flow.discarded", ctx.now,
                                   subject=flow.id)
            self._menu(ctx, T("bot.discarded"))
        return True

    async def _apply(self, ctx: Context, flow: Flow, turn: Turn) -> None:
        hook = self.flow_hooks.get(flow.id)
        if hook is not None:
            await hook(ctx, flow, turn)
        if turn.completed is not None:
            ctx.state.pop("flow", None)
            texts = await self.actions[flow.id](ctx, turn.completed)
            turn.prompt.texts.extend(texts)
        elif turn.state is None:
            ctx.state.pop("flow", None)
            if turn.cancelled:
                await ctx.tx.audit.add(_actor(ctx.contact), "flow.cancelled", ctx.now,
                                       subject=flow.id)
        elif turn.paused:
            # "nanti": kept as it is, offered again later (no expiry while paused).
            ctx.state["flow"] = turn.state
            ctx.state["paused"] = True
        else:
            ctx.state["flow"] = turn.state
            ctx.state["paused"] = False
            ctx.state["expires_at"] = (ctx.now + timedelta(hours=self.session_hours)).isoformat()
        ctx.replies.append(turn.prompt)
        if turn.state is None:
            ctx.replies.append(self._menu_hint())

    def _menu_hint(self) -> Prompt:
        return Prompt(texts=[T("bot.after_flow")])

    def reask(self, ctx: Context, *intro: T) -> None:
        """After something outside the flow under way, ask its open question again, once."""
        flow, fstate = self._active_flow(ctx)
        self._reask_if_flow(ctx, flow, fstate, *intro)

    def _reask_if_flow(self, ctx: Context, flow: Flow | None, fstate: dict[str, Any] | None,
                       *intro: T) -> None:
        if flow and fstate and not ctx.state.get("paused") and not ctx.reasked:
            ctx.replies.append(self.engine.reask(flow, fstate, list(intro)).prompt)
            ctx.reasked = True

    def _unsupported(self, ctx: Context, flow: Flow | None, fstate: dict[str, Any] | None) -> None:
        kind = ctx.inbound.unsupported or "other"
        key = f"bot.unsupported.{kind}" if kind in _UNSUPPORTED else "bot.unsupported.other"
        if flow and fstate and not ctx.state.get("paused"):
            ctx.replies.append(self.engine.reask(flow, fstate, [T(key)]).prompt)
        else:
            ctx.say(T(key), T("bot.menu_hint"))

    # -- language ------------------------------------------------------------------------

    def _pick_language(self, ctx: Context, choice: str, text: str) -> bool:
        lang = choice.removeprefix("lang:") if choice.startswith("lang:") else None
        if lang is None:
            norm = normalize(text)
            lang = {"1": "id", "2": "en", "indonesia": "id", "bahasa indonesia": "id",
                    "english": "en", "inggris": "en", "id": "id", "en": "en"}.get(norm)
        if lang not in LANGUAGES:
            ctx.state["await"] = None
            return False
        self._set_language(ctx, lang)
        return True

    def _set_language(self, ctx: Context, lang: str) -> None:
        ctx.contact.language = lang
        ctx.state["await"] = None
        flow, fstate = self._active_flow(ctx)
        if flow and fstate and not ctx.state.get("paused"):
            ctx.replies.append(self.engine.reask(flow, fstate, [T("bot.language_set")]).prompt)
        else:
            self._menu(ctx, T("bot.language_set"))

    # -- complaints ----------------------------------------------------------------------

    async def _create_complaint(self, ctx: Context, answers: dict[str, Any]) -> list[T]:
        report_type = answers["jenis"]
        location = answers.get("lokasi") or {}
        kel = answers.get("kelurahan") or {}
        rt_rw = answers.get("rt_rw") or {}
        if answers.get("telepon"):
            ctx.contact.phone = answers["telepon"]
        complaint = await ctx.tx.complaints.create(
            new_ticket=lambda: new_ticket(report_type),
            contact_id=ctx.contact.id,
            now=ctx.now,
            actor=_actor(ctx.contact),
            report_type=report_type,
            category=answers.get("kategori"),
            description=answers["uraian"],
            kelurahan_code=kel.get("code"),
            rt=rt_rw.get("rt"),
            rw=rt_rw.get("rw"),
            latitude=location.get("latitude"),
            longitude=location.get("longitude"),
            flow_id=COMPLAINT.id,
            flow_version=COMPLAINT.version,
            answers=answers,
        )
        await ctx.tx.audit.add(_actor(ctx.contact), "complaint.created", ctx.now,
                               subject=complaint.ticket)
        self.metrics.tickets.labels(report_type).inc()
        return [T("complaint.created", ticket=complaint.ticket)]

    async def _status(self, ctx: Context, ticket: str | None) -> None:
        ctx.state["await"] = None
        if ticket:
            complaint = await ctx.tx.complaints.by_ticket(ticket)
            if complaint is None or complaint.contact_id != ctx.contact.id:
                ctx.say(T("status.not_found", ticket=ticket))
                return
            history = await ctx.tx.complaints.history(complaint.id)
            lines = [T("status.history_line", status=T(f"status.{h.status}"),
                       when=h.at, note=h.note or "") for h in history]
            ctx.say(T("status.detail", ticket=complaint.ticket,
                      status=T(f"status.{complaint.status}")), *lines)
            return
        complaints = await ctx.tx.complaints.for_contact(ctx.contact.id, limit=10)
        if not complaints:
            ctx.say(T("status.none"))
            return
        lines = [
            T("status.line", ticket=c.ticket, status=T(f"status.{c.status}"),
              kind=T(f"complaint.jenis.{c.report_type}"), when=c.created_at.date())
            for c in complaints
        ]
        ctx.say(T("status.list_intro"), *lines, T("status.detail_hint"))

    # -- persistence ---------------------------------------------------------------------

    async def _persist(self, ctx: Context) -> None:
        state = ctx.state
        state.pop("start_payload", None)
        fstate = state.get("flow")
        outbound = None
        if ctx.replies:
            wants_keyboard = any(p.request_location or p.request_contact for p in ctx.replies)
            outbound = self.render(ctx.contact, ctx.replies,
                                   remove_keyboard=bool(state.get("kb")) and not wants_keyboard)
            state["kb"] = wants_keyboard
            state["choices"] = [c.id for c in outbound.choices]
        await ctx.tx.sessions.save(
            ctx.contact.id,
            state,
            ctx.now,
            flow_id=fstate["flow"] if fstate else None,
            flow_version=fstate["version"] if fstate else None,
            step=fstate["step"] if fstate else None,
            status=("paused" if state.get("paused") else fstate["status"]) if fstate else None,
            expires_at=datetime.fromisoformat(state["expires_at"])
            if fstate and state.get("expires_at") else None,
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
            )

    def render(self, contact: ContactState, prompts: list[Prompt], *,
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
            extra={"lang": lang},
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
