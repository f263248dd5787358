"""`hapus data` erases: after a coordinator closes the request, no table, media file or
log line holds any of the resident's values, and their next message stores none again."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.logs import QUIET, configure_logging
from bot.settings import Secret
from storage.db import Database
from storage.erasure import erase_data_subject
from storage.models import Base, Complaint, Contact, MediaFile, OutboxMessage
from storage.models_volunteers import DataRequest
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_settings import telegram_settings
from tests.test_telegram_e2e import PHOTO, Resident, Service

pytestmark = pytest.mark.e2e

NAME = "Sitinurbaya"
PHONE = "6281234567890"
DESCRIPTION = "Air keruh coklat dan bau sejak pipa PAM diperbaiki"
LANDMARK = "Gang Kenari dekat warung Bu Ratmi"
DETAILS = "Saya pindah ke Bekasi bersama keluarga"
PHOTO_ID = "AgACAgUAAxkBAAIBhapus"
COORDINATOR = 555000222
LATITUDE, LONGITUDE = -6.1011, 106.9264


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    before = root.level, {name: logging.getLogger(name).level for name in QUIET}
    stream = io.StringIO()
    handler = configure_logging("DEBUG", None, stream=stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(before[0])
        for name, level in before[1].items():
            logging.getLogger(name).setLevel(level)


def values() -> list[str]:
    return [NAME, PHONE, "0" + PHONE[2:], PHONE[2:], DESCRIPTION, LANDMARK, DETAILS,
            PHOTO_ID, str(LATITUDE), str(LONGITUDE)]


async def dump_tables(db: Database) -> dict[str, str]:
    """Every row of every table, as text."""
    out: dict[str, str] = {}
    async with db.session() as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(select(table))).all()
            out[table.name] = "\n".join(
                json.dumps([v if isinstance(v, str | int | float | type(None)) else str(v)
                            for v in row], ensure_ascii=False, default=str) for row in rows)
    return out


def files_with_photo(folder: Path) -> list[Path]:
    """Files (the database aside) holding the photo's bytes."""
    return [p for p in folder.rglob("*") if p.is_file() and ".db" not in p.name
            and PHOTO in p.read_bytes()]


def holds(text: str, value: str) -> bool:
    if value.isdigit():
        return value in re.sub(r"\D", "", text)
    return value.lower() in text.lower()


async def report_and_ask_for_erasure(fake: FakeBotAPI, service: Service) -> Resident:
    resident = Resident(fake, service, first_name=NAME)
    await resident.text("/start")
    await resident.press("menu:lapor")
    await resident.press("jenis:air")
    await resident.press("kategori:keruh")
    for text in (DESCRIPTION, "kemarin", "12"):
        await resident.text(text)
    await resident.location(LATITUDE, LONGITUDE)
    await resident.press("kelurahan:1004")
    await resident.text(LANDMARK)
    await resident.photo(PHOTO_ID)  # kept for the report while the number is asked
    await resident.share_contact(PHONE)
    await resident.press("confirm:yes")
    assert "Nomor laporan" in resident.last()["text"]
    await resident.text("hapus data")
    await resident.text(DETAILS)
    await resident.text("ya")
    return resident


async def test_hapus_data_leaves_nothing_of_the_resident(
        database_url: str, tmp_path: Path, captured: io.StringIO) -> None:
    fake = await FakeBotAPI().start()
    settings = telegram_settings(
        database_url, tmp_path, fake,
        secret_key=Secret("erasure-test-secret-key-0123456789"),
        coordinators=(f"telegram:{COORDINATOR}",), log_level="DEBUG")
    configure_logging("DEBUG", settings, stream=captured)
    try:
        async with Service(settings) as service:
            resident = await report_and_ask_for_erasure(fake, service)
            db = service.services.db
            before = await dump_tables(db)
            for value in (NAME, PHONE, DESCRIPTION, LANDMARK, DETAILS, PHOTO_ID):
                assert any(holds(t, value) for t in before.values()), value
            assert files_with_photo(tmp_path)
            coordinator = Resident(fake, service, user_id=COORDINATOR, first_name="Koor")
            await coordinator.text("/start")
            await coordinator.press("dsr:done:1")
            erased = resident.last()["text"]
            assert "sudah kami hapus" in erased and NAME not in erased
            # The platform sends the profile name with every message: not stored again.
            await resident.text("halo")
            after = await dump_tables(db)
            async with db.session() as session:
                contact = (await session.execute(select(Contact).where(
                    Contact.external_id == str(resident.id)))).scalar_one()
                complaint = (await session.execute(select(Complaint))).scalar_one()
                request = (await session.execute(select(DataRequest))).scalar_one()
                photos = (await session.execute(select(MediaFile))).scalars().all()
            assert contact.name is None and contact.phone is None
            assert contact.erased_at is not None
            # Kept: the ticket with its category, place and status (counts), the request's
            # number; gone: everything the resident said.
            assert complaint.category == "keruh" and complaint.kelurahan_code == "31.72.04.1004"
            assert complaint.answers == {} and complaint.latitude is None
            assert request.status == "selesai" and request.details is None
            assert photos == []
    finally:
        await fake.close()
    for table, text in after.items():
        for value in values():
            assert not holds(text, value), f"{value!r} still in table {table}"
    assert files_with_photo(tmp_path) == []
    # Lines of the fake Bot API's own server (a separate aiohttp app in this process,
    # logging in aiohttp's default format) are not the service's.
    log = "\n".join(line for line in captured.getvalue().splitlines()
                    if "aiohttp.access: 127.0.0.1 [" not in line)
    assert " DEBUG " in log
    for value in values():
        assert not holds(log, value), f"{value!r} in the log"


async def test_erasure_takes_whatsapp_ids_and_keeps_shared_photo_files(
        db: Database, tmp_path: Path) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    shared = tmp_path / "media" / "same-photo"
    shared.parent.mkdir()
    shared.write_bytes(b"\xff\xd8\xff photo")
    async with db.transaction() as tx:
        subject = await tx.contacts.upsert("whatsapp", "ID.bsuid-1", now, name="Nur",
                                           alt_id="6281299990000", inbound=True)
        other = await tx.contacts.upsert("whatsapp", "ID.bsuid-2", now, name="Rina",
                                         inbound=True)
        for contact, ref in ((subject, "wamid-photo-1"), (other, "wamid-photo-2")):
            await tx.media.add(channel="whatsapp", ref=ref, unique_id=None, mime_type=None,
                               sha256="a" * 64, size=12, path=str(shared), created_at=now)
            await tx.complaints.create(
                new_ticket=lambda c=contact: f"AIR-{c.id:05d}", contact_id=contact.id,
                now=now, actor="test", report_type="air", category="keruh",
                description="Pipa bocor di depan rumah", flow_id="complaint", flow_version=1,
                answers={"foto": {"ref": ref}})
        notice = {"text": "Laporan dari Nur, RW 03: Pipa bocor di depan rumah"}
        await tx.outbox.enqueue(channel="whatsapp", recipient="ID.bsuid-2", payload=notice,
                                now=now, contact_id=None)
        subject_id = subject.id
    async with db.transaction() as tx:
        report = await erase_data_subject(tx, subject_id, now, actor="whatsapp:9")
    assert (report.photos, report.files, report.outbox_redacted) == (1, 0, 1)
    assert shared.exists(), "another person's photo row still uses the file"
    async with db.transaction() as tx:
        contact = await tx.contacts.get(subject_id)
        assert contact is not None and (contact.name, contact.alt_id) == (None, None)
        [message] = (await tx.session.execute(select(OutboxMessage))).scalars()
        assert message.payload["text"] == "Laporan dari [dihapus], RW 03: [dihapus]"
    # The next message brings the profile name and the phone id again: neither is kept.
    async with db.transaction() as tx:
        state = await tx.contacts.touch("whatsapp", "ID.bsuid-1", now + timedelta(hours=1),
                                        name="Nur", alt_id="6281299990000")
        assert (state.name, state.alt_id) == (None, None)
        again = await tx.contacts.upsert("whatsapp", "ID.bsuid-1", now, name="Nur",
                                         alt_id="6281299990000")
        assert (again.name, again.alt_id) == (None, None)
    async with db.transaction() as tx:
        await erase_data_subject(tx, other.id, now, actor="whatsapp:9")
    assert not shared.exists(), "the last row using the file is gone: so is the file"

