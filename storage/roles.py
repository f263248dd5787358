"""Who is a coordinator, and where that came from (``contacts.role_source``).

- ``env``: listed in ``WARGA_COORDINATORS``. The list is the source of truth for these:
  an entry removed from it is demoted at the next start, and a listed person cannot be
  demoted by hand (the next start, or their next message, would grant the role again).
- ``cli``: ``warga coordinator add``; taken away by ``warga coordinator remove``.
- ``None`` on a coordinator: granted before sources were recorded. One the start-up
  list granted then (its audit row says ``system``) counts as ``env``.

Every change is written to the audit log.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from storage.models import AuditEntry, Contact
from storage.models_tickets import DashboardSession
from storage.repos import Repos

COORDINATOR = "coordinator"
ENV = "env"
CLI = "cli"


@dataclass(frozen=True)
class CoordinatorRow:
    channel: str
    external_id: str
    name: str | None
    source: str | None
    contact_id: int

    @property
    def address(self) -> str:
        return f"{self.channel}:{self.external_id}"


def _addresses(contact: Contact) -> set[str]:
    found = {f"{contact.channel}:{contact.external_id}"}
    if contact.alt_id:
        found.add(f"{contact.channel}:{contact.alt_id}")
    return found


async def grant(tx: Repos, channel: str, external_id: str, now: datetime, *,
                source: str, actor: str) -> Contact:
    """Make someone a coordinator (created if never seen); audited when it changes."""
    contact = await tx.contacts.upsert(channel, external_id, now, inbound=False)
    if contact.role != COORDINATOR:
        contact.role = COORDINATOR
        contact.role_source = source
        await tx.audit.add(actor, "role.coordinator", now,
                           subject=f"{channel}:{contact.id}",
                           details={"source": source})
    elif source == CLI and contact.role_source != ENV:
        contact.role_source = CLI
    return contact


async def revoke(tx: Repos, contact: Contact, now: datetime, *, actor: str,
                 reason: str) -> None:
    """A coordinator no more: back to volunteer (if registered as one) or resident; their
    dashboard sessions end."""
    contact.role = "volunteer" if contact.volunteer_type else "resident"
    contact.role_source = None
    contact.updated_at = now
    await tx.session.execute(delete(DashboardSession)
                             .where(DashboardSession.contact_id == contact.id))
    await tx.audit.add(actor, "role.coordinator_removed", now,
                       subject=f"{contact.channel}:{contact.id}", details={"reason": reason})


async def coordinators(tx: Repos) -> list[CoordinatorRow]:
    rows = await tx.contacts.with_role(COORDINATOR)
    return [CoordinatorRow(c.channel, c.external_id, c.name, c.role_source, c.id)
            for c in rows]


async def _legacy_env_grants(tx: Repos) -> set[str]:
    """Subjects the start-up list made coordinators before sources were recorded."""
    stmt = select(AuditEntry.subject).where(AuditEntry.actor == "system",
                                            AuditEntry.action == "role.coordinator")
    return {s for s in (await tx.session.execute(stmt)).scalars() if s}


async def sync_environment(tx: Repos, listed: Iterable[str], now: datetime) -> list[str]:
    """Grant every ``WARGA_COORDINATORS`` entry; demote those the list granted and no
    longer holds. Returns the addresses demoted."""
    wanted = set(listed)
    for item in sorted(wanted):
        channel, _, external_id = item.partition(":")
        contact = await grant(tx, channel, external_id, now, source=ENV, actor=ENV)
        contact.role_source = ENV
    legacy = await _legacy_env_grants(tx)
    demoted: list[str] = []
    for contact in await tx.contacts.with_role(COORDINATOR):
        addresses = _addresses(contact)
        if addresses & wanted:
            continue
        from_env = contact.role_source == ENV or (
            contact.role_source is None and bool(addresses & legacy))
        if from_env:
            await revoke(tx, contact, now, actor=ENV, reason="not in WARGA_COORDINATORS")
            demoted.append(f"{contact.channel}:{contact.external_id}")
    return demoted


async def find(tx: Repos, channel: str, external_id: str) -> Contact | None:
    return await tx.contacts.get_by_external(channel, external_id, for_update=True)


def listed_in(contact: Contact, listed: Sequence[str]) -> bool:
    return bool(_addresses(contact) & set(listed))
