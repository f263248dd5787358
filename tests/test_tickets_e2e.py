"""End to end through the fake Telegram Bot API: a resident reports → a coordinator asks the
bot for the dashboard link → signs in → changes the status → the resident receives it →
the ticket is closed with a photo → the resident answers "belum" → the ticket is open again.

The service is the real one (create_app with the Telegram plugin and the default features);
the walk helpers and the fake come from the Telegram channel's own end-to-end tests.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import FormData
from sqlalchemy import select

from bot.settings import Secret
from storage.models import Complaint, ComplaintStatus
from tests.dashboard_helpers import DashClient
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_settings import telegram_settings
from tests.test_telegram_e2e import (
    Resident,
    Service,
    buttons,
    walk_from_location,
    walk_to_location,
)

pytestmark = pytest.mark.e2e

COORDINATOR_ID = 5550001
LINK = re.compile(r"https://warga\.example\.id/masuk/[A-Za-z0-9_.-]+")
JPEG = b"\xff\xd8\xff\xe0" + b"pump fixed " * 64 + b"\xff\xd9"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as api:
        yield api


def service_for(database_url: str, tmp_path: Path, fake: FakeBotAPI) -> Service:
    settings = telegram_settings(
        database_url, tmp_path, fake,
        coordinators=(f"telegram:{COORDINATOR_ID}",),
        secret_key=Secret("e2e-secret-key-" + "y" * 30),
        map_tile_url="",
    )
    return Service(settings)


async def statuses(service: Service, ticket: str) -> list[str]:
    async with service.services.db.session() as session:
        complaint = (await session.execute(
            select(Complaint).where(Complaint.ticket == ticket))).scalar_one()
        return list((await session.execute(
            select(ComplaintStatus.status).where(ComplaintStatus.complaint_id == complaint.id)
            .order_by(ComplaintStatus.id))).scalars())


async def test_report_dashboard_status_photo_and_belum(database_url: str, tmp_path: Path,
                                                       fake: FakeBotAPI) -> None:
    async with service_for(database_url, tmp_path, fake) as service:
        resident = Resident(fake, service)
        await walk_to_location(resident)
        ticket = await walk_from_location(resident)
        coordinator = Resident(fake, service, user_id=COORDINATOR_ID, first_name="Ani")

        # The coordinator asks the bot for the dashboard and signs in with the link.
        await coordinator.text("/dasbor")
        found = LINK.search(coordinator.last()["text"])
        assert found is not None, coordinator.last()["text"]
        browser = DashClient(service.client)
        overview = await browser.login_with(found.group(0))
        assert 'id="open-total">1<' in overview

        # Verified in the dashboard: the resident hears it on Telegram.
        page = (await browser.get(f"/tiket/{ticket}"))[1]
        csrf = browser.csrf(page)
        status, _, _ = await browser.post(f"/tiket/{ticket}/status", {
            "csrf": csrf, "status": "diverifikasi", "expected": "diterima",
            "note": "Petugas PAM datang besok"})
        assert status == 303
        await service.settle()
        notice = resident.last()
        assert notice["text"] == (f"Kabar laporan <b>{ticket}</b>: statusnya sekarang "
                                  "<b>Diverifikasi</b>.\n\nCatatan petugas: Petugas PAM "
                                  "datang besok")

        # Closed with a proof photo: the resident gets the photo with the question.
        form = FormData()
        for name, value in (("csrf", csrf), ("status", "selesai"),
                            ("expected", "diverifikasi"), ("note", "Pipa sudah diganti")):
            form.add_field(name, value)
        form.add_field("foto", JPEG, filename="bukti.jpg", content_type="image/jpeg")
        status, _, _ = await browser.post(f"/tiket/{ticket}/status", form)
        assert status == 303
        await service.settle()
        question = resident.last()
        assert "photo" in question and "Sudah teratasi?" in question["caption"]
        choices = buttons(question)
        assert len(choices) == 2 and choices[1].endswith(":belum")

        # "Belum": the ticket is open again, and the coordinator is told.
        await resident.press(choices[1])
        assert "buka kembali" in resident.last()["text"]
        assert "belum teratasi" in coordinator.last()["text"]
        assert await statuses(service, ticket) == ["diterima", "diverifikasi", "selesai",
                                                   "diproses"]
        page = (await browser.get(f"/tiket/{ticket}"))[1]
        assert 'id="ticket-status">Diproses' in page and "Pelapor: belum teratasi" in page


async def test_closing_by_chat_with_a_telegram_photo(database_url: str, tmp_path: Path,
                                                     fake: FakeBotAPI) -> None:
    async with service_for(database_url, tmp_path, fake) as service:
        resident = Resident(fake, service)
        await walk_to_location(resident)
        ticket = await walk_from_location(resident)
        coordinator = Resident(fake, service, user_id=COORDINATOR_ID, first_name="Ani")

        await coordinator.text(f"/tiket {ticket}")
        actions = buttons(coordinator.last())
        assert [a.rsplit(":", 1)[1] for a in actions] == [
            "diverifikasi", "diproses", "selesai", "ditolak"]
        await coordinator.press(actions[2])
        await coordinator.text("Pompa sumur bor sudah diganti")
        await coordinator.photo("bukti-pompa")  # downloaded in the background, then kept
        await coordinator.press("confirm:yes")
        question = resident.last()
        assert "photo" in question, "the kept photo goes with the question"
        assert "Pompa sumur bor sudah diganti" in question["caption"]
        assert [b.rsplit(":", 1)[1] for b in buttons(question)] == ["ya", "belum"]
        await resident.press(buttons(question)[0])
        assert "kami tutup" in resident.last()["text"]
        assert await statuses(service, ticket) == ["diterima", "selesai"]
