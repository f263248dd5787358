"""The dashboard's simulator page over HTTP: three panes, one dispatcher, the real outbox."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.app import Services
from bot.dashboard.simulator import CHANNEL, SAMPLE_LOCATION, SimulatorChannel
from bot.settings import Settings
from conversations.messages import Choice, InboundKind, Location, Outbound
from storage.models import Contact, OutboxMessage
from tests.dashboard_helpers import DashClient, add_contact, dashboard_service
from tests.harness import Clock

pytestmark = [pytest.mark.storage, pytest.mark.e2e]

REPORT = [("text", "lapor"), ("choice", "jenis:air"), ("choice", "kategori:mati"),
          ("text", "Air mati total sejak subuh"), ("text", "ga tau"), ("text", "ga tau"),
          ("text", "Kalibaru RT 05 / RW 03 dekat pos ronda"), ("text", "ga ada"),
          ("text", "kirim")]


@dataclass
class Sim:
    client: TestClient[Any, Any]
    services: Services
    settings: Settings
    clock: Clock
    coordinator: int

    async def signed_in(self) -> tuple[DashClient, str]:
        browser = DashClient(self.client)
        await browser.login(self.services.db, self.settings, self.coordinator, self.clock())
        status, html, _ = await browser.get("/simulator")
        assert status == 200, html
        return browser, browser.csrf(html)


@pytest.fixture
async def sim(database_url: str, tmp_path: Path) -> AsyncIterator[Sim]:
    clock = Clock()
    async with dashboard_service(database_url, tmp_path, clock) as (client, services,
                                                                     settings):
        coordinator = await add_contact(services.db, "koor", clock(), role="coordinator",
                                        name="Bu Ani")
        yield Sim(client, services, settings, clock, coordinator)


async def say(browser: DashClient, csrf: str, persona: str, kind: str, value: str) -> None:
    status, body, _ = await browser.post("/simulator/kirim",
                                         {"csrf": csrf, "persona": persona, kind: value})
    assert status == 200, body


async def panes(browser: DashClient) -> dict[str, list[dict[str, Any]]]:
    status, body, _ = await browser.get("/simulator/pesan.json?after=0")
    assert status == 200, body
    return dict(json.loads(body)["panes"])


async def wait_for(browser: DashClient, persona: str,
                   found: Callable[[dict[str, Any]], bool]) -> dict[str, list[dict[str, Any]]]:
    """The panes once a message of the bot in ``persona``'s pane satisfies ``found``."""
    for _ in range(200):
        now = await panes(browser)
        if any(m["from"] == "bot" and found(m) for m in now[persona]):
            return now
        await asyncio.sleep(0.05)
    raise AssertionError(f"{persona} never got the message; has {now[persona]}")


async def test_pages_need_a_coordinator_and_sends_a_csrf_token(sim: Sim) -> None:
    anonymous = DashClient(sim.client)
    for path in ("/simulator", "/simulator/pesan.json"):
        status, _, response = await anonymous.get(path)
        assert (status, response.headers["Location"]) == (303, "/masuk")
    status, _, _ = await anonymous.post("/simulator/kirim",
                                        {"persona": "resident", "text": "halo"})
    assert status == 303
    browser, csrf = await sim.signed_in()
    status, _, _ = await browser.post("/simulator/kirim", {"csrf": "forged",
                                                           "persona": "resident",
                                                           "text": "halo"})
    assert status == 403
    status, _, _ = await browser.post("/simulator/kirim", {"csrf": csrf,
                                                           "persona": "admin", "text": "x"})
    assert status == 400
    async with sim.services.db.session() as session:
        queued = (await session.execute(select(OutboxMessage))).scalars().all()
    assert queued == []


async def test_each_pane_gets_only_its_own_messages(sim: Sim) -> None:
    browser, csrf = await sim.signed_in()
    await say(browser, csrf, "resident", "text", "lapor")
    now = await wait_for(browser, "resident", lambda m: any(
        c["id"] == "jenis:air" for c in m["choices"]))
    assert [m["from"] for m in now["resident"]] == ["me", "bot"]
    assert now["resident"][0]["text"] == "lapor"
    assert now["coordinator"] == [] and now["volunteer"] == []
    # A clicked button is a choice, shown in the pane by its label.
    status, body, _ = await browser.post("/simulator/kirim", {
        "csrf": csrf, "persona": "resident", "choice": "jenis:air",
        "label": "Masalah air bersih"})
    assert status == 200, body
    now = await wait_for(browser, "resident", lambda m: "Masalah airnya apa" in m["text"])
    assert now["resident"][2] == {"from": "me", "text": "Masalah air bersih", "choices": [],
                                  "location": False, "seq": now["resident"][2]["seq"]}
    async with sim.services.db.session() as session:
        contacts = {c.external_id: c.role for c in (await session.execute(
            select(Contact).where(Contact.channel == CHANNEL))).scalars()}
    me = sim.coordinator
    assert contacts == {f"resident-{me}": "resident", f"volunteer-{me}": "volunteer",
                        f"coordinator-{me}": "coordinator"}


async def test_report_verified_by_the_coordinator_pane_reaches_the_resident_pane(
        sim: Sim) -> None:
    browser, csrf = await sim.signed_in()
    for kind, value in REPORT:
        await say(browser, csrf, "resident", kind, value)
    now = await wait_for(browser, "resident", lambda m: "Nomor laporan" in m["text"])
    [ticket] = {t for m in now["resident"]
                for t in re.findall(r"Nomor laporan: \*([A-Z]{3}-[0-9A-Z]{5})\*", m["text"])}

    await say(browser, csrf, "coordinator", "text", f"/tiket {ticket}")
    now = await wait_for(browser, "coordinator", lambda m: any(
        c["label"] == "Verifikasi" for c in m["choices"]))
    verify = next(c["id"] for m in now["coordinator"] for c in m["choices"]
                  if c["label"] == "Verifikasi")
    await say(browser, csrf, "coordinator", "choice", verify)
    now = await wait_for(browser, "resident", lambda m: "*Diverifikasi*" in m["text"])
    notice = next(m["text"] for m in now["resident"] if "*Diverifikasi*" in m["text"])
    assert notice == f"Kabar laporan *{ticket}*: statusnya sekarang *Diverifikasi*."
    assert not any(ticket in m["text"] and "Kabar laporan" in m["text"]
                   for m in now["coordinator"])


async def test_the_channel_parses_locations_and_masks_identity_numbers() -> None:
    channel = SimulatorChannel()
    [sample] = channel.parse(("resident-1", "/lokasi", None))
    assert (sample.kind, sample.location) == (InboundKind.LOCATION, SAMPLE_LOCATION)
    [there] = channel.parse(("resident-1", "/lokasi -6.2, 106.8", None))
    assert there.location == Location(-6.2, 106.8)
    [typed] = channel.parse(("resident-1", "/lokasi di rumah", None))
    assert (typed.kind, typed.text) == (InboundKind.TEXT, "/lokasi di rumah")
    [clicked] = channel.parse(("resident-1", "", "jenis:air"))
    assert (clicked.kind, clicked.choice_id, clicked.channel) == (
        InboundKind.CHOICE, "jenis:air", CHANNEL)
    await channel.send(Outbound(channel=CHANNEL, user_id="volunteer-1",
                                text="NIK 3172041234567890 benar?",
                                choices=(Choice("confirm:yes", "Ya"),),
                                request_location=True))
    [shown] = channel.since("volunteer-1", 0)
    assert "3172041234567890" not in shown["text"]
    assert shown["choices"] == [{"id": "confirm:yes", "label": "Ya"}]
    assert shown["location"] is True
    assert channel.since("volunteer-1", shown["seq"]) == []
    assert channel.since("resident-1", 0) == []


async def test_a_broadcast_queued_for_a_simulated_contact_reaches_its_pane(sim: Sim) -> None:
    browser, _ = await sim.signed_in()
    resident = f"resident-{sim.coordinator}"
    async with sim.services.db.transaction() as tx:
        contact = await tx.contacts.upsert(CHANNEL, resident, sim.clock(), inbound=False)
        await tx.outbox.enqueue(
            channel=CHANNEL, recipient=resident, now=sim.clock(), priority=10,
            contact_id=contact.id, batch="siaran-1",
            payload=Outbound(channel=CHANNEL, user_id=resident,
                             text="Besok pagi air PAM mati.").as_dict())
    for wake in sim.services.dispatcher.on_enqueued:
        wake()
    now = await wait_for(browser, "resident", lambda m: m["text"] == "Besok pagi air PAM mati.")
    assert now["coordinator"] == [] and now["volunteer"] == []
