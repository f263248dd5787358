"""Telegram end to end: the real service (create_app + TelegramPlugin, PTB 22.8, the
dispatcher, the engine, the outbox, the database) against a fake Bot API on loopback.

Assertions are on what the fake recorded: chat ids, keyboards, answered callback
queries, edited messages. Waits are bounded only to fail a hung test, never to measure.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import logging
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer, unused_port
from sqlalchemy import func, select

from bot.app import SERVICES, Services, create_app
from bot.settings import Settings
from bot.telegram import SECRET_HEADER, WEBHOOK_PATH, TelegramPlugin
from conversations.messages import Pacing
from storage.models import Complaint, Contact, MediaFile, OutboxMessage, ProcessedInbound
from tests.fakes.telegram_api import BOT_ID, BOT_USERNAME, TOKEN, FakeBotAPI
from tests.fakes.telegram_settings import PUBLIC, SECRET, telegram_settings

pytestmark = pytest.mark.e2e

TICKET = re.compile(r"\b[A-Z]{3}-[0-9A-Z]{5}\b")
PHOTO = b"\xff\xd8\xff\xe0 a photo of murky water \xff\xd9" * 40
ROOT = Path(__file__).resolve().parents[1]
SETTLE = 20.0  # seconds before a hung wait fails the test
# The real pacing spaces one chat's messages a second apart; the walks need not wait.
FAST = Pacing(rate=1000.0, per_recipient_interval=0.0, burst=100)


# -- the service -------------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as api:
        yield api


class Service:
    """`warga serve` in this process, on a loopback port."""

    def __init__(self, settings: Settings, *, pacing: Pacing = FAST) -> None:
        self.settings = settings
        self.fatal: list[str] = []
        self.plugin = TelegramPlugin(settings, on_fatal=self.fatal.append, pacing=pacing)
        self.client = TestClient(TestServer(create_app(settings, plugins=[self.plugin])))

    async def __aenter__(self) -> Service:
        await self.client.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    @property
    def services(self) -> Services:
        return self.client.app[SERVICES]

    async def post(self, update: Any, secret: str | None = SECRET) -> int:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        response = await self.client.post(WEBHOOK_PATH, json=update, headers=headers)
        return response.status

    async def count(self, model: Any) -> int:
        async with self.services.db.session() as session:
            return int((await session.execute(select(func.count()).select_from(model)))
                       .scalar_one())

    async def contact(self, external_id: int) -> Contact:
        async with self.services.db.session() as session:
            found = (await session.execute(select(Contact).where(
                Contact.channel == "telegram", Contact.external_id == str(external_id))
            )).scalar_one()
            return found

    async def settle(self, update_id: int | None = None) -> None:
        """Wait until the update is stored and every reply it caused has left the outbox."""

        async def done() -> bool:
            async with self.services.db.transaction() as tx:
                if update_id is not None and not await tx.inbound.seen(
                        "telegram", str(update_id)):
                    return False
                counts = await tx.outbox.counts()
            return not counts.get("pending") and not counts.get("sending")

        async with asyncio.timeout(SETTLE):
            while True:
                if await done():
                    break
                await asyncio.sleep(0.02)
            await self.plugin.idle()
            await self.services.dispatcher.idle()


_update_ids = itertools.count(700_000_001)
_message_ids = itertools.count(1)


class Resident:
    """A Telegram user in a private chat with the bot; updates as Telegram sends them."""

    def __init__(self, fake: FakeBotAPI, service: Service, *, user_id: int = 681234567,
                 first_name: str = "Siti", webhook: bool = True) -> None:
        self.fake = fake
        self.service = service
        self.id = user_id
        self.webhook = webhook
        self.user = {"id": user_id, "is_bot": False, "first_name": first_name,
                     "language_code": "id"}
        self.chat = {"id": user_id, "type": "private", "first_name": first_name}
        self.pressed: list[str] = []

    def message(self, **content: Any) -> dict[str, Any]:
        return {"update_id": next(_update_ids), "message": {
            "message_id": next(_message_ids), "from": self.user, "chat": self.chat,
            "date": 1795833600, **content}}

    async def deliver(self, update: dict[str, Any]) -> None:
        if self.webhook:
            assert await self.service.post(update) == 200
        else:
            self.fake.push_update(update)
        await self.service.settle(update["update_id"])

    async def text(self, text: str) -> None:
        entities = ([{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
                    if text.startswith("/") else [])
        await self.deliver(self.message(text=text, entities=entities))

    async def press(self, choice_id: str) -> dict[str, Any]:
        """Tap a button on the latest bot message that shows it; returns that message."""
        shown = [copy.deepcopy(m) for (chat, _), m in sorted(self.fake.messages.items())
                 if chat == self.id and choice_id in callback_data(m)]
        assert shown, f"no message in chat {self.id} offers {choice_id}"
        query_id = f"cq-{next(_update_ids)}"
        self.pressed.append(query_id)
        update = {"update_id": next(_update_ids), "callback_query": {
            "id": query_id, "from": self.user, "chat_instance": "-87123857",
            "message": shown[-1], "data": choice_id}}
        await self.deliver(update)
        return shown[-1]

    async def location(self, latitude: float, longitude: float) -> None:
        await self.deliver(self.message(location={"latitude": latitude,
                                                  "longitude": longitude}))

    async def photo(self, file_id: str) -> None:
        self.fake.add_file(file_id, PHOTO)
        sizes = [
            {"file_id": f"{file_id}-s", "file_unique_id": f"{file_id}-us", "file_size": 900,
             "width": 90, "height": 67},
            {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": len(PHOTO),
             "width": 1280, "height": 960},
            {"file_id": f"{file_id}-m", "file_unique_id": f"{file_id}-um", "file_size": 9000,
             "width": 320, "height": 240},
        ]
        await self.deliver(self.message(photo=sizes))

    async def share_contact(self, phone: str) -> None:
        await self.deliver(self.message(contact={
            "phone_number": phone, "first_name": self.user["first_name"], "user_id": self.id}))

    def sent(self) -> list[dict[str, Any]]:
        return self.fake.sent(self.id)

    def last(self) -> dict[str, Any]:
        return self.sent()[-1]


def callback_data(message: dict[str, Any]) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


def markup_of(params: dict[str, Any]) -> dict[str, Any]:
    markup: dict[str, Any] = params.get("reply_markup") or {}
    return markup


def buttons(params: dict[str, Any]) -> list[str]:
    return [b["callback_data"] for row in markup_of(params).get("inline_keyboard", [])
            for b in row]


# -- the complaint, end to end -------------------------------------------------------------


async def walk_to_location(resident: Resident) -> None:
    """/start → menu → type → category → description → since → households."""
    await resident.text("/start")
    first = resident.last()
    assert "Halo Siti" in first["text"]
    menu_buttons = buttons(first)
    assert menu_buttons[0] == "menu:lapor"
    assert all(b.startswith("menu:") for b in menu_buttons)

    menu = await resident.press("menu:lapor")
    assert buttons(resident.last())[:2] == ["jenis:air", "jenis:keluhan"]
    # The tapped keyboard is gone and the message says what was chosen.
    edit = resident.fake.requests("editMessageText")[-1]
    assert edit["chat_id"] == resident.id and edit["message_id"] == menu["message_id"]
    assert edit["text"] == f"{menu['text']}\n\n✓ Lapor masalah"
    assert "reply_markup" not in edit

    await resident.press("jenis:air")
    categories = resident.last()
    assert "kategori:keruh" in buttons(categories)
    await resident.press("kategori:keruh")
    assert "Ceritakan sedikit" in resident.last()["text"]
    assert not markup_of(resident.last())
    await resident.text("Air keruh <b>coklat</b> & bau, sejak pipa diperbaiki")
    await resident.text("kemarin")
    await resident.text("12")
    ask = resident.last()
    assert "Kirim lokasi" in ask["text"]
    keyboard = markup_of(ask)
    # One question for the place: the pin button, or the place typed in one line.
    assert keyboard["keyboard"] == [[{"text": "📍 Kirim lokasi", "request_location": True}]]
    assert keyboard["one_time_keyboard"] is True


async def walk_from_location(resident: Resident) -> str:
    """Location → kelurahan → skip the landmark → photo → contact → confirm; returns the
    ticket."""
    fake = resident.fake
    before = len(resident.sent())
    await resident.location(-6.1011, 106.9264)
    after_location = resident.sent()[before:]
    # One message: the next question with its buttons. The location keyboard (one-time,
    # so hidden once used) is taken away by the next message without buttons.
    assert len(after_location) == 1
    assert "kelurahan" in after_location[0]["text"].lower()
    assert "kelurahan:1004" in buttons(after_location[0])

    await resident.press("kelurahan:1004")
    await resident.press("patokan:__skip")
    # No phone known on Telegram: the number is asked, with the share-contact button.
    ask_phone = markup_of(resident.last())
    assert ask_phone["keyboard"][0] == [{"text": "📱 Kirim nomor HP", "request_contact": True}]
    await resident.photo("AgACAgUAAxkBAAIBfoto")
    assert "fotonya sudah saya simpan" in resident.last()["text"]
    # The largest size was fetched through getFile, and the bytes are kept.
    assert fake.requests("getFile")[-1]["file_id"] == "AgACAgUAAxkBAAIBfoto"
    async with resident.service.services.db.session() as session:
        media = (await session.execute(select(MediaFile))).scalar_one()
    assert media.unique_id == "u-AgACAgUAAxkBAAIBfoto"
    assert await asyncio.to_thread(Path(media.path).read_bytes) == PHOTO

    before = len(resident.sent())
    await resident.share_contact("6281234567890")
    summary = resident.sent()[before:]
    assert len(summary) == 1  # the summary and its buttons, one message
    text = "\n".join(m["text"] for m in summary)
    assert "+6281234567890" in text
    # The resident's markup arrives escaped and shows as typed.
    assert "Air keruh &lt;b&gt;coklat&lt;/b&gt; &amp; bau" in "".join(
        m["text"] for m in resident.fake.requests("sendMessage")
        if m["chat_id"] == resident.id)
    assert buttons(summary[-1]) == ["confirm:yes", "confirm:no", "confirm:cancel"]

    await resident.press("confirm:yes")
    found = TICKET.search(resident.last()["text"])
    assert found, resident.last()["text"]
    # The phone keyboard goes with the first message that has no buttons of its own.
    assert markup_of(resident.last()) == {"remove_keyboard": True}
    return found.group(0)


def assert_conversation_shape(fake: FakeBotAPI, resident: Resident) -> None:
    """Every reply went to the resident, in HTML; every tap answered and shown."""
    for method in ("sendMessage", "editMessageText", "answerCallbackQuery"):
        assert fake.requests(method, ok=False) == fake.requests(method), method
    assert {p["chat_id"] for p in fake.requests("sendMessage")} == {resident.id}
    assert all(p["parse_mode"] == "HTML" for p in fake.requests("sendMessage"))
    answered = [p["callback_query_id"] for p in fake.requests("answerCallbackQuery")]
    assert answered == resident.pressed
    assert len(fake.requests("editMessageText")) == len(resident.pressed)
    for params in fake.requests("sendMessage"):
        for row in markup_of(params).get("inline_keyboard", []):
            assert len(row) <= 8
            assert all(len(b["callback_data"].encode()) <= 64 for b in row)


async def assert_complaint(service: Service, ticket: str) -> None:
    async with service.services.db.session() as session:
        complaint = (await session.execute(select(Complaint))).scalar_one()
    assert complaint.ticket == ticket
    assert complaint.category == "keruh"
    assert complaint.kelurahan_code is not None and complaint.kelurahan_code.endswith("1004")
    assert (complaint.rt, complaint.rw) == (None, None)  # a pin: no RT/RW asked
    assert complaint.latitude == pytest.approx(-6.1011)
    assert complaint.description == "Air keruh <b>coklat</b> & bau, sejak pipa diperbaiki"


async def test_webhook_complaint_end_to_end(fake: FakeBotAPI, database_url: str,
                                            tmp_path: Path) -> None:
    settings = telegram_settings(database_url, tmp_path, fake)
    async with Service(settings) as service:
        # Start-up: commands menu in Indonesian (default too) and English, the webhook.
        commands = fake.requests("setMyCommands")
        assert [c.get("language_code") for c in commands] == [None, "id", "en"]
        assert [c["command"] for c in commands[1]["commands"]] == [
            "start", "lapor", "status", "jadwal", "wilayah", "data_saya", "menu", "bahasa",
            "bantuan", "batal"]
        assert commands[2]["commands"][1]["description"] == "Make a new report"
        assert all("scope" not in c for c in commands)
        assert fake.webhook is not None
        assert fake.webhook["url"] == f"{PUBLIC}{WEBHOOK_PATH}"
        assert fake.webhook["secret_token"] == SECRET
        assert fake.requests("getUpdates", ok=False) == []

        resident = Resident(fake, service)
        await walk_to_location(resident)
        ticket = await walk_from_location(resident)
        await assert_complaint(service, ticket)
        assert_conversation_shape(fake, resident)


async def test_polling_complaint_end_to_end(fake: FakeBotAPI, database_url: str,
                                            tmp_path: Path) -> None:
    settings = telegram_settings(database_url, tmp_path, fake, mode="polling", public_url=None)
    async with Service(settings) as service:
        # Polling starts by removing any webhook, and never serves a webhook route.
        assert fake.requests("deleteWebhook")
        assert await service.post({"update_id": 1}) == 404
        resident = Resident(fake, service, webhook=False)
        await walk_to_location(resident)
        ticket = await walk_from_location(resident)
        await assert_complaint(service, ticket)
        assert_conversation_shape(fake, resident)
    # Stopping confirmed every fetched update: nothing is served again.
    assert fake.pending_updates == []


async def test_polling_keeps_each_chat_in_order_while_chats_run_in_parallel(
        fake: FakeBotAPI, database_url: str, tmp_path: Path) -> None:
    settings = telegram_settings(database_url, tmp_path, fake, mode="polling", public_url=None)
    async with Service(settings) as service:
        residents = [Resident(fake, service, user_id=700 + i, first_name=f"Warga{i}",
                              webhook=False) for i in range(4)]
        # One batch of getUpdates with every resident's steps interleaved.
        steps = ["/lapor", "keluhan", "Lampu jalan mati di gang 3", "Marunda RT 2 RW 1"]
        last_id = 0
        for step in steps:
            for resident in residents:
                update = resident.message(text=step)
                last_id = update["update_id"]
                fake.push_update(update)
        await service.settle(last_id)
        for resident in residents:
            texts = [m["text"] for m in resident.sent()]
            # Each chat's steps were taken in order: every answer fits its question.
            assert "mau melapor tentang apa" in texts[0]
            assert "Ceritakan sedikit" in texts[1]
            assert "Kirim lokasi" in texts[2]
            assert any("Ada patokan" in t for t in texts[3:]), texts


async def test_restart_mid_flow_continues_at_the_same_step(fake: FakeBotAPI,
                                                           database_url: str,
                                                           tmp_path: Path) -> None:
    settings = telegram_settings(database_url, tmp_path, fake, mode="polling", public_url=None)
    async with Service(settings) as service:
        resident = Resident(fake, service, webhook=False)
        await walk_to_location(resident)
    assert fake.pending_updates == []
    # A new process on the same database: the location answers the pending question.
    async with Service(settings) as service:
        resident.service = service
        ticket = await walk_from_location(resident)
        await assert_complaint(service, ticket)


# -- webhook contract ----------------------------------------------------------------------


async def test_the_same_update_delivered_twice_gets_one_reply(fake: FakeBotAPI,
                                                              database_url: str,
                                                              tmp_path: Path) -> None:
    async with Service(telegram_settings(database_url, tmp_path, fake)) as service:
        resident = Resident(fake, service)
        update = resident.message(text="/start")
        assert await service.post(update) == 200
        assert await service.post(update) == 200
        await service.settle(update["update_id"])
        assert len(resident.sent()) == 1
        # A button tapped once but delivered twice is answered and edited once.
        menu = resident.last()
        tap = {"update_id": next(_update_ids), "callback_query": {
            "id": "cq-twice", "from": resident.user, "chat_instance": "1",
            "message": fake.messages[(resident.id, menu_id(fake, resident))],
            "data": "menu:bantuan"}}
        assert await service.post(tap) == 200
        assert await service.post(tap) == 200
        await service.settle(tap["update_id"])
        assert len(resident.sent()) == 2
        assert len(fake.requests("answerCallbackQuery")) == 1
        assert len(fake.requests("editMessageText")) == 1
        assert menu["text"].startswith("Halo")


def menu_id(fake: FakeBotAPI, resident: Resident) -> int:
    return max(mid for chat, mid in fake.messages if chat == resident.id)


@pytest.mark.parametrize("secret", [None, "", "wrong-secret-0123456789abcdefghijklmn",
                                    SECRET[:-1], SECRET + "x"])
async def test_a_missing_or_wrong_secret_is_refused_and_nothing_is_stored(
        fake: FakeBotAPI, database_url: str, tmp_path: Path, secret: str | None) -> None:
    async with Service(telegram_settings(database_url, tmp_path, fake)) as service:
        resident = Resident(fake, service)
        assert await service.post(resident.message(text="/start"), secret=secret) == 403
        assert await service.count(ProcessedInbound) == 0
        assert await service.count(Contact) == 0
        assert await service.count(OutboxMessage) == 0
        assert fake.requests("sendMessage", ok=False) == []


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"update_id": "x"}',
                                  b'{"update_id": 5, "message": {"text": "no chat"}}',
                                  "{\"update_id\": 5, \"message\": \"\xe9\"}".encode("latin-1")])
async def test_bad_bodies_get_400_and_nothing_is_stored(fake: FakeBotAPI, database_url: str,
                                                        tmp_path: Path, body: bytes) -> None:
    async with Service(telegram_settings(database_url, tmp_path, fake)) as service:
        response = await service.client.post(
            WEBHOOK_PATH, data=body,
            headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"})
        assert response.status == 400
        assert await service.count(ProcessedInbound) == 0


async def test_updates_with_nothing_for_us_get_200_and_no_answer(
        fake: FakeBotAPI, database_url: str, tmp_path: Path) -> None:
    async with Service(telegram_settings(database_url, tmp_path, fake)) as service:
        resident = Resident(fake, service)
        await resident.location(-6.1, 106.9)  # a first answer, so the chat exists
        sent = len(resident.sent())
        moved = {"update_id": next(_update_ids), "edited_message": {
            "message_id": 77, "from": resident.user, "chat": resident.chat, "date": 1,
            "edit_date": 2, "location": {"latitude": -6.2, "longitude": 106.8,
                                         "live_period": 900}}}
        chatter = {"update_id": next(_update_ids), "message": {
            "message_id": 78, "from": resident.user, "date": 1, "text": "kerja bakti besok",
            "chat": {"id": -100123, "type": "supergroup", "title": "RT 05"}}}
        for update in (moved, chatter):
            assert await service.post(update) == 200
        await service.settle()
        assert len(resident.sent()) == sent
        assert fake.sent(-100123) == []


async def test_unsupported_messages_get_a_polite_answer(fake: FakeBotAPI, database_url: str,
                                                        tmp_path: Path) -> None:
    async with Service(telegram_settings(database_url, tmp_path, fake)) as service:
        resident = Resident(fake, service)
        await resident.deliver(resident.message(voice={
            "duration": 4, "file_id": "AwAC-voice", "file_unique_id": "v1"}))
        assert "pesan suara" in resident.last()["text"]
        await resident.deliver(resident.message(sticker={
            "width": 512, "height": 512, "is_animated": False, "is_video": False,
            "type": "regular", "file_id": "CAAC-st", "file_unique_id": "s1"}))
        assert "Stiker" in resident.last()["text"]
        # In a group, only what is addressed to the bot is answered — in the group.
        group = {"id": -100555, "type": "group", "title": "Warga RT 05"}
        await resident.deliver({"update_id": next(_update_ids), "message": {
            "message_id": 90, "from": resident.user, "chat": group, "date": 1,
            "text": f"/lapor@{BOT_USERNAME}",
            "entities": [{"type": "bot_command", "offset": 0, "length": 15}]}})
        (answer,) = fake.sent(-100555)
        assert "chat pribadi" in answer["text"]
        assert not markup_of(answer).get("keyboard")


async def test_batal_from_the_command_menu_cancels_the_report(fake: FakeBotAPI,
                                                               database_url: str,
                                                               tmp_path: Path) -> None:
    async with Service(telegram_settings(database_url, tmp_path, fake)) as service:
        resident = Resident(fake, service)
        await resident.text("/lapor")
        await resident.press("jenis:air")
        # In the flow: the engine's cancel word, even addressed @WargaBot.
        await resident.text(f"/batal@{BOT_USERNAME}")
        assert "tidak jadi dibuat" in resident.last()["text"]
        # A report paused by /menu is dropped too, and the menu shown.
        await resident.text("/lapor")
        await resident.text("/menu")
        await resident.text("/batal")
        assert "tidak jadi dibuat" in resident.last()["text"]
        assert buttons(resident.last())[0] == "menu:lapor"
        await resident.text("/lapor")
        assert "mau melapor tentang apa" in resident.last()["text"]  # new, not a resume
        # Nothing to cancel: just the menu.
        await resident.text("/batal")
        await resident.text("/batal")
        assert "tidak jadi dibuat" not in resident.last()["text"]
        assert buttons(resident.last())[0] == "menu:lapor"


# -- errors --------------------------------------------------------------------------------


async def test_a_429_is_waited_out_and_the_message_still_arrives(
        fake: FakeBotAPI, database_url: str, tmp_path: Path) -> None:
    async with Service(telegram_settings(database_url, tmp_path, fake)) as service:
        resident = Resident(fake, service)
        fake.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
        await resident.text("/start")
        attempts = [c for c in fake.calls if c.method == "sendMessage"]
        assert [c.status for c in attempts] == [429, 200]
        assert "Halo" in resident.last()["text"]
        async with service.services.db.session() as session:
            row = (await session.execute(select(OutboxMessage))).scalar_one()
        assert (row.status, row.attempts) == ("sent", 2)


async def test_blocked_by_the_user_stops_the_contact_without_retries(
        fake: FakeBotAPI, database_url: str, tmp_path: Path) -> None:
    async with Service(telegram_settings(database_url, tmp_path, fake)) as service:
        resident = Resident(fake, service)
        fake.fail("sendMessage", 403, "Forbidden: bot was blocked by the user", times=5)
        await resident.text("/start")
        assert [c.status for c in fake.calls if c.method == "sendMessage"] == [403]
        assert (await service.contact(resident.id)).stopped is True
        async with service.services.db.session() as session:
            row = (await session.execute(select(OutboxMessage))).scalar_one()
        assert row.status == "blocked"


async def test_block_and_unblock_updates_stop_and_resume_the_contact(
        fake: FakeBotAPI, database_url: str, tmp_path: Path) -> None:
    async with Service(telegram_settings(database_url, tmp_path, fake)) as service:
        resident = Resident(fake, service)
        await resident.text("/start")
        bot = {"id": BOT_ID, "is_bot": True, "first_name": "Warga", "username": BOT_USERNAME}

        def member(old: str, new: str) -> dict[str, Any]:
            return {"update_id": next(_update_ids), "my_chat_member": {
                "chat": resident.chat, "from": resident.user, "date": 1795833900,
                "old_chat_member": {"user": bot, "status": old} | until(old),
                "new_chat_member": {"user": bot, "status": new} | until(new)}}

        def until(status: str) -> dict[str, int]:
            return {"until_date": 0} if status == "kicked" else {}

        await resident.deliver(member("member", "kicked"))
        assert (await service.contact(resident.id)).stopped is True
        await resident.deliver(member("kicked", "member"))
        assert (await service.contact(resident.id)).stopped is False
        assert len(resident.sent()) == 1  # neither says anything back


async def test_polling_conflict_is_logged_and_stops_the_service(
        fake: FakeBotAPI, database_url: str, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    fake.conflict = True
    settings = telegram_settings(database_url, tmp_path, fake, mode="polling", public_url=None)
    with caplog.at_level(logging.CRITICAL, logger="bot.telegram"):
        async with Service(settings) as service:
            await wait_until(lambda: bool(service.fatal))
    assert service.plugin.exit_status == 1
    assert service.fatal == ["telegram: 409 Conflict"]
    assert "409 Conflict" in caplog.text and "one poller" in caplog.text.lower()


async def test_warga_serve_exits_non_zero_on_a_polling_conflict(
        fake: FakeBotAPI, tmp_path: Path) -> None:
    fake.conflict = True
    env = {
        "PATH": os.environ.get("PATH", ""),
        "WARGA_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'warga.db'}",
        "WARGA_PORT": str(unused_port()),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": fake.url,
        "TELEGRAM_MODE": "polling",
        "WARGA_SECRET_KEY": "polling-conflict-test-key-0123456789",
        "PYTHONPATH": str(ROOT),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(60):
            _, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 1, stderr.decode()
    assert "409 Conflict" in stderr.decode()
    assert TOKEN not in stderr.decode()


async def wait_until(predicate: Callable[[], bool | Awaitable[bool]]) -> None:
    async with asyncio.timeout(SETTLE):
        while True:
            result = predicate()
            if result if isinstance(result, bool) else await result:
                return
            await asyncio.sleep(0.02)
