"""A fake Telegram Bot API that enforces Telegram's flood limits, on a loopback port.

Limits (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this):
no more than ``rate`` messages in any ``window`` seconds across all chats (30 per second,
a strict sliding window over arrival times), and per chat a bucket of
``per_chat_burst`` messages refilled one per ``per_chat_interval`` (Telegram: about one a
second, "short bursts" tolerated; with the default burst of 1, no two messages to one
chat less than a second apart). A message over either limit is refused as Telegram
does: HTTP 429 with ``parameters.retry_after`` (whole seconds), and is not delivered.

It answers what ``warga serve`` asks at start-up and while polling (getMe, setMyCommands,
deleteWebhook, getUpdates held for its timeout), records every delivered message with its
arrival time, and can run a hook on each delivery *before* answering it — a test kills the
bot there, so that the message reached the platform but the bot never heard back.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

TOKEN = "424242:limits-fake-token"
BOT_ID = 424242
# Telegram's documented limits for one bot.
RATE = 30
WINDOW = 1.0
PER_CHAT_INTERVAL = 1.0


@dataclass
class FloodLimits:
    """Telegram's flood limits over arrival times: a strict sliding window for the bot, a
    bucket per chat. ``check`` says how long to wait, or None and counts the message."""

    rate: int = RATE
    window: float = WINDOW
    per_chat_interval: float = PER_CHAT_INTERVAL
    per_chat_burst: int = 1
    _recent: deque[float] = field(default_factory=deque)
    # chat → the bucket's theoretical arrival time (GCRA)
    _tat: dict[int, float] = field(default_factory=dict)

    def check(self, chat_id: int, now: float) -> tuple[float, str] | None:
        """(seconds to wait, "chat" or "rate") when refused; None: accepted, counted."""
        # Telegram forgets what is older than the window.
        while self._recent and now - self._recent[0] >= self.window:
            self._recent.popleft()
        tat = self._tat.get(chat_id, now)
        early = tat - (self.per_chat_burst - 1) * self.per_chat_interval - now
        if early > 0:
            return early, "chat"
        if len(self._recent) >= self.rate:
            return self.window - (now - self._recent[0]), "rate"
        self._recent.append(now)
        self._tat[chat_id] = max(tat, now) + self.per_chat_interval
        return None


@dataclass(frozen=True)
class Delivered:
    chat_id: int
    text: str
    at: float  # monotonic arrival time
    buttons: tuple[str, ...]  # callback_data of inline buttons


@dataclass(frozen=True)
class Refused:
    chat_id: int
    at: float
    retry_after: int
    why: str  # "rate" or "chat"


@dataclass
class LimitedBotAPI:
    rate: int = RATE
    window: float = WINDOW
    per_chat_interval: float = PER_CHAT_INTERVAL
    per_chat_burst: int = 1
    token: str = TOKEN
    clock: Callable[[], float] = time.monotonic
    delivered: list[Delivered] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # Called with each delivery before the answer goes back (e.g. to kill the bot).
    on_delivery: Callable[[Delivered], None] | None = None
    _limits: FloodLimits | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _server: TestServer | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> LimitedBotAPI:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        self._server = TestServer(app, host="127.0.0.1", port=0)
        await self._server.start_server()
        return self

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("")).rstrip("/")

    # -- queries -------------------------------------------------------------------------

    def texts(self, chat_id: int) -> list[str]:
        return [d.text for d in self.delivered if d.chat_id == chat_id]

    def per_chat(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for d in self.delivered:
            counts[d.chat_id] = counts.get(d.chat_id, 0) + 1
        return counts

    async def wait_for(self, predicate: Callable[[], bool], within: float) -> None:
        """Wait (bounded, to fail a hung test) until ``predicate()`` holds."""
        async with asyncio.timeout(within):
            while not predicate():
                changed = self._changed
                await changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- HTTP ----------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await _params(request)
        if method == "sendMessage":
            return self._send_message(params)
        if method == "getMe":
            return _ok({"id": BOT_ID, "is_bot": True, "first_name": "Warga",
                        "username": "WargaLimitsBot", "can_join_groups": False,
                        "can_read_all_group_messages": False, "supports_inline_queries": False})
        if method in ("setMyCommands", "deleteWebhook", "setWebhook", "answerCallbackQuery",
                      "close", "logOut"):
            return _ok(True)
        if method == "getUpdates":
            # Long polling with nothing to give: hold the request for its timeout.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(min(float(params.get("timeout") or 0), 5.0))
            return _ok([])
        self.problems.append(f"unexpected Bot API method {method}")
        return _error(404, "Not Found: method not found")

    def _send_message(self, params: dict[str, Any]) -> web.Response:
        chat_id = params.get("chat_id")
        text = params.get("text")
        if not isinstance(chat_id, int) or not isinstance(text, str) or not text.strip():
            self.problems.append(f"malformed sendMessage {sorted(params)}")
            return _error(400, "Bad Request: chat_id and text are required")
        now = self.clock()
        if self._limits is None:
            self._limits = FloodLimits(self.rate, self.window, self.per_chat_interval,
                                       self.per_chat_burst)
        refused = self._limits.check(chat_id, now)
        if refused is not None:
            return self._refuse(chat_id, now, *refused)
        markup = params.get("reply_markup") or {}
        buttons = tuple(b.get("callback_data", "") for row in markup.get("inline_keyboard", ())
                        for b in row)
        delivered = Delivered(chat_id, text, now, buttons)
        self.delivered.append(delivered)
        if self.on_delivery is not None:
            self.on_delivery(delivered)
        self._notify()
        return _ok({"message_id": next(self._ids), "date": int(time.time()), "text": text,
                    "chat": {"id": chat_id, "type": "private", "first_name": "Warga"},
                    "from": {"id": BOT_ID, "is_bot": True, "first_name": "Warga"}})

    def _refuse(self, chat_id: int, now: float, wait: float, why: str) -> web.Response:
        retry_after = max(1, math.ceil(wait))
        self.refused.append(Refused(chat_id, now, retry_after, why))
        self._notify()
        return _error(429, f"Too Many Requests: retry after {retry_after}",
                      {"retry_after": retry_after})


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str,
           parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


async def _params(request: web.Request) -> dict[str, Any]:
    """PTB posts form fields whose non-string values are JSON; others may post JSON."""
    if request.method == "GET":
        raw: dict[str, Any] = dict(request.query)
    elif request.content_type == "application/json":
        return dict(await request.json())
    else:
        raw = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("text", "parse_mode"):
            params[key] = value
            continue
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params
