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
from datetime import timedelta
from pathlib import Path
from typing import Any

from telegram import (
    Bot,
    CallbackQuery,
    ChatMemberUpdated,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LinkPreviewOptions,
    Message,
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
# ~30 messages/s per bot, ~1/s per chat; PTB's own limiter has no per-chat limit, the
# outbox paces by this.
PACING = Pacing(rate=30.0, per_recipient_interval=1.0, burst=1)

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
        self._next_message = 0.0

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

    async def acknowledge(self, update: Update) -> None:
        """Answer a callback query and show the choice on its message, keyboard removed."""
        query = update.callback_query
        if query is None:
            return
        try:
            # Answer every callback query, or the button keeps spinning on the phone.
            await self.bot.answer_callback_query(query.id)
        except TelegramError as err:
            log.info("could not answer a callback query: %s", type(err).__name__)
        msg = query.message
        if not isinstance(msg, Message) or msg.reply_markup is None:
            return
        label = next((b.text for row in msg.reply_markup.inline_keyboard for b in row
                      if b.callback_data == query.data), None)
        try:
            if msg.text is not None and label is not None:
                text = f"{msg.text}\n\n✓ {label}"
                if utf16_len(text) <= MAX_TEXT:
                    # Keep the original formatting: appending leaves entity offsets valid.
                    await self.bot.edit_message_text(
                        text, chat_id=msg.chat.id, message_id=msg.message_id,
                        entities=msg.entities, reply_markup=None)
                    return
            await self.bot.edit_message_reply_markup(
                chat_id=msg.chat.id, message_id=msg.message_id, reply_markup=None)
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

    async def _deliver(
        self,
        chat_id: int,
        message: Outbound,
        keyboard: InlineKeyboardMarkup | ReplyKeyboardMarkup | None,
    ) -> Message:
        parts = split_text(message.text) if message.text.strip() else []
        remove = message.remove_keyboard and not isinstance(keyboard, ReplyKeyboardMarkup)
        if remove and keyboard is not None and len(parts) == 1 and not message.media_path:
            # A reply keyboard's removal cannot ride on a message with an inline keyboard:
            # the question goes in a part of its own.
            parts = split_text(parts[0], paragraphs_apart=True)
        sends: list[tuple[str, str | None]] = []
        if message.media_path:
            fits = len(parts) == 1 and utf16_len(parts[0]) <= MAX_CAPTION
            sends.append(("photo", parts.pop(0) if fits else None))
        sends += [("text", part) for part in parts]
        if not sends:
            raise PermanentFailure("nothing to send")
        markups: list[InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None]
        markups = [None] * len(sends)
        markups[-1] = keyboard
        if remove:
            if markups[0] is None:
                markups[0] = ReplyKeyboardRemove()
            else:  # one message, and it carries the inline keyboard
                sends.insert(0, ("text", KEYBOARD_REMOVED))
                markups.insert(0, ReplyKeyboardRemove())
        last: Message | None = None
        for (kind, text), markup in zip(sends, markups, strict=True):
            await _sleep(self._rate_delay())
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

    def _rate_delay(self) -> float:
        """The outbox paces whole messages; a split one sends more than one, and Telegram
        counts each, so every part keeps to the bot-wide rate too. Seconds to wait."""
        now = self.clock()
        slot = max(now, self._next_message)
        self._next_message = slot + 1.0 / self.pacing.rate
        return slot - now

    def _group_delay(self, chat_id: int) -> float:
        """Seconds to wait so one group gets a message at most every 3 s (20 a minute)."""
        now = self.clock()
        slot = max(now, self._group_slots.get(chat_id, 0.0))
        self._group_slots[chat_id] = slot + GROUP_INTERVAL
        if len(self._group_slots) > 10_000:
            self._group_slots = {c: t for c, t in self._group_slots.items() if t > now}
        return slot - now


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
