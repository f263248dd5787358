"""Telegram "/" menus per role: the default scope for residents, a private chat's own
list for volunteers and coordinators, changed when the role changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.telegram_menus import menu
from conversations.roles import COORDINATOR, RESIDENT, VOLUNTEER
from storage import roles
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_settings import telegram_settings
from tests.test_telegram_e2e import Resident, Service

pytestmark = pytest.mark.e2e

COORDINATOR_ID = 500001
RESIDENT_ID = 681234567


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as api:
        yield api


@pytest.fixture
async def service(fake: FakeBotAPI, database_url: str,
                  tmp_path: Path) -> AsyncIterator[Service]:
    settings = telegram_settings(database_url, tmp_path, fake,
                                 coordinators=(f"telegram:{COORDINATOR_ID}",))
    async with Service(settings) as running:
        yield running


async def set_role(service: Service, external_id: int, role: str) -> None:
    async with service.services.db.transaction() as tx:
        contact = await tx.contacts.get_by_external("telegram", str(external_id))
        assert contact is not None
        await tx.contacts.set_fields(contact.id, service.services.clock(), role=role,
                                     volunteer_type="kader" if role == VOLUNTEER else None)


async def test_each_role_sees_its_own_menu_and_it_follows_role_changes(
        fake: FakeBotAPI, service: Service) -> None:
    default = fake.menus[(None, None)]
    assert fake.menus[(None, "id")] == fake.menus[(None, "en")] == default
    assert default[0] == "start" and default[-1] == "batal" and "lapor" in default
    assert not {"kegiatan", "siaran", "tiket", "dasbor", "pendaftar"} & set(default)
    # The coordinator named in WARGA_COORDINATORS has their own menu from the start.
    coordinator = fake.menus[(COORDINATOR_ID, None)]
    assert {"kegiatan", "siaran", "tiket", "dasbor", "pendaftar", "lapor"} <= set(coordinator)

    resident = Resident(fake, service, user_id=RESIDENT_ID)
    await resident.text("halo")
    assert (RESIDENT_ID, None) not in fake.menus  # residents keep the default menu

    # Made a volunteer: the next message queued (the approval's notice) brings the menu.
    await set_role(service, RESIDENT_ID, VOLUNTEER)
    await resident.text("menu")
    await fake.wait_for(lambda: (RESIDENT_ID, None) in fake.menus)
    volunteer = fake.menus[(RESIDENT_ID, None)]
    assert "tiket" in volunteer and "asesmen" in volunteer
    assert not {"kegiatan", "siaran", "dasbor"} & set(volunteer)

    # Back to resident: the chat's own menu is deleted, the default one shows again.
    await set_role(service, RESIDENT_ID, RESIDENT)
    await resident.text("menu")
    await fake.wait_for(lambda: (RESIDENT_ID, None) not in fake.menus)
    deleted = fake.requests("deleteMyCommands")
    assert [d["scope"] for d in deleted] == [{"type": "chat", "chat_id": RESIDENT_ID}]


async def test_the_assessment_is_offered_to_volunteers_only(
        fake: FakeBotAPI, service: Service) -> None:
    assert "asesmen" not in fake.menus[(None, "id")]
    assert "asesmen" not in fake.menus[(None, "en")]
    resident = Resident(fake, service, user_id=RESIDENT_ID)
    # Typed anyway, it still says how to become a volunteer.
    await resident.text("/asesmen")
    assert "hanya untuk relawan yang sudah terdaftar" in resident.last()["text"]
    assert "/relawan KODE" in resident.last()["text"]
    await set_role(service, RESIDENT_ID, VOLUNTEER)
    await resident.text("menu")
    await fake.wait_for(lambda: (RESIDENT_ID, None) in fake.menus)
    assert "asesmen" in fake.menus[(RESIDENT_ID, None)]


async def test_a_change_made_elsewhere_is_found_by_the_periodic_look(
        fake: FakeBotAPI, service: Service) -> None:
    menus = service.plugin.menus
    assert menus is not None
    assert await menus.sync() == 0  # nothing changed: no calls
    async with service.services.db.transaction() as tx:
        contact = await tx.contacts.get_by_external("telegram", str(COORDINATOR_ID))
        assert contact is not None
        await roles.revoke(tx, contact, service.services.clock(), actor="cli", reason="test")
    assert await menus.sync() == 1
    assert (COORDINATOR_ID, None) not in fake.menus
    assert await menus.sync() == 0


async def test_a_chat_in_english_gets_its_menu_in_english(fake: FakeBotAPI,
                                                          service: Service) -> None:
    async with service.services.db.transaction() as tx:
        contact = await tx.contacts.get_by_external("telegram", str(COORDINATOR_ID))
        assert contact is not None
        await tx.contacts.set_fields(contact.id, service.services.clock(), language="en")
    menus = service.plugin.menus
    assert menus is not None
    assert await menus.sync() == 1
    [call] = [c for c in fake.requests("setMyCommands")
              if c.get("scope") and c["commands"][0]["description"] != "Mulai dan lihat menu utama"]
    assert call["scope"] == {"type": "chat", "chat_id": COORDINATOR_ID}
    described = dict((c["command"], c["description"]) for c in call["commands"])
    assert described["lapor"] == "Make a new report"


async def test_menus_come_from_the_commands_with_their_roles(service: Service) -> None:
    services = service.services
    lines = {role: menu(services.dispatcher, services.translator, role, "id")
             for role in (RESIDENT, VOLUNTEER, COORDINATOR)}
    for role, rows in lines.items():
        names = [name for name, _ in rows]
        assert len(names) == len(set(names)), role
        assert all(description and not description.startswith("cmd.")
                   for _, description in rows), role
    assert dict(lines[COORDINATOR])["dasbor"] == "Buka dasbor koordinator"
