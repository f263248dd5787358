"""`warga chat`: a terminal conversation through the real dispatcher, engine and database.

Each terminal is one person. Several terminals may run on one database at once (a
resident in one, the coordinator in another): each sends only the console messages of
its own person, and leaves everyone else's queued for their own terminal. The features'
timers run here too, so reminders and broadcasts arrive without ``warga serve``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from datetime import timedelta

from bot.app import build_services
from bot.outbox import OutboxSender
from bot.scheduler import Scheduler, add_timers, create_scheduler
from bot.services import Services
from bot.settings import Settings
from handlers.console import CHANNEL, ConsoleChannel, ConsoleLine


def recipient_sender(services: Services, channel_name: str,
                     recipients: frozenset[str]) -> OutboxSender:
    """A sender for ``recipients`` on one attached channel, woken by every new row."""
    settings = services.settings
    lease = min(settings.lease_seconds, settings.outbox_lease_seconds)
    sender = OutboxSender(
        services.db, {channel_name: services.channels[channel_name]}, clock=services.clock,
        metrics=services.metrics, recipients=recipients, lease=timedelta(seconds=lease))
    services.dispatcher.on_enqueued.append(sender.wake)
    return sender


async def start_timers(services: Services) -> Scheduler:
    """The features' timers (reminders, deadlines, broadcasts), rebuilt from the database
    as ``warga serve`` does."""
    scheduler = create_scheduler(services.settings.timezone)
    add_timers(scheduler, services.dispatcher.timers, services.clock)
    for spec in services.dispatcher.specs:
        if spec.startup is not None:
            await spec.startup(scheduler)
    scheduler.start()
    services.scheduler = scheduler
    return scheduler


def who_text(services: Services, role: str, user_id: str) -> str:
    """Who this terminal is, and how to play someone else."""
    other = "coordinator" if role != "coordinator" else "resident"
    return services.translator(services.settings.locale, "console.whoami",
                               role=services.translator(services.settings.locale,
                                                        f"console.role.{role}"),
                               address=f"{CHANNEL}:{user_id}",
                               command=f"warga chat --as {other} --user 2")


async def run_chat(settings: Settings, *, role: str, user_id: str, name: str | None) -> int:
    interactive = sys.stdin.isatty()

    def out(text: str) -> None:
        if interactive:
            # A message may arrive while the prompt waits: print it above a fresh prompt.
            sys.stdout.write("\r" + text + "\n> ")
        else:
            sys.stdout.write(text + "\n")
        sys.stdout.flush()

    services = await build_services(settings)
    console = ConsoleChannel(out)
    services.attach(console)
    sender = recipient_sender(services, CHANNEL, frozenset({user_id}))
    runner: asyncio.Task[None] | None = None
    try:
        async with services.db.transaction() as tx:
            contact = await tx.contacts.upsert(CHANNEL, user_id, services.clock(), name=name,
                                               inbound=False)
            if role != "resident" and contact.role != role:
                contact.role = role
                await tx.audit.add("cli", f"role.{role}", services.clock(),
                                   subject=f"{CHANNEL}:{contact.id}")
        await start_timers(services)
        who = who_text(services, role, user_id)
        if interactive:
            sys.stdout.write(services.translator(settings.locale, "console.banner") + "\n"
                             + who + "\n")
            sys.stdout.flush()
            # Typed in a terminal: messages come whenever they are sent, reminders and
            # other people's doings included.
            runner = asyncio.create_task(sender.run(), name="outbox")
        else:
            print(who, file=sys.stderr)
            # Piped: what was queued before this terminal started, then one reply per line.
            await sender.drain()
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
                sys.stdout.write(f"> {line.rstrip()}\n")
                sys.stdout.flush()
            for inbound in console.parse(ConsoleLine(line.rstrip("\n"), user_id, name)):
                await services.dispatcher.handle(inbound)
            if runner is None:
                await sender.drain()
    finally:
        await sender.stop()
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
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
