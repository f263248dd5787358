"""Shared by the ticket, dashboard and browser tests: settings, seed data, and a client
that signs in through a real one-time link and keeps its cookies by hand (the test
server is plain http, so a Secure cookie jar would drop them)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import ClientResponse, DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer

from bot.app import SERVICES, Services, create_app
from bot.dashboard.auth import issue_login_link
from bot.dashboard.feature import DashboardFeature
from bot.features.complaints import ComplaintsFeature
from bot.features.tickets import TicketsFeature
from bot.settings import Secret, Settings
from conversations.tickets import new_ticket
from storage.db import Database
from storage.models import Complaint

# A NIK-shaped number a resident typed into a description: no page may show it whole.
NIK = "3172014501900001"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
KALIBARU = "31.72.04.1004"


def dashboard_settings(database_url: str, data_dir: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "secret_key": Secret("dashboard-test-secret-" + "x" * 24),
        "map_tile_url": "",  # tests never fetch map tiles
        "public_url": "http://127.0.0.1:1",
        "holidays": (),
    }
    values.update(changes)
    return Settings(**values)


@asynccontextmanager
async def dashboard_service(database_url: str, data_dir: Path, clock: Callable[[], datetime]
                            ) -> AsyncIterator[tuple[TestClient[Any, Any], Services, Settings]]:
    """The service with complaints, tickets and the dashboard, no channel, on a loopback
    port; no shared cookie jar, so each ``DashClient`` is its own browser."""
    settings = dashboard_settings(database_url, data_dir)
    tickets = TicketsFeature(settings)
    app = create_app(settings, clock=clock, plugins=[],
                     features=[ComplaintsFeature(), tickets, DashboardFeature(tickets)])
    client = TestClient(TestServer(app), cookie_jar=DummyCookieJar())
    await client.start_server()
    try:
        yield client, app[SERVICES], settings
    finally:
        await client.close()


async def add_contact(db: Database, external_id: str, now: datetime, *, role: str = "resident",
                      name: str | None = None, channel: str = "console",
                      language: str = "id") -> int:
    async with db.transaction() as tx:
        contact = await tx.contacts.upsert(channel, external_id, now, name=name, inbound=False)
        contact.role = role
        contact.language = language
        return contact.id


async def add_complaint(db: Database, contact_id: int, now: datetime, *,
                        category: str | None = "keruh", rw: str = "005", rt: str = "003",
                        description: str = "Air keruh sejak kemarin",
                        latitude: float | None = -6.1011, longitude: float | None = 106.9264,
                        report_type: str = "air") -> Complaint:
    async with db.transaction() as tx:
        return await tx.complaints.create(
            new_ticket=lambda: new_ticket(report_type), contact_id=contact_id, now=now,
            actor=f"console:{contact_id}", report_type=report_type, category=category,
            description=description, kelurahan_code=KALIBARU, rw=rw, rt=rt,
            latitude=latitude, longitude=longitude, flow_id="complaint", flow_version=1,
            answers={"jenis": report_type, "kategori": category, "uraian": description,
                     "boleh_dihubungi": True},
        )


class DashClient:
    """A browser stand-in: follows nothing by itself, keeps the session cookie."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.cookies: dict[str, str] = {}

    def _headers(self) -> dict[str, str]:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return {"Cookie": cookie} if cookie else {}

    def _keep(self, response: ClientResponse) -> None:
        for name, morsel in response.cookies.items():
            if morsel.value:
                self.cookies[name] = morsel.value
            else:
                self.cookies.pop(name, None)

    async def get(self, path: str) -> tuple[int, str, ClientResponse]:
        response = await self.client.get(path, headers=self._headers(), allow_redirects=False)
        self._keep(response)
        textual = response.content_type.startswith(("text/", "application/json"))
        return response.status, await response.text() if textual else "", response

    async def post(self, path: str, data: Any) -> tuple[int, str, ClientResponse]:
        response = await self.client.post(path, data=data, headers=self._headers(),
                                          allow_redirects=False)
        self._keep(response)
        return response.status, await response.text(), response

    async def login_with(self, link: str) -> str:
        """Open a login link and press the button; returns the overview page."""
        path = "/" + link.split("/", 3)[3]
        status, html, _ = await self.get(path)
        assert status == 200, html
        token = CSRF.search(html)
        assert token is not None
        status, html, response = await self.post(path, {"csrf": token.group(1)})
        assert status == 303, html
        assert response.headers["Location"] == "/"
        status, html, _ = await self.get("/")
        assert status == 200
        return html

    async def login(self, db: Database, settings: Settings, contact_id: int,
                    now: datetime) -> str:
        async with db.transaction() as tx:
            link = await issue_login_link(tx, settings, contact_id, now)
        return await self.login_with(link)

    def csrf(self, html: str) -> str:
        match = CSRF.search(html)
        assert match is not None, "page has no CSRF token"
        return match.group(1)
