"""What the running service is made of, shared by the app, the channels and the pages."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.dispatcher import Dispatcher
from bot.feature import Feature
from bot.limiter import DatabaseLimiter, Limiter, LocalLimiter
from bot.metrics import Metrics
from bot.outbox import OutboxSender
from bot.scheduler import Scheduler
from bot.settings import Settings
from conversations.i18n import Translator
from handlers.base import Channel
from storage.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    translator: Translator
    metrics: Metrics
    dispatcher: Dispatcher
    clock: Callable[[], datetime]
    channels: dict[str, Channel] = field(default_factory=dict)
    sender: OutboxSender | None = None
    scheduler: AsyncIOScheduler | None = None
    features: list[Feature] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    def attach(self, channel: Channel) -> None:
        """Register a channel: the outbox sends through it, photos are fetched with it."""
        self.channels[channel.name] = channel
        self.dispatcher.media_fetchers[channel.name] = channel.fetch_media

    def detach(self, name: str) -> None:
        self.dispatcher.media_fetchers.pop(name, None)

    def start_sender(self) -> OutboxSender:
        lease = min(self.settings.lease_seconds, self.settings.outbox_lease_seconds)
        self.sender = OutboxSender(self.db, self.channels, clock=self.clock, metrics=self.metrics,
                                   lease=timedelta(seconds=lease),
                                   limiters=self.limiters())
        self.dispatcher.on_enqueued.append(self.sender.wake)
        if self.db.is_sqlite:
            # One writer: the claim joins the answer's transaction instead of following it.
            self.dispatcher.claim_within = self.sender.claim_within
        return self.sender

    def limiters(self) -> dict[str, Limiter]:
        """Each channel's send limits: shared through PostgreSQL by the replicas that send
        with one token, or kept in this process (see WARGA_SEND_LIMITER)."""
        shared = self.settings.send_limiter == "database" or (
            self.settings.send_limiter == "auto" and not self.db.is_sqlite)
        out: dict[str, Limiter] = {}
        for name, channel in self.channels.items():
            if shared:
                scope = str(getattr(channel, "limit_scope", None) or name)
                out[name] = DatabaseLimiter(self.db, scope, channel.pacing)
            else:
                out[name] = LocalLimiter(channel.pacing, time.monotonic)
        return out

    async def close(self) -> None:
        if self.sender is not None:
            await self.sender.stop()
        await self.dispatcher.idle()
        if isinstance(self.scheduler, Scheduler):
            await self.scheduler.stop()
        elif self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.db.close()


SERVICES = web.AppKey("services", Services)

