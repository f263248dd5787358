"""A coordinator's ``/tiket AIR-XXXXX``: every answer the resident gave, their number only
when they agreed, the photo, the pin with a map link, linked reports, the history with
who did what, and the status buttons."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.features.tickets import answer_lines, map_link
from storage.db import Database
from storage.models import Complaint
from tests.harness import Button, Photo, Pin, check_golden
from tests.test_tickets import Town

pytestmark = pytest.mark.storage

TICKET = re.compile(r"AIR-[0-9A-Z]{5}")


@pytest.fixture
async def town(db: Database, tmp_path: Path) -> Town:
    return Town(db, tmp_path)


def report(phone: str, *, pin: bool) -> list[object]:
    where: list[object] = [Pin(-6.10110, 106.92640), Button("kelurahan:1004"),
                           "dekat masjid Al Hidayah"] if pin else [
        "Kalibaru RT 5 RW 3 dekat masjid"]
    return ["/start", Button("menu:lapor"), Button("jenis:air"), Button("kategori:keruh"),
            "Air keruh kecoklatan sejak pipa diperbaiki", "kemarin", "12", *where,
            Photo(), phone, Button("confirm:yes")]


async def file_report(town: Town, who: str, actions: list[object]) -> str:
    text = ""
    for action in actions:
        for message in await town.say(who, action):  # type: ignore[arg-type]
            if message.user_id == who:
                text = message.text
    found = TICKET.search(text)
    assert found is not None, text
    return found.group(0)


async def test_the_coordinator_reads_every_answer_and_acts(town: Town) -> None:
    ticket = await file_report(town, "warga", report("0812-3456-7890", pin=True))
    view = await town.to("koor", f"/tiket {ticket}")
    text = view.text
    for line in ("• Sejak: Jumat, 27 November 2026", "• Rumah yang kena: 12",
                 "• Kelurahan: Kalibaru", "• Patokan: dekat masjid Al Hidayah",
                 "• HP pelapor: +6281234567890 (boleh dihubungi)",
                 "• Foto: 📷 ada, masih diunduh",
                 "• Titik lokasi: " + map_link(-6.1011, 106.9264),
                 "Riwayat:\n\n• Sabtu, 28 November 2026 pukul 10.00 WIB: Diterima — pelapor"):
        assert line in text, (line, text)
    assert "https://www.openstreetmap.org/?mlat=-6.10110&mlon=106.92640" in text
    assert [c.id.split(":")[-1] for c in view.choices] == [
        "diverifikasi", "diproses", "selesai", "ditolak"]

    # Once the photo is downloaded it is sent to the coordinator as a photo too.
    async with town.db.transaction() as tx:
        await tx.media.add(channel="console", ref="photo-1", unique_id=None, mime_type=None,
                           sha256="1" * 64, size=3, path="/tmp/photo-1",
                           created_at=town.clock())
    out = [m for m in await town.say("koor", f"/tiket {ticket}") if m.user_id == "koor"]
    photos = [m for m in out if m.media_path == "/tmp/photo-1"]
    details = [m for m in out if m.media_path is None]
    assert len(photos) == 1 and ticket in photos[0].text and len(details) == 1
    assert "• Foto: 📷 dikirim terpisah" in details[0].text

    # A change shows up in the history with who made it.
    town.clock.advance(hours=1)
    await town.say("koor", Button(view.choices[0].id))
    after = await town.to("koor", f"/tiket {ticket}")
    assert "• Sabtu, 28 November 2026 pukul 11.00 WIB: Diverifikasi — Bu Ani" in after.text
    assert [c.id.split(":")[-1] for c in after.choices] == ["diproses", "selesai", "ditolak"]
    check_golden("ticket_detail", town.transcript())


async def test_no_phone_without_consent_and_linked_reports_are_listed(town: Town) -> None:
    first = await file_report(town, "warga", report("tidak usah", pin=False))
    second = await file_report(town, "warga2", report("0813-1111-2222", pin=False))
    view = await town.to("koor", f"/tiket {first}")
    assert "• HP pelapor: tidak dibagikan" in view.text
    assert "0812" not in view.text and "Titik lokasi" not in view.text
    assert f"Laporan terkait: 1 ({second})" in view.text
    # The linked report shows its primary, and the primary's answers.
    linked = await town.to("koor", f"/tiket {second}")
    assert linked.text.startswith(f"Tiket {second} mengikuti tiket utama {first}:")
    assert "• Kelurahan: Kalibaru\n• RT/RW: RT 005 / RW 003" in linked.text


async def test_the_detail_reads_in_english_too(town: Town) -> None:
    ticket = await file_report(town, "warga", report("tidak usah", pin=True))
    await town.to("koor", "/start")
    async with town.db.transaction() as tx:
        koor = await tx.contacts.upsert("console", "koor", town.clock(), inbound=False)
        koor.language = "en"
    view = await town.to("koor", f"/tiket {ticket}")
    for line in ("• Since: Friday, 27 November 2026", "• Households affected: 12",
                 "• Landmark: dekat masjid Al Hidayah", "• Reporter's phone: not shared",
                 "• Photo: 📷 received, still downloading",
                 "• Pin: https://www.openstreetmap.org/?mlat=-6.10110&mlon=106.92640",
                 "History:\n\n• Saturday, 28 November 2026 at 10:00 WIB: Received — reporter"):
        assert line in view.text, (line, view.text)


def test_an_answer_of_another_shape_is_shown_as_stored() -> None:
    complaint = Complaint(answers={"sejak": "minggu lalu", "jumlah_kk": 12})
    lines = answer_lines(complaint)
    assert [line.params["value"] for line in lines] == ["minggu lalu", 12]
