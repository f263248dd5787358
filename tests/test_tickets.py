"""Tickets by chat: officers' /tiket and status buttons, closing with a note and a photo,
the reporter's "Sudah teratasi?" and "belum", linked reports of the same problem,
volunteers' rights, and residents' own "tiket" still meaning their status.

Several people talk to one bot here (one dispatcher, one outbox): ``Town.say(who, …)``
delivers as that person and returns everything the bot sent to anybody.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.dashboard.feature import DashboardFeature
from bot.features.tickets import TicketsFeature
from conversations.messages import Outbound
from storage.db import Database
from storage.models import Complaint, ComplaintStatus
from storage.repos_tickets import TicketRepo
from tests.dashboard_helpers import NIK, add_complaint, add_contact, dashboard_settings
from tests.harness import (
    TICKET_IN_TEXT,
    Action,
    Bot,
    Button,
    Clock,
    Photo,
    check_golden,
    describe,
    render,
)

pytestmark = pytest.mark.storage

PEOPLE = {"warga": "Siti", "warga2": "Budi", "koor": "Bu Ani", "relawan": "Pak Joko"}


# A report of one problem at one address (RT/RW typed, so that two of them are linked).
REPORT: list[Action] = [
    "/start",
    Button("menu:lapor"),
    Button("jenis:air"),
    Button("kategori:keruh"),
    "Air keruh kecoklatan sejak pipa diperbaiki",
    "kemarin",
    "12",
    "Kalibaru RT 5 RW 3 dekat masjid",
    Photo(),
    "0812-3456-7890",
    Button("confirm:yes"),
]


class Town:
    """One bot, several people; every outbound is kept with its recipient."""

    def __init__(self, db: Database, tmp_path: Path, clock: Clock | None = None) -> None:
        self.db = db
        self.clock = clock or Clock()
        self.feature = TicketsFeature(dashboard_settings(str(db.url), tmp_path))
        self.bot = Bot(db, self.clock)
        self._wire()
        self.lines: list[str] = []

    def _wire(self) -> None:
        self.bot.dispatcher.add_feature(self.feature)
        self.bot.dispatcher.add_feature(DashboardFeature(self.feature))
        self.bot.dispatcher.coordinators.add("console:koor")

    async def say(self, who: str, action: Action) -> list[Outbound]:
        self.bot.user = who
        self.bot.name = PEOPLE.get(who)
        self.lines.append(f"> {who}: {describe(action)}")
        out = await self.bot.send(action)
        for message in out:
            self.lines.append(f"< to {message.user_id}:")
            self.lines.extend(render(message))
            if message.media_path:
                self.lines.append("<   [photo attached]")
        return out

    async def to(self, who: str, action: Action, recipient: str | None = None) -> Outbound:
        """Deliver as ``who``; exactly one message goes to ``recipient`` (default: who)."""
        out = [m for m in await self.say(who, action) if m.user_id == (recipient or who)]
        assert len(out) == 1, f"expected one message to {recipient or who}, got {out}"
        return out[0]

    async def drain(self) -> list[Outbound]:
        before = len(self.bot.channel.sent)
        await self.bot.sender.drain()
        out = self.bot.channel.sent[before:]
        for message in out:
            self.lines.append(f"< to {message.user_id}:")
            self.lines.extend(render(message))
            if message.media_path:
                self.lines.append("<   [photo attached]")
        return out

    def transcript(self) -> str:
        # Ticket numbers are random: placeholders everywhere (typed, in buttons, in text).
        text = "\n".join(self.lines) + "\n"
        return TICKET_IN_TEXT.sub(
            lambda m: m.group(0) if m.group(0) == "AIR-4K7QX" else m.group(0)[:4] + "#####",
            text)


async def statuses(db: Database, ticket: str) -> list[str]:
    async with db.session() as session:
        complaint = (await session.execute(
            select(Complaint).where(Complaint.ticket == ticket))).scalar_one()
        return list((await session.execute(
            select(ComplaintStatus.status).where(ComplaintStatus.complaint_id == complaint.id)
            .order_by(ComplaintStatus.id))).scalars())


@pytest.fixture
async def town(db: Database, tmp_path: Path) -> Town:
    return Town(db, tmp_path)


async def test_close_with_photo_and_reopen_by_belum(town: Town) -> None:
    now = town.clock()
    resident = await add_contact(town.db, "warga", now, name="Siti")
    complaint = await add_complaint(town.db, resident, now,
                                    description=f"Air keruh, NIK {NIK}")
    ticket, cid = complaint.ticket, complaint.id

    listing = await town.to("koor", "/tiket")
    assert ticket in listing.text and [c.id for c in listing.choices] == [f"tkv:{cid}"]
    view = await town.to("koor", Button(f"tkv:{cid}"))
    assert NIK not in view.text and "NIK [nomor disembunyikan]" in view.text
    assert "Batas verifikasi: Rabu, 2 Desember 2026" in view.text
    assert [c.id for c in view.choices] == [
        f"tks:{cid}:diterima:diverifikasi", f"tks:{cid}:diterima:diproses",
        f"tks:{cid}:diterima:selesai", f"tks:{cid}:diterima:ditolak"]

    out = await town.say("koor", Button(f"tks:{cid}:diterima:diverifikasi"))
    [notice] = [m for m in out if m.user_id == "warga"]
    assert notice.text == f"Kabar laporan *{ticket}*: statusnya sekarang *Diverifikasi*."
    # A stale button (the status moved on) changes nothing.
    stale = await town.to("koor", Button(f"tks:{cid}:diterima:diproses"))
    assert "sudah berubah" in stale.text

    town.clock.advance(hours=20)
    ask = await town.to("koor", Button(f"tks:{cid}:diverifikasi:selesai"))
    assert "Selesai" in ask.text and "catatan" in ask.text.lower()
    await town.to("koor", "Pompa sudah diperbaiki teknisi PAM")
    await town.to("koor", Photo("bukti-1"))
    out = await town.say("koor", Button("confirm:yes"))
    [question] = [m for m in out if m.user_id == "warga"]
    assert "Pompa sudah diperbaiki teknisi PAM" in question.text
    assert question.text.endswith("Sudah teratasi? Jawab *sudah* atau *belum*.")
    assert [c.id for c in question.choices] == ["tkr:1:ya", "tkr:1:belum"]
    # The photo is still downloading (the harness has no fetcher): it follows later.
    assert question.media_path is None
    async with town.db.transaction() as tx:
        await tx.media.add(channel="console", ref="bukti-1", unique_id=None, mime_type=None,
                           sha256="0" * 64, size=3, path="/tmp/bukti-1", created_at=now)
    assert await town.feature.send_pending_photos(town.db, town.clock()) == 1
    [photo] = await town.drain()
    assert photo.user_id == "warga" and photo.media_path == "/tmp/bukti-1"
    assert await town.feature.send_pending_photos(town.db, town.clock()) == 0

    town.clock.advance(hours=3)
    out = await town.say("warga", Button("tkr:1:belum"))
    reply = [m for m in out if m.user_id == "warga"]
    alert = [m for m in out if m.user_id == "koor"]
    assert len(reply) == 1 and "buka kembali" in reply[0].text
    assert len(alert) == 1 and "belum teratasi" in alert[0].text
    assert await statuses(town.db, ticket) == ["diterima", "diverifikasi", "selesai",
                                               "diproses"]
    # The same button again: already answered.
    again = await town.to("warga", Button("tkr:1:belum"))
    assert "sudah kami catat" in again.text
    check_golden("ticket_close_photo_belum", town.transcript())


async def test_typed_sudah_and_belum(town: Town) -> None:
    now = town.clock()
    resident = await add_contact(town.db, "warga", now, name="Siti")
    complaint = await add_complaint(town.db, resident, now)
    # Nothing asked yet: "belum" is not understood as an answer, the menu shows.
    nothing = await town.to("warga", "belum")
    assert "belum mengerti" in nothing.text
    await town.to("koor", f"/tiket {complaint.ticket}")
    await town.to("koor", Button(f"tks:{complaint.id}:diterima:selesai"))
    await town.to("koor", "Sudah dibersihkan")
    await town.to("koor", "lewati")
    await town.say("koor", "ya")
    thanks = await town.to("warga", "sudah")
    assert "kami tutup" in thanks.text
    assert await statuses(town.db, complaint.ticket) == ["diterima", "selesai"]
    # Closed again after a reopening: typed "belum teratasi" reopens.
    async with town.db.transaction() as tx:
        repo = TicketRepo(tx.session)
        closure = (await repo.latest_closures([complaint.id]))[complaint.id]
        assert closure.answer == "ya"
    check_golden("ticket_typed_answers", town.transcript())


async def test_reopening_is_refused_after_fourteen_days(town: Town) -> None:
    now = town.clock()
    resident = await add_contact(town.db, "warga", now, name="Siti")
    complaint = await add_complaint(town.db, resident, now)
    await town.to("koor", f"/tiket {complaint.ticket}")
    await town.to("koor", Button(f"tks:{complaint.id}:diterima:selesai"))
    await town.to("koor", "Sudah dibersihkan")
    await town.to("koor", "lewati")
    await town.say("koor", "ya")
    town.clock.advance(days=15)
    late = await town.to("warga", Button("tkr:1:belum"))
    assert "lebih dari 14 hari" in late.text
    assert await statuses(town.db, complaint.ticket) == ["diterima", "selesai"]


async def test_rejecting_needs_a_reason_and_tells_the_reporter(town: Town) -> None:
    now = town.clock()
    resident = await add_contact(town.db, "warga", now, name="Siti")
    complaint = await add_complaint(town.db, resident, now)
    await town.to("koor", f"tiket {complaint.ticket}")  # typed, without the slash
    ask = await town.to("koor", Button(f"tks:{complaint.id}:diterima:ditolak"))
    assert "ditolak" in ask.text
    await town.to("koor", "Di luar wilayah Cilincing")
    out = await town.say("koor", Button("confirm:yes"))
    [notice] = [m for m in out if m.user_id == "warga"]
    assert "Alasan: Di luar wilayah Cilincing" in notice.text
    assert await statuses(town.db, complaint.ticket) == ["diterima", "ditolak"]


async def test_volunteers_act_only_on_assigned_tickets(town: Town) -> None:
    now = town.clock()
    resident = await add_contact(town.db, "warga", now, name="Siti")
    volunteer = await add_contact(town.db, "relawan", now, role="volunteer", name="Pak Joko")
    mine = await add_complaint(town.db, resident, now)
    other = await add_complaint(town.db, resident, now, rw="009")
    async with town.db.transaction() as tx:
        await TicketRepo(tx.session).assign(mine.id, volunteer, "console:1", now)
    listing = await town.to("relawan", "/tiket")
    assert mine.ticket in listing.text and other.ticket not in listing.text
    refused = await town.to("relawan", f"/tiket {other.ticket}")
    assert "tidak ditugaskan" in refused.text
    refused = await town.to("relawan", Button(f"tks:{other.id}:diterima:diproses"))
    assert "tidak ditugaskan" in refused.text
    view = await town.to("relawan", f"/tiket {mine.ticket}")
    # No reject button for a volunteer.
    assert [c.id for c in view.choices] == [
        f"tks:{mine.id}:diterima:diverifikasi", f"tks:{mine.id}:diterima:diproses",
        f"tks:{mine.id}:diterima:selesai"]
    await town.to("relawan", Button(f"tks:{mine.id}:diterima:diproses"), "warga")
    assert await statuses(town.db, mine.ticket) == ["diterima", "diproses"]
    refused = await town.to("relawan", Button(f"tks:{mine.id}:diproses:ditolak"))
    assert "tidak bisa diubah" in refused.text


async def test_residents_tiket_is_still_their_status_and_dasbor_is_refused(town: Town) -> None:
    now = town.clock()
    resident = await add_contact(town.db, "warga", now, name="Siti")
    complaint = await add_complaint(town.db, resident, now)
    mine = await town.to("warga", f"/tiket {complaint.ticket}")
    assert mine.text.startswith(f"Laporan {complaint.ticket}: Diterima")
    listing = await town.to("warga", "tiket")
    assert complaint.ticket in listing.text and "Laporan Bapak/Ibu" in listing.text
    refused = await town.to("warga", "/dasbor")
    assert "hanya untuk petugas" in refused.text
    refused = await town.to("warga", Button(f"tks:{complaint.id}:diterima:selesai"))
    assert "hanya untuk petugas" in refused.text
    link = await town.to("koor", "/dasbor")
    assert "http://127.0.0.1:1/masuk/" in link.text and "10 menit" in link.text


async def test_reports_of_the_same_problem_are_linked_and_everyone_is_told(town: Town) -> None:
    for action in REPORT:
        await town.say("warga", action)
    town.clock.advance(hours=30)
    # A neighbour in the same RT/RW reports the same murky water, typing everything.
    for action in REPORT[:-1]:
        await town.say("warga2", action)
    town.lines.clear()  # the transcript keeps the ticket part, not the complaint flow
    out = await town.say("warga2", REPORT[-1])
    [created] = [m for m in out if m.user_id == "warga2"]
    assert "Laporan serupa" in created.text
    async with town.db.session() as session:
        first, second = (await session.execute(
            select(Complaint).order_by(Complaint.id))).scalars().all()
    assert f"*{first.ticket}*" in created.text

    # The coordinator acts on either ticket: both move, both reporters hear.
    await town.to("koor", f"/tiket {second.ticket}")
    out = await town.say("koor", Button(f"tks:{first.id}:diterima:diproses"))
    told = sorted(m.user_id for m in out)
    assert told == ["koor", "warga", "warga2"]
    assert await statuses(town.db, second.ticket) == ["diterima", "diproses"]
    # A third report two days and a bit later is a new problem, not linked.
    transcript = town.transcript()
    town.clock.advance(hours=49)
    for action in REPORT:
        out = await town.say("warga", action)
    assert not any("Laporan serupa" in m.text for m in out)
    check_golden("ticket_linked_reports", transcript)


async def test_a_report_linked_to_a_ticket_in_progress_starts_there(town: Town) -> None:
    now = town.clock()
    resident = await add_contact(town.db, "warga", now, name="Siti")
    first = await add_complaint(town.db, resident, now, rw="003", rt="005")
    await town.to("koor", f"/tiket {first.ticket}")
    await town.say("koor", Button(f"tks:{first.id}:diterima:diproses"))
    out = []
    for action in REPORT:
        out = await town.say("warga2", action)
    [created] = [m for m in out if m.user_id == "warga2"]
    assert "status: Diproses" in created.text
    async with town.db.session() as session:
        second = (await session.execute(
            select(Complaint).order_by(Complaint.id.desc()))).scalars().first()
    assert second is not None and second.status == "diproses"


async def test_a_missing_pending_ticket_and_bad_buttons_are_handled(town: Town) -> None:
    now = town.clock()
    resident = await add_contact(town.db, "warga", now, name="Siti")
    await add_complaint(town.db, resident, now)
    for bad in ("tks:999:diterima:diproses", "tks:x", "tkv:999", "tkr:999:ya", "tkr:1:maybe"):
        reply = await town.to("koor", Button(bad))
        assert reply.text
    nothing = await town.to("koor", "/tiket AIR-ZZZZZ")
    assert "tidak ditemukan" in nothing.text
    assert (await town.to("koor", "/tiket gibberish")).text.startswith("Tiket gibberish")
