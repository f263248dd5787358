"""The simulator page in a real headless Chromium (as ``tests/test_browser.py``: Debian's
``chromium`` + ``chromium-driver`` through Selenium): in one page the resident reports,
the coordinator looks the ticket up and verifies it, and the resident's pane gets the
notice. Screenshots go to ``test-artifacts/screenshots/``.

Skipped only when Chromium is not installed *outside* CI; in CI (``CI=true``) a missing
browser fails the run. Waits are bounded only so that a hung page fails the test.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.app import SERVICES, Services, create_app
from bot.dashboard.auth import issue_login_link
from bot.dashboard.feature import DashboardFeature
from bot.features.complaints import ComplaintsFeature
from bot.features.tickets import TicketsFeature
from bot.settings import Settings
from tests.dashboard_helpers import add_contact, dashboard_settings
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
    clock = Clock()
    settings = dashboard_settings(database_url, tmp_path / "data")
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
                 "--window-size=1400,1000", "--lang=id"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=DriverService(executable_path=str(CHROMEDRIVER)),
                               options=options)
    try:
        yield browser
    finally:
        browser.quit()


class Simulator:
    """The simulator page; Selenium's blocking calls run off the server's event loop."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        wait = WebDriverWait(self.driver, WAIT)
        return await self.run(wait.until, ec.presence_of_element_located((By.CSS_SELECTOR, css)))

    async def bot_texts(self, persona: str) -> list[str]:
        """What the bot said in a pane, oldest first."""
        script = ("return Array.from(document.querySelectorAll(arguments[0]))"
                  ".map(function (e) { return e.textContent; });")
        return list(await self.run(self.driver.execute_script, script,
                                   f"#pane-{persona} .sim-msg.bot .sim-text"))

    async def until(self, persona: str, found: Callable[[list[str]], bool]) -> list[str]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        texts: list[str] = []
        while loop.time() < deadline:
            texts = await self.bot_texts(persona)
            if found(texts):
                return texts
            await asyncio.sleep(0.1)
        raise AssertionError(f"{persona}'s pane never showed it; it has {texts}")

    async def type(self, persona: str, text: str) -> list[str]:
        """Type a line in a pane and wait for the bot's answer there."""
        from selenium.webdriver.common.keys import Keys

        before = len(await self.bot_texts(persona))
        field = await self.find(f"#text-{persona}")
        await self.run(field.send_keys, text + Keys.ENTER)
        return await self.until(persona, lambda texts: len(texts) > before)

    async def click(self, persona: str, label: str) -> list[str]:
        """Press the newest button with this label in a pane; wait for the answer."""
        from selenium.webdriver.common.by import By

        before = len(await self.bot_texts(persona))
        buttons = await self.run(self.driver.find_elements, By.XPATH,
                                 f'//section[@id="pane-{persona}"]//button[@data-choice]'
                                 f'[normalize-space(.)="{label}"]')
        assert buttons, f"no button {label!r} in {persona}'s pane"
        await self.run(buttons[-1].click)
        return await self.until(persona, lambda texts: len(texts) > before)

    async def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        assert await self.run(self.driver.save_screenshot, str(path)), name
        assert path.stat().st_size > 1000


async def test_report_and_verification_in_the_simulator(server: Server, driver: Any) -> None:
    db = server.services.db
    coordinator = await add_contact(db, "koor", server.clock(), role="coordinator",
                                    name="Bu Ani")
    page = Simulator(driver)
    async with db.transaction() as tx:
        link = await issue_login_link(tx, server.settings, coordinator, server.clock())
    await page.run(driver.get, server.url + "/" + link.split("/", 3)[3])
    await page.run((await page.find("#login-button")).click)
    await page.find("#open-total")
    await page.run(driver.get, server.url + "/simulator")
    await page.find("#pane-coordinator .sim-compose input")

    # The resident reports, with buttons and typed answers.
    await page.type("resident", "lapor")
    await page.click("resident", "Masalah air bersih")
    await page.click("resident", "Air tidak mengalir / mati")
    for line in ("Air mati total sejak subuh", "ga tau", "ga tau",
                 "Kalibaru RT 05 / RW 03 dekat pos ronda", "ga ada"):
        await page.type("resident", line)
    texts = await page.type("resident", "kirim")
    tickets = re.findall(r"Nomor laporan: \*([A-Z]{3}-[0-9A-Z]{5})\*", texts[-1])
    assert len(tickets) == 1, texts[-1]
    ticket = tickets[0]
    await page.shot("sim-01-resident-reported")
    # Nothing of the resident's conversation went to the other panes.
    assert await page.bot_texts("coordinator") == []
    assert await page.bot_texts("volunteer") == []

    # The coordinator finds the ticket and verifies it.
    texts = await page.type("coordinator", f"/tiket {ticket}")
    assert texts[-1].startswith(f"*{ticket}* — Diterima")
    texts = await page.click("coordinator", "Verifikasi")
    assert texts[-1].startswith(f"Status {ticket} sekarang *Diverifikasi*")

    # The resident's pane gets the notice, through the outbox.
    texts = await page.until("resident", lambda t: any("*Diverifikasi*" in x for x in t))
    assert texts[-1] == f"Kabar laporan *{ticket}*: statusnya sekarang *Diverifikasi*."
    await page.shot("sim-02-resident-notified")
    assert not any("Kabar laporan" in t for t in await page.bot_texts("coordinator"))
