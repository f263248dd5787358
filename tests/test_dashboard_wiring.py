"""The dashboard's broadcast composer and assessments download, wired to the real
machinery: ``/siaran`` by chat and the dashboard both create a free-form broadcast through
``bot.broadcast.send_free_form`` (or its two halves), and the activities feature fans it
out into outbox rows; the assessments export is the masked one, audited.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import SERVICES, Services, create_app
from bot.dashboard.feature import DashboardFeature
from bot.features.activities import ActivitiesFeature
from bot.features.tickets import TicketsFeature
from bot.settings import Settings
from storage.models import AuditEntry, OutboxMessage
from storage.models_activities import Broadcast
from tests.dashboard_helpers import NIK, DashClient, add_contact, dashboard_settings
from tests.harness import Clock

pytestmark = [pytest.mark.storage, pytest.mark.e2e]

ONCE = re.compile(r'name="once" value="([^"]+)"')
MESSAGE = "Besok pagi air PAM mati pukul 08.00–12.00. Mohon tampung air."


@dataclass
class Wired:
    client: TestClient[Any, Any]
    services: Services
    settings: Settings
    clock: Clock
    activities: ActivitiesFeature
    coordinator: int
    residents: list[int]
    volunteer: int

    async def signed_in(self) -> tuple[DashClient, str]:
        browser = DashClient(self.client)
        html = await browser.login(self.services.db, self.settings, self.coordinator,
                                   self.clock())
        return browser, html

    async def broadcasts(self) -> list[Broadcast]:
        async with self.services.db.session() as session:
            return list((await session.execute(
                select(Broadcast).order_by(Broadcast.id))).scalars().all())

    async def batch(self, name: str) -> list[OutboxMessage]:
        async with self.services.db.session() as session:
            return list((await session.execute(
                select(OutboxMessage).where(OutboxMessage.batch == name)
                .order_by(OutboxMessage.contact_id))).scalars().all())

    async def audit(self) -> list[AuditEntry]:
        async with self.services.db.session() as session:
            return list((await session.execute(select(AuditEntry))).scalars().all())

    async def queued(self, name: str, count: int) -> list[OutboxMessage]:
        """The fan-out is kicked when the send commits: well before the 5 s timer tick."""
        rows: list[OutboxMessage] = []
        for _ in range(150):
            await self.activities.idle()
            rows = await self.batch(name)
            if len(rows) >= count:
                break
            await asyncio.sleep(0.02)
        return rows


@pytest.fixture
async def wired(database_url: str, tmp_path: Path) -> AsyncIterator[Wired]:
    clock = Clock()
    settings = dashboard_settings(database_url, tmp_path)
    activities = ActivitiesFeature(settings)
    tickets = TicketsFeature(settings)
    app = create_app(settings, clock=clock, plugins=[],
                     features=[tickets, activities, DashboardFeature(tickets)])
    client = TestClient(TestServer(app), cookie_jar=DummyCookieJar())
    await client.start_server()
    try:
        services = app[SERVICES]
        now = clock()
        coordinator = await add_contact(services.db, "koor", now, role="coordinator",
                                        name="Bu Koordinator")
        residents = [await add_contact(services.db, f"warga{i}", now, name=f"Warga {i}")
                     for i in (1, 2)]
        volunteer = await add_contact(services.db, "relawan1", now, role="volunteer",
                                      name="Pak Relawan")
        yield Wired(client, services, settings, clock, activities, coordinator, residents,
                    volunteer)
    finally:
        await client.close()


async def test_composer_needs_the_csrf_token(wired: Wired) -> None:
    browser, _ = await wired.signed_in()
    html = (await browser.get("/siaran"))[1]
    assert 'id="broadcast-compose"' in html and 'id="composer-not-available"' not in html
    for path in ("/siaran/pratinjau", "/siaran/kirim"):
        for data in ({"body": MESSAGE, "audience": "all"},
                     {"body": MESSAGE, "audience": "all", "csrf": "wrong"}):
            status, _, _ = await browser.post(path, data)
            assert status == 403, path
    assert await wired.broadcasts() == []
    assert not [a for a in await wired.audit() if a.action == "broadcast.sent"]


async def test_composer_previews_then_sends_to_the_audience(wired: Wired) -> None:
    browser, html = await wired.signed_in()
    csrf = browser.csrf(html)
    # Preview: the message as residents see it, and the audience count; nothing created.
    status, html, _ = await browser.post("/siaran/pratinjau",
                                         {"csrf": csrf, "body": MESSAGE, "audience": "all"})
    assert status == 200, html
    assert 'id="broadcast-preview"' in html and "Pengumuman" in html
    assert "Mohon tampung air." in html
    assert re.search(r'id="broadcast-count">Akan dikirim ke 4 orang\.', html)
    assert 'action="/siaran/kirim"' in html
    assert await wired.broadcasts() == []
    once = ONCE.search(html)
    assert once is not None
    # Too short, an RT without its place, or no token from a preview: refused, nothing
    # created.
    assert (await browser.post("/siaran/kirim", {"csrf": csrf, "body": "x", "audience": "all",
                                                 "once": once.group(1)}))[0] == 400
    assert (await browser.post("/siaran/kirim", {"csrf": csrf, "body": MESSAGE,
                                                 "audience": "rt", "once": once.group(1)}
                               ))[0] == 400
    assert (await browser.post("/siaran/kirim",
                               {"csrf": csrf, "body": MESSAGE, "audience": "all"}))[0] == 400
    assert await wired.broadcasts() == []

    # Confirm: the broadcast row, audited, fanned out to everyone.
    status, _, response = await browser.post(
        "/siaran/kirim", {"csrf": csrf, "body": MESSAGE, "audience": "all",
                          "once": once.group(1)})
    assert status == 303
    [broadcast] = await wired.broadcasts()
    assert response.headers["Location"] == f"/siaran?ok={broadcast.id}"
    assert broadcast.kind == "siaran" and broadcast.body == MESSAGE
    assert broadcast.audience == {"type": "all"}
    assert broadcast.requested_by == wired.coordinator
    rows = await wired.queued(f"siaran:{broadcast.id}", 4)
    everyone = sorted([wired.coordinator, *wired.residents, wired.volunteer])
    assert [r.contact_id for r in rows] == everyone
    assert all(MESSAGE in str(r.payload["text"]) for r in rows)
    [entry] = [a for a in await wired.audit() if a.action == "broadcast.sent"]
    assert entry.actor == f"console:{wired.coordinator}"
    assert entry.subject == f"broadcast:{broadcast.id}"
    assert entry.details == {"via": "dashboard", "audience": "all"}
    html = (await browser.get(f"/siaran?ok={broadcast.id}"))[1]
    assert 'id="broadcast-ok"' in html and f'data-id="{broadcast.id}"' in html

    # Volunteers only.
    html = (await browser.post("/siaran/pratinjau", {
        "csrf": csrf, "body": "Rapat relawan malam ini.", "audience": "volunteers"}))[1]
    once = ONCE.search(html)
    assert once is not None
    status, _, _ = await browser.post(
        "/siaran/kirim", {"csrf": csrf, "body": "Rapat relawan malam ini.",
                          "audience": "volunteers", "once": once.group(1)})
    assert status == 303
    second = (await wired.broadcasts())[-1]
    assert second.audience == {"type": "volunteers"}
    rows = await wired.queued(f"siaran:{second.id}", 1)
    assert [r.contact_id for r in rows] == [wired.volunteer]


async def test_assessments_download_is_masked_and_audited(wired: Wired) -> None:
    from storage.models_volunteers import Assessment

    now = wired.clock()
    async with wired.services.db.transaction() as tx:
        tx.session.add(Assessment(
            ref="RTA-23456", contact_id=wired.volunteer, kelurahan_code="31.72.04.1004",
            rw="005", rt="003", head_name="Bapak Rahmat", nik_sealed=NIK, nik_hash="h" * 64,
            nik_masked="JRCMKMZC", kk_sealed=NIK, kk_hash="k" * 64,
            kk_masked="PLMQTRAB", household_size=4, member_count=0, flags=[],
            answers={"nik": {"sealed": NIK, "masked": "JRCMKMZC"}},
            flow_id="assessment", flow_version=1, consent_version="v1",
            specific_consent=True, created_at=now, updated_at=now))
    browser, _ = await wired.signed_in()
    html = (await browser.get("/unduh"))[1]
    assert 'href="/unduh/asesmen.csv"' in html and 'href="/unduh/pengaduan.csv"' in html
    assert "dash.not_available" not in html

    status, body, response = await browser.get("/unduh/asesmen.csv")
    assert status == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    lines = body.lstrip("\ufeff").splitlines()
    assert len(lines) == 2 and lines[0].split(",")[0]  # a header and one household
    assert "RTA-23456" in body and "JRCMKMZC" in body
    assert NIK not in body and not re.search(r"\d{16}", body)

    response = await browser.client.get("/unduh/asesmen.xlsx", headers=browser._headers())
    assert response.status == 200 and (await response.read())[:2] == b"PK"
    entries = [a for a in await wired.audit() if a.action == "export.assessments"]
    assert [e.details["format"] for e in entries] == ["csv", "xlsx"]
    assert all(e.details["rows"] == 1 and e.details["via"] == "dashboard" for e in entries)
    assert all(e.actor == f"console:{wired.coordinator}" for e in entries)
