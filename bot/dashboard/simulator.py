"""The simulator page: a resident, a volunteer and a coordinator in three chat panes.

Each pane is a simulated contact of its own on the ``simulator`` channel, one trio per
signed-in coordinator. What is typed or clicked goes through the real dispatcher; what
the bot says is written to the outbox and delivered by an outbox sender of this page
(replies, notices to the other panes, reminders and broadcasts from the scheduler),
and the page polls for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiohttp import web

from bot.dashboard.views import Dashboard, User
from bot.features.tickets import TicketsFeature
from bot.outbox import OutboxSender
from bot.services import SERVICES, Services
from conversations.messages import (
    ChannelUnavailable,
    Inbound,
    InboundKind,
    Location,
    Media,
    Outbound,
    Pacing,
    SendResult,
)
from conversations.privacy import mask_ids
from conversations.roles import COORDINATOR, VOLUNTEER

CHANNEL = "simulator"
PERSONAS = ("resident", "volunteer", "coordinator")
ROLES = {"resident": None, "volunteer": VOLUNTEER, "coordinator": COORDINATOR}
# Where the "sample location" button puts the resident: Kalibaru.
SAMPLE_LOCATION = Location(-6.1011, 106.9264)
# Messages kept per pane (the page shows a conversation, not an archive).
KEEP = 300
MAX_TEXT = 2000


def contact_id_of(persona: str, coordinator_id: int) -> str:
    """The simulated contact's id on the simulator channel: one trio per coordinator."""
    return f"{persona}-{coordinator_id}"


def _location(args: str) -> Location | None:
    """'' → the sample location; 'LAT,LON' → that place; anything else → None."""
    if not args.strip():
        return SAMPLE_LOCATION
    try:
        lat, lon = (float(x) for x in args.replace(" ", "").split(","))
    except ValueError:
        return None
    return Location(lat, lon) if -90 <= lat <= 90 and -180 <= lon <= 180 else None


@dataclass
class _Pane:
    messages: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=KEEP))


class SimulatorChannel:
    """Delivers to the page: every sent message is kept for the pane it is for."""

    name = CHANNEL

    def __init__(self) -> None:
        self.pacing = Pacing(rate=1000.0, per_recipient_interval=0.0, burst=1000)
        self._seq = itertools.count(1)
        self.panes: dict[str, _Pane] = {}

    def record(self, user_id: str, entry: dict[str, Any]) -> None:
        entry["seq"] = next(self._seq)
        self.panes.setdefault(user_id, _Pane()).messages.append(entry)

    def since(self, user_id: str, after: int) -> list[dict[str, Any]]:
        pane = self.panes.get(user_id)
        return [m for m in pane.messages if m["seq"] > after] if pane else []

    def parse(self, raw: tuple[str, str, str | None]) -> list[Inbound]:
        """(user id, typed text, clicked choice id) → one inbound; ``/lokasi`` shares the
        sample location, ``/lokasi LAT,LON`` another."""
        user_id, text, choice = raw
        base: dict[str, Any] = {"channel": CHANNEL, "user_id": user_id,
                                "message_id": uuid.uuid4().hex}
        if choice:
            return [Inbound(kind=InboundKind.CHOICE, choice_id=choice, **base)]
        if text.lower().startswith("/lokasi"):
            place = _location(text[len("/lokasi"):])
            if place is not None:
                return [Inbound(kind=InboundKind.LOCATION, location=place, **base)]
        return [Inbound(kind=InboundKind.TEXT, text=text, **base)]

    async def send(self, message: Outbound) -> SendResult:
        self.record(message.user_id, {
            "from": "bot",
            "text": mask_ids(message.text),
            "choices": [{"id": c.id, "label": mask_ids(c.label)} for c in message.choices],
            "location": message.request_location,
        })
        return SendResult(provider_message_id=uuid.uuid4().hex)

    async def fetch_media(self, media: Media) -> bytes:
        raise ChannelUnavailable("the simulator sends no photos")


@dataclass
class _Running:
    channel: SimulatorChannel
    sender: OutboxSender
    task: asyncio.Task[None]


RUNNING = web.AppKey("simulator", dict)


class SimulatorPage:
    """``/simulator``: the page, its messages (JSON) and what a pane sends."""

    def __init__(self, tickets: TicketsFeature) -> None:
        self.dashboard = Dashboard(tickets)
        self._lock = asyncio.Lock()

    def add_routes(self, app: web.Application) -> None:
        app[RUNNING] = {}
        app.router.add_get("/simulator", self.page)
        app.router.add_get("/simulator/pesan.json", self.messages)
        app.router.add_post("/simulator/kirim", self.send)
        app.on_shutdown.append(self._stop)

    # -- the channel and its sender, started with the first use ---------------------------

    async def _running(self, app: web.Application) -> _Running:
        state: dict[str, _Running] = app[RUNNING]
        async with self._lock:
            if CHANNEL not in state:
                services: Services = app[SERVICES]
                channel = SimulatorChannel()
                services.attach(channel)
                settings = services.settings
                lease = min(settings.lease_seconds, settings.outbox_lease_seconds)
                # A sender of its own: the service's was built with the channels it had
                # at start-up, and this one takes only the simulator's rows.
                sender = OutboxSender(services.db, {CHANNEL: channel}, clock=services.clock,
                                      metrics=services.metrics,
                                      lease=timedelta(seconds=lease))
                services.dispatcher.on_enqueued.append(sender.wake)
                task = asyncio.create_task(sender.run(), name="simulator-outbox")
                state[CHANNEL] = _Running(channel, sender, task)
        return state[CHANNEL]

    async def _stop(self, app: web.Application) -> None:
        running: _Running | None = app[RUNNING].pop(CHANNEL, None)
        if running is None:
            return
        services: Services = app[SERVICES]
        with contextlib.suppress(ValueError):
            services.dispatcher.on_enqueued.remove(running.sender.wake)
        await running.sender.stop()
        running.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running.task
        services.channels.pop(CHANNEL, None)
        services.detach(CHANNEL)

    async def _contacts(self, services: Services, user: User) -> None:
        """The coordinator's three simulated contacts, with their roles."""
        async with services.db.transaction() as tx:
            for persona in PERSONAS:
                name = services.translator(self.dashboard.settings.locale,
                                           f"dash.sim.name.{persona}")
                contact = await tx.contacts.upsert(CHANNEL, contact_id_of(persona,
                                                                          user.contact_id),
                                                   services.clock(), name=name, inbound=False)
                role = ROLES[persona]
                if role is not None and contact.role != role:
                    contact.role = role
                    await tx.audit.add(user.actor.label, f"role.{role}", services.clock(),
                                       subject=f"{CHANNEL}:{contact.id}",
                                       details={"via": "simulator"})

    async def _user(self, request: web.Request) -> User:
        user = await self.dashboard.user(request)
        if user is None:
            raise web.HTTPSeeOther("/masuk", headers=self.dashboard.security_headers())
        return user

    def _json(self, body: dict[str, Any], status: int = 200) -> web.Response:
        return web.json_response(body, status=status,
                                 headers=self.dashboard.security_headers(),
                                 dumps=functools.partial(json.dumps, ensure_ascii=False))

    # -- pages -------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request)
        services: Services = request.app[SERVICES]
        await self._contacts(services, user)
        await self._running(request.app)
        return self.dashboard.render(request, "simulator.html", user, personas=PERSONAS,
                                     address=lambda p: f"{CHANNEL}:"
                                     + contact_id_of(p, user.contact_id))

    async def messages(self, request: web.Request) -> web.StreamResponse:
        """Every pane's messages after ``after`` (a sequence number of this process)."""
        user = await self._user(request)
        running = await self._running(request.app)
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            after = 0
        panes = {p: running.channel.since(contact_id_of(p, user.contact_id), after)
                 for p in PERSONAS}
        last = max((m["seq"] for ms in panes.values() for m in ms), default=after)
        return self._json({"panes": panes, "last": last})

    async def send(self, request: web.Request) -> web.StreamResponse:
        """One pane's message: typed text, a clicked button, or the sample location."""
        user = await self._user(request)
        form = await self.dashboard.form(request, user)
        persona = str(form.get("persona", ""))
        text = str(form.get("text", "")).strip()[:MAX_TEXT]
        choice = str(form.get("choice", "")).strip()[:64] or None
        label = str(form.get("label", "")).strip()[:200]
        if persona not in PERSONAS or not (text or choice):
            return self._json({"error": "persona and text or choice"}, status=400)
        services: Services = request.app[SERVICES]
        running = await self._running(request.app)
        await self._contacts(services, user)
        user_id = contact_id_of(persona, user.contact_id)
        running.channel.record(user_id, {"from": "me", "text": mask_ids(label or text),
                                         "choices": [], "location": False})
        for inbound in running.channel.parse((user_id, text, choice)):
            await services.dispatcher.handle(inbound)
        return self._json({"ok": True})
