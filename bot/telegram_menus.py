"""Telegram's "/" command menus, one per role, from the dispatcher's command list.

Residents see the default menu (Indonesian, also the fallback, and English).
Volunteers and coordinators get their own list in their own language, set for their
private chat only (``BotCommandScopeChat``). A role or language that changes — by chat,
on the dashboard, with ``warga coordinator`` — changes that chat's menu: the sync looks
at contacts updated since its last look whenever the dispatcher queues a message (every
role change in the chat sends one) and once a minute (changes made by another process).
Someone back to resident gets the default menu again (``deleteMyCommands``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import or_, select

from bot.dispatcher import Dispatcher
from conversations.i18n import LANGUAGES, T, Translator
from conversations.messages import ChannelUnavailable, SendError, Throttled
from conversations.roles import RESIDENT
from handlers.telegram import CHANNEL, TelegramChannel
from storage.db import Database
from storage.models import Contact

log = logging.getLogger(__name__)

# The dispatcher's own words, around the features' commands.
FIRST: tuple[tuple[str, T], ...] = (("start", T("cmd.start")),)
LAST: tuple[tuple[str, T], ...] = (
    ("menu", T("cmd.menu")),
    ("bahasa", T("cmd.bahasa")),
    ("bantuan", T("cmd.bantuan")),
    ("batal", T("cmd.batal")),
)
DEFAULT_LANGUAGE = "id"
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
# A chat's menu: (role, language); None is the default menu.
Wanted = tuple[str, str] | None


def menu(dispatcher: Dispatcher, translator: Translator, role: str,
         language: str) -> list[tuple[str, str]]:
    """(command, description) of the menu someone with ``role`` sees, in ``language``."""
    features = [(name, T(key)) for name, key in dispatcher.command_menu(role)
                if _COMMAND.fullmatch(name)]
    rows = [*FIRST, *features, *LAST]
    seen: set[str] = set()
    out = []
    for name, text in rows:
        if name not in seen:
            seen.add(name)
            out.append((name, translator(language, text)))
    return out


class MenuSync:
    """Keeps every Telegram chat's command menu in step with its contact's role."""

    def __init__(self, db: Database, dispatcher: Dispatcher, translator: Translator,
                 channel: TelegramChannel, clock: Callable[[], datetime], *,
                 interval: float = 60.0, gap: float = 1.0) -> None:
        self.db = db
        self.dispatcher = dispatcher
        self.translator = translator
        self.channel = channel
        self.clock = clock
        self.interval = interval
        self.gap = gap
        # What each chat has now; a chat not listed has the default menu.
        self.applied: dict[str, Wanted] = {}
        self._since: datetime | None = None
        self._retry: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.set_default()
        try:
            await self.sync()
        except Exception as error:  # a cosmetic menu must not keep the service down
            log.warning("telegram menus not synced at start (%s)", type(error).__name__)
        self.dispatcher.on_enqueued.append(self.wake)
        self._task = asyncio.create_task(self._run(), name="telegram-menus")

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.dispatcher.on_enqueued.remove(self.wake)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        self._wake.set()

    async def set_default(self) -> None:
        """The residents' menu: Indonesian (also for every other language) and English."""
        try:
            await self.channel.set_commands(
                menu(self.dispatcher, self.translator, RESIDENT, DEFAULT_LANGUAGE))
            for language in LANGUAGES:
                await self.channel.set_commands(
                    menu(self.dispatcher, self.translator, RESIDENT, language),
                    language=language)
        except SendError as error:
            log.warning("setMyCommands failed: %s", type(error).__name__)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            try:
                await self.sync()
            except Exception as error:
                log.warning("telegram menus not synced (%s)", type(error).__name__)
            await asyncio.sleep(self.gap)

    async def sync(self) -> int:
        """Give every chat whose contact changed its menu; the number of calls made."""
        now = self.clock()
        stmt = select(Contact.external_id, Contact.role, Contact.language).where(
            Contact.channel == CHANNEL)
        if self._since is None:
            stmt = stmt.where(Contact.role != RESIDENT)
        else:
            stmt = stmt.where(or_(Contact.updated_at >= self._since,
                                  Contact.external_id.in_(sorted(self._retry))))
        async with self.db.session() as session:
            rows = (await session.execute(stmt)).all()
        self._since = now
        calls = 0
        for external_id, role, language in rows:
            wanted: Wanted = None if role == RESIDENT else (role, language or DEFAULT_LANGUAGE)
            if self.applied.get(external_id) == wanted or not external_id.lstrip("-").isdigit():
                self._retry.discard(external_id)
                continue
            calls += 1
            try:
                if wanted is None:
                    await self.channel.clear_commands(external_id)
                else:
                    await self.channel.set_commands(
                        menu(self.dispatcher, self.translator, *wanted), chat_id=external_id)
            except (Throttled, ChannelUnavailable) as error:
                self._retry.add(external_id)  # tried again at the next look
                log.info("telegram menu for a chat postponed (%s)", type(error).__name__)
                continue
            except SendError as error:
                # No private chat with us (never started, blocked): nothing to show it in.
                log.info("telegram menu for a chat not set (%s)", type(error).__name__)
            self._retry.discard(external_id)
            if wanted is None:
                self.applied.pop(external_id, None)
            else:
                self.applied[external_id] = wanted
        return calls
