"""The simulator page in a real headless Chromium (the set-up of ``tests/test_browser.py``):
in one page the resident reports, the coordinator looks the ticket up and verifies it, and
the resident's pane gets the notice. Screenshots go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest

from bot.dashboard.auth import issue_login_link
from tests.dashboard_helpers import add_contact
from tests.test_browser import WAIT, Page, Server, driver, server

pytestmark = pytest.mark.e2e
# Fixtures of the dashboard's browser test, used here by name.
__all__ = ["driver", "server"]


class Simulator(Page):
    """The simulator page: three chat panes."""

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
