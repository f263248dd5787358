"""Repositories: the only place that speaks SQL. One instance per transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    AuditEntry,
    Complaint,
    ComplaintStatus,
    Contact,
    ConversationSession,
    MediaFile,
    OutboxMessage,
    ProcessedInbound,
)


def _insert(session: AsyncSession, table: Any) -> Any:
    """Dialect insert so ON CONFLICT works on SQLite and PostgreSQL alike."""
    if session.bind.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class Repos:
    """All repositories bound to one session (one transaction)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.contacts = ContactRepo(session)
        self.sessions = SessionRepo(session)
        self.inbound = InboundRepo(session)
        self.complaints = ComplaintRepo(session)
        self.outbox = OutboxRepo(session)
        self.audit = AuditRepo(session)
        self.media = MediaRepo(session)


class ContactRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def upsert(
        self,
        channel: str,
        external_id: str,
        now: datetime,
        *,
        name: str | None = None,
        alt_id: str | None = None,
        phone: str | None = None,
        language: str = "id",
        inbound: bool = True,
    ) -> Contact:
        """Find or create the contact and lock it for this transaction."""
        stmt = (
            _insert(self.s, Contact)
            .values(
                channel=channel,
                external_id=external_id,
                alt_id=alt_id,
                name=name,
                phone=phone,
                language=language,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["channel", "external_id"])
        )
        await self.s.execute(stmt)
        contact = await self.get_by_external(channel, external_id, for_update=True)
        assert contact is not None
        if name and contact.name != name:
            contact.name = name[:200]
        if alt_id and contact.alt_id != alt_id:
            contact.alt_id = alt_id
        if phone and not contact.phone:
            contact.phone = phone
        if inbound:
            contact.last_inbound_at = now
            contact.window_closed = False
            # A person who writes to us has evidently unblocked the bot.
            contact.stopped = False
        contact.updated_at = now
        return contact

    async def get(self, contact_id: int, *, for_update: bool = False) -> Contact | None:
        stmt = select(Contact).where(Contact.id == contact_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def get_by_external(
        self, channel: str, external_id: str, *, for_update: bool = False
    ) -> Contact | None:
        stmt = select(Contact).where(
            Contact.channel == channel,
            or_(Contact.external_id == external_id, Contact.alt_id == external_id),
        )
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.s.execute(stmt.order_by(Contact.id).limit(1))).scalar_one_or_none()

    async def set_fields(self, contact_id: int, now: datetime, **fields: Any) -> None:
        await self.s.execute(
            update(Contact).where(Contact.id == contact_id).values(updated_at=now, **fields)
        )

    async def with_role(self, role: str) -> Sequence[Contact]:
        stmt = select(Contact).where(Contact.role == role).order_by(Contact.id)
        return (await self.s.execute(stmt)).scalars().all()

    async def count(self) -> int:
        return int((await self.s.execute(select(func.count(Contact.id)))).scalar_one())


class SessionRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def get(self, contact_id: int, *, for_update: bool = True) -> ConversationSession | None:
        stmt = select(ConversationSession).where(ConversationSession.contact_id == contact_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def save(
        self,
        contact_id: int,
        state: dict[str, Any],
        now: datetime,
        *,
        flow_id: str | None = None,
        flow_version: int | None = None,
        step: str | None = None,
        status: str | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        values = {
            "state": state,
            "flow_id": flow_id,
            "flow_version": flow_version,
            "step": step,
            "status": status,
            "expires_at": expires_at,
            "updated_at": now,
        }
        stmt = (
            _insert(self.s, ConversationSession)
            .values(contact_id=contact_id, **values)
            .on_conflict_do_update(index_elements=["contact_id"], set_=values)
        )
        await self.s.execute(stmt)

    async def delete(self, contact_id: int) -> None:
        await self.s.execute(
            delete(ConversationSession).where(ConversationSession.contact_id == contact_id)
        )

    async def count_active(self) -> int:
        stmt = select(func.count()).where(ConversationSession.flow_id.is_not(None))
        return int((await self.s.execute(stmt)).scalar_one())


class InboundRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def remember(self, channel: str, message_id: str, now: datetime) -> bool:
        """Record an inbound id; False when it was seen before (a re-delivery)."""
        stmt = (
            _insert(self.s, ProcessedInbound)
            .values(channel=channel, message_id=message_id, received_at=now)
            .on_conflict_do_nothing(index_elements=["channel", "message_id"])
        )
        result = await self.s.execute(stmt)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def seen(self, channel: str, message_id: str) -> bool:
        stmt = select(ProcessedInbound.message_id).where(
            ProcessedInbound.channel == channel, ProcessedInbound.message_id == message_id
        )
        return (await self.s.execute(stmt)).first() is not None

    async def forget_before(self, cutoff: datetime) -> int:
        result = await self.s.execute(
            delete(ProcessedInbound).where(ProcessedInbound.received_at < cutoff)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


class ComplaintRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def create(
        self,
        *,
        new_ticket: Callable[[], str],
        contact_id: int,
        now: datetime,
        actor: str,
        **fields: Any,
    ) -> Complaint:
        """Insert with a fresh ticket; a (rare) ticket collision just draws again."""
        for _ in range(20):
            ticket = new_ticket()
            try:
                async with self.s.begin_nested():
                    complaint = Complaint(
                        ticket=ticket,
                        contact_id=contact_id,
                        created_at=now,
                        updated_at=now,
                        status="diterima",
                        **fields,
                    )
                    self.s.add(complaint)
                    await self.s.flush()
            except IntegrityError:
                continue
            self.s.add(
                ComplaintStatus(complaint_id=complaint.id, status="diterima", actor=actor, at=now)
            )
            await self.s.flush()
            return complaint
        raise RuntimeError("could not draw a unique ticket number")

    async def by_ticket(self, ticket: str) -> Complaint | None:
        stmt = select(Complaint).where(Complaint.ticket == ticket.upper())
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def for_contact(self, contact_id: int, limit: int = 10) -> Sequence[Complaint]:
        stmt = (
            select(Complaint)
            .where(Complaint.contact_id == contact_id)
            .order_by(Complaint.id.desc())
            .limit(limit)
        )
        return (await self.s.execute(stmt)).scalars().all()

    async def set_status(
        self, complaint: Complaint, status: str, now: datetime, actor: str, note: str | None = None
    ) -> None:
        complaint.status = status
        complaint.updated_at = now
        self.s.add(
            ComplaintStatus(
                complaint_id=complaint.id, status=status, note=note, actor=actor, at=now
            )
        )
        await self.s.flush()

    async def history(self, complaint_id: int) -> Sequence[ComplaintStatus]:
        stmt = (
            select(ComplaintStatus)
            .where(ComplaintStatus.complaint_id == complaint_id)
            .order_by(ComplaintStatus.id)
        )
        return (await self.s.execute(stmt)).scalars().all()

    async def stream(self, batch: int = 500) -> AsyncIterator[Complaint]:
        """All complaints in id order, a batch at a time (bounded memory)."""
        last = 0
        while True:
            stmt = select(Complaint).where(Complaint.id > last).order_by(Complaint.id).limit(batch)
            rows = (await self.s.execute(stmt)).scalars().all()
            if not rows:
                return
            for row in rows:
                yield row
            last = rows[-1].id
            self.s.expunge_all()


class OutboxRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def enqueue(
        self,
        *,
        channel: str,
        recipient: str,
        payload: dict[str, Any],
        now: datetime,
        contact_id: int | None = None,
        priority: int = 0,
        batch: str | None = None,
        dedupe_key: str | None = None,
        not_before: datetime | None = None,
    ) -> int | None:
        """Queue a message; with a dedupe key, queueing the same thing twice is a no-op."""
        stmt = _insert(self.s, OutboxMessage).values(
            contact_id=contact_id,
            channel=channel,
            recipient=recipient,
            payload=payload,
            priority=priority,
            status="pending",
            attempts=0,
            next_attempt_at=not_before or now,
            batch=batch,
            dedupe_key=dedupe_key,
            created_at=now,
        )
        if dedupe_key is not None:
            stmt = stmt.on_conflict_do_nothing(index_elements=["dedupe_key"])
        result = await self.s.execute(stmt.returning(OutboxMessage.id))
        row = result.first()
        return int(row[0]) if row else None

    async def claim_due(
        self,
        now: datetime,
        *,
        limit: int,
        lease: timedelta,
        channels: Sequence[str] | None = None,
        exclude: Sequence[int] = (),
    ) -> Sequence[OutboxMessage]:
        """Take due rows under a lease; replies (lower priority number) first.

        Rows left in ``sending`` by a process that died are taken again once the
        lease runs out. On PostgreSQL several replicas claim in parallel without
        waiting on each other (SKIP LOCKED); on SQLite BEGIN IMMEDIATE serialises.
        """
        due = or_(
            and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
            and_(OutboxMessage.status == "sending", OutboxMessage.lease_until < now),
        )
        stmt = select(OutboxMessage).where(due)
        if channels is not None:
            stmt = stmt.where(OutboxMessage.channel.in_(channels))
        if exclude:
            stmt = stmt.where(OutboxMessage.id.not_in(exclude))
        stmt = (
            stmt.order_by(
                OutboxMessage.priority, OutboxMessage.next_attempt_at, OutboxMessage.id
            )
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = (await self.s.execute(stmt)).scalars().all()
        for row in rows:
            row.status = "sending"
            row.lease_until = now + lease
            row.attempts += 1
        await self.s.flush()
        return rows

    async def mark_sent(self, row_id: int, now: datetime, provider_message_id: str | None) -> None:
        await self.s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .values(
                status="sent",
                sent_at=now,
                lease_until=None,
                provider_message_id=provider_message_id,
                error=None,
            )
        )

    async def mark_retry(self, row_id: int, at: datetime, error: str) -> None:
        await self.s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .values(status="pending", next_attempt_at=at, lease_until=None, error=error[:300])
        )

    async def mark_failed(self, row_id: int, error: str, status: str = "failed") -> None:
        await self.s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .values(status=status, lease_until=None, error=error[:300])
        )

    async def update_delivery(
        self, provider_message_id: str, status: str, error: str | None = None
    ) -> int:
        """Apply a platform delivery receipt; never move a row backwards."""
        order = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}
        allowed = [s for s, rank in order.items() if rank < order.get(status, 0)]
        if status == "failed":
            allowed = ["sending", "sent", "delivered"]
        values: dict[str, Any] = {"status": status}
        if error is not None:
            values["error"] = error[:300]
        result = await self.s.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.provider_message_id == provider_message_id,
                OutboxMessage.status.in_([*allowed, "sending"]),
            )
            .values(**values)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def by_provider_id(self, provider_message_id: str) -> OutboxMessage | None:
        stmt = select(OutboxMessage).where(
            OutboxMessage.provider_message_id == provider_message_id
        )
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def get(self, row_id: int) -> OutboxMessage | None:
        return await self.s.get(OutboxMessage, row_id)

    async def counts(self, batch: str | None = None) -> dict[str, int]:
        stmt = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        if batch is not None:
            stmt = stmt.where(OutboxMessage.batch == batch)
        return {status: int(n) for status, n in (await self.s.execute(stmt)).all()}

    async def next_due_at(self) -> datetime | None:
        stmt = select(func.min(OutboxMessage.next_attempt_at)).where(
            OutboxMessage.status == "pending"
        )
        return (await self.s.execute(stmt)).scalar_one_or_none()


class AuditRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def add(
        self,
        actor: str,
        action: str,
        now: datetime,
        *,
        subject: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.s.add(
            AuditEntry(at=now, actor=actor, action=action, subject=subject, details=details or {})
        )
        await self.s.flush()

    async def entries(self, subject: str | None = None, limit: int = 100) -> Sequence[AuditEntry]:
        stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if subject is not None:
            stmt = stmt.where(AuditEntry.subject == subject)
        return (await self.s.execute(stmt)).scalars().all()


class MediaRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def add(self, **fields: Any) -> MediaFile:
        media = MediaFile(**fields)
        self.s.add(media)
        await self.s.flush()
        return media

    async def by_ref(self, channel: str, ref: str) -> MediaFile | None:
        stmt = select(MediaFile).where(MediaFile.channel == channel, MediaFile.ref == ref)
        return (await self.s.execute(stmt.limit(1))).scalar_one_or_none()
