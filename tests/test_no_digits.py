"""A copy of the database (and of the data folder) without the key narrows no NIK or No.
KK: after a household assessment, a paused draft, a data request and a masked export, no
table and no exported file holds a digit run of any of the numbers — only ciphertext,
keyed hashes and keyed references. Outbox bodies included: the read-back of a number
("NIK 3172… — formatnya valid …") shows the person what they typed, and its body is blanked
as soon as it is delivered; summaries show the keyed reference.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.features.volunteers import run_assessment_export
from bot.settings import Settings
from conversations.privacy import has_id
from storage.crypto import IdentityCipher
from storage.db import Database
from storage.models import Base, ComplaintStatus, OutboxMessage
from storage.models_volunteers import Assessment
from tests.dashboard_helpers import NIK, add_complaint, add_contact
from tests.harness import Button
from tests.test_assessment_transcripts import (
    HEAD_NIK,
    HOUSEHOLD,
    KK,
    START,
    WIFE_NIK,
    R,
    by,
    team_with_volunteer,
)
from tests.test_tickets import Town
from tests.volunteers_harness import SECRET

pytestmark = [pytest.mark.e2e]

NUMBERS = (HEAD_NIK, WIFE_NIK, KK)
DIGIT_MASK = re.compile(r"\d{2,}\*{4,}\d{2,}")
RANDOM_ID = re.compile(r"\b(?=[0-9a-f]*[a-f])[0-9a-f]{32,64}\b")


def fragments(number: str) -> list[str]:
    """Pieces of a number that, beside the fields stored with it, would narrow it."""
    return [number, number[:8], number[8:], number[:12], number[4:], number[:4] + "*",
            "*" + number[-4:]]


def leaks(values: list[str]) -> list[str]:
    """What in these values (cells, columns, JSON strings) would narrow a number."""
    found: list[str] = []
    for value in values:
        # Message ids and lookup hashes are random hex, with digit runs by chance.
        value = RANDOM_ID.sub("#", value)
        found += [f"{f!r} in {value[:60]!r}" for n in NUMBERS for f in fragments(n)
                  if f in value]
        if has_id(value):
            found.append(f"a 16-digit run in {value[:60]!r}")
        if DIGIT_MASK.search(value):
            found.append(f"a first-four-last-four mask in {value[:60]!r}")
    return found


def strings(value: object) -> list[str]:
    """Every scalar inside a column value (JSON documents walked), as text."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (str(k), *strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [] if value is None else [str(value)]


async def dump(db: Database, *, skip: tuple[str, ...] = ()) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    async with db.session() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if f"{table.name}.{c.name}" not in skip]
            rows = (await session.execute(select(*columns))).all()
            out[table.name] = [s for row in rows for v in row for s in strings(v)]
    return out


def cells(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [cell for row in csv.reader(fh, delimiter=";") for cell in row]


async def test_the_database_without_the_key_narrows_no_number(db: Database,
                                                              tmp_path: Path) -> None:
    team = await team_with_volunteer(db)
    await team.run([*HOUSEHOLD, (R, Button("confirm:yes"))])
    # A paused update of the household: the No. KK read back, then typed into free text.
    await team.run([*START[:5], *by(R, "ya", KK, "RT 5 RW 3",
                                    f"Catatan: KK lama {KK[:4]}-{KK[4:8]}-{KK[8:12]}-"
                                    f"{KK[12:]}", "nanti")])
    # A correction request with the number typed, grouped with spaces.
    spaced = " ".join(HEAD_NIK[i:i + 4] for i in range(0, 16, 4))
    await team.run([(R, "ubah data"), (R, f"NIK saya {spaced} salah tanggal lahir"),
                    (R, "ya")])
    tables = await dump(db)
    for name, text in tables.items():
        assert not leaks(text), (name, leaks(text))
    # What is there instead: ciphertext, keyed hashes, keyed references.
    cipher = IdentityCipher(SECRET.reveal())
    async with db.session() as session:
        [a] = (await session.execute(select(Assessment))).scalars()
    assert a.nik_masked == cipher.reference("nik", HEAD_NIK)
    assert cipher.decrypt("nik", a.nik_sealed) == HEAD_NIK
    # The masked export of the same database: references, no digit runs of a number.
    out = tmp_path / "export" / "asesmen.csv"
    out.parent.mkdir()
    settings = Settings(database_url=str(db.url), data_dir=tmp_path, secret_key=SECRET)
    assert await run_assessment_export(settings, "csv", out) == 0
    for path in sorted(out.parent.iterdir()):
        found = cells(path)
        assert not leaks(found), (path.name, leaks(found))
        if path.name == out.name:
            assert cipher.reference("nik", HEAD_NIK) in found


async def test_numbers_in_officers_notes_are_hidden(db: Database, tmp_path: Path) -> None:
    town = Town(db, tmp_path)
    now = town.clock()
    resident = await add_contact(town.db, "warga", now, name="Siti")
    complaint = await add_complaint(town.db, resident, now)
    await town.to("koor", Button(f"tks:{complaint.id}:diterima:ditolak"))
    await town.to("koor", f"Sudah ada laporan atas NIK {NIK[:4]}.{NIK[4:8]}.{NIK[8:]}")
    await town.say("koor", Button("confirm:yes"))
    async with db.session() as session:
        notes = [n for n in (await session.execute(select(ComplaintStatus.note))).scalars()
                 if n]
    assert notes and all("[nomor disembunyikan]" in n and NIK[8:] not in n for n in notes)


async def test_the_ticket_search_finds_nothing_by_a_number_and_does_not_echo_it(
        tmp_path: Path, database_url: str) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import SERVICES, create_app
    from bot.dashboard.feature import DashboardFeature
    from bot.features.complaints import ComplaintsFeature
    from bot.features.tickets import TicketsFeature
    from tests.dashboard_helpers import DashClient, dashboard_settings
    from tests.harness import Clock

    clock = Clock()
    settings = dashboard_settings(database_url, tmp_path)
    tickets = TicketsFeature(settings)
    app = create_app(settings, clock=clock, plugins=[],
                     features=[ComplaintsFeature(), tickets, DashboardFeature(tickets)])
    async with TestClient(TestServer(app)) as client:
        services = app[SERVICES]
        now = clock()
        coordinator = await add_contact(services.db, "koor", now, role="coordinator")
        resident = await add_contact(services.db, "warga", now)
        # As stored before numbers were masked at intake: the number itself.
        complaint = await add_complaint(services.db, resident, now,
                                        description=f"Air keruh, NIK saya {NIK}")
        browser = DashClient(client)
        await browser.login(services.db, settings, coordinator, now)
        for typed in (NIK, f"{NIK[:4]} {NIK[4:8]} {NIK[8:12]} {NIK[12:]}",
                      f"{NIK[:4]}-{NIK[4:8]}-{NIK[8:12]}-{NIK[12:]}"):
            status, html, _ = await browser.get(f"/tiket?status=all&q={typed}")
            assert status == 200
            assert complaint.ticket not in html, typed
            digits = re.sub(r"\D", "", html)
            assert NIK not in digits and NIK[8:] not in html, typed
        status, html, _ = await browser.get("/tiket?status=all&q=keruh")
        assert complaint.ticket in html  # words still find it


async def test_a_login_link_does_not_stay_in_the_outbox(tmp_path: Path, db: Database) -> None:
    town = Town(db, tmp_path)
    link = await town.to("koor", "/dasbor")
    assert "/masuk/" in link.text  # delivered to the coordinator
    async with db.session() as session:
        bodies = [s for row in (await session.execute(select(OutboxMessage.payload))).all()
                  for s in strings(row[0])]
    assert bodies and not any("/masuk/" in body for body in bodies)
