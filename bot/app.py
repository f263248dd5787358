"""The app factory: one place that builds the services and the aiohttp application.

The CLI only parses arguments; tests call the same factory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from bot.dashboard.feature import DashboardFeature
from bot.dispatcher import Dispatcher
from bot.feature import Feature
from bot.features.activities import ActivitiesFeature
from bot.features.complaints import ComplaintsFeature
from bot.features.forms import forms_in
from bot.features.tickets import TicketsFeature
from bot.features.volunteers import VolunteersFeature
from bot.inbound_limit import InboundGate
from bot.metrics import Metrics
from bot.outbox import add_outbox_housekeeping
from bot.scheduler import add_housekeeping, add_timers, create_scheduler
from bot.services import SERVICES, Services
from bot.settings import Settings
from bot.telegram import TelegramPlugin
from bot.whatsapp import WhatsAppPlugin
from conversations import library
from storage.db import Database

__all__ = ["SERVICES", "Services", "build_services", "create_app", "default_features",
           "upgrade_in_child", "utc_now"]

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_features(settings: Settings) -> list[Feature]:
    """Every feature the service runs with, in menu order."""
    tickets = TicketsFeature(settings)
    return [ComplaintsFeature(), tickets, ActivitiesFeature(settings),
            VolunteersFeature(settings), *forms_in(settings.forms_dir),
            DashboardFeature(tickets)]


class ChannelPlugin(Protocol):
    """A chat channel's wiring: its HTTP routes, and what it runs while the app lives."""

    def add_routes(self, app: web.Application) -> None: ...

    def lifecycle(
        self, app: web.Application, services: Services
    ) -> contextlib.AbstractAsyncContextManager[None]: ...


async def build_services(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    migrate: bool = True,
    features: list[Feature] | None = None,
) -> Services:
    """Open the database (upgrading it), load catalogs and flows, build the dispatcher."""
    if migrate:
        from storage.migrate import upgrade

        await upgrade(settings.database_url)
    db = Database(settings.database_url)
    translator = library.translator()
    _load_calendars()
    metrics = Metrics()
    dispatcher = Dispatcher(
        db,
        translator,
        clock=clock,
        session_hours=settings.session_hours,
        media_dir=settings.media_dir,
        max_media_bytes=settings.max_media_bytes,
        metrics=metrics,
        coordinators=settings.coordinators,
    )
    if settings.inbound_per_minute > 0:
        dispatcher.inbound_gate = InboundGate(db, burst=settings.inbound_burst,
                                              per_minute=settings.inbound_per_minute,
                                              clock=clock)
    features = default_features(settings) if features is None else features
    for feature in features:
        dispatcher.add_feature(feature)
    services = Services(settings, db, translator, metrics, dispatcher, clock,
                        features=list(features))
    await bootstrap_coordinators(services)
    return services


def _load_calendars() -> None:
    """Babel reads a language's calendar data (day and month names: ``format_day``) the
    first time it is used (tens of milliseconds of CPU): at start-up, not in the
    middle of the first resident's answer."""
    from conversations.i18n import LANGUAGES, format_day

    for lang in LANGUAGES:
        format_day(date(2026, 1, 1), lang)


async def bootstrap_coordinators(services: Services) -> None:
    """WARGA_COORDINATORS entries become coordinators (created if never seen); those the
    list made coordinators and no longer holds are demoted (``storage.roles``)."""
    from storage import roles

    async with services.db.transaction() as tx:
        demoted = await roles.sync_environment(tx, services.settings.coordinators,
                                               services.clock())
    if demoted:
        log.warning("%d coordinator(s) no longer in WARGA_COORDINATORS were demoted "
                    "(see `warga coordinator list` and the audit log)", len(demoted))


# -- HTTP ---------------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    ok = await services.db.ping()
    body = {"status": "ok" if ok else "degraded", "database": "ok" if ok else "unreachable",
            "channels": sorted(services.channels)}
    return web.json_response(body, status=200 if ok else 503)


async def metrics_view(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    await services.metrics.refresh(services.db)
    registry = services.metrics.registry
    return web.Response(body=generate_latest(registry),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})


def _is_outage(error: BaseException) -> bool:
    """The database cannot be reached (as opposed to a bug in a query)."""
    if isinstance(error, OperationalError | InterfaceError):
        return True
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or isinstance(error.orig, OSError)
    return isinstance(error, OSError | TimeoutError)


@web.middleware
async def database_unavailable(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """No database, no acknowledgement: 503 makes Telegram and Meta deliver again later."""
    try:
        return await handler(request)
    except (DBAPIError, OSError, TimeoutError) as error:
        if not _is_outage(error):
            raise
        log.warning("database unavailable while serving %s: %s", request.path,
                    type(error).__name__)
        return web.json_response({"error": "database unavailable"}, status=503,
                                 headers={"Retry-After": "5"})


def upgrade_in_child(database_url: str) -> bool:
    """Bring the database to the latest revision in a process of its own
    (``python -m storage.migrate``); False when it cannot (an in-memory database lives in
    this process: ``build_services`` migrates it).

    Alembic, its templates and the migration scripts are never needed again once the
    service runs; imported here, they would stay in its memory for good.
    Raises ``RuntimeError`` when the migration fails (its own messages went to stderr).
    """
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and (not url.database or url.database == ":memory:"
                                                 or "mode=memory" in database_url):
        return False
    # The address goes through the environment: a password in argv is visible to every
    # user of the machine.
    done = subprocess.run([sys.executable, "-m", "storage.migrate"], check=False,
                          env={**os.environ, "WARGA_DATABASE_URL": database_url})
    if done.returncode != 0:
        raise RuntimeError(f"database migration failed (exit status {done.returncode})")
    return True


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    plugins: list[ChannelPlugin] | None = None,
    features: list[Feature] | None = None,
    migrate: bool = True,
) -> web.Application:
    """The service: HTTP routes, channels, outbox loop and scheduler, with clean shutdown.

    ``migrate=False``: the database is at the latest revision already
    (``upgrade_in_child``)."""
    app = web.Application(client_max_size=settings.max_body_bytes,
                          middlewares=[database_unavailable])
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_view)
    plugins = plugins if plugins is not None else default_plugins(settings)
    for plugin in plugins:
        plugin.add_routes(app)
    features = default_features(settings) if features is None else features
    for feature in features:
        # A feature's pages are added now: routes freeze at start-up.
        for page in feature.spec().pages:
            page.add_routes(app)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        services = await build_services(settings, clock=clock, features=features,
                                        migrate=migrate)
        app[SERVICES] = services
        async with contextlib.AsyncExitStack() as stack:
            for plugin in plugins:
                await stack.enter_async_context(plugin.lifecycle(app, services))
            if not services.channels:
                log.warning("no chat channel configured (set TELEGRAM_BOT_TOKEN or WHATSAPP_*)")
            sender = services.start_sender()
            sender_task = asyncio.create_task(sender.run(), name="outbox")
            gate = services.dispatcher.inbound_gate
            gate_task = (asyncio.create_task(gate.run(services.dispatcher.handle_held),
                                             name="inbound-held")
                         if gate is not None else None)
            scheduler = create_scheduler(settings.timezone)
            add_housekeeping(scheduler, services.db, services.metrics, clock)
            add_outbox_housekeeping(scheduler, services.db, clock,
                                    timedelta(days=settings.outbox_body_days))
            services.scheduler = scheduler
            add_timers(scheduler, services.dispatcher.timers, clock)
            for spec in services.dispatcher.specs:
                # Timers rebuilt from the database rows (reminders, deadlines, SLAs).
                if spec.startup is not None:
                    await spec.startup(scheduler)
            scheduler.start()
            log.info("warga serving on %s:%s with %s", settings.host, settings.port,
                     ", ".join(sorted(services.channels)) or "no channels")
            try:
                yield
            finally:
                if gate is not None and gate_task is not None:
                    gate.stop()
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(gate_task, timeout=10)
                await sender.stop()
                sender_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender_task
        await services.close()

    app.cleanup_ctx.append(lifecycle)
    return app


# Every chat channel the service knows, and whether the environment switches it on: a new
# channel is one more line here (its plugin wires routes, its handler decodes and sends).
CHANNEL_PLUGINS: tuple[tuple[Callable[[Settings], bool], Callable[[Settings], ChannelPlugin]],
                       ...] = (
    (lambda s: s.telegram_enabled, TelegramPlugin),
    (lambda s: s.whatsapp_enabled, WhatsAppPlugin),
)


def default_plugins(settings: Settings) -> list[ChannelPlugin]:
    """Channels switched on by the environment."""
    return [make(settings) for enabled, make in CHANNEL_PLUGINS if enabled(settings)]
