"""Telegram wiring: the PTB ``Application``, the webhook route or the poller, and the
hand-over of every update to the dispatcher.

- Webhook (``TELEGRAM_MODE=webhook``): ``POST /webhooks/telegram`` on our own aiohttp
  server; PTB is built with ``updater(None)``. The secret header is checked first, then
  the update is handled by the dispatcher, which commits the update id, the session and
  the reply in one transaction — so a 200 means "durably stored", and a re-delivery of
  the same ``update_id`` is answered once.
- Polling (``TELEGRAM_MODE=polling``): PTB's updater fetches; we consume its queue
  ourselves, one lane per chat (in order) and many chats at once. A 409 Conflict means a
  second poller runs with this token: we say so and stop the service (exit status 1).

Our engine owns conversation state: no ConversationHandler, no persistence in PTB.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import json
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web
from telegram import Update
from telegram.error import Conflict, TelegramError
from telegram.ext import Application, ApplicationBuilder

from bot.edge import ascii_or_none, clean_inbound, clean_json
from bot.settings import Settings
from bot.telegram_menus import MenuSync
from bot.telegram_request import AiohttpRequest
from conversations.messages import Inbound, Pacing
from handlers.telegram import CHANNEL, PACING, TelegramChannel

PTBApplication = Application[Any, Any, Any, Any, Any, Any]

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Edited messages are left out on purpose: an edit (a live location moving, a corrected
# typo) never advances a flow.
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
# Updates fetched but not yet handed to a lane; a full queue pauses getUpdates, so
# Telegram keeps the rest (fetched updates are confirmed on the next getUpdates call).
POLL_QUEUE = 200
MAX_IN_FLIGHT = 64
# Connections to the Bot API: the outbox sends up to 64 at once, taps are answered
# beside them.
POOL = 64
HANDLE_ATTEMPTS = 4

def _stop_service(reason: str) -> None:
    """Ask `warga serve` to shut down cleanly (aiohttp's run_app handles SIGTERM)."""
    signal.raise_signal(signal.SIGTERM)


class TelegramPlugin:
    """The Telegram channel as a ChannelPlugin of ``bot.app.create_app``."""

    def __init__(
        self,
        settings: Settings,
        *,
        on_fatal: Callable[[str], None] = _stop_service,
        pacing: Pacing = PACING,
    ) -> None:
        if settings.telegram_bot_token is None:
            raise ValueError("TelegramPlugin needs TELEGRAM_BOT_TOKEN")
        self.settings = settings
        self.webhook = settings.telegram_mode == "webhook"
        self.on_fatal = on_fatal
        self.pacing = pacing
        # Non-zero once the channel had to stop the service; `warga serve` exits with it.
        self.exit_status = 0
        self.channel: TelegramChannel | None = None
        self.menus: MenuSync | None = None
        self._services: Services | None = None
        self._lanes: Lanes | None = None
        self._acks: set[asyncio.Task[None]] = set()

    # -- ChannelPlugin -------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        if self.webhook:
            app.router.add_post(WEBHOOK_PATH, self._webhook)

    @contextlib.asynccontextmanager
    async def lifecycle(self, app: web.Application, services: Services) -> AsyncIterator[None]:
        requests = (AiohttpRequest(connections=POOL, pool_timeout=5.0),
                    AiohttpRequest(connections=1))
        application = self._build(*requests)
        try:
            # getMe: a wrong token or API URL fails the start-up here, loudly.
            await application.initialize()
        except Exception as exc:
            log.error("Telegram start-up failed (%s: %s); check TELEGRAM_BOT_TOKEN and "
                      "TELEGRAM_API_URL", type(exc).__name__, exc)
            for request in requests:
                await request.shutdown()
            raise
        try:
            bot = application.bot
            channel = TelegramChannel(bot, username=bot.username, bot_id=bot.id,
                                      max_media_bytes=self.settings.max_media_bytes,
                                      pacing=self.pacing)
            self.channel = channel
            services.attach(channel)
            self._services = services
            self.menus = MenuSync(services.db, services.dispatcher, services.translator,
                                  channel, services.clock)
            await self.menus.start()
            if self.webhook:
                await self._set_webhook(application)
                yield
            else:
                async with self._polling(application):
                    yield
        finally:
            if self.menus is not None:
                await self.menus.stop()
                self.menus = None
            # Answers to taps and photo downloads use PTB's HTTP client: let them finish
            # before it closes.
            await self.idle()
            await services.dispatcher.idle()
            services.detach(CHANNEL)
            self._services = None
            await application.shutdown()

    # -- PTB -----------------------------------------------------------------------------

    def _build(self, request: AiohttpRequest, updates_request: AiohttpRequest
               ) -> PTBApplication:
        token = self.settings.telegram_bot_token
        assert token is not None
        api = self.settings.telegram_api_url
        builder = (
            ApplicationBuilder()
            .token(token.reveal())
            .base_url(f"{api}/bot")
            .base_file_url(f"{api}/file/bot")
            .job_queue(None)  # our scheduler owns timed work
            .request(request)
            .get_updates_request(updates_request)
        )
        if self.webhook:
            builder = builder.updater(None)
        else:
            builder = builder.update_queue(asyncio.Queue(maxsize=POLL_QUEUE))
        return builder.build()

    async def _set_webhook(self, application: PTBApplication) -> None:
        public = self.settings.public_url
        if not public:
            log.info("WARGA_PUBLIC_URL is not set: register %s with setWebhook yourself",
                     WEBHOOK_PATH)
            return
        secret = self.settings.telegram_webhook_secret
        assert secret is not None
        try:
            await application.bot.set_webhook(
                url=f"{public}{WEBHOOK_PATH}", secret_token=secret.reveal(),
                allowed_updates=ALLOWED_UPDATES, max_connections=40)
        except TelegramError as err:
            # Telegram keeps an earlier registration; say so and keep serving.
            log.error("setWebhook failed (%s: %s); Telegram keeps the previous webhook",
                      type(err).__name__, err)

    # -- webhook -------------------------------------------------------------------------

    async def _webhook(self, request: web.Request) -> web.Response:
        secret = self.settings.telegram_webhook_secret
        given = ascii_or_none(request.headers.get(SECRET_HEADER)) or ""
        # Constant-time compare, before the body is even read.
        if secret is None or not hmac.compare_digest(given.encode(), secret.reveal().encode()):
            return web.Response(status=403, text="forbidden")
        channel, services = self.channel, self._services
        if channel is None or services is None:
            return web.Response(status=503, text="starting")
        limit = self.settings.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return web.Response(status=413, text="too large")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, text="too large")
        try:
            # Lone surrogates are valid JSON but no valid text: gone before anything else.
            data = clean_json(json.loads(body))
            # The JSON itself: the channel reads common updates without building PTB
            # objects, and hands anything else to PTB (which refuses what is malformed).
            inbounds = channel.parse(data)
        except Exception as exc:
            # An update we cannot read will not get better when Telegram retries it.
            log.warning("telegram update refused as malformed (%s)", type(exc).__name__)
            return web.Response(status=400, text="not a Telegram update")
        try:
            await self._process(data, inbounds)
        except Exception as exc:
            # Not stored (the transaction rolled back): a non-200 makes Telegram deliver
            # the update again, and the dedupe on update_id makes that safe.
            log.error("telegram update %s not stored (%s); Telegram will retry",
                      data["update_id"], type(exc).__name__)
            log.debug("webhook failure", exc_info=True)
            services.metrics.errors.labels(CHANNEL).inc()
            return web.Response(status=503, text="try again later")
        return web.Response(status=200)

    # -- polling -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _polling(self, application: PTBApplication) -> AsyncIterator[None]:
        updater = application.updater
        assert updater is not None
        queue = application.update_queue
        lanes = self._lanes = Lanes(MAX_IN_FLIGHT)
        consumer = asyncio.create_task(self._consume(queue, lanes), name="telegram-updates")
        try:
            await updater.start_polling(
                allowed_updates=ALLOWED_UPDATES, bootstrap_retries=3,
                error_callback=self._polling_error)
            log.info("telegram: polling for updates")
            yield
        finally:
            if updater.running:
                # Stops fetching and confirms what was fetched, so it is not served again.
                await updater.stop()
            # Everything fetched is handled before we go: it is confirmed to Telegram.
            await queue.put(_STOP)
            await consumer
            await lanes.drain()
            self._lanes = None

    async def _consume(self, queue: asyncio.Queue[object], lanes: Lanes) -> None:
        while True:
            update = await queue.get()
            if update is _STOP:
                return
            if isinstance(update, Update):
                # Handed over in arrival order: one chat's lane keeps that order.
                await lanes.submit(_lane_key(update), functools.partial(
                    self._process_retrying, update))

    def _polling_error(self, exc: TelegramError) -> None:
        """PTB's error callback (must not raise)."""
        if isinstance(exc, Conflict):
            if self.exit_status:
                return
            self.exit_status = 1
            log.critical(
                "Telegram answered 409 Conflict: another process is polling getUpdates with "
                "this bot token. Only one poller may run per token; for several replicas use "
                "TELEGRAM_MODE=webhook. Stopping this service.")
            self.on_fatal("telegram: 409 Conflict")
        else:
            log.warning("telegram polling failed (%s); PTB retries", type(exc).__name__)

    async def _process_retrying(self, update: Update) -> None:
        """Polled updates are already confirmed to Telegram: retry here, not there."""
        for attempt in range(1, HANDLE_ATTEMPTS + 1):
            try:
                await self._process(update)
                return
            except Exception as exc:
                if attempt == HANDLE_ATTEMPTS:
                    log.error("telegram update %s lost after %d attempts: %s",
                              update.update_id, attempt, type(exc).__name__)
                    if self._services is not None:
                        self._services.metrics.errors.labels(CHANNEL).inc()
                    return
                log.warning("telegram update %s failed (%s); retrying", update.update_id,
                            type(exc).__name__)
                await asyncio.sleep(0.5 * 2 ** attempt)

    # -- both ----------------------------------------------------------------------------

    async def _process(self, update: Update | Mapping[str, Any],
                       inbounds: list[Inbound] | None = None) -> None:
        """Parse, hand to the dispatcher (commit), then acknowledge a pressed button.

        ``update`` is a PTB ``Update`` (polling) or the update's JSON (webhook)."""
        channel, services = self.channel, self._services
        assert channel is not None and services is not None
        if inbounds is None:
            try:
                inbounds = channel.parse(update)
            except Exception as exc:
                log.warning("telegram update %s dropped as malformed (%s)",
                            _update_id(update), type(exc).__name__)
                return
        fresh = True
        for inbound in inbounds:
            fresh = await services.dispatcher.handle(clean_inbound(inbound)) and fresh
        tapped = (update.callback_query is not None if isinstance(update, Update)
                  else "callback_query" in update)
        if tapped and fresh:
            # Stored: answer the tap beside the 200, not before it (two Bot API calls).
            task = asyncio.create_task(channel.acknowledge(update))
            self._acks.add(task)
            task.add_done_callback(self._acks.discard)

    async def idle(self) -> None:
        """Wait until every pressed button has been answered (tests, shutdown)."""
        while self._acks:
            await asyncio.wait(set(self._acks))


_STOP = object()


def _update_id(update: Update | Mapping[str, Any]) -> object:
    return update.update_id if isinstance(update, Update) else update.get("update_id")


def _lane_key(update: Update) -> str:
    chat = update.effective_chat
    if chat is not None:
        return str(chat.id)
    user = update.effective_user
    return str(user.id) if user is not None else f"update:{update.update_id}"


class Lanes:
    """Runs jobs of one key in submission order, different keys in parallel, at most
    ``limit`` at once (submit waits for room: back-pressure on the poller)."""

    def __init__(self, limit: int) -> None:
        self._room = asyncio.Semaphore(limit)
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, key: str, job: Callable[[], Awaitable[None]]) -> None:
        await self._room.acquire()
        previous = self._tails.get(key)
        task = asyncio.create_task(self._run(key, previous, job))
        self._tails[key] = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, key: str, previous: asyncio.Task[None] | None,
                   job: Callable[[], Awaitable[None]]) -> None:
        try:
            if previous is not None:
                await asyncio.wait([previous])  # its failure is its own
            await job()
        except Exception:
            log.exception("telegram update handling failed")
        finally:
            self._room.release()
            if self._tails.get(key) is asyncio.current_task():
                del self._tails[key]

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.wait(set(self._tasks))
