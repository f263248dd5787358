"""WhatsApp wiring: the webhook routes, one shared HTTP session, the channel and its
media fetcher, and delivery receipts applied to the outbox.

The webhook only verifies, decodes and stores (``Dispatcher.handle`` commits the inbound
id, the session and the reply in the outbox); the Graph API is never called inside the
request, so Meta gets its 200 in milliseconds even when the Graph API is slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import UniqueConstraint, and_, delete, exists, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.edge import ascii_or_none, clean_json
from bot.services import Services
from bot.settings import Settings
from conversations.messages import Pacing, Template
from handlers.whatsapp import (
    CHANNEL,
    PACING,
    SIGNATURE_HEADER,
    NumberChange,
    PayloadError,
    StatusUpdate,
    WhatsAppChannel,
    parse,
    verify_signature,
)
from storage.models import Contact, OutboxMessage
from storage.repos import Repos
from storage.schema import METADATA

log = logging.getLogger(__name__)

# Seconds before a receipt for a send we have not recorded yet is looked at again.
LATE_STATUS_DELAY = 2.0

PATH = "/webhooks/whatsapp"
# Generous for one message, short enough that a stuck Graph API call frees its slot.
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)
# Read receipts are cosmetic: they never take more than a few of the session's
# connections (replies need them), and when the Graph API lags they are dropped.
RECEIPTS_IN_FLIGHT = 16
MAX_PENDING_RECEIPTS = 500


class WhatsAppPlugin:
    """``GET|POST /webhooks/whatsapp`` and the ``whatsapp`` channel."""

    def __init__(self, settings: Settings, *, pacing: Pacing = PACING) -> None:
        if not settings.whatsapp_enabled:
            raise ValueError("WhatsApp needs all of WHATSAPP_ACCESS_TOKEN, "
                             "WHATSAPP_PHONE_NUMBER_ID, WHATSAPP_APP_SECRET, "
                             "WHATSAPP_VERIFY_TOKEN")
        assert settings.whatsapp_app_secret and settings.whatsapp_verify_token
        self.settings = settings
        self.pacing = pacing
        self._app_secret = settings.whatsapp_app_secret.reveal()
        self._verify_token = settings.whatsapp_verify_token.reveal().encode()
        self.services: Services | None = None
        self.channel: WhatsAppChannel | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._receipts = asyncio.Semaphore(RECEIPTS_IN_FLIGHT)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(PATH, self.verify)
        app.router.add_post(PATH, self.receive)

    @contextlib.asynccontextmanager
    async def lifecycle(self, app: web.Application, services: Services) -> AsyncIterator[None]:
        """One client session for every Graph API call, closed after the last one."""
        settings = self.settings
        assert settings.whatsapp_access_token and settings.whatsapp_phone_number_id
        session = aiohttp.ClientSession(timeout=HTTP_TIMEOUT)
        channel = WhatsAppChannel(
            session,
            api_url=settings.whatsapp_api_url,
            phone_number_id=settings.whatsapp_phone_number_id,
            access_token=settings.whatsapp_access_token.reveal(),
            template=Template(settings.whatsapp_template_name,
                              settings.whatsapp_template_language),
            clock=services.clock,
            max_media_bytes=settings.max_media_bytes,
            pacing=self.pacing,
        )
        services.attach(channel)
        self.services, self.channel = services, channel
        try:
            yield
        finally:
            # Media downloads and read receipts use the session: let them finish first.
            await services.dispatcher.idle()
            await self.idle(within=5)
            for task in self._background:
                task.cancel()
            services.detach(CHANNEL)
            await session.close()

    async def idle(self, within: float | None = None) -> None:
        """Wait for the read receipts under way (tests, benchmarks, shutdown)."""
        if self._background:
            await asyncio.wait(set(self._background), timeout=within)

    # -- webhook -----------------------------------------------------------------------

    async def verify(self, request: web.Request) -> web.Response:
        """Meta's subscription check: echo ``hub.challenge`` only for our verify token."""
        mode = request.query.get("hub.mode")
        token = ascii_or_none(request.query.get("hub.verify_token"))
        challenge = request.query.get("hub.challenge")
        if (mode == "subscribe" and token is not None and challenge is not None
                and hmac.compare_digest(token.encode(), self._verify_token)):
            return web.Response(text=challenge)
        return web.Response(status=403, text="forbidden")

    async def receive(self, request: web.Request) -> web.Response:
        """Signature on the raw bytes first, then decode, store, and answer 200."""
        limit = self.settings.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return web.Response(status=413, text="too large")
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            return web.Response(status=401, text="signature missing")
        body = await request.read()  # past client_max_size aiohttp answers 413 itself
        signature = ascii_or_none(signature)
        if signature is None or not verify_signature(self._app_secret, body, signature):
            return web.Response(status=403, text="signature invalid")
        try:
            # Lone surrogates are valid JSON but no valid text: gone before anything else.
            batch = parse(clean_json(json.loads(body)),
                          phone_number_id=self.settings.whatsapp_phone_number_id)
        except (ValueError, RecursionError, PayloadError):
            return web.Response(status=400, text="not a WhatsApp webhook payload")
        for error in batch.errors:
            log.warning("WhatsApp webhook reports error %s", error.describe())
        if batch.ignored:
            log.debug("WhatsApp webhook: ignored %s", ", ".join(batch.ignored))
        services = self.services
        assert services is not None and self.channel is not None
        try:
            for change in batch.number_changes:
                async with services.db.transaction() as tx:
                    await change_number(tx, change, services.clock())
            for inbound in batch.messages:
                if await services.dispatcher.handle(inbound):
                    self._mark_read(inbound.message_id)
            if batch.statuses:
                await self._apply_statuses(services, batch.statuses)
        except Exception as exc:
            # Not stored (the transaction rolled back): a non-200 makes Meta deliver again,
            # and what was stored before the failure is deduplicated then.
            log.error("WhatsApp webhook not stored (%s); asking Meta to retry",
                      type(exc).__name__)
            log.debug("webhook failure", exc_info=True)
            services.metrics.errors.labels(CHANNEL).inc()
            return web.Response(status=503, text="try again later")
        return web.Response(text="ok")

    async def _apply_statuses(self, services: Services, statuses: list[StatusUpdate],
                              *, late: bool = False) -> None:
        """Delivery receipts move our outbox rows forward. A late 131047 closes the window
        and sends the message again as the template; a late 131026 stops bulk, as the same
        errors do when the API answers them at once."""
        now = services.clock()
        unknown: list[StatusUpdate] = []
        async with services.db.transaction() as tx:
            for status in statuses:
                if "\x00" in status.message_id:
                    continue  # not an id we ever gave out (and PostgreSQL refuses NUL)
                error = "; ".join(e.describe() for e in status.errors) or None
                await tx.outbox.update_delivery(status.message_id, status.status, error)
                row = await tx.outbox.by_provider_id(status.message_id)
                if row is None:
                    unknown.append(status)
                    continue
                if (status.window_closed or status.unreachable) and row.contact_id is not None:
                    flag = "window_closed" if status.window_closed else "stopped"
                    await tx.contacts.set_fields(row.contact_id, now, **{flag: True})
                if status.window_closed and row.status == "failed":
                    # Not lost: the outbox sends it again, now as the approved template.
                    await tx.outbox.mark_retry(row.id, now, "131047: resent as template")
                if status.errors:
                    log.warning("WhatsApp delivery %s: %s", status.status, error)
        if unknown and not late:
            # The receipt overtook our own record of the send (written in batches a few
            # milliseconds later): look again shortly, once.
            task = asyncio.create_task(self._late_statuses(services, unknown))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _late_statuses(self, services: Services, statuses: list[StatusUpdate]) -> None:
        await asyncio.sleep(LATE_STATUS_DELAY)
        try:
            await self._apply_statuses(services, statuses, late=True)
        except Exception as error:
            log.warning("WhatsApp receipts dropped (%s)", type(error).__name__)

    def _mark_read(self, message_id: str) -> None:
        """Fire and forget a read receipt; a backlog of them is dropped, never queued."""
        if len(self._background) >= MAX_PENDING_RECEIPTS:
            log.debug("WhatsApp read receipt skipped: %d pending", len(self._background))
            return
        task = asyncio.create_task(self._receipt(message_id))
        # Keep a reference so the task is not collected mid-flight.
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _receipt(self, message_id: str) -> None:
        assert self.channel is not None
        async with self._receipts:
            await self.channel.mark_read(message_id)


async def change_number(tx: Repos, change: NumberChange, now: datetime) -> bool:
    """The person now writes from ``change.new``: their contact (tickets, sessions,
    consent, role) moves there, and messages still waiting go to the new number. A
    contact the new number made in the meantime is folded into the old one."""
    if not await tx.inbound.remember(CHANNEL, change.message_id, now):
        return False
    contact = await tx.contacts.get_by_external(CHANNEL, change.old, for_update=True)
    if contact is None:
        return False  # never wrote to us from the old number: nothing to move
    newer = await tx.contacts.get_by_external(CHANNEL, change.new, for_update=True)
    if newer is not None and newer.id != contact.id:
        await _fold(tx.session, newer.id, contact.id)
        await tx.session.delete(newer)
        await tx.session.flush()
    if contact.external_id == change.old:
        contact.external_id = change.new
    else:  # known by a BSUID, the number beside it
        contact.alt_id = change.new
    if contact.phone and _digits(contact.phone) == change.old:
        contact.phone = f"+{change.new}"
    contact.updated_at = now
    await tx.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.contact_id == contact.id, OutboxMessage.recipient == change.old,
               OutboxMessage.status.in_(("pending", "sending")))
        .values(recipient=change.new))
    await tx.audit.add("whatsapp", "contact.number_changed", now,
                       subject=f"{CHANNEL}:{contact.id}")
    return True


async def _fold(session: AsyncSession, source: int, target: int) -> None:
    """Every row of contact ``source`` becomes ``target``'s; where ``target`` already has
    the one row a key allows (a session, an RSVP), ``target``'s is kept."""
    contacts = METADATA.tables[Contact.__tablename__]
    for table in METADATA.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column is not contacts.c.id:
                continue
            column = fk.parent
            for key in _keys_with(table, column):
                others = [c for c in key if c is not column]
                mine = table.alias()
                clash = exists().where(mine.c[column.name] == target,
                                       *[mine.c[c.name] == c for c in others])
                await session.execute(delete(table).where(and_(column == source, clash)))
            await session.execute(update(table).where(column == source)
                                  .values({column.name: target}))


def _keys_with(table: Any, column: Any) -> list[list[Any]]:
    """The primary key and unique constraints of ``table`` that include ``column``."""
    keys = [list(table.primary_key.columns)]
    keys += [list(c.columns) for c in table.constraints
             if isinstance(c, UniqueConstraint)]
    return [key for key in keys if column in key]


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())
