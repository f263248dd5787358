"""Coordinators can be demoted: by the command line, or by leaving WARGA_COORDINATORS."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import build_services
from bot.settings import Secret, Settings
from storage.db import Database
from storage.models import AuditEntry, Contact
from storage.repos_tickets import TicketRepo

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[1]
KEY = Secret("a-key-for-the-roles-tests-0123456789")


def settings(database_url: str, tmp_path: Path, *coordinators: str) -> Settings:
    return Settings(database_url=database_url, data_dir=tmp_path, secret_key=KEY,
                    coordinators=coordinators)


async def start(database_url: str, tmp_path: Path, *coordinators: str) -> None:
    """One start of the service (what `warga serve` does before it listens)."""
    services = await build_services(settings(database_url, tmp_path, *coordinators))
    await services.close()


async def people(database_url: str) -> dict[str, tuple[str, str | None]]:
    db = Database(database_url)
    try:
        async with db.session() as s:
            rows = (await s.execute(select(Contact))).scalars().all()
            return {f"{c.channel}:{c.external_id}": (c.role, c.role_source) for c in rows}
    finally:
        await db.close()


async def audit(database_url: str) -> list[tuple[str, str]]:
    db = Database(database_url)
    try:
        async with db.session() as s:
            rows = (await s.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()
            return [(e.actor, e.action) for e in rows if e.action.startswith("role.")]
    finally:
        await db.close()


async def test_leaving_the_environment_list_demotes_at_the_next_start(
        database_url: str, tmp_path: Path) -> None:
    await start(database_url, tmp_path, "telegram:1", "whatsapp:6281200000001")
    assert await people(database_url) == {"telegram:1": ("coordinator", "env"),
                                          "whatsapp:6281200000001": ("coordinator", "env")}
    await start(database_url, tmp_path, "telegram:1")
    found = await people(database_url)
    assert found["telegram:1"] == ("coordinator", "env")
    assert found["whatsapp:6281200000001"] == ("resident", None)
    assert await audit(database_url) == [("env", "role.coordinator"),
                                         ("env", "role.coordinator"),
                                         ("env", "role.coordinator_removed")]


async def test_a_grant_by_hand_survives_changes_to_the_list(database_url: str,
                                                            tmp_path: Path) -> None:
    from bot.chat import add_coordinator

    await add_coordinator(settings(database_url, tmp_path), "telegram", "7")
    await start(database_url, tmp_path, "telegram:1")
    await start(database_url, tmp_path)
    found = await people(database_url)
    assert found["telegram:7"] == ("coordinator", "cli")
    assert found["telegram:1"] == ("resident", None)


async def test_grants_from_before_sources_were_recorded(database_url: str,
                                                        tmp_path: Path) -> None:
    """Coordinators the list made before this version (audited as 'system') are
    demoted when the list drops them; ones added by hand then are not."""
    await start(database_url, tmp_path)
    db = Database(database_url)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    try:
        async with db.transaction() as tx:
            for ext, actor in (("11", "system"), ("12", "cli")):
                contact = await tx.contacts.upsert("telegram", ext, now, inbound=False)
                contact.role = "coordinator"
                await tx.audit.add(actor, "role.coordinator", now, subject=f"telegram:{ext}")
    finally:
        await db.close()
    await start(database_url, tmp_path)
    found = await people(database_url)
    assert found["telegram:11"] == ("resident", None)
    assert found["telegram:12"] == ("coordinator", None)


async def test_a_demoted_coordinator_loses_the_dashboard(database_url: str,
                                                         tmp_path: Path) -> None:
    from bot.chat import remove_coordinator

    await start(database_url, tmp_path, "telegram:1")
    db = Database(database_url)
    now = datetime.now(UTC)
    try:
        async with db.transaction() as tx:
            contact = await tx.contacts.get_by_external("telegram", "1")
            assert contact is not None
            contact.volunteer_type = "tagana"
            await TicketRepo(tx.session).add_session("s" * 64, contact.id, now,
                                                     now.replace(year=now.year + 1))
    finally:
        await db.close()
    # Listed in the environment: the list is the source of truth.
    assert await remove_coordinator(settings(database_url, tmp_path, "telegram:1"),
                                    "telegram", "1") == "from-environment"
    await start(database_url, tmp_path)  # taken off the list
    assert (await people(database_url))["telegram:1"] == ("volunteer", None)
    db = Database(database_url)
    try:
        async with db.transaction() as tx:
            assert await TicketRepo(tx.session).session_contact("s" * 64, now) is None
    finally:
        await db.close()


def warga(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True,
                          text=True, env=env, timeout=120, cwd=ROOT)


def test_coordinator_add_list_remove_from_the_command_line(database_url: str,
                                                           tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("WARGA_", "TELEGRAM_", "WHATSAPP_"))}
    env = {**base, "WARGA_DATABASE_URL": database_url, "WARGA_DATA_DIR": str(tmp_path),
           "WARGA_SECRET_KEY": KEY.reveal(), "WARGA_COORDINATORS": "telegram:1"}
    assert warga(["coordinator", "add", "telegram:2"], env).returncode == 0
    listing = warga(["coordinator", "list"], env)
    assert listing.returncode == 0
    lines = sorted(line.split("\t") for line in listing.stdout.splitlines())
    assert [(line[0], line[2]) for line in lines] == [
        ("telegram:1", "WARGA_COORDINATORS"), ("telegram:2", "warga coordinator add")]
    removed = warga(["coordinator", "remove", "telegram:2"], env)
    assert removed.returncode == 0 and "no longer a coordinator" in removed.stdout
    again = warga(["coordinator", "remove", "telegram:2"], env)
    assert again.returncode == 1 and "not a coordinator" in again.stderr
    listed = warga(["coordinator", "remove", "telegram:1"], env)
    assert listed.returncode == 2 and "WARGA_COORDINATORS" in listed.stderr
    assert warga(["coordinator", "remove", "telegram:99"], env).returncode == 1
    assert warga(["coordinator", "remove"], env).returncode == 2
    listing = warga(["coordinator", "list"], env)
    assert [line.split("\t")[0] for line in listing.stdout.splitlines()] == ["telegram:1"]
