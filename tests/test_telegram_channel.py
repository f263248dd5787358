"""Telegram outbound: one table of Outbound → the Bot API requests the fake recorded, one
table of Bot API failures → typed send errors, and the pieces they are built from.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import unused_port
from telegram import Bot
from telegram.error import NetworkError

from bot.telegram import Lanes
from bot.telegram_request import AiohttpRequest
from conversations.messages import (
    ChannelMisconfigured,
    ChannelUnavailable,
    Choice,
    Media,
    Outbound,
    Pacing,
    PermanentFailure,
    RecipientBlocked,
    SendError,
    Throttled,
)
from handlers.telegram import PACING, TelegramChannel, split_text, to_html, utf16_len
from tests.fakes.telegram_api import BOT_ID, BOT_USERNAME, TOKEN, FakeBotAPI
from tests.fakes.telegram_limits import TOKEN as LIMITS_TOKEN
from tests.fakes.telegram_limits import LimitedBotAPI

CHAT = 681234567
GROUP = -1001987654321
YES_NO = (Choice("ok:yes", "Ya"), Choice("ok:no", "Tidak"))
SKIP = (Choice("lokasi:__skip", "Lewati"),)
CATEGORIES = (Choice("kategori:mati", "Air tidak mengalir / mati"),
              Choice("kategori:keruh", "Air keruh / kotor"),
              Choice("kategori:lainnya", "Lainnya"))
LONG = "\n\n".join(f"Paragraf {i}: " + "air bersih " * 60 for i in range(15))


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as api:
        yield api


def make_bot(url: str, **timeouts: float) -> Bot:
    """A Bot on the service's own transport, pointed at ``url``."""
    return Bot(TOKEN, base_url=f"{url}/bot", base_file_url=f"{url}/file/bot",
               request=AiohttpRequest(**timeouts),
               get_updates_request=AiohttpRequest(connections=1))


@pytest.fixture
async def channel(fake: FakeBotAPI) -> AsyncIterator[TelegramChannel]:
    async with make_bot(fake.url) as bot:
        yield TelegramChannel(bot, username=BOT_USERNAME, bot_id=BOT_ID, max_media_bytes=1000)


def out(text: str = "Halo", user: int | str = CHAT, **fields: Any) -> Outbound:
    return Outbound(channel="telegram", user_id=str(user), text=text, **fields)


def keyboard(params: dict[str, Any]) -> list[list[str]]:
    """Inline keyboard as rows of callback data; reply keyboard as rows of labels."""
    markup = params.get("reply_markup") or {}
    if "inline_keyboard" in markup:
        return [[b["callback_data"] for b in row] for row in markup["inline_keyboard"]]
    return [[b["text"] for b in row] for row in markup.get("keyboard", [])]


# (label, outbound, expected requests: (method, checked fields of its parameters))
SEND_CASES: list[tuple[str, Outbound, list[tuple[str, dict[str, Any]]]]] = [
    ("text escaped, *bold* rendered",
     out("Nomor laporan: *AIR-4K7QX* <script> & \"kutip\" 2 * 3 * 4"),
     [("sendMessage", {"chat_id": CHAT, "parse_mode": "HTML", "text":
                       "Nomor laporan: <b>AIR-4K7QX</b> &lt;script&gt; &amp; "
                               "\"kutip\" 2 * 3 * 4"})]),
    ("short labels two to a row", out("Betul?", choices=YES_NO),
     [("sendMessage", {"keyboard": [["ok:yes", "ok:no"]]})]),
    ("long labels one to a row", out("Apa masalahnya?", choices=CATEGORIES),
     [("sendMessage", {"keyboard": [["kategori:mati"], ["kategori:keruh"],
                                    ["kategori:lainnya"]]})]),
    ("location request: a one-time reply keyboard, skip as a text button",
     out("Kirim lokasi.", choices=SKIP, request_location=True),
     [("sendMessage", {"keyboard": [["📍 Kirim lokasi"], ["Lewati"]],
                       "markup.one_time_keyboard": True, "markup.resize_keyboard": True})]),
    ("contact request in English",
     out("Phone?", choices=(Choice("telepon:__skip", "Skip"),), request_contact=True,
         extra={"lang": "en"}),
     [("sendMessage", {"keyboard": [["📱 Share phone number"], ["Skip"]]})]),
    ("keyboard removed", out("Terima kasih.", remove_keyboard=True),
     [("sendMessage", {"markup": {"remove_keyboard": True}})]),
    ("removal and buttons: the question goes in a message of its own",
     out("Ringkasan: ...\n\nSudah benar?", choices=YES_NO, remove_keyboard=True),
     [("sendMessage", {"text": "Ringkasan: ...", "markup": {"remove_keyboard": True}}),
      ("sendMessage", {"text": "Sudah benar?", "keyboard": [["ok:yes", "ok:no"]]})]),
    ("removal and buttons on a one-line question",
     out("Di kelurahan mana?", choices=YES_NO, remove_keyboard=True),
     [("sendMessage", {"text": "✓", "markup": {"remove_keyboard": True}}),
      ("sendMessage", {"text": "Di kelurahan mana?", "keyboard": [["ok:yes", "ok:no"]]})]),
    ("long text split on paragraphs, keyboard on the last part",
     out(LONG, choices=YES_NO),
     [("sendMessage", {"keyboard": []}), ("sendMessage", {"keyboard": []}),
      ("sendMessage", {"keyboard": [["ok:yes", "ok:no"]]})]),
    ("a group gets plain text", out("Saya hanya melayani lewat chat pribadi.", user=GROUP),
     [("sendMessage", {"chat_id": GROUP, "markup": None})]),
]


@pytest.mark.parametrize(("label", "message", "expected"), SEND_CASES,
                         ids=[c[0] for c in SEND_CASES])
async def test_send(fake: FakeBotAPI, channel: TelegramChannel, label: str,
                    message: Outbound, expected: list[tuple[str, dict[str, Any]]]) -> None:
    result = await channel.send(message)
    calls = [c for c in fake.calls if c.method not in ("getMe",)]
    assert [c.method for c in calls] == [m for m, _ in expected]
    assert all(c.status == 200 for c in calls)
    for call, (_, fields) in zip(calls, expected, strict=True):
        for name, value in fields.items():
            if name == "keyboard":
                assert keyboard(call.params) == value
            elif name == "markup":
                assert call.params.get("reply_markup") == value
            elif name.startswith("markup."):
                assert call.params["reply_markup"][name.removeprefix("markup.")] == value
            else:
                assert call.params[name] == value, name
    last = max(mid for _, mid in fake.messages)
    assert result.provider_message_id == str(last)


async def test_long_text_arrives_whole_in_parts_within_the_limit(
        fake: FakeBotAPI, channel: TelegramChannel) -> None:
    await channel.send(out(LONG))
    parts = [m["text"] for m in fake.sent(CHAT)]
    assert len(parts) == 3
    assert all(utf16_len(p) <= 4096 for p in parts)
    assert "\n\n".join(parts) == LONG


async def test_photo_with_caption_and_buttons(fake: FakeBotAPI, channel: TelegramChannel,
                                              tmp_path: Path) -> None:
    photo = tmp_path / "jadwal.jpg"
    photo.write_bytes(b"\xff\xd8 jadwal tangki \xff\xd9")
    await channel.send(out("Jadwal *tangki* air", media_path=str(photo), choices=YES_NO))
    (params,) = fake.requests("sendPhoto")
    assert params["caption"] == "Jadwal <b>tangki</b> air"
    assert params["photo"].startswith("<upload")
    assert keyboard(params) == [["ok:yes", "ok:no"]]
    assert fake.requests("sendMessage") == []


async def test_photo_with_a_long_text_sends_the_text_after_it(
        fake: FakeBotAPI, channel: TelegramChannel, tmp_path: Path) -> None:
    photo = tmp_path / "jadwal.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xd9")
    await channel.send(out("x" * 1500, media_path=str(photo), choices=YES_NO))
    assert [c.method for c in fake.calls if c.method != "getMe"] == ["sendPhoto",
                                                                     "sendMessage"]
    assert "caption" not in fake.requests("sendPhoto")[0]
    assert keyboard(fake.requests("sendMessage")[0]) == [["ok:yes", "ok:no"]]


# (label, scripted failure, expected error, expected retry_after)
ERROR_CASES: list[tuple[str, dict[str, Any], type[SendError], float | None]] = [
    ("blocked", {"status": 403, "description": "Forbidden: bot was blocked by the user"},
     RecipientBlocked, None),
    ("deactivated", {"status": 403, "description": "Forbidden: user is deactivated"},
     RecipientBlocked, None),
    ("flood", {"status": 429, "description": "Too Many Requests: retry after 7",
               "retry_after": 7}, Throttled, 7.0),
    ("chat not found", {"status": 400, "description": "Bad Request: chat not found"},
     RecipientBlocked, None),
    ("other bad request", {"status": 400, "description": "Bad Request: message is too long"},
     PermanentFailure, None),
    ("bad token", {"status": 401, "description": "Unauthorized"}, ChannelMisconfigured, None),
    ("server error", {"status": 500, "description": "Internal Server Error"},
     ChannelUnavailable, None),
    ("bad gateway", {"status": 502, "description": "Bad Gateway"}, ChannelUnavailable, None),
]


@pytest.mark.parametrize(("label", "failure", "error", "retry_after"), ERROR_CASES,
                         ids=[c[0] for c in ERROR_CASES])
async def test_errors_are_typed(fake: FakeBotAPI, channel: TelegramChannel, label: str,
                                failure: dict[str, Any], error: type[SendError],
                                retry_after: float | None) -> None:
    fake.fail("sendMessage", **failure)
    with pytest.raises(SendError) as raised:
        await channel.send(out())
    assert type(raised.value) is error
    assert raised.value.retry == error.retry
    assert raised.value.retry_after == retry_after


async def test_an_unreachable_api_is_retryable() -> None:
    bot = make_bot(f"http://127.0.0.1:{unused_port()}")
    try:
        with pytest.raises(ChannelUnavailable):
            await TelegramChannel(bot).send(out())
    finally:
        await bot.request.shutdown()


@pytest.mark.parametrize("url", ["htp://127.0.0.1/bot{token}/sendMessage",
                                 "http://127.0.0.1:99999/bot{token}/sendMessage"])
async def test_transport_errors_never_show_the_token(url: str) -> None:
    request = AiohttpRequest()
    try:
        with pytest.raises(NetworkError) as raised:
            await request.do_request(url.format(token=TOKEN), "POST")
    finally:
        await request.shutdown()
    assert TOKEN not in str(raised.value) and TOKEN.split(":")[1] not in str(raised.value)


async def test_a_slow_api_times_out_and_is_retryable(fake: FakeBotAPI) -> None:
    async with make_bot(fake.url, read_timeout=0.05) as bot:
        fake.delay = 0.5
        with pytest.raises(ChannelUnavailable) as raised:
            await TelegramChannel(bot).send(out())
    assert "Timed out" in raised.value.detail


@pytest.mark.parametrize("message", [
    out("Pilih", choices=(Choice("x" * 65, "Terlalu panjang"),)),
    out("Pilih", choices=(Choice("kategori:" + "é" * 28, "28 × 2 bytes + 9"),)),
    out("Pilih", choices=tuple(Choice(f"n:{i}", str(i)) for i in range(101))),
    out("Foto", media_path="/nonexistent/warga/foto.jpg"),
    out("Halo", user="telegram-123"),
], ids=["callback over 64 bytes", "callback over 64 UTF-8 bytes", "over 100 buttons",
        "missing photo", "not a chat id"])
async def test_messages_telegram_would_refuse_fail_for_good(
        fake: FakeBotAPI, channel: TelegramChannel, message: Outbound) -> None:
    with pytest.raises(PermanentFailure):
        await channel.send(message)
    assert fake.requests("sendMessage", ok=False) == []


def test_default_pacing_is_telegrams() -> None:
    # 30 a second per bot; a chat gets three at once after a quiet spell, then one a second.
    assert TelegramChannel(Bot(TOKEN)).pacing == PACING == Pacing(30.0, 1.0, 3)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_group_gets_at_most_twenty_messages_a_minute() -> None:
    clock = Clock()
    channel = TelegramChannel(Bot(TOKEN), clock=clock)
    assert [channel._group_delay(GROUP) for _ in range(3)] == [0.0, 3.0, 6.0]
    assert channel._group_delay(-42) == 0.0  # another group is not held up
    clock.now += 60
    assert channel._group_delay(GROUP) == 0.0


@pytest.mark.parametrize(("message", "messages"), [
    (out("Halo"), 1),
    (out("x" * 5000), 2),
    (out(("kata " * 700 + "\n\n") * 3), 3),
    (out("Di kelurahan mana?", choices=YES_NO, remove_keyboard=True), 2),
    (out("Terima kasih.", remove_keyboard=True), 1),
])
def test_the_outbox_is_told_how_many_messages_telegram_counts(message: Outbound,
                                                                messages: int) -> None:
    """A split text is several messages to Telegram's limits; the outbox books them all."""
    assert TelegramChannel(Bot(TOKEN)).cost(message) == messages


async def test_parts_beyond_the_chats_burst_keep_to_its_limit() -> None:
    """A text split in three, to a chat that takes two at once: the third part waits its
    turn instead of drawing a 429 (a strict fake counts arrivals)."""
    limits = await LimitedBotAPI(per_chat_interval=0.2, per_chat_burst=2).start()
    bot = Bot(LIMITS_TOKEN, base_url=f"{limits.url}/bot")
    await bot.initialize()
    try:
        channel = TelegramChannel(bot, pacing=Pacing(30.0, 0.2, 2))
        await channel.send(out(("kata " * 700 + "\n\n") * 3))
    finally:
        await bot.shutdown()
        await limits.close()
    assert limits.refused == []
    assert len(limits.texts(CHAT)) == 3


# -- acknowledging a tap -------------------------------------------------------------------


async def test_a_tap_on_a_photo_keyboard_removes_the_keyboard(
        fake: FakeBotAPI, channel: TelegramChannel, tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xd9")
    result = await channel.send(out("Ikut?", media_path=str(photo), choices=YES_NO))
    message = fake.messages[(CHAT, int(result.provider_message_id or 0))]
    update = channel.decode({"update_id": 5, "callback_query": {
        "id": "cq-1", "chat_instance": "1", "data": "ok:yes", "message": message,
        "from": {"id": CHAT, "is_bot": False, "first_name": "Siti"}}})
    await channel.acknowledge(update)
    assert fake.requests("answerCallbackQuery") == [{"callback_query_id": "cq-1"}]
    (edit,) = fake.requests("editMessageReplyMarkup")
    assert edit["message_id"] == message["message_id"]
    assert "reply_markup" not in fake.messages[(CHAT, message["message_id"])]


async def test_a_tap_whose_message_is_gone_is_still_answered(
        fake: FakeBotAPI, channel: TelegramChannel) -> None:
    update = channel.decode({"update_id": 6, "callback_query": {
        "id": "cq-2", "chat_instance": "1", "data": "ok:yes",
        "from": {"id": CHAT, "is_bot": False, "first_name": "Siti"},
        "message": {"message_id": 9, "date": 0, "chat": {"id": CHAT, "type": "private"}}}})
    await channel.acknowledge(update)
    assert [c.method for c in fake.calls if c.method != "getMe"] == ["answerCallbackQuery"]


# -- media ---------------------------------------------------------------------------------


async def test_fetch_media_downloads_through_get_file(fake: FakeBotAPI,
                                                      channel: TelegramChannel) -> None:
    fake.add_file("AgAC-photo", b"jpeg bytes")
    data = await channel.fetch_media(Media(kind="photo", ref="AgAC-photo"))
    assert data == b"jpeg bytes"
    assert [c.method for c in fake.calls if c.method != "getMe"] == ["getFile", "download"]


async def test_fetch_media_refuses_files_over_the_limit(fake: FakeBotAPI,
                                                        channel: TelegramChannel) -> None:
    fake.add_file("AgAC-big", b"x" * 5000)  # the channel's limit is 1000 bytes
    with pytest.raises(ValueError):
        await channel.fetch_media(Media(kind="photo", ref="AgAC-big"))
    with pytest.raises(ValueError):
        await channel.fetch_media(Media(kind="photo", ref="AgAC-big", size=5000))
    assert [c.method for c in fake.calls if c.method != "getMe"] == ["getFile"]


# -- rendering -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "html"), [
    ("Ketik *batal* kapan saja", "Ketik <b>batal</b> kapan saja"),
    ("*a*", "<b>a</b>"),
    ("2 * 3 = 6, 4*5", "2 * 3 = 6, 4*5"),
    ("*tidak tertutup", "*tidak tertutup"),
    ("<b>bukan tag</b> & &amp;", "&lt;b&gt;bukan tag&lt;/b&gt; &amp; &amp;amp;"),
    ("*<i>*", "<b>&lt;i&gt;</b>"),
    ("a*b*c", "a*b*c"),
    ("*baris\nbaru*", "*baris\nbaru*"),
])
def test_to_html(text: str, html: str) -> None:
    assert to_html(text) == html


@pytest.mark.parametrize(("text", "limit", "parts"), [
    ("satu\n\ndua", 100, ["satu\n\ndua"]),
    ("satu\n\ndua", 6, ["satu", "dua"]),
    ("aa bb\ncc dd\n\nee", 8, ["aa bb", "cc dd", "ee"]),
    ("abcdefghij", 4, ["abcd", "efgh", "ij"]),
    ("😟😟😟", 4, ["😟😟", "😟"]),  # an emoji counts two
])
def test_split_text(text: str, limit: int, parts: list[str]) -> None:
    assert split_text(text, limit) == parts


# -- polling lanes -------------------------------------------------------------------------


async def test_lanes_keep_one_chat_in_order_and_let_others_pass() -> None:
    lanes = Lanes(limit=10)
    release = asyncio.Event()
    done: list[str] = []

    def job(name: str, wait: bool = False) -> Any:
        async def run() -> None:
            if wait:
                await release.wait()
            done.append(name)
        return run

    await lanes.submit("chat-1", job("1a", wait=True))
    await lanes.submit("chat-1", job("1b"))
    await lanes.submit("chat-2", job("2a"))
    for _ in range(5):
        await asyncio.sleep(0)
    # chat 2 went ahead while chat 1's first update was still being handled…
    assert done == ["2a"]
    release.set()
    await lanes.drain()
    # …and chat 1's second update waited for its first.
    assert done == ["2a", "1a", "1b"]
