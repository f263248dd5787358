"""Broadcasts: who is in an audience, what is skipped and how it is reported, progress
while a long one runs, sends that survive a crash without repeating, WhatsApp's window."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.broadcast import Broadcaster
from bot.dispatcher import Dispatcher
from bot.metrics import Metrics
from bot.outbox import OutboxSender
from conversations.messages import (
    Outbound,
    Pacing,
    PermanentFailure,
    RecipientBlocked,
    SendResult,
    Template,
)
from handlers.whatsapp import render as whatsapp_render
from storage.db import Database
from storage.models import OutboxMessage
from storage.models_activities import Broadcast
from storage.repos_activities import ActivityRepo
from tests.activity_world import COORDINATOR, World
from tests.harness import Button, Clock, translator

pytestmark = [pytest.mark.storage]

MONDAY = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
KALIBARU = "31.72.04.1004"
CILINCING = "31.72.04.1001"


async def contact(db: Database, clock: Clock, user: str, *, channel: str = "console",
                  role: str = "resident", volunteer_type: str | None = None,
                  place: tuple[str, str, str] | None = None,
                  reported: tuple[str, str, str] | None = None,
                  last_seen: datetime | None = None) -> int:
    async with db.transaction() as tx:
        found = await tx.contacts.upsert(channel, user, last_seen or clock(), name=user.title())
        found.role = role
        found.volunteer_type = volunteer_type
        await tx.session.flush()
        if place is not None:
            await ActivityRepo(tx.session).set_place(found.id, *place, source="self",
                                                     now=clock())
        if reported is not None:
            kel, rw, rt = reported
            await tx.complaints.create(
                new_ticket=lambda: f"AIR-{uuid.uuid4().hex[:5].upper()}", contact_id=found.id,
                now=clock(), actor="test", report_type="air", description="Air mati",
                kelurahan_code=kel, rw=rw, rt=rt, flow_id="complaint", flow_version=1,
                answers={})
        return found.id


async def members(db: Database, audience: dict[str, Any]) -> list[str]:
    async with db.transaction() as tx:
        found = await ActivityRepo(tx.session).recipients(audience, 0, 1000)
        return [r.contact.external_id for r in found]


async def test_audiences_by_place_role_and_volunteer_group(db: Database) -> None:
    clock = Clock(MONDAY)
    await contact(db, clock, "siti", place=(KALIBARU, "003", "002"))
    await contact(db, clock, "budi", place=(KALIBARU, "005", "001"))
    # Ani reported from RW 03; where one says one lives wins over where one reported from.
    await contact(db, clock, "ani", reported=(KALIBARU, "003", "007"))
    await contact(db, clock, "dedi", place=(CILINCING, "003", "002"),
                  reported=(KALIBARU, "003", "002"))
    # Only the latest report counts.
    eko = await contact(db, clock, "eko", reported=(KALIBARU, "003", "002"))
    async with db.transaction() as tx:
        await tx.complaints.create(
            new_ticket=lambda: "AIR-EKO22", contact_id=eko, now=clock(), actor="test",
            report_type="air", description="Air mati", kelurahan_code=CILINCING, rw="001",
            rt="001", flow_id="complaint", flow_version=1, answers={})
    await contact(db, clock, "tagana1", role="volunteer", volunteer_type="tagana")
    await contact(db, clock, "pkh1", role="volunteer", volunteer_type="pkh")
    await contact(db, clock, "koord", role="coordinator")
    rw03 = {"type": "rw", "kelurahan_code": KALIBARU, "rw": "003"}
    assert await members(db, rw03) == ["siti", "ani"]
    assert await members(db, {**rw03, "type": "rt", "rt": "002"}) == ["siti"]
    assert await members(db, {"type": "kelurahan", "kelurahan_code": KALIBARU}) == [
        "siti", "budi", "ani"]
    assert await members(db, {"type": "kelurahan", "kelurahan_code": CILINCING}) == [
        "dedi", "eko"]
    assert await members(db, {"type": "volunteers"}) == ["tagana1", "pkh1"]
    assert await members(db, {"type": "volunteer_type", "volunteer_type": "pkh"}) == ["pkh1"]
    assert len(await members(db, {"type": "all"})) == 8
    with pytest.raises(ValueError, match="unknown audience"):
        await members(db, {"type": "everyone"})


class Flaky:
    """A channel where some recipients blocked the bot and some messages are refused."""

    name = "console"

    def __init__(self) -> None:
        self.pacing = Pacing(rate=10_000.0, per_recipient_interval=0.0, burst=1000)
        self.sent: list[Outbound] = []

    async def send(self, message: Outbound) -> SendResult:
        if message.user_id.startswith("blocked") and message.extra.get("bulk"):
            raise RecipientBlocked("Forbidden: bot was blocked by the user")
        if message.user_id.startswith("broken") and message.extra.get("bulk"):
            raise PermanentFailure("Bad Request: chat not usable")
        self.sent.append(message)
        return SendResult(provider_message_id=uuid.uuid4().hex)


async def test_the_delivery_report_counts_sent_failed_blocked_and_opted_out(
        db: Database) -> None:
    world = World(db, Clock(MONDAY))
    world.channel = Flaky()  # type: ignore[assignment]
    world.build()
    for user in ("siti", "budi", "blocked1", "broken1", "gone1", COORDINATOR):
        await world.send(user, "halo")
    await world.send("budi", "berhenti")
    async with db.transaction() as tx:
        gone = await tx.contacts.get_by_external("console", "gone1")
        assert gone is not None
        gone.stopped = True  # blocked us earlier: known before the broadcast
    script = ["/siaran", "Kerja bakti besok dibatalkan karena hujan.", "1", "ya"]
    for action in script:
        await world.send(COORDINATOR, action)
    preview = world.to(COORDINATOR)[-1]
    assert "Akan dikirim ke 4 orang (2 lainnya" in preview
    await world.send(COORDINATOR, Button("siaran:1:kirim"))
    report = world.to(COORDINATOR)[-1]
    assert report.startswith("📊 Laporan siaran #1: selesai, 6 penerima.")
    for line in ("Terkirim: 2", "Gagal: 1", "tidak bisa dihubungi: 2",
                 "Berhenti berlangganan: 1"):
        assert line in report, report
    # The one who blocked us during the broadcast is now known as stopped.
    async with db.session() as s:
        statuses = dict((await s.execute(select(OutboxMessage.recipient, OutboxMessage.status)
                                         .where(OutboxMessage.batch == "siaran:1"))).all())
    assert statuses == {"siti": "sent", "budi": "skipped", "blocked1": "blocked",
                        "broken1": "failed", "gone1": "skipped", COORDINATOR: "sent"}


async def test_a_long_broadcast_reports_progress_at_intervals(db: Database) -> None:
    world = World(db, Clock(MONDAY))
    for n in range(5):
        await world.send(f"warga{n}", "halo")
    await world.send(COORDINATOR, "halo")
    for action in ("/siaran", "Posyandu Melati buka Sabtu pukul 08.00.", "1", "ya",
                   Button("siaran:1:kirim")):
        await world.dispatcher.handle(world.inbound(COORDINATOR, action))
    broadcaster = world.feature.broadcaster
    await broadcaster.run()  # queued, nothing sent yet
    world.clock.advance(seconds=30)
    await broadcaster.run()
    world.clock.advance(seconds=31)
    await broadcaster.run()  # a minute without an end: progress
    await broadcaster.run()  # not twice for the same minute
    world.clock.advance(seconds=61)
    await broadcaster.run()
    progress = [o for o in await world.settle() if o.text.startswith("⏳")]
    assert [p.text for p in progress] == [
        "⏳ Siaran #1: 0 dari 6 sudah diproses (0 terkirim)…"] * 2
    assert world.to(COORDINATOR)[-1].startswith("📊")


async def test_a_bulk_message_whose_send_was_cut_short_by_a_crash_is_not_sent_again(
        db: Database) -> None:
    world = World(db, Clock(MONDAY))
    for user in ("siti", "budi", COORDINATOR):
        await world.send(user, "halo")
    async with db.transaction() as tx:
        broadcast = await ActivityRepo(tx.session).add_broadcast(
            kind="siaran", audience={"type": "all"}, body="Air bersih datang.",
            status="scheduled", due_at=world.clock(), created_at=world.clock())
        batch = f"siaran:{broadcast.id}"
    await world.feature.broadcaster.run()
    # A process claimed two rows and got as far as the platform call for one, then died.
    async with db.transaction() as tx:
        claimed = await tx.outbox.claim_due(world.clock(), limit=2,
                                            lease=timedelta(seconds=60))
        assert await tx.outbox.mark_posting(claimed[0].id, claimed[0].attempts)
        # A fenced-out attempt (another replica took the row over) is refused.
        assert not await tx.outbox.mark_posting(claimed[1].id, claimed[1].attempts + 1)
    world.build()
    world.clock.advance(seconds=61)
    await world.settle()
    got = [o.user_id for o in world.channel.sent if o.text.startswith("📢")]
    posted = claimed[0].recipient
    assert posted not in got and sorted(got) == sorted(
        {"siti", "budi", COORDINATOR} - {posted})
    async with db.transaction() as tx:
        counts = await ActivityRepo(tx.session).batch_counts(batch, world.clock())
    # Counted as sent: it reached the platform as far as anyone can tell.
    assert (counts.sent, counts.pending, counts.total) == (3, 0, 3)


async def test_pressing_send_twice_sends_once_and_a_discarded_draft_never(db: Database) -> None:
    world = World(db, Clock(MONDAY))
    for user in ("siti", COORDINATOR):
        await world.send(user, "halo")
    for action in ("/siaran", "Rapat warga malam ini pukul 19.30.", "1", "ya"):
        await world.send(COORDINATOR, action)
    await world.send(COORDINATOR, Button("siaran:1:kirim"))
    await world.send(COORDINATOR, Button("siaran:1:kirim"))
    assert "sudah diproses" in world.to(COORDINATOR)[-1]
    for action in ("/siaran", "Salah kirim.", "1", "ya"):
        await world.send(COORDINATOR, action)
    await world.send(COORDINATOR, Button("siaran:2:batal"))
    assert "dibuang" in world.to(COORDINATOR)[-1]
    texts = world.to("siti")
    assert sum("Rapat warga" in t for t in texts) == 1
    assert not any("Salah kirim" in t for t in texts)
    async with db.session() as s:
        kinds = (await s.execute(select(Broadcast.status).order_by(Broadcast.id))).scalars()
        assert list(kinds) == ["done", "cancelled"]


class WhatsAppShaped:
    """Renders what the outbox hands over exactly as the WhatsApp channel would."""

    name = "whatsapp"

    def __init__(self, clock: Clock) -> None:
        self.pacing = Pacing(rate=10_000.0, per_recipient_interval=0.0, burst=1000)
        self.clock = clock
        self.bodies: list[dict[str, Any]] = []

    async def send(self, message: Outbound) -> SendResult:
        self.bodies += whatsapp_render(message, now=self.clock(),
                                       template=Template("warga_notifikasi", "id"))
        return SendResult(provider_message_id=f"wamid.{uuid.uuid4().hex}")


async def test_whatsapp_contacts_outside_the_window_get_the_template(db: Database) -> None:
    clock = Clock(MONDAY)
    await contact(db, clock, "6281234567890", channel="whatsapp",
                  last_seen=MONDAY - timedelta(days=3))
    await contact(db, clock, "6281298765432", channel="whatsapp",
                  last_seen=MONDAY - timedelta(hours=2))
    dispatcher = Dispatcher(db, translator(), clock=clock, metrics=Metrics())
    broadcaster = Broadcaster(db, dispatcher, clock=clock)
    now = clock()
    async with db.transaction() as tx:
        activity = await ActivityRepo(tx.session).create(
            title="Pembagian air", kind="pembagian_air", starts_at=now + timedelta(days=1),
            place="Balai RW 03", audience={"type": "all"}, recurrence="none", reminders=[],
            status="draft", created_at=now, updated_at=now)
        await broadcaster.publish(tx, activity, now, None)
    await broadcaster.run()
    channel = WhatsAppShaped(clock)
    await OutboxSender(db, {"whatsapp": channel}, clock=clock).drain()
    assert {b["to"] for b in channel.bodies} == {"6281234567890", "6281298765432"}
    for body in channel.bodies:
        # Bulk goes as the approved template, inside the window too; the text and the
        # answers ride in its parameter.
        assert body["type"] == "template"
        [param] = body["template"]["components"][0]["parameters"]
        assert "Pembagian air" in param["text"] and "1. ✅ Hadir" in param["text"]


async def test_a_broadcast_sent_in_quiet_hours_waits_for_their_end(db: Database) -> None:
    # Monday 30 November, 22.00 WIB.
    world = World(db, Clock(datetime(2026, 11, 30, 15, 0, tzinfo=UTC)))
    for user in ("siti", COORDINATOR):
        await world.send(user, "halo")
    for action in ("/siaran", "Air bersih dibagikan besok pukul 08.00 di Balai RW 03.",
                   "semua warga", "ya"):
        await world.send(COORDINATOR, action)
    preview = world.to(COORDINATOR)[-1]
    assert "jam tenang (21.00–05.30)" in preview and "pukul 05.30" in preview
    await world.send(COORDINATOR, Button("siaran:1:kirim"))
    assert "jam tenang" in world.to(COORDINATOR)[-1]
    assert not any("Air bersih" in t for t in world.to("siti"))
    async with db.session() as s:
        [sent] = (await s.execute(select(Broadcast))).scalars().all()
    assert sent.due_at == datetime(2026, 11, 30, 22, 30, tzinfo=UTC)  # 05.30 WIB
    world.clock.now = datetime(2026, 11, 30, 22, 29, tzinfo=UTC)
    await world.settle()
    assert not any("Air bersih" in t for t in world.to("siti"))
    world.clock.now = datetime(2026, 11, 30, 22, 30, tzinfo=UTC)
    await world.settle()
    assert sum("Air bersih" in t for t in world.to("siti")) == 1


async def test_reminders_are_numbered_apart_from_broadcasts(db: Database) -> None:
    now = MONDAY
    async with db.transaction() as tx:
        repo = ActivityRepo(tx.session)
        made = [await repo.add_broadcast(kind=kind, audience={"type": "all"},
                                         status="scheduled", due_at=now, created_at=now)
                for kind in ("announce", "reminder", "reminder", "siaran", "reminder", "cancel")]
        numbers = [(b.kind, b.number) for b in made]
    assert numbers == [("announce", 1), ("reminder", 1), ("reminder", 2), ("siaran", 2),
                       ("reminder", 3), ("cancel", 3)]
