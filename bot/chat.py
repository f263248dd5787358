"""`warga chat`: a terminal conversation through the real dispatcher, engine and database."""

from __future__ import annotations

import asyncio
import sys

from bot.app import build_services
from bot.settings import Settings
from handlers.console import CHANNEL, ConsoleChannel, ConsoleLine


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def run_chat(settings: Settings, *, role: str, user_id: str, name: str | None) -> int:
    services = await build_services(settings)
    console = ConsoleChannel(_write)
    services.attach(console)
    sender = services.start_sender()
    try:
        async with services.db.transaction() as tx:
            contact = await tx.contacts.upsert(CHANNEL, user_id, services.clock(), name=name,
                                               inbound=False)
            if role != "resident" and contact.role != role:
                contact.role = role
                await tx.audit.add("cli", f"role.{role}", services.clock(),
                                   subject=f"{CHANNEL}:{contact.id}")
        interactive = sys.stdin.isatty()
        if interactive:
            _write(services.translator(settings.locale, "console.banner"))
        while True:
            if interactive:
                sys.stdout.write("> ")
                sys.stdout.flush()
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                break
            if not line.strip():
                continue
            if not interactive:
                _write(f"> {line.rstrip()}")
            for inbound in console.parse(ConsoleLine(line.rstrip("\n"), user_id, name)):
                await services.dispatcher.handle(inbound)
            await sender.drain()
    finally:
        await services.close()
    return 0


async def add_coordinator(settings: Settings, channel: str, external_id: str) -> None:
    from storage import roles

    services = await build_services(settings)
    try:
        async with services.db.transaction() as tx:
            await roles.grant(tx, channel, external_id, services.clock(), source=roles.CLI,
                              actor="cli")
    finally:
        await services.close()


async def remove_coordinator(settings: Settings, channel: str, external_id: str) -> str:
    """Demote a coordinator; what happened, for the operator ("removed", "not-found",
    "not-coordinator", "from-environment")."""
    from storage import roles

    services = await build_services(settings)
    try:
        async with services.db.transaction() as tx:
            contact = await roles.find(tx, channel, external_id)
            if contact is None:
                return "not-found"
            if contact.role != roles.COORDINATOR:
                return "not-coordinator"
            if roles.listed_in(contact, settings.coordinators):
                return "from-environment"
            await roles.revoke(tx, contact, services.clock(), actor="cli",
                               reason="warga coordinator remove")
            return "removed"
    finally:
        await services.close()


async def list_coordinators(settings: Settings) -> list[tuple[str, str, str]]:
    """(address, name, where the role came from) of every coordinator."""
    from storage import roles

    services = await build_services(settings)
    try:
        async with services.db.transaction() as tx:
            rows = await roles.coordinators(tx)
    finally:
        await services.close()
    return [(r.address, r.name or "-", r.source or "-") for r in rows]
