"""The Telegram channel: Bot API updates → ``Inbound``, ``Outbound`` → Bot API calls, PTB
errors → typed send errors.

Only this module knows python-telegram-bot's objects and errors; it knows nothing of
complaints. Limits: https://core.telegram.org/bots/api and https://core.telegram.org/bots/faq
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    CallbackQuery,
    ChatMemberUpdated,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType, MessageEntityType, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from conversations.messages import (
    ChannelMisconfigured,
    ChannelUnavailable,
    Choice,
    Inbound,
    InboundKind,
    Location,
    Media,
    Outbound,
    Pacing,
    PermanentFailure,
    RecipientBlocked,
    SendError,
    SendResult,
    Throttled,
)

log = logging.getLogger(__name__)

# Opt in to PTB's v22.2 time periods as timedelta (read at call time): without it, merely
# constructing a RetryAfter (every 429) emits a PTBDeprecationWarning.
os.environ.setdefault("PTB_TIMEDELTA", "true")

CHANNEL = "telegram"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64  # bytes; PTB does not check it
MAX_ROW = 8
MAX_INLINE_BUTTONS = 100
SHORT_LABEL = 16  # labels up to this length go two to a row
GROUP_INTERVAL = 3.0  # Telegram allows 20 messages a minute in one group
KEYBOARD_REMOVED = "✓"
# ~30 messages/s per bot; ~1/s per chat, with short bursts tolerated ("We may allow short
# bursts that go over this limit", Bot FAQ): three at once after a quiet spell, so a
# reply and a notification both go at once, then one a second. PTB's own limiter has no
# per-chat limit; the outbox paces by this.
PACING = Pacing(rate=30.0, per_recipient_interval=1.0, burst=3)

# Message contents we cannot use, in the order Telegram may combine them (an animation
# also carries `document`, so it is checked first).
_UNSUPPORTED: tuple[tuple[str, str], ...] = (
    ("voice", "voice"),
    ("audio", "audio"),
    ("video_note", "video"),
    ("video", "video"),
    ("animation", "other"),
    ("sticker", "sticker"),
    ("document", "document"),
    ("dice", "other"),
    ("poll", "other"),
    ("game", "other"),
    ("story", "other"),
    ("paid_media", "other"),
    ("checklist", "other"),
)

_REQUEST_LABELS = {
    "location": {"id": "📍 Kirim lokasi", "en": "📍 Send location"},
    "contact": {"id": "📱 Kirim nomor HP", "en": "📱 Share phone number"},
}

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None

_DECODED = frozenset({"update_id", "message", "callback_query", "my_chat_member"})
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_BOLD = re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]*?[^\s*])\*(?![\w*])")
_COMMAND_MENTION = re.compile(r"^(/\w+)@\w+")


class TelegramChannel:
    """Parses updates and sends messages through one PTB ``Bot``."""

    name = CHANNEL

    def __init__(
        self,
        bot: Bot,
        *,
        username: str | None = None,
        bot_id: int | None = None,
        max_media_bytes: int = 10 * 1024 * 1024,
        pacing: Pacing = PACING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bot = bot
        self.pacing = pacing
        self.username = username
        self.bot_id = bot_id
        self.max_media_bytes = max_media_bytes
        self.clock = clock
        self._group_slots: dict[int, float] = {}

    @property
    def limit_scope(self) -> str:
        """Whose limits these are: every replica sending with this bot shares them."""
        return f"{CHANNEL}:{self.bot_id or self.bot.token.partition(':')[0]}"

    # -- inbound -------------------------------------------------------------------------

    def decode(self, data: Mapping[str, Any]) -> Update:
        """Bot API update JSON → PTB ``Update``; ValueError when it is not one."""
        if not isinstance(data, Mapping) or not isinstance(data.get("update_id"), int):
            raise ValueError("not a Telegram update")
        # Decode only what we use: PTB refuses objects that lack a field it requires, and
        # an update kind we ignore must not turn into an error.
        wanted = {k: v for k, v in data.items() if k in _DECODED}
        try:
            return Update.de_json(wanted, self.bot)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"malformed Telegram update ({type(exc).__name__})") from exc

    def parse(self, update: Update | Mapping[str, Any]) -> list[Inbound]:
        """One update → what the user gave us; [] for updates with nothing to answer."""
        if not isinstance(update, Update):
            plain = _parse_plain(update)
            if plain is not None:
                return plain
            update = self.decode(update)
        message_id = str(update.update_id)
        if update.callback_query is not None:
            return self._callback(message_id, update.callback_query)
        if update.message is not None:
            return self._message(message_id, update.message)
        if update.my_chat_member is not None:
            return self._member(message_id, update.my_chat_member)
        # Edited messages (live-location moves too), channel posts, reactions, polls: a
        # new answer only ever comes as a new message.
        return []

    def _message(self, message_id: str, msg: Message) -> list[Inbound]:
        user = msg.from_user
        if user is None or user.is_bot:
            return []
        chat = msg.chat
        if chat.type != ChatType.PRIVATE:
            if not self._addressed(msg):
                return []  # group chatter that is not for us: stay quiet
            return [Inbound(channel=CHANNEL, user_id=str(chat.id), message_id=message_id,
                            kind=InboundKind.UNSUPPORTED, unsupported="group",
                            contact_name=chat.title, timestamp=msg.date)]
        base: dict[str, Any] = {
            "channel": CHANNEL,
            "user_id": str(chat.id),
            "message_id": message_id,
            "contact_name": user.full_name or None,
            "language": user.language_code,
            "timestamp": msg.date,
        }
        if msg.text is not None:
            # "/batal@WargaBot" is "/batal" here: in a private chat every command is ours.
            text = _COMMAND_MENTION.sub(r"\1", msg.text)
            return [Inbound(kind=InboundKind.TEXT, text=text, **base)]
        if msg.location is not None:
            venue = msg.venue
            location = Location(
                msg.location.latitude,
                msg.location.longitude,
                name=venue.title if venue else None,
                address=venue.address if venue else None,
            )
            return [Inbound(kind=InboundKind.LOCATION, location=location, **base)]
        if msg.photo:
            # Telegram sends several sizes of one photo; keep the largest.
            largest = max(msg.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
            media = Media(kind="photo", ref=largest.file_id, unique_id=largest.file_unique_id,
                          mime_type="image/jpeg", size=largest.file_size, caption=msg.caption)
            return [Inbound(kind=InboundKind.MEDIA, media=media, **base)]
        if msg.contact is not None:
            if msg.contact.user_id == user.id:
                return [Inbound(kind=InboundKind.CONTACT, phone=msg.contact.phone_number, **base)]
            return [Inbound(kind=InboundKind.UNSUPPORTED, unsupported="contact", **base)]
        for attribute, what in _UNSUPPORTED:
            if getattr(msg, attribute, None):
                return [Inbound(kind=InboundKind.UNSUPPORTED, unsupported=what, **base)]
        return []  # service messages (pins, payments, chat settings…)

    def _callback(self, message_id: str, query: CallbackQuery) -> list[Inbound]:
        if not query.data:
            return []  # a game button: answered, nothing to handle
        chat = query.message.chat if query.message is not None else None
        if chat is not None and chat.type != ChatType.PRIVATE:
            return []  # we never send keyboards to groups
        user = query.from_user
        return [Inbound(
            channel=CHANNEL,
            user_id=str(chat.id if chat is not None else user.id),
            message_id=message_id,
            kind=InboundKind.CHOICE,
            choice_id=query.data,
            contact_name=user.full_name or None,
            language=user.language_code,
            ack_ref=query.id,
        )]

    def _member(self, message_id: str, update: ChatMemberUpdated) -> list[Inbound]:
        if update.chat.type != ChatType.PRIVATE:
            return []
        status = update.new_chat_member.status
        base: dict[str, Any] = {"channel": CHANNEL, "user_id": str(update.chat.id),
                                "message_id": message_id, "timestamp": update.date}
        if status == ChatMemberStatus.BANNED:  # "kicked": the user blocked the bot
            return [Inbound(kind=InboundKind.STOPPED, **base)]
        if status == ChatMemberStatus.MEMBER:  # unblocked
            return [Inbound(kind=InboundKind.RESUMED, **base)]
        return []

    def _addressed(self, msg: Message) -> bool:
        """In a group, only commands, mentions of the bot and replies to it are for us."""
        entities = msg.parse_entities() if msg.text else msg.parse_caption_entities()
        me = (self.username or "").lower()
        for entity, value in entities.items():
            if entity.type == MessageEntityType.BOT_COMMAND and entity.offset == 0:
                _, _, target = value.partition("@")
                return not target or target.lower() == me
            if entity.type == MessageEntityType.MENTION and me and value.lower() == f"@{me}":
                return True
            if (entity.type == MessageEntityType.TEXT_MENTION and entity.user is not None
                    and entity.user.id == self.bot_id):
                return True
        reply = msg.reply_to_message
        return bool(reply and reply.from_user and self.bot_id
                    and reply.from_user.id == self.bot_id)

    async def acknowledge(self, update: Update | Mapping[str, Any]) -> None:
        """Answer a callback query and show the choice on its message, keyboard removed.

        ``update`` may be the update's JSON as the webhook received it: decoding a
        tapped message into PTB objects only to read four fields back was a tenth of
        the webhook's CPU (py-spy, bench/intake.py).
        """
        tap = _tap(update, self.bot)
        if tap is None:
            return
        try:
            # Answer every callback query, or the button keeps spinning on the phone.
            await self.bot.answer_callback_query(tap.query_id)
        except TelegramError as err:
            log.info("could not answer a callback query: %s", type(err).__name__)
        if tap.message_id is None or tap.chat_id is None:
            return
        try:
            if tap.text is not None and tap.label is not None:
                text = f"{tap.text}\n\n✓ {tap.label}"
                if utf16_len(text) <= MAX_TEXT:
                    # Keep the original formatting: appending leaves entity offsets valid.
                    await self.bot.edit_message_text(
                        text, chat_id=tap.chat_id, message_id=tap.message_id,
                        entities=tap.entities, reply_markup=None)
                    return
            await self.bot.edit_message_reply_markup(
                chat_id=tap.chat_id, message_id=tap.message_id, reply_markup=None)
        except TelegramError as err:  # e.g. "message is not modified" after a double tap
            log.info("could not edit a keyboard message: %s", type(err).__name__)

    async def fetch_media(self, media: Media) -> bytes:
        """getFile → download, refusing anything over the size limit."""
        if media.size is not None and media.size > self.max_media_bytes:
            raise ValueError("media over the size limit")
        file = await self.bot.get_file(media.ref)
        if file.file_size is not None and file.file_size > self.max_media_bytes:
            raise ValueError("media over the size limit")
        data = bytes(await file.download_as_bytearray())
        if len(data) > self.max_media_bytes:
            raise ValueError("media over the size limit")
        return data

    # -- command menus -------------------------------------------------------------------

    async def set_commands(self, commands: Sequence[tuple[str, str]], *,
                           chat_id: str | None = None, language: str | None = None) -> None:
        """The "/" menu: for everyone (``chat_id`` None; per ``language`` if given) or for
        one private chat, which then sees this list instead. Raises the typed errors."""
        scope = BotCommandScopeChat(int(chat_id)) if chat_id is not None else None
        try:
            await self.bot.set_my_commands([BotCommand(c, d[:256]) for c, d in commands],
                                           scope=scope, language_code=language)
        except TelegramError as err:
            raise send_error(err) from err

    async def clear_commands(self, chat_id: str) -> None:
        """One chat back to the menu for everyone."""
        try:
            await self.bot.delete_my_commands(scope=BotCommandScopeChat(int(chat_id)))
        except TelegramError as err:
            raise send_error(err) from err

    # -- outbound ------------------------------------------------------------------------

    async def send(self, message: Outbound) -> SendResult:
        """Render one message: HTML text in ≤ 4096-character parts, keyboard on the last."""
        try:
            chat_id = int(message.user_id)
        except ValueError as exc:
            raise PermanentFailure("not a Telegram chat id") from exc
        try:
            keyboard = self._keyboard(message)
        except ValueError as exc:
            raise PermanentFailure(str(exc)) from exc
        if chat_id < 0:
            await _sleep(self._group_delay(chat_id))
        try:
            last = await self._deliver(chat_id, message, keyboard)
        except TelegramError as err:
            raise send_error(err) from err
        return SendResult(provider_message_id=str(last.message_id))

    def cost(self, message: Outbound) -> int:
        """How many messages Telegram will count for this one (a long text is split)."""
        try:
            return max(1, len(self._plan(message, self._keyboard(message))))
        except (PermanentFailure, ValueError):
            return 1

    def _plan(
        self,
        message: Outbound,
        keyboard: InlineKeyboardMarkup | ReplyKeyboardMarkup | None,
    ) -> list[tuple[str, str | None, Markup]]:
        """The platform messages of one Outbound: (photo|text, text, markup)."""
        parts = split_text(message.text) if message.text.strip() else []
        remove = message.remove_keyboard and not isinstance(keyboard, ReplyKeyboardMarkup)
        if remove and keyboard is not None and len(parts) == 1 and not message.media_path:
            # A reply keyboard's removal cannot ride on a message with an inline keyboard:
            # the question goes in a part of its own. (The dispatcher avoids asking for
            # both at once; this is for any other caller.)
            parts = split_text(parts[0], paragraphs_apart=True)
        sends: list[tuple[str, str | None]] = []
        if message.media_path:
            fits = len(parts) == 1 and utf16_len(parts[0]) <= MAX_CAPTION
            sends.append(("photo", parts.pop(0) if fits else None))
        sends += [("text", part) for part in parts]
        if not sends:
            raise PermanentFailure("nothing to send")
        markups: list[Markup] = [None] * len(sends)
        markups[-1] = keyboard
        if remove:
            if markups[0] is None:
                markups[0] = ReplyKeyboardRemove()
            else:  # one message, and it carries the inline keyboard
                sends.insert(0, ("text", KEYBOARD_REMOVED))
                markups.insert(0, ReplyKeyboardRemove())
        return [(kind, text, markup) for (kind, text), markup in zip(sends, markups,
                                                                     strict=True)]

    async def _deliver(
        self,
        chat_id: int,
        message: Outbound,
        keyboard: InlineKeyboardMarkup | ReplyKeyboardMarkup | None,
    ) -> Message:
        last: Message | None = None
        for n, (kind, text, markup) in enumerate(self._plan(message, keyboard)):
            if n >= max(1, self.pacing.burst):
                # The outbox cleared the whole message with the chat's allowance, which
                # holds ``burst`` at once; parts beyond it go one interval apart.
                await _sleep(self.pacing.per_recipient_interval)
            if kind == "photo":
                assert message.media_path is not None
                try:
                    photo = await asyncio.to_thread(Path(message.media_path).read_bytes)
                except OSError as exc:
                    raise PermanentFailure("photo file is missing") from exc
                last = await self.bot.send_photo(
                    chat_id, photo, caption=to_html(text) if text else None,
                    parse_mode=ParseMode.HTML if text else None, reply_markup=markup)
            else:
                assert text is not None
                last = await self.bot.send_message(
                    chat_id, to_html(text), parse_mode=ParseMode.HTML, reply_markup=markup,
                    link_preview_options=_NO_PREVIEW)
        assert last is not None
        return last

    def _keyboard(self, message: Outbound) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | None:
        if message.request_location or message.request_contact:
            return reply_keyboard(message)
        if message.choices:
            return inline_keyboard(message.choices)
        return None

    def _group_delay(self, chat_id: int) -> float:
        """Seconds to wait so one group gets a message at most every 3 s (20 a minute)."""
        now = self.clock()
        slot = max(now, self._group_slots.get(chat_id, 0.0))
        self._group_slots[chat_id] = slot + GROUP_INTERVAL
        if len(self._group_slots) > 10_000:
            self._group_slots = {c: t for c, t in self._group_slots.items() if t > now}
        return slot - now


# -- the common updates, without PTB objects -------------------------------------------
#
# Why: ``Update.de_json`` builds every object of an update, each attribute through
# PTB's guarded ``__setattr__`` — 13 % of the webhook's CPU under load (py-spy,
# bench/intake.py), for the five fields we read. The shapes residents send all day (a
# private-chat text, location or photo; a tap on our keyboard) are read straight from
# the JSON here. Anything else — any key we do not expect, any field of an unexpected
# type — returns None and goes through PTB as before, which also decides what is
# malformed. ``tests/test_telegram_inbound.py`` runs every fixture both ways.

_PLAIN_MESSAGE_KEYS = frozenset({"message_id", "from", "chat", "date"})
_PLAIN_CONTENT_KEYS: tuple[frozenset[str], ...] = (
    frozenset({"text"}), frozenset({"text", "entities"}), frozenset({"location"}),
    frozenset({"photo"}), frozenset({"photo", "caption"}),
)
_PLAIN_QUERY_KEYS = frozenset({"id", "from", "chat_instance", "data", "message"})


def _is_int(value: Any) -> bool:
    return type(value) is int


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


def _is_coordinate(value: Any, limit: int) -> bool:
    """A number within ±limit (a 400-digit integer is not; NaN compares false)."""
    return _is_number(value) and -limit <= value <= limit


def _plain_user(user: Any) -> tuple[str | None, str | None] | None:
    """(full name, language) of a human sender, or None to let PTB decide."""
    if (type(user) is not dict or not _is_int(user.get("id")) or user.get("is_bot") is not False
            or type(user.get("first_name")) is not str):
        return None
    last, language = user.get("last_name"), user.get("language_code")
    if last is not None and type(last) is not str:
        return None
    if language is not None and type(language) is not str:
        return None
    first: str = user["first_name"]
    full = f"{first} {last}" if first and last else first
    return full or None, language


def _plain_private_chat(message: Any) -> int | None:
    """The chat id of a well-formed private-chat message, else None."""
    if type(message) is not dict or not _is_int(message.get("message_id")):
        return None
    chat = message.get("chat")
    if (type(chat) is not dict or chat.get("type") != ChatType.PRIVATE
            or not _is_int(chat.get("id")) or not _is_int(message.get("date"))):
        return None
    return int(chat["id"])


def _parse_plain(data: Any) -> list[Inbound] | None:
    if type(data) is not dict or len(data) != 2 or not _is_int(data.get("update_id")):
        return None
    message_id = str(data["update_id"])
    if "message" in data:
        return _plain_message(message_id, data["message"])
    if "callback_query" in data:
        return _plain_callback(message_id, data["callback_query"])
    return None


def _plain_message(message_id: str, msg: Any) -> list[Inbound] | None:
    chat_id = _plain_private_chat(msg)
    if chat_id is None or frozenset(msg) - _PLAIN_MESSAGE_KEYS not in _PLAIN_CONTENT_KEYS:
        return None
    sender = _plain_user(msg.get("from"))
    if sender is None:
        return None
    name, language = sender
    base: dict[str, Any] = {
        "channel": CHANNEL, "user_id": str(chat_id), "message_id": message_id,
        "contact_name": name, "language": language,
        "timestamp": datetime.fromtimestamp(msg["date"], tz=UTC),
    }
    if "text" in msg:
        text, entities = msg["text"], msg.get("entities", [])
        if type(text) is not str or type(entities) is not list or not all(
                type(e) is dict and type(e.get("type")) is str and _is_int(e.get("offset"))
                and _is_int(e.get("length")) for e in entities):
            return None
        return [Inbound(kind=InboundKind.TEXT, text=_COMMAND_MENTION.sub(r"\1", text), **base)]
    if "location" in msg:
        where = msg["location"]
        if (type(where) is not dict or not _is_coordinate(where.get("latitude"), 90)
                or not _is_coordinate(where.get("longitude"), 180)):
            return None
        location = Location(where["latitude"], where["longitude"])
        return [Inbound(kind=InboundKind.LOCATION, location=location, **base)]
    sizes, caption = msg["photo"], msg.get("caption")
    if (type(sizes) is not list or not sizes or (caption is not None and type(caption) is not str)
            or not all(type(p) is dict and type(p.get("file_id")) is str
                       and type(p.get("file_unique_id")) is str and _is_int(p.get("width"))
                       and _is_int(p.get("height"))
                       and (p.get("file_size") is None or _is_int(p.get("file_size")))
                       for p in sizes)):
        return None
    # Telegram sends several sizes of one photo; keep the largest.
    largest = max(sizes, key=lambda p: (p["width"] * p["height"], p.get("file_size") or 0))
    media = Media(kind="photo", ref=largest["file_id"], unique_id=largest["file_unique_id"],
                  mime_type="image/jpeg", size=largest.get("file_size"), caption=caption)
    return [Inbound(kind=InboundKind.MEDIA, media=media, **base)]


def _plain_callback(message_id: str, query: Any) -> list[Inbound] | None:
    if (type(query) is not dict or not frozenset(query) <= _PLAIN_QUERY_KEYS
            or type(query.get("id")) is not str or type(query.get("data")) is not str
            or not query["data"] or type(query.get("chat_instance")) is not str):
        return None
    message = query.get("message")
    chat_id = _plain_private_chat(message)
    sender = _plain_user(query.get("from"))
    if chat_id is None or sender is None or message["date"] == 0:
        return None  # no message, an inaccessible one, or a group: PTB's way
    name, language = sender
    return [Inbound(channel=CHANNEL, user_id=str(chat_id), message_id=message_id,
                    kind=InboundKind.CHOICE, choice_id=query["data"], contact_name=name,
                    language=language, ack_ref=query["id"])]


@dataclass(frozen=True)
class _Tap:
    """What answering a tap needs: the query, and the tapped message if we may edit it."""

    query_id: str
    chat_id: int | None = None
    message_id: int | None = None
    text: str | None = None
    entities: tuple[MessageEntity, ...] = ()
    label: str | None = None


def _tap(update: Update | Mapping[str, Any], bot: Bot) -> _Tap | None:
    if isinstance(update, Update):
        query = update.callback_query
        if query is None:
            return None
        msg = query.message
        if not isinstance(msg, Message) or msg.reply_markup is None:
            return _Tap(query.id)
        label = next((b.text for row in msg.reply_markup.inline_keyboard for b in row
                      if b.callback_data == query.data), None)
        return _Tap(query.id, msg.chat.id, msg.message_id, msg.text, msg.entities, label)
    raw = update.get("callback_query")
    if type(raw) is not dict or type(raw.get("id")) is not str:
        return None
    msg = raw.get("message")
    markup = msg.get("reply_markup") if type(msg) is dict else None
    if _plain_private_chat(msg) is None or type(markup) is not dict or msg["date"] == 0:
        return _Tap(raw["id"])
    try:
        label = next((b.get("text") for row in markup.get("inline_keyboard", ()) for b in row
                      if b.get("callback_data") == raw.get("data")), None)
        entities = tuple(MessageEntity.de_json(e, bot) for e in msg.get("entities", ()))
    except (AttributeError, KeyError, TypeError, ValueError):
        return _Tap(raw["id"])  # an odd keyboard: answer the tap, leave the message be
    text = msg.get("text")
    return _Tap(raw["id"], msg["chat"]["id"], msg["message_id"],
                text if type(text) is str else None, entities,
                label if type(label) is str else None)


# -- rendering ---------------------------------------------------------------------------


async def _sleep(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)


def to_html(text: str) -> str:
    """Our text → Telegram HTML: everything escaped, WhatsApp-style *bold* → <b>bold</b>."""
    return _BOLD.sub(r"<b>\1</b>", html.escape(text, quote=False))


def utf16_len(text: str) -> int:
    """Telegram counts lengths and offsets in UTF-16 code units (an emoji counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT, *, paragraphs_apart: bool = False) -> list[str]:
    """Split at paragraph boundaries, then lines, then words, so each part fits ``limit``.

    ``paragraphs_apart`` splits off the last paragraph even when the whole text fits.
    """
    if paragraphs_apart:
        head, sep, tail = text.rpartition("\n\n")
        return [p for p in (head.strip(), tail.strip()) if p] if sep else [text]
    return [p for p in _split(text, limit, ("\n\n", "\n", " ")) if p.strip()]


def _split(text: str, limit: int, separators: Sequence[str]) -> list[str]:
    if utf16_len(text) <= limit:
        return [text]
    if not separators:
        return _hard_cut(text, limit)
    sep, finer = separators[0], separators[1:]
    out: list[str] = []
    current = ""
    for chunk in text.split(sep):
        for piece in _split(chunk, limit, finer) if utf16_len(chunk) > limit else [chunk]:
            joined = f"{current}{sep}{piece}" if current else piece
            if utf16_len(joined) <= limit:
                current = joined
            else:
                out.append(current)
                current = piece
    out.append(current)
    return out


def _hard_cut(text: str, limit: int) -> list[str]:
    out: list[str] = []
    current = ""
    for ch in text:
        if utf16_len(current + ch) > limit:
            out.append(current)
            current = ""
        current += ch
    out.append(current)
    return out


def inline_keyboard(choices: Sequence[Choice]) -> InlineKeyboardMarkup:
    """Choices as buttons: callback_data = choice id; short labels two to a row."""
    if len(choices) > MAX_INLINE_BUTTONS:
        raise ValueError(f"{len(choices)} buttons; Telegram allows {MAX_INLINE_BUTTONS}")
    for choice in choices:
        size = len(choice.id.encode("utf-8"))
        if not 1 <= size <= MAX_CALLBACK_DATA:
            raise ValueError(f"choice id {choice.id[:20]!r}… is {size} bytes; "
                             f"callback_data allows 1-{MAX_CALLBACK_DATA}")
    per_row = 2 if all(len(c.label) <= SHORT_LABEL for c in choices) else 1
    buttons = [InlineKeyboardButton(c.label, callback_data=c.id) for c in choices]
    return InlineKeyboardMarkup(_rows(buttons, min(per_row, MAX_ROW)))


def reply_keyboard(message: Outbound) -> ReplyKeyboardMarkup:
    """A one-time keyboard with the location/contact request, then the choices as text."""
    lang = str(message.extra.get("lang") or "id")
    kind = "location" if message.request_location else "contact"
    label = message.button_label or _REQUEST_LABELS[kind].get(lang, _REQUEST_LABELS[kind]["id"])
    if kind == "location":
        request = KeyboardButton(label, request_location=True)
    else:
        request = KeyboardButton(label, request_contact=True)
    per_row = 2 if all(len(c.label) <= SHORT_LABEL for c in message.choices) else 1
    # Pressing "Lewati" sends the label as text, which the engine understands.
    rest = _rows([KeyboardButton(c.label) for c in message.choices], per_row)
    return ReplyKeyboardMarkup([[request], *rest], resize_keyboard=True, one_time_keyboard=True)


def _rows(buttons: Sequence[Any], per_row: int) -> list[list[Any]]:
    return [list(buttons[i:i + per_row]) for i in range(0, len(buttons), per_row)]


# -- errors ------------------------------------------------------------------------------


def send_error(err: TelegramError) -> SendError:
    """A PTB error → the typed send error that tells the outbox what to do."""
    detail = str(err)[:200]
    if isinstance(err, Forbidden):  # blocked by the user, or the account is deactivated
        return RecipientBlocked(detail)
    if isinstance(err, RetryAfter):  # Telegram says how long to wait: wait exactly that
        wait = err.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        return Throttled(detail, retry_after=seconds)
    if isinstance(err, InvalidToken | EndPointNotFound):
        return ChannelMisconfigured(detail)
    if isinstance(err, ChatMigrated):
        return PermanentFailure(f"group moved to chat {err.new_chat_id}")
    if isinstance(err, BadRequest):  # a subclass of NetworkError: check it first
        if "chat not found" in detail.lower():
            return RecipientBlocked(detail)
        return PermanentFailure(detail)
    if isinstance(err, NetworkError):  # TimedOut included
        return ChannelUnavailable(detail)
    return ChannelUnavailable(detail)
