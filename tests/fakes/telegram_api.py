"""A fake Telegram Bot API on an ephemeral loopback port.

PTB reaches it through ``TELEGRAM_API_URL``: ``{url}/bot{token}/{method}`` and files at
``{url}/file/bot{token}/{path}``. It records every request, answers the methods the bot
is meant to use the way Telegram would (HTML parsed into text + entities; refused when
it is not valid Telegram HTML, when ``callback_data`` is over 64 bytes or a row has more
than 8 buttons, when a text is over 4096 characters), serves queued updates to
``getUpdates`` (long polling, offsets confirm), serves files through ``getFile``, and can
be scripted to fail (429 with ``retry_after``, 403 blocked, 409 conflict). Any other
method, or a request it cannot make sense of, lands in ``problems``; leaving
``async with FakeBotAPI() as api`` fails the test when that is not empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.fakes.telegram_limits import FloodLimits

TOKEN = "123456789:AAH-fake-token_for-tests"
BOT_ID = 123456789
BOT_USERNAME = "WargaBot"

# Parameters that are plain strings; everything else PTB sends JSON-encoded.
_STRING_PARAMS = frozenset({
    "text", "caption", "parse_mode", "callback_query_id", "secret_token", "url", "file_id",
    "language_code", "photo", "description", "ip_address",
})
_TAGS = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
         "s": "strikethrough", "code": "code", "pre": "pre"}
_BAD_AMP = re.compile(r"&(?!(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)")
_BAD_LT = re.compile(r"<(?!/?(b|strong|i|em|u|s|code|pre)>)")


class BotAPIError(Exception):
    def __init__(self, status: int, description: str,
                 parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


@dataclass
class Failure:
    method: str
    status: int
    description: str
    retry_after: int | None = None
    chat_id: int | None = None
    times: int = 1


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int = 200


@dataclass
class FakeBotAPI:
    token: str = TOKEN
    # Every getUpdates answers 409 Conflict (another poller runs with this token).
    conflict: bool = False
    # Seconds every method call waits before answering (a slow Bot API).
    delay: float = 0.0
    calls: list[Call] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # Bot messages by (chat id, message id), as Telegram would return them.
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    webhook: dict[str, Any] | None = None
    # The "/" menus Telegram holds, by (chat id or None for the default scope, language
    # code or None): command names in order, as setMyCommands left them.
    menus: dict[tuple[int | None, str | None], list[str]] = field(default_factory=dict)
    # Called with every successful call and its result (benchmarks follow replies here).
    on_call: Callable[[Call, Any], None] | None = None
    # Telegram's flood limits on sendMessage / sendPhoto (429 with retry_after), off
    # unless given; ``throttled`` counts the refusals.
    limits: FloodLimits | None = None
    throttled: int = 0
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _failures: list[Failure] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1001))
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _server: TestServer | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> FakeBotAPI:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._server = TestServer(app, host="127.0.0.1", port=0)
        await self._server.start_server()
        return self

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    async def __aenter__(self) -> FakeBotAPI:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        await self.close()
        # A request Telegram would refuse, or one this fake does not know, fails the test.
        if exc_type is None:
            assert self.problems == [], self.problems

    @property
    def url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("")).rstrip("/")

    # -- scripting -----------------------------------------------------------------------

    def fail(self, method: str, status: int, description: str, *,
             retry_after: int | None = None, chat_id: int | None = None,
             times: int = 1) -> None:
        """The next ``times`` calls of ``method`` (to ``chat_id``, if given) fail like this."""
        self._failures.append(Failure(method, status, description, retry_after, chat_id, times))

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates."""
        self._updates.append(update)
        self._notify()

    def add_file(self, file_id: str, data: bytes) -> None:
        self.files[file_id] = data

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        return list(self._updates)

    # -- queries -------------------------------------------------------------------------

    def requests(self, method: str, *, ok: bool = True) -> list[dict[str, Any]]:
        """Parameters of the calls of ``method`` (successful ones unless ``ok=False``)."""
        return [c.params for c in self.calls
                if c.method == method and (not ok or c.status == 200)]

    def sent(self, chat_id: int) -> list[dict[str, Any]]:
        """Messages delivered to one chat (sendMessage and sendPhoto), in order."""
        return [c.params for c in self.calls
                if c.method in ("sendMessage", "sendPhoto") and c.status == 200
                and c.params.get("chat_id") == chat_id]

    async def wait_for(self, predicate: Callable[[], bool], within: float = 15.0) -> None:
        """Wait until ``predicate()`` holds; it is checked after every request."""
        async with asyncio.timeout(within):
            while True:
                changed = self._changed
                if predicate():
                    return
                await changed.wait()

    def _notify(self) -> None:
        # One event per generation: a waiter never misses a change that happens between
        # its check and its wait.
        self._changed.set()
        self._changed = asyncio.Event()

    # -- HTTP ----------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        try:
            params = await _params(request)
        except ValueError as exc:
            self.problems.append(f"{method}: unreadable request ({exc})")
            return _error(400, "Bad Request: unreadable request")
        call = Call(method, params)
        self.calls.append(call)
        if self.delay:
            await asyncio.sleep(self.delay)
        try:
            self._scripted_failure(method, params)
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                self.problems.append(f"unexpected Bot API method {method}")
                raise BotAPIError(404, "Not Found")
            result = await handler(params)
        except BotAPIError as err:
            call.status = err.status
            self._notify()
            return _error(err.status, err.description, err.parameters)
        if self.on_call is not None:
            self.on_call(call, result)
        self._notify()
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        file_id = request.match_info["path"].removeprefix("photos/").removesuffix(".jpg")
        self.calls.append(Call("download", {"path": request.match_info["path"]}))
        self._notify()
        if file_id not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[file_id], content_type="image/jpeg")

    def _scripted_failure(self, method: str, params: dict[str, Any]) -> None:
        for failure in self._failures:
            if failure.method != method or failure.times <= 0:
                continue
            if failure.chat_id is not None and params.get("chat_id") != failure.chat_id:
                continue
            failure.times -= 1
            extra = {"retry_after": failure.retry_after} if failure.retry_after else None
            raise BotAPIError(failure.status, failure.description, extra)

    # -- methods -------------------------------------------------------------------------

    async def _m_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return _bot_user() | {"can_join_groups": True, "can_read_all_group_messages": False,
                              "supports_inline_queries": False}

    async def _m_setMyCommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or not commands or len(commands) > 100:
            raise BotAPIError(400, "Bad Request: commands must be a non-empty list")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command.get("command", "")):
                raise BotAPIError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command.get("description", "")) <= 256:
                raise BotAPIError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.menus[_menu_key(params)] = [c["command"] for c in commands]
        return True

    async def _m_deleteMyCommands(self, params: dict[str, Any]) -> bool:
        self.menus.pop(_menu_key(params), None)
        return True

    async def _m_setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = params
        return True

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _m_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.conflict:
            raise BotAPIError(409, "Conflict: terminated by other getUpdates request; make "
                                   "sure that only one bot instance is running")
        offset = params.get("offset")
        if isinstance(offset, int):
            # An offset confirms every update before it: Telegram forgets them.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        timeout = float(params.get("timeout") or 0)
        if not self._updates and timeout > 0:
            # Long polling: hold the request until an update comes or the timeout passes.
            with contextlib.suppress(TimeoutError):
                await self.wait_for(lambda: bool(self._updates), timeout)
        limit = int(params.get("limit") or 100)
        return self._updates[:limit]

    def _flood_check(self, params: dict[str, Any]) -> None:
        chat_id = params.get("chat_id")
        if self.limits is None or not isinstance(chat_id, int):
            return
        refused = self.limits.check(chat_id, time.monotonic())
        if refused is not None:
            self.throttled += 1
            retry_after = max(1, math.ceil(refused[0]))
            raise BotAPIError(429, f"Too Many Requests: retry after {retry_after}",
                              {"retry_after": retry_after})

    async def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        self._flood_check(params)
        text, entities = _parse_text(params.get("text"), params.get("parse_mode"))
        if not text.strip():
            raise BotAPIError(400, "Bad Request: message text is empty")
        if _utf16(text) > 4096:
            raise BotAPIError(400, "Bad Request: message is too long")
        message = self._new_message(params) | {"text": text}
        if entities:
            message["entities"] = entities
        return self._keep(message, params)

    async def _m_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        self._flood_check(params)
        photo = params.get("photo")
        if not photo:
            raise BotAPIError(400, "Bad Request: there is no photo in the request")
        message = self._new_message(params)
        message["photo"] = [{"file_id": f"sent-{message['message_id']}",
                             "file_unique_id": f"u-sent-{message['message_id']}",
                             "width": 1280, "height": 960}]
        if params.get("caption"):
            caption, entities = _parse_text(params["caption"], params.get("parse_mode"))
            if _utf16(caption) > 1024:
                raise BotAPIError(400, "Bad Request: message caption is too long")
            message["caption"] = caption
            if entities:
                message["caption_entities"] = entities
        return self._keep(message, params)

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        if not params.get("callback_query_id"):
            raise BotAPIError(400, "Bad Request: QUERY_ID_INVALID")
        return True

    async def _m_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._existing(params)
        if "text" not in message:
            raise BotAPIError(400, "Bad Request: there is no text in the message to edit")
        if params.get("parse_mode"):
            text, entities = _parse_text(params.get("text"), params["parse_mode"])
        else:
            text, entities = params.get("text") or "", params.get("entities") or []
        if not text.strip():
            raise BotAPIError(400, "Bad Request: message text is empty")
        markup = params.get("reply_markup")
        if text == message["text"] and markup == message.get("reply_markup"):
            raise BotAPIError(400, "Bad Request: message is not modified")
        _check_inline(markup)
        message["text"] = text
        message["entities"] = entities
        message.pop("reply_markup", None)
        if markup:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        return message

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._existing(params)
        markup = params.get("reply_markup")
        if markup == message.get("reply_markup"):
            raise BotAPIError(400, "Bad Request: message is not modified")
        _check_inline(markup)
        message.pop("reply_markup", None)
        if markup:
            message["reply_markup"] = markup
        return message

    async def _m_getFile(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = params.get("file_id")
        if file_id not in self.files:
            raise BotAPIError(400, "Bad Request: invalid file_id")
        return {"file_id": file_id, "file_unique_id": f"u-{file_id}",
                "file_size": len(self.files[file_id]), "file_path": f"photos/{file_id}.jpg"}

    # -- helpers -------------------------------------------------------------------------

    def _new_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            raise BotAPIError(400, "Bad Request: chat_id is empty")
        chat: dict[str, Any] = (
            {"id": chat_id, "type": "private", "first_name": "Warga"} if chat_id > 0
            else {"id": chat_id, "type": "group", "title": "Grup RT 05"}
        )
        return {"message_id": next(self._ids), "from": _bot_user(), "chat": chat,
                "date": int(time.time())}

    def _keep(self, message: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        markup = params.get("reply_markup")
        _check_markup(markup, private=message["chat"]["type"] == "private")
        if markup and "inline_keyboard" in markup:
            message["reply_markup"] = markup  # Telegram echoes inline keyboards only
        self.messages[(message["chat"]["id"], message["message_id"])] = message
        return message

    def _existing(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (params.get("chat_id"), params.get("message_id"))
        message = self.messages.get(key)  # type: ignore[arg-type]
        if message is None:
            raise BotAPIError(400, "Bad Request: message to edit not found")
        return message


def _bot_user() -> dict[str, Any]:
    return {"id": BOT_ID, "is_bot": True, "first_name": "Warga", "username": BOT_USERNAME}


def _error(status: int, description: str,
           parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


def _menu_key(params: dict[str, Any]) -> tuple[int | None, str | None]:
    """Where a menu call applies: only the default scope and private chats are used."""
    scope = params.get("scope") or {"type": "default"}
    language = params.get("language_code") or None
    if language is not None and not re.fullmatch(r"[a-z]{2}", language):
        raise BotAPIError(400, "Bad Request: invalid language code")
    if scope.get("type") == "default":
        return None, language
    if scope.get("type") == "chat" and isinstance(scope.get("chat_id"), int):
        return scope["chat_id"], language
    raise BotAPIError(400, f"Bad Request: unexpected scope {scope!r}")


async def _params(request: web.Request) -> dict[str, Any]:
    """PTB posts form fields (multipart when uploading); non-string values are JSON."""
    if request.method == "GET":
        raw: dict[str, Any] = dict(request.query)
    elif request.content_type == "application/json":
        return dict(await request.json())
    else:
        raw = dict(await request.post())
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, web.FileField):
            params[key] = f"<upload {len(value.file.read())} bytes>"
        elif key in _STRING_PARAMS:
            params[key] = value
        else:
            try:
                params[key] = json.loads(value)
            except json.JSONDecodeError:
                params[key] = value
    return params


def _check_markup(markup: Any, *, private: bool) -> None:
    if not markup:
        return
    if "inline_keyboard" in markup:
        _check_inline(markup)
    elif "keyboard" in markup:
        for row in markup["keyboard"]:
            for button in row:
                if (button.get("request_location") or button.get("request_contact")) and (
                    not private
                ):
                    raise BotAPIError(400, "Bad Request: location and contact requests "
                                           "work only in private chats")
    elif not markup.get("remove_keyboard"):
        raise BotAPIError(400, "Bad Request: can't parse reply keyboard markup JSON object")


def _check_inline(markup: Any) -> None:
    if not markup:
        return
    rows = markup.get("inline_keyboard")
    if not isinstance(rows, list):
        raise BotAPIError(400, "Bad Request: can't parse inline keyboard markup")
    if sum(len(row) for row in rows) > 100:
        raise BotAPIError(400, "Bad Request: too many buttons")
    for row in rows:
        if len(row) > 8:
            raise BotAPIError(400, "Bad Request: too many buttons in a row")
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode("utf-8")) <= 64:
                raise BotAPIError(400, "Bad Request: BUTTON_DATA_INVALID")


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class _EntityParser(HTMLParser):
    """Telegram HTML → plain text and entities (offsets in UTF-16 code units)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text = ""
        self.entities: list[dict[str, Any]] = []
        self._open: list[tuple[str, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _TAGS:
            raise BotAPIError(400, f"Bad Request: can't parse entities: unsupported start tag "
                                   f"\"{tag}\"")
        self._open.append((tag, _utf16(self.text)))

    def handle_endtag(self, tag: str) -> None:
        if not self._open or self._open[-1][0] != tag:
            raise BotAPIError(400, f"Bad Request: can't parse entities: unexpected end tag "
                                   f"\"{tag}\"")
        _, start = self._open.pop()
        length = _utf16(self.text) - start
        if length:
            self.entities.append({"type": _TAGS[tag], "offset": start, "length": length})

    def handle_data(self, data: str) -> None:
        self.text += data


def _parse_text(text: Any, parse_mode: Any) -> tuple[str, list[dict[str, Any]]]:
    if not isinstance(text, str):
        raise BotAPIError(400, "Bad Request: message text is empty")
    if parse_mode is None:
        return text, []
    if parse_mode != "HTML":
        raise BotAPIError(400, f"Bad Request: unsupported parse_mode {parse_mode}")
    # Telegram refuses a bare < or & in HTML mode: this is what proves our escaping.
    if _BAD_LT.search(text) or _BAD_AMP.search(text):
        raise BotAPIError(400, "Bad Request: can't parse entities: unescaped < or &")
    parser = _EntityParser()
    parser.feed(text)
    parser.close()
    if parser._open:
        raise BotAPIError(400, "Bad Request: can't parse entities: unclosed tag")
    return parser.text, sorted(parser.entities, key=lambda e: e["offset"])
