"""WhatsApp end to end: the real app (``create_app`` with the WhatsApp plugin) on a test
server, signed webhooks in, a fake Graph API on a loopback port out, the database under
test in between."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import and_, func, or_, select

from bot.app import SERVICES, Services, create_app
from bot.settings import Secret, Settings
from bot.whatsapp import WhatsAppPlugin
from conversations.i18n import T
from conversations.messages import Choice, InboundKind, Outbound, Pacing
from handlers.whatsapp import sign
from storage.models import (
    Complaint,
    Contact,
    ConversationSession,
    MediaFile,
    OutboxMessage,
    ProcessedInbound,
)
from tests.dashboard_helpers import add_complaint
from tests.fakes.whatsapp_api import PHONE_NUMBER_ID, TOKEN, FakeGraphAPI
from tests.harness import Clock
from tests.test_whatsapp_inbound import FIXTURE_CASES, fixture_payload

pytestmark = [pytest.mark.e2e]

APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
USER = "6281234567890"
# The fixtures' user: BSUID first; their wa_id is kept beside it.
FIXTURE_USER = "US.13491208655302741918"
# Replies follow one another quickly in a scripted conversation; WhatsApp's per-user
# pacing (a few seconds) would only make the tests slow.
FAST = Pacing(rate=1000.0, per_recipient_interval=0.0, burst=1000)


@dataclass
class WhatsApp:
    client: TestClient[Any, Any]
    fake: FakeGraphAPI
    clock: Clock
    plugin: WhatsAppPlugin
    ids: itertools.count[int]

    @property
    def services(self) -> Services:
        return self.client.app[SERVICES]  # type: ignore[index]

    async def post(self, payload: Any, *, signature: str | None = "sign",
                   raw: bytes | None = None) -> tuple[int, str]:
        body = raw if raw is not None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if signature == "sign":
            headers["X-Hub-Signature-256"] = sign(APP_SECRET, body)
        elif signature is not None:
            headers["X-Hub-Signature-256"] = signature
        async with self.client.post("/webhooks/whatsapp", data=body, headers=headers) as resp:
            return resp.status, await resp.text()

    async def deliver(self, payload: Any) -> None:
        """Post a signed webhook, expect 200, and let every reply go out."""
        status, _ = await self.post(payload)
        assert status == 200
        await self.settle()

    async def settle(self) -> None:
        """Wait until media downloads, due outbox rows and read receipts are all done.

        The app's own sender loop runs beside ``drain()`` and may hold rows it has claimed
        but not yet started, so the database decides when the outbox is quiet.
        """
        sender = self.services.sender
        assert sender is not None
        await self.services.dispatcher.idle()
        for _ in range(1000):  # a bound, not a timing: each round waits for real work
            await sender.drain()
            if not await self.outbox_busy():
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the outbox never became quiet")
        await self.plugin.idle()

    async def outbox_busy(self) -> bool:
        due = or_(OutboxMessage.status == "sending",
                  and_(OutboxMessage.status == "pending",
                       OutboxMessage.next_attempt_at <= self.clock()))
        async with self.services.db.session() as s:
            stmt = select(func.count()).select_from(OutboxMessage).where(due)
            return bool((await s.execute(stmt)).scalar_one())

    async def say(self, message: dict[str, Any], user: str = USER) -> dict[str, Any]:
        """The user sends one message; return the one reply they get."""
        before = len(self.fake.to(user))
        await self.deliver(webhook(self.message(message, user), user))
        replies = self.fake.to(user)[before:]
        assert len(replies) == 1, replies
        return replies[0]

    def message(self, body: dict[str, Any], user: str = USER) -> dict[str, Any]:
        return {"from": user, "id": f"wamid.in{next(self.ids)}",
                "timestamp": str(int(self.clock().timestamp())), **body}

    async def count(self, model: Any) -> int:
        async with self.services.db.session() as s:
            return int((await s.execute(select(func.count()).select_from(model))).scalar_one())

    async def rows(self, model: Any) -> list[Any]:
        async with self.services.db.session() as s:
            return list((await s.execute(select(model))).scalars())

    def text(self, key: str) -> str:
        return self.services.translator("id", T(key))


def webhook(message: dict[str, Any] | None = None, user: str = USER,
            statuses: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "622100000", "phone_number_id": PHONE_NUMBER_ID},
    }
    if message is not None:
        value["contacts"] = [{"profile": {"name": "Siti"}, "wa_id": user}]
        value["messages"] = [message]
    if statuses is not None:
        value["statuses"] = statuses
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}]}


def text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": body}}


def button(choice_id: str) -> dict[str, Any]:
    return {"type": "interactive", "interactive": {
        "type": "button_reply", "button_reply": {"id": choice_id, "title": "t"}}}


def list_reply(choice_id: str) -> dict[str, Any]:
    return {"type": "interactive", "interactive": {
        "type": "list_reply", "list_reply": {"id": choice_id, "title": "t"}}}


def status(wamid: str, state: str, *codes: int) -> dict[str, Any]:
    item: dict[str, Any] = {"id": wamid, "status": state, "timestamp": "1764300000",
                            "recipient_id": USER}
    if codes:
        item["errors"] = [{"code": c, "title": "Re-engagement message",
                           "error_data": {"details": "+6281234567890 said something"}}
                          for c in codes]
    return item


def settings_for(database_url: str, data_dir: Path, api_url: str, **extra: Any) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        whatsapp_access_token=Secret(TOKEN),
        whatsapp_phone_number_id=PHONE_NUMBER_ID,
        whatsapp_app_secret=Secret(APP_SECRET),
        whatsapp_verify_token=Secret(VERIFY_TOKEN),
        whatsapp_api_url=api_url,
        **extra,
    )


@pytest.fixture
async def wa(database_url: str, tmp_path: Path) -> AsyncIterator[WhatsApp]:
    async with FakeGraphAPI() as fake:
        settings = settings_for(database_url, tmp_path, fake.url, max_body_bytes=64 * 1024)
        clock = Clock()
        plugin = WhatsAppPlugin(settings, pacing=FAST)
        app = create_app(settings, clock=clock, plugins=[plugin])
        async with TestClient(TestServer(app)) as client:
            yield WhatsApp(client, fake, clock, plugin, itertools.count(1))
        assert fake.problems == []


def kinds(body: dict[str, Any]) -> str:
    """What kind of WhatsApp message a request body is, for short assertions."""
    if body["type"] == "interactive":
        return body["interactive"]["type"]
    return str(body["type"])


def choice_ids(body: dict[str, Any]) -> list[str]:
    action = body["interactive"]["action"]
    if "buttons" in action:
        return [b["reply"]["id"] for b in action["buttons"]]
    return [r["id"] for s in action["sections"] for r in s["rows"]]


def body_text(body: dict[str, Any]) -> str:
    if body["type"] == "text":
        return str(body["text"]["body"])
    if body["type"] == "template":
        return str(body["template"]["components"][0]["parameters"][0]["text"])
    return str(body["interactive"]["body"]["text"])


# -- verification and signatures --------------------------------------------------------------


async def test_verification_get(wa: WhatsApp) -> None:
    ok = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    async with wa.client.get("/webhooks/whatsapp", params=ok) as resp:
        assert resp.status == 200 and await resp.text() == "1158201444"
    for wrong in ({**ok, "hub.verify_token": "nope"}, {**ok, "hub.mode": "unsubscribe"},
                  {"hub.challenge": "1"}):
        async with wa.client.get("/webhooks/whatsapp", params=wrong) as resp:
            assert resp.status == 403
            assert "1158201444" not in await resp.text()


@pytest.mark.parametrize(("signature", "expected"), [
    (None, 401),
    ("", 401),
    ("sha256=" + "0" * 64, 403),
    (sign("another-secret", b"x"), 403),
    ("garbage", 403),
])
async def test_bad_and_missing_signatures_store_nothing(wa: WhatsApp, signature: str | None,
                                                        expected: int) -> None:
    payload = webhook(wa.message(text("halo")))
    status_code, _ = await wa.post(payload, signature=signature)
    assert status_code == expected
    await wa.settle()
    for model in (ProcessedInbound, Contact, OutboxMessage, ConversationSession):
        assert await wa.count(model) == 0
    assert wa.fake.requests == []


async def test_signature_is_over_the_raw_bytes(wa: WhatsApp) -> None:
    raw = json.dumps(webhook(wa.message(text("halo")))).encode()
    # Same JSON, different bytes: a signature of the re-serialised body must not pass.
    spaced = raw.replace(b":", b": ")
    status_code, _ = await wa.post(None, raw=spaced, signature=sign(APP_SECRET, raw))
    assert status_code == 403


async def test_bad_bodies(wa: WhatsApp) -> None:
    huge = b'{"object":"whatsapp_business_account","entry":[' + b" " * (70 * 1024) + b"]}"
    assert (await wa.post(None, raw=huge))[0] == 413
    assert (await wa.post(None, raw=b"{not json"))[0] == 400
    assert (await wa.post(None, raw=b"[1, 2]"))[0] == 400
    assert (await wa.post(None, raw=b"[" * 30_000 + b"]" * 30_000))[0] == 400
    assert (await wa.post({"object": "whatsapp_business_account", "entry": "x"}))[0] == 400
    # Signed, well formed, but nothing for us: 200 so Meta does not retry for days.
    assert (await wa.post({"object": "page", "entry": []}))[0] == 200
    assert await wa.count(ProcessedInbound) == 0


# -- every real payload --------------------------------------------------------------------


async def seed_sent_row(wa: WhatsApp, wamid: str) -> int:
    """An outbox row we sent earlier, as statuses refer to it."""
    now = wa.clock()
    async with wa.services.db.transaction() as tx:
        row_id = await tx.outbox.enqueue(
            channel="whatsapp", recipient=FIXTURE_USER, now=now,
            payload=Outbound("whatsapp", FIXTURE_USER, "x").as_dict(),
            not_before=now.replace(year=now.year + 1),  # never picked up by the sender
        )
        assert row_id is not None
        await tx.outbox.mark_sent(row_id, now, wamid)
    return row_id


@pytest.mark.parametrize("case", FIXTURE_CASES, ids=lambda c: c.ref)
async def test_every_fixture_payload(wa: WhatsApp, case: Any) -> None:
    payload = fixture_payload(case.ref)
    photo = b"\xff\xd8 not the photo the webhook hashed"
    wa.fake.add_media("65463453", photo)
    seeded = [await seed_sent_row(wa, s.message_id) for s in case.statuses]

    await wa.deliver(payload)

    replies = wa.fake.to(FIXTURE_USER)
    processed = [r.message_id for r in await wa.rows(ProcessedInbound)]
    # A number change is remembered too: a re-delivery moves nobody twice.
    assert processed == ([c.message_id for c in case.number_changes]
                         + [m.message_id for m in case.messages])
    assert wa.fake.reads == [m.message_id for m in case.messages]
    assert len(replies) == len(case.messages)
    for inbound, reply in zip(case.messages, replies, strict=True):
        if inbound.kind == InboundKind.UNSUPPORTED:
            # A polite answer naming what we could not take.
            assert wa.text(f"bot.unsupported.{inbound.unsupported}") in body_text(reply)
    if any(m.kind == InboundKind.MEDIA for m in case.messages):
        # The webhook's sha256 does not match these bytes: not kept, the answer still is.
        assert await wa.count(MediaFile) == 0
    rows = {r.id: r for r in await wa.rows(OutboxMessage)}
    for row_id, update in zip(seeded, case.statuses, strict=True):
        expected = update.status if update.message_id == "wamid.xyzxyz" else "sent"
        assert rows[row_id].status == expected
    if not case.messages:
        assert replies == []


# -- the resident's report, through buttons, lists, a location and a photo -----------------


async def test_complaint_flow_to_a_ticket(wa: WhatsApp) -> None:
    photo = b"\xff\xd8\xff\xe0 foto pipa bocor " * 64
    photo_sha = wa.fake.add_media("media-77", photo)

    menu = await wa.say(text("halo"))
    assert kinds(menu) == "list" and "menu:lapor" in choice_ids(menu)
    jenis = await wa.say(list_reply("menu:lapor"))
    assert kinds(jenis) == "list" and choice_ids(jenis)[0] == "jenis:air"
    kategori = await wa.say(list_reply("jenis:air"))
    # Thirteen categories: more than a WhatsApp list holds, so a numbered list in text.
    assert kinds(kategori) == "text" and "13. Lainnya" in body_text(kategori)
    assert kinds(await wa.say(text("3"))) == "text"  # "3": the third, Air keruh
    await wa.say(text("Air keruh kecoklatan sejak pipa diperbaiki"))
    await wa.say(text("kemarin"))
    lokasi = await wa.say(text("12"))
    assert kinds(lokasi) == "location_request_message"
    kelurahan = await wa.say({"type": "location", "location": {
        "latitude": -6.1011, "longitude": 106.9264, "name": "Kalibaru"}})
    assert kinds(kelurahan) == "list" and "kelurahan:1004" in choice_ids(kelurahan)
    patokan = await wa.say(list_reply("kelurahan:1004"))
    assert kinds(patokan) == "button" and choice_ids(patokan) == ["patokan:__skip"]
    kontak = await wa.say(button("patokan:__skip"))
    # A user known by a WhatsApp username only: the number is asked.
    assert choice_ids(kontak) == ["telepon:__skip"]
    again = await wa.say({"type": "image", "image": {
        "id": "media-77", "mime_type": "image/jpeg", "sha256": photo_sha}})
    assert "fotonya sudah saya simpan" in body_text(again)
    confirm = await wa.say({"type": "contacts", "contacts": [{
        "name": {"formatted_name": "Siti"},
        "phones": [{"phone": "+62 812-3456-7890", "wa_id": USER, "type": "CELL"}]}]})
    assert choice_ids(confirm) == ["confirm:yes", "confirm:no", "confirm:cancel"]
    done = await wa.say(button("confirm:yes"))

    [complaint] = await wa.rows(Complaint)
    assert complaint.ticket in body_text(done)
    assert (complaint.report_type, complaint.category) == ("air", "keruh")
    assert complaint.kelurahan_code == "31.72.04.1004"
    assert complaint.latitude == pytest.approx(-6.1011)
    assert complaint.answers["foto"]["ref"] == "media-77"
    assert complaint.answers["telepon"] == "+6281234567890"
    assert complaint.answers["boleh_dihubungi"] == "yes"
    # The photo's bytes are kept, checked against the webhook's sha256.
    [media] = await wa.rows(MediaFile)
    assert media.ref == "media-77" and media.sha256 == hashlib.sha256(photo).hexdigest()
    assert await asyncio.to_thread(Path(media.path).read_bytes) == photo
    # Every message was marked as read, through the same fake API.
    assert len(wa.fake.reads) == 13  # each of the resident's thirteen messages
    [contact] = await wa.rows(Contact)
    assert (contact.external_id, contact.name) == (USER, "Siti")


async def test_bsuid_user_is_one_contact_with_both_ids(wa: WhatsApp) -> None:
    payload = webhook(wa.message(text("halo")))
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["user_id"] = "ID.4455"
    await wa.deliver(payload)
    [contact] = await wa.rows(Contact)
    assert (contact.external_id, contact.alt_id) == ("ID.4455", USER)
    assert len(wa.fake.to("ID.4455")) + len(wa.fake.to(USER)) == 1


# -- delivery guarantees ---------------------------------------------------------------------


async def test_the_same_message_twice_gets_one_reply(wa: WhatsApp) -> None:
    payload = webhook(wa.message(text("halo")))
    await wa.deliver(payload)
    await wa.deliver(payload)
    assert len(wa.fake.to(USER)) == 1
    assert await wa.count(ProcessedInbound) == 1
    assert len(wa.fake.reads) == 1


async def test_throttled_send_is_backed_off_and_still_arrives(wa: WhatsApp) -> None:
    wa.fake.fail_next(130429)
    await wa.deliver(webhook(wa.message(text("halo"))))
    assert wa.fake.to(USER) == []
    [row] = await wa.rows(OutboxMessage)
    assert row.status == "pending" and row.next_attempt_at > wa.clock()
    assert "Throttled" in (row.error or "")
    wa.clock.advance(minutes=5)
    await wa.settle()
    [reply] = wa.fake.to(USER)
    assert kinds(reply) == "list"
    [row] = await wa.rows(OutboxMessage)
    assert row.status == "sent"


async def test_outside_the_window_the_contact_gets_the_template(wa: WhatsApp) -> None:
    await wa.say(text("halo"))
    wa.clock.advance(hours=25)
    await notify(wa, "Status laporan *AIR-4K7QX*: diproses.\n\nTerima kasih.")
    last = wa.fake.to(USER)[-1]
    assert last["template"]["name"] == "warga_notifikasi"
    assert body_text(last) == "Status laporan AIR-4K7QX: diproses. Terima kasih."
    # Writing again opens the window: the reply is free-form.
    assert kinds(await wa.say(text("menu"))) == "list"


async def test_inside_the_window_a_notification_is_free_form(wa: WhatsApp) -> None:
    await wa.say(text("halo"))
    wa.clock.advance(hours=3)
    await notify(wa, "Status laporan berubah.")
    assert kinds(wa.fake.to(USER)[-1]) == "text"


async def test_failed_status_131047_is_recorded_and_switches_to_templates(
    wa: WhatsApp,
) -> None:
    await wa.say(text("halo"))
    [row] = await wa.rows(OutboxMessage)
    assert row.provider_message_id
    await wa.deliver(webhook(statuses=[status(row.provider_message_id, "delivered")]))
    assert (await wa.rows(OutboxMessage))[0].status == "delivered"

    before = len(wa.fake.to(USER))
    await wa.deliver(webhook(statuses=[status(row.provider_message_id, "failed", 131047)]))
    await wa.settle()
    [contact] = await wa.rows(Contact)
    assert contact.window_closed
    # The failed message is not lost: it goes again, as the approved template.
    resent = wa.fake.to(USER)[before:]
    assert [kinds(body) for body in resent] == ["template"]
    [row] = await wa.rows(OutboxMessage)
    assert row.status == "sent" and row.attempts == 2
    await notify(wa, "Pengingat kegiatan.")
    assert kinds(wa.fake.to(USER)[-1]) == "template"


async def test_statuses_move_forward_only(wa: WhatsApp) -> None:
    await wa.say(text("halo"))
    [row] = await wa.rows(OutboxMessage)
    wamid = row.provider_message_id
    assert wamid
    await wa.deliver(webhook(statuses=[status(wamid, "read"), status(wamid, "delivered")]))
    assert (await wa.rows(OutboxMessage))[0].status == "read"


async def test_database_down_answers_503_so_meta_retries(wa: WhatsApp) -> None:
    async def broken(*args: Any, **kwargs: Any) -> bool:
        raise ConnectionRefusedError("database unreachable")

    handle = wa.services.dispatcher.handle
    wa.services.dispatcher.handle = broken  # type: ignore[method-assign]
    payload = webhook(wa.message(text("halo")))
    assert (await wa.post(payload))[0] == 503
    wa.services.dispatcher.handle = handle  # type: ignore[method-assign]
    await wa.deliver(payload)  # Meta's retry
    assert len(wa.fake.to(USER)) == 1


async def test_a_hanging_graph_api_does_not_hold_the_webhook(wa: WhatsApp) -> None:
    wa.fake.gate = asyncio.Event()
    status_code, _ = await wa.post(webhook(wa.message(text("halo"))))
    # Answered while the Graph API has not answered anything yet.
    assert status_code == 200 and wa.fake.to(USER) == []
    wa.fake.gate.set()
    await wa.settle()
    assert len(wa.fake.requests) == 2 and len(wa.fake.to(USER)) == 1


async def notify(wa: WhatsApp, message: str, **fields: Any) -> None:
    """A coordinator's status change (not bulk) queued for the resident, and sent."""
    now = wa.clock()
    async with wa.services.db.transaction() as tx:
        contact = await tx.contacts.get_by_external("whatsapp", USER)
        assert contact is not None
        await tx.outbox.enqueue(channel="whatsapp", recipient=USER, now=now,
                                payload=Outbound("whatsapp", USER, message, **fields).as_dict(),
                                contact_id=contact.id, priority=0)
    await wa.settle()


async def test_a_photo_with_a_question(wa: WhatsApp, tmp_path: Path) -> None:
    """A coordinator's follow-up with the repair photo: the photo, then the buttons."""
    photo = tmp_path / "perbaikan.jpg"
    await asyncio.to_thread(photo.write_bytes, b"\xff\xd8 pipa baru")
    await wa.say(text("halo"))
    await notify(wa, "Pipa sudah diganti. Sudah teratasi?", media_path=str(photo),
                 choices=(Choice("tiket:ok", "Sudah teratasi"), Choice("tiket:no", "Belum")))
    image, question = wa.fake.to(USER)[-2:]
    assert wa.fake.media[image["image"]["id"]][0] == b"\xff\xd8 pipa baru"
    assert choice_ids(question) == ["tiket:ok", "tiket:no"]
    assert body_text(question) == "Pipa sudah diganti. Sudah teratasi?"


async def test_errors_are_logged_without_personal_data(wa: WhatsApp,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    await wa.say(text("halo"))
    [row] = await wa.rows(OutboxMessage)
    assert row.provider_message_id
    payload = webhook(statuses=[status(row.provider_message_id, "failed", 131026)])
    payload["entry"][0]["changes"][0]["value"]["errors"] = [
        {"code": 131000, "title": "Something went wrong",
         "error_data": {"details": "message from +6281234567890: 'rumah saya di gang 5'"}}]
    with caplog.at_level(logging.WARNING):
        await wa.deliver(payload)
    assert "131000" in caplog.text and "131026" in caplog.text
    for private in ("+62", USER, "gang 5", row.provider_message_id):
        assert private not in caplog.text
    # Undeliverable (131026): no more bulk until they write again.
    [contact] = await wa.rows(Contact)
    assert contact.stopped


# -- a resident changes their number ----------------------------------------------------------


def number_change(old: str, new: str, message_id: str = "wamid.change1") -> dict[str, Any]:
    """Shaped as ``system/phone_number_change`` of the fixtures, for our numbers."""
    payload = fixture_payload("system/phone_number_change")
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = PHONE_NUMBER_ID
    [message] = value["messages"]
    message.update({"from": old, "id": message_id})
    message["system"].update({"wa_id": new, "body": f"User A changed from {old} to {new}"})
    return payload


NEW_NUMBER = "6289876543210"


async def test_a_changed_number_takes_tickets_session_and_consent_along(wa: WhatsApp) -> None:
    menu = await wa.say(text("halo"))
    await wa.say(list_reply("menu:lapor"))  # a report under way
    [contact] = await wa.rows(Contact)
    complaint = await add_complaint(wa.services.db, contact.id, wa.clock())
    async with wa.services.db.transaction() as tx:
        await tx.contacts.set_fields(contact.id, wa.clock(), consent_version="v1",
                                     consent_at=wa.clock(), phone="+" + USER)
    assert "menu:lapor" in choice_ids(menu)

    await wa.deliver(number_change(USER, NEW_NUMBER))
    await wa.deliver(number_change(USER, NEW_NUMBER))  # a re-delivery changes nothing more

    [moved] = await wa.rows(Contact)
    assert moved.id == contact.id and moved.external_id == NEW_NUMBER
    assert (moved.consent_version, moved.phone) == ("v1", "+" + NEW_NUMBER)
    [session] = await wa.rows(ConversationSession)
    assert session.contact_id == contact.id and session.flow_id == "complaint"
    [ticket] = await wa.rows(Complaint)
    assert (ticket.id, ticket.contact_id) == (complaint.id, contact.id)
    # The report goes on from the new number, in the same conversation.
    kategori = await wa.say(list_reply("jenis:air"), user=NEW_NUMBER)
    assert "13. Lainnya" in body_text(kategori)
    assert await wa.count(Contact) == 1
    assert wa.fake.to(USER)[-1:] != []  # the earlier replies went to the old number


async def test_a_contact_the_new_number_made_meanwhile_is_folded_in(wa: WhatsApp) -> None:
    await wa.say(text("halo"))
    [old] = await wa.rows(Contact)
    await add_complaint(wa.services.db, old.id, wa.clock())
    await wa.say(text("halo"), user=NEW_NUMBER)  # the new number wrote first
    newer = next(c for c in await wa.rows(Contact) if c.external_id == NEW_NUMBER)
    await add_complaint(wa.services.db, newer.id, wa.clock())

    await wa.deliver(number_change(USER, NEW_NUMBER))

    [contact] = await wa.rows(Contact)
    assert (contact.id, contact.external_id) == (old.id, NEW_NUMBER)
    assert {c.contact_id for c in await wa.rows(Complaint)} == {old.id}
    assert await wa.count(Complaint) == 2
    [session] = await wa.rows(ConversationSession)
    assert session.contact_id == old.id


async def test_a_change_for_a_number_never_seen_stores_no_contact(wa: WhatsApp) -> None:
    await wa.deliver(number_change("6281100000000", NEW_NUMBER))
    assert await wa.count(Contact) == 0
    assert wa.fake.to(NEW_NUMBER) == []
