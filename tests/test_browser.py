"""The dashboard in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``,
driven by Selenium; no browser download): sign-in by link, the ticket list, a status
change, the map and the chart; a report by chat read and verified on its ticket page.
Screenshots go to ``test-artifacts/screenshots/``.

Skipped only when Chromium is not installed *outside* CI; in CI (``CI=true``) a missing
browser fails the run. Waits are bounded only so that a hung page fails the test.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.app import SERVICES, Services, create_app
from bot.dashboard.auth import issue_login_link
from bot.dashboard.feature import DashboardFeature
from bot.features.complaints import ComplaintsFeature
from bot.features.tickets import TicketsFeature
from bot.settings import Settings
from conversations.messages import Inbound, InboundKind, Location
from storage.models import Contact, OutboxMessage
from tests.dashboard_helpers import NIK, add_complaint, add_contact, dashboard_settings
from tests.harness import Clock

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
WAIT = 20.0


def _require_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if not missing:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run the browser tests, but {', '.join(missing)} is missing "
                    "(.ci/run installs chromium and chromium-driver)")
    pytest.skip(f"{', '.join(missing)} not installed (apt-get install chromium chromium-driver)")


@dataclass
class Server:
    url: str
    services: Services
    settings: Settings
    clock: Clock


@pytest.fixture
async def server(database_url: str, tmp_path: Path) -> AsyncIterator[Server]:
    async with serve(dashboard_settings(database_url, tmp_path / "data")) as running:
        yield running


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Server]:
    clock = Clock()
    tickets = TicketsFeature(settings)
    app = create_app(settings, clock=clock, plugins=[],
                     features=[ComplaintsFeature(), tickets, DashboardFeature(tickets)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)  # an ephemeral port
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield Server(f"http://{host}:{port}", app[SERVICES], settings, clock)
    finally:
        await runner.cleanup()


@pytest.fixture
def driver(tmp_path: Path) -> Any:
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}",
                 "--window-size=1280,1000", "--lang=id"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=DriverService(executable_path=str(CHROMEDRIVER)),
                               options=options)
    try:
        yield browser
    finally:
        browser.quit()


class Page:
    """Selenium's blocking calls, run off the event loop that serves the dashboard."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def open(self, url: str) -> None:
        await self.run(self.driver.get, url)

    async def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        wait = WebDriverWait(self.driver, WAIT)
        return await self.run(wait.until, ec.presence_of_element_located((By.CSS_SELECTOR, css)))

    async def all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(await self.run(self.driver.find_elements, By.CSS_SELECTOR, css))

    async def text(self, css: str) -> str:
        from selenium.common.exceptions import StaleElementReferenceException

        # A page that is still being replaced (after a click) can hand us an element of
        # the old page; look again on the new one.
        for _ in range(20):
            element = await self.find(css)
            try:
                return str(await self.run(lambda e=element: e.text))
            except StaleElementReferenceException:
                await asyncio.sleep(0.1)
        raise AssertionError(f"{css} kept going stale")

    async def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        assert await self.run(self.driver.save_screenshot, str(path)), name
        assert path.stat().st_size > 1000

    @property
    def url(self) -> str:
        return str(self.driver.current_url)

    def source(self) -> str:
        return str(self.driver.page_source)


async def test_dashboard_in_chromium(server: Server, driver: Any) -> None:
    db = server.services.db
    now = server.clock()
    coordinator = await add_contact(db, "koor", now, role="coordinator", name="Bu Ani")
    resident = await add_contact(db, "warga", now, name="Siti")
    first = await add_complaint(db, resident, now, description=f"Air keruh, NIK {NIK}")
    await add_complaint(db, resident, now, category="mati", rw="007",
                        latitude=-6.0985, longitude=106.9301)
    await add_complaint(db, resident, now, category="bocor", rw="002",
                        latitude=-6.1062, longitude=106.9248)
    page = Page(driver)

    # No session: the login notice.
    await page.open(server.url + "/tiket")
    assert "Dasbor hanya untuk koordinator" in await page.text("#login-notice")
    await page.shot("01-login-notice")

    # Sign in by link: the link shows a button; pressing it signs in.
    async with db.transaction() as tx:
        link = await issue_login_link(tx, server.settings, coordinator, now)
    await page.open(server.url + "/" + link.split("/", 3)[3])
    button = await page.find("#login-button")
    await page.run(button.click)
    await page.find("#water-chart svg.chart")
    assert page.url == server.url + "/"
    assert await page.text("#open-total") == "3"
    bars = await page.all("#water-chart rect.bar")
    assert len(bars) == 30
    await page.shot("02-overview-chart")

    # The ticket list.
    await page.open(server.url + "/tiket")
    rows = await page.all("#ticket-list tbody tr[data-ticket]")
    assert len(rows) == 3
    await page.shot("03-ticket-list")

    # A status change from the ticket page.
    await page.open(f"{server.url}/tiket/{first.ticket}")
    assert "NIK [nomor disembunyikan]" in await page.text("dd.pre")
    note = await page.find("#form-diverifikasi textarea[name=note]")
    await page.run(note.send_keys, "Dicek petugas besok pagi")
    submit = await page.find("#form-diverifikasi button[type=submit]")
    await page.run(submit.click)
    await page.find("#ticket-ok")  # only on the page after the change
    assert "Diverifikasi" in await page.text("#ticket-status")
    await page.shot("04-status-changed")
    async with db.session() as session:
        texts = [r.payload["text"] for r in (await session.execute(
            select(OutboxMessage).where(OutboxMessage.contact_id == resident))).scalars()]
    assert texts == [f"Kabar laporan *{first.ticket}*: statusnya sekarang *Diverifikasi*."
                     "\n\nCatatan petugas: Dicek petugas besok pagi"]

    # The map: Leaflet loads from our own static files; no tiles are fetched (no URL).
    await page.open(server.url + "/peta")
    await page.find('#map[data-ready="3"]')
    markers = await page.all("#map path[data-ticket]")
    assert len(markers) == 3
    assert await page.all(".leaflet-tile") == []
    await page.shot("05-map")

    # No page shows the full NIK.
    for path in ("/", "/tiket", f"/tiket/{first.ticket}", "/peta"):
        await page.open(server.url + path)
        await page.find("main")
        assert NIK not in page.source(), path

    # Signing out ends the session.
    logout = await page.find("#logout")
    await page.run(logout.click)
    await page.find("#login-notice")
    await page.open(server.url + "/")
    await page.find("#login-notice")


async def test_a_report_by_chat_is_read_and_verified_in_chromium(server: Server,
                                                                 driver: Any) -> None:
    db = server.services.db
    dispatcher = server.services.dispatcher
    now = server.clock()
    coordinator = await add_contact(db, "koor", now, role="coordinator", name="Bu Ani")

    # The resident reports through the dispatcher, as any channel would deliver it.
    async def say(kind: InboundKind, **what: Any) -> None:
        await dispatcher.handle(Inbound(kind=kind, channel="console", user_id="warga-b",
                                        message_id=uuid.uuid4().hex, contact_name="Siti",
                                        timestamp=server.clock(), **what))

    for text in ("/start", "lapor"):
        await say(InboundKind.TEXT, text=text)
    for choice in ("jenis:air", "kategori:keruh"):
        await say(InboundKind.CHOICE, choice_id=choice)
    for text in ("Air keruh kecoklatan sejak pipa diperbaiki", "kemarin", "12"):
        await say(InboundKind.TEXT, text=text)
    await say(InboundKind.LOCATION, location=Location(-6.1011, 106.9264))
    await say(InboundKind.CHOICE, choice_id="kelurahan:1004")
    await say(InboundKind.TEXT, text="dekat masjid Al Hidayah")
    await say(InboundKind.TEXT, text="0812-3456-7890")
    await say(InboundKind.CHOICE, choice_id="confirm:yes")
    async with db.session() as session:
        resident = (await session.execute(
            select(Contact.id).where(Contact.external_id == "warga-b"))).scalar_one()
        before = [r.payload["text"] for r in (await session.execute(
            select(OutboxMessage).where(OutboxMessage.contact_id == resident)
            .order_by(OutboxMessage.id))).scalars()]
    found = re.search(r"AIR-[0-9A-Z]{5}", before[-1])
    assert found is not None, before[-1]
    ticket = found.group(0)

    page = Page(driver)
    async with db.transaction() as tx:
        link = await issue_login_link(tx, server.settings, coordinator, now)
    await page.open(server.url + "/" + link.split("/", 3)[3])
    await page.run((await page.find("#login-button")).click)
    await page.find("#water-chart")

    await page.open(f"{server.url}/tiket/{ticket}")
    answers = await page.text("#ticket-answers")
    for part in ("Sejak", "Jumat, 27 November 2026", "Rumah yang kena", "12",
                 "Kelurahan", "Kalibaru", "Patokan", "dekat masjid Al Hidayah"):
        assert part in answers, (part, answers)
    assert await page.text("#ticket-phone") == "+6281234567890"
    map_link = await page.find("#ticket-map-link")
    assert await page.run(map_link.get_attribute, "href") == (
        "https://www.openstreetmap.org/?mlat=-6.10110&mlon=106.92640")
    await page.shot("06-ticket-answers")

    await page.run((await page.find("#form-diverifikasi button[type=submit]")).click)
    await page.find("#ticket-ok")
    assert "Diverifikasi" in await page.text("#ticket-status")
    assert "oleh Bu Ani" in await page.text("#history")
    await page.shot("07-ticket-verified")
    async with db.session() as session:
        after = [r.payload["text"] for r in (await session.execute(
            select(OutboxMessage).where(OutboxMessage.contact_id == resident)
            .order_by(OutboxMessage.id))).scalars()]
    assert after[len(before):] == [
        f"Kabar laporan *{ticket}*: statusnya sekarang *Diverifikasi*."]


async def test_the_map_clusters_many_pins_and_keeps_a_legend_and_list(server: Server,
                                                                       driver: Any) -> None:
    db = server.services.db
    now = server.clock()
    coordinator = await add_contact(db, "koor", now, role="coordinator", name="Bu Ani")
    resident = await add_contact(db, "warga", now, name="Siti")
    # Thirty reports around one gang and one across the kelurahan.
    for i in range(30):
        await add_complaint(db, resident, now, category="mati" if i % 2 else "keruh",
                            latitude=-6.1000 - i * 0.00001, longitude=106.9300 + i * 0.00001)
    await add_complaint(db, resident, now, category="bocor", latitude=-6.1200,
                        longitude=106.9100)
    page = Page(driver)
    async with db.transaction() as tx:
        link = await issue_login_link(tx, server.settings, coordinator, now)
    await page.open(server.url + "/" + link.split("/", 3)[3])
    await page.run((await page.find("#login-button")).click)
    await page.find("#water-chart")

    await page.open(server.url + "/peta")
    await page.find('#map[data-ready="31"]')
    clusters = await page.all("#map .map-cluster[data-count]")
    counts = [int(await page.run(c.get_attribute, "data-count")) for c in clusters]
    singles = await page.all("#map path[data-ticket]")
    assert counts == [30] and len(singles) == 1
    assert await page.run(singles[0].get_attribute, "data-category") == "bocor"
    legend = await page.text("#map-legend")
    for part in ("Warna isi: masalah", "Air tidak mengalir / mati", "Warna tepi: status",
                 "Diterima", "Lingkaran berangka"):
        assert part in legend, (part, legend)
    # No tile server: lines of latitude and longitude, and the list with coordinates.
    assert await page.all(".leaflet-tile") == []
    assert len(await page.all("#map path.graticule")) >= 4
    rows = await page.all("#map-list tbody tr[data-ticket]")
    assert len(rows) == 31
    assert "-6.12000, 106.91000" in await page.text("#map-list")
    await page.shot("08-map-clustered")

    # Clicking the circle zooms in until the pins stand apart.
    await page.run(clusters[0].click)
    await page.find("#map path[data-ticket][data-category=mati]")
    assert len(await page.all("#map path[data-ticket]")) > 1
    await page.shot("09-map-zoomed")


async def test_the_map_falls_back_when_the_tile_server_cannot_be_reached(
        database_url: str, tmp_path: Path, driver: Any) -> None:
    # Port 1 on loopback: nothing listens, every tile fails at once.
    settings = dataclasses.replace(dashboard_settings(database_url, tmp_path / "data"),
                                   map_tile_url="http://127.0.0.1:1/{z}/{x}/{y}.png")
    async with serve(settings) as server:
        db = server.services.db
        now = server.clock()
        coordinator = await add_contact(db, "koor", now, role="coordinator", name="Bu Ani")
        resident = await add_contact(db, "warga", now, name="Siti")
        await add_complaint(db, resident, now)
        page = Page(driver)
        async with db.transaction() as tx:
            link = await issue_login_link(tx, server.settings, coordinator, now)
        await page.open(server.url + "/" + link.split("/", 3)[3])
        await page.run((await page.find("#login-button")).click)
        await page.find("#water-chart")
        await page.open(server.url + "/peta")
        await page.find('#map[data-plain="1"]')
        assert "Tanpa peta dasar" in await page.text("#map-offline")
        assert await page.run((await page.find("#map-list")).get_attribute, "open") == "true"
        assert len(await page.all("#map path.graticule")) >= 2
        assert len(await page.all("#map path[data-ticket]")) == 1
        await page.shot("10-map-tiles-unreachable")
