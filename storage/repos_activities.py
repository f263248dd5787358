"""Activities, RSVPs, bulk sends and contacts' places. One instance per
transaction, like ``storage.repos``; the only place this feature's SQL is written.

Bulk sends are claimed like outbox rows: ``FOR UPDATE SKIP LOCKED`` and a lease on
PostgreSQL, so that of several replicas exactly one fans a send out at a time; ``BEGIN
IMMEDIATE`` serialises the same statements on SQLite. A lease token fences every chunk:
a replica whose lease was taken over stops at its next chunk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Complaint, Contact, OutboxMessage
from storage.models_activities import Activity, ActivityRsvp, Broadcast, ContactPlace

# Outbox states of a row that is done with (whatever the outcome).
_SENT = ("sent", "delivered", "read")


@dataclass(frozen=True)
class Recipient:
    contact: Contact
    answer: str | None  # their RSVP, for sends that go to RSVPs


@dataclass(frozen=True)
class BatchCounts:
    total: int
    sent: int
    failed: int
    blocked: int
    opted_out: int
    pending: int


# The advisory lock that makes broadcast numbering one at a time on PostgreSQL.
NUMBERING_LOCK = 0x5741_5247


def series_of(kind: str) -> str:
    """Which numbering a kind of bulk send has: reminders apart from the rest."""
    return "reminder" if kind == "reminder" else "siaran"


def _insert(session: AsyncSession, table: Any) -> Any:
    if session.bind.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def audience_filter(audience: Mapping[str, Any]) -> ColumnElement[bool]:
    """Contacts in an audience (opted-out and blocked ones included: the outbox skips
    them and the delivery report counts them)."""
    kind = audience.get("type")
    if kind == "all":
        return true()
    if kind == "volunteers":
        return Contact.role == "volunteer"
    if kind == "volunteer_type":
        return and_(Contact.role == "volunteer",
                    Contact.volunteer_type == audience.get("volunteer_type"))
    if kind == "rsvp":
        answers = list(audience.get("answers") or ())
        return Contact.id.in_(
            select(ActivityRsvp.contact_id).where(
                ActivityRsvp.activity_id == audience.get("activity_id"),
                ActivityRsvp.answer.in_(answers),
            )
        )
    if kind == "reporters":
        return Contact.id.in_(
            select(Complaint.contact_id).where(Complaint.category == audience.get("category")))
    if kind in ("kelurahan", "rw", "rt"):
        code = audience.get("kelurahan_code")
        declared = [ContactPlace.kelurahan_code == code]
        reported = [Complaint.kelurahan_code == code]
        if kind in ("rw", "rt"):
            declared.append(ContactPlace.rw == audience.get("rw"))
            reported.append(Complaint.rw == audience.get("rw"))
        if kind == "rt":
            declared.append(ContactPlace.rt == audience.get("rt"))
            reported.append(Complaint.rt == audience.get("rt"))
        # Where someone said they live wins; otherwise the place of their latest report.
        latest = select(func.max(Complaint.id)).group_by(Complaint.contact_id)
        return or_(
            Contact.id.in_(select(ContactPlace.contact_id).where(*declared)),
            and_(
                Contact.id.not_in(select(ContactPlace.contact_id)),
                Contact.id.in_(
                    select(Complaint.contact_id).where(Complaint.id.in_(latest), *reported)
                ),
            ),
        )
    raise ValueError(f"unknown audience type {kind!r}")


class ActivityRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    # -- activities ----------------------------------------------------------------------

    async def create(self, **fields: Any) -> Activity:
        activity = Activity(**fields)
        self.s.add(activity)
        await self.s.flush()
        return activity

    async def get(self, activity_id: int, *, for_update: bool = False) -> Activity | None:
        stmt = select(Activity).where(Activity.id == activity_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def upcoming(self, now: datetime, *, statuses: Sequence[str] = ("published",),
                       limit: int = 50) -> Sequence[Activity]:
        stmt = (
            select(Activity)
            .where(Activity.status.in_(statuses), Activity.starts_at > now)
            .order_by(Activity.starts_at, Activity.id)
            .limit(limit)
        )
        return (await self.s.execute(stmt)).scalars().all()

    async def in_audience(self, contact_id: int, audience: Mapping[str, Any]) -> bool:
        stmt = select(Contact.id).where(Contact.id == contact_id, audience_filter(audience))
        return (await self.s.execute(stmt)).first() is not None

    async def to_roll(self, now: datetime, limit: int = 100) -> Sequence[Activity]:
        """Recurring occurrences that have begun and have no next occurrence yet."""
        stmt = (
            select(Activity)
            .where(
                Activity.recurrence != "none",
                Activity.rolled_at.is_(None),
                Activity.status.in_(("published", "cancelled")),
                Activity.starts_at <= now,
            )
            .order_by(Activity.starts_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.s.execute(stmt)).scalars().all()

    async def next_of(self, activity_id: int) -> Activity | None:
        stmt = select(Activity).where(Activity.previous_id == activity_id)
        return (await self.s.execute(stmt)).scalar_one_or_none()

    # -- RSVPs ---------------------------------------------------------------------------

    async def set_rsvp(self, activity_id: int, contact_id: int, answer: str,
                       now: datetime) -> None:
        stmt = _insert(self.s, ActivityRsvp).values(
            activity_id=activity_id, contact_id=contact_id, answer=answer, answered_at=now
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["activity_id", "contact_id"],
            set_={"answer": answer, "answered_at": now},
        )
        await self.s.execute(stmt)

    async def rsvp(self, activity_id: int, contact_id: int) -> str | None:
        stmt = select(ActivityRsvp.answer).where(ActivityRsvp.activity_id == activity_id,
                                                 ActivityRsvp.contact_id == contact_id)
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def rsvps_of(self, contact_id: int, activity_ids: Sequence[int]) -> dict[int, str]:
        if not activity_ids:
            return {}
        stmt = select(ActivityRsvp.activity_id, ActivityRsvp.answer).where(
            ActivityRsvp.contact_id == contact_id, ActivityRsvp.activity_id.in_(activity_ids)
        )
        return {a: answer for a, answer in (await self.s.execute(stmt)).all()}

    async def rsvp_counts(self, activity_ids: Sequence[int]) -> dict[int, dict[str, int]]:
        if not activity_ids:
            return {}
        stmt = (
            select(ActivityRsvp.activity_id, ActivityRsvp.answer, func.count())
            .where(ActivityRsvp.activity_id.in_(activity_ids))
            .group_by(ActivityRsvp.activity_id, ActivityRsvp.answer)
        )
        out: dict[int, dict[str, int]] = {}
        for activity_id, answer, n in (await self.s.execute(stmt)).all():
            out.setdefault(activity_id, {})[answer] = int(n)
        return out

    async def rsvp_names(self, activity_id: int) -> list[tuple[str, str | None]]:
        """(answer, name) in the order people answered."""
        stmt = (
            select(ActivityRsvp.answer, Contact.name)
            .join(Contact, Contact.id == ActivityRsvp.contact_id)
            .where(ActivityRsvp.activity_id == activity_id)
            .order_by(ActivityRsvp.answered_at, ActivityRsvp.contact_id)
        )
        return [(a, n) for a, n in (await self.s.execute(stmt)).all()]

    # -- audiences -----------------------------------------------------------------------

    async def audience_size(self, audience: Mapping[str, Any]) -> tuple[int, int]:
        """(everyone in the audience, of whom opted out or unreachable)."""
        unreachable = func.sum(case((or_(Contact.opted_out, Contact.stopped), 1), else_=0))
        stmt = select(func.count(Contact.id), unreachable).where(audience_filter(audience))
        total, skipped = (await self.s.execute(stmt)).one()
        return int(total or 0), int(skipped or 0)

    async def recipients(self, audience: Mapping[str, Any], after: int,
                         limit: int) -> list[Recipient]:
        """The next contacts of an audience in id order (a resumable cursor)."""
        if audience.get("type") == "rsvp":
            stmt = (
                select(Contact, ActivityRsvp.answer)
                .join(ActivityRsvp, ActivityRsvp.contact_id == Contact.id)
                .where(ActivityRsvp.activity_id == audience.get("activity_id"),
                       ActivityRsvp.answer.in_(list(audience.get("answers") or ())),
                       Contact.id > after)
                .order_by(Contact.id)
                .limit(limit)
            )
            return [Recipient(c, a) for c, a in (await self.s.execute(stmt)).all()]
        stmt2 = (
            select(Contact, literal(None))
            .where(audience_filter(audience), Contact.id > after)
            .order_by(Contact.id)
            .limit(limit)
        )
        return [Recipient(c, a) for c, a in (await self.s.execute(stmt2)).all()]

    # -- places --------------------------------------------------------------------------

    async def set_place(self, contact_id: int, kelurahan_code: str, rw: str | None,
                        rt: str | None, source: str, now: datetime) -> None:
        stmt = _insert(self.s, ContactPlace).values(
            contact_id=contact_id, kelurahan_code=kelurahan_code, rw=rw, rt=rt, source=source,
            updated_at=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["contact_id"],
            set_={"kelurahan_code": kelurahan_code, "rw": rw, "rt": rt, "source": source,
                  "updated_at": now},
        )
        await self.s.execute(stmt)

    async def place(self, contact_id: int) -> ContactPlace | None:
        return await self.s.get(ContactPlace, contact_id)

    # -- bulk sends ----------------------------------------------------------------------

    async def add_broadcast(self, **fields: Any) -> Broadcast:
        fields.setdefault("params", {})
        fields.setdefault("cursor", 0)
        fields.setdefault("enqueued", 0)
        series = series_of(fields["kind"])
        if self.s.bind.dialect.name == "postgresql":
            # Two replicas numbering at once would take the same number: one at a time
            # (SQLite writers are one at a time already).
            await self.s.execute(select(func.pg_advisory_xact_lock(NUMBERING_LOCK)))
        last = (await self.s.execute(select(func.max(Broadcast.number))
                                     .where(Broadcast.series == series))).scalar_one()
        broadcast = Broadcast(**fields, series=series, number=(last or 0) + 1)
        self.s.add(broadcast)
        await self.s.flush()
        return broadcast

    async def broadcast(self, broadcast_id: int, *, for_update: bool = False
                        ) -> Broadcast | None:
        stmt = select(Broadcast).where(Broadcast.id == broadcast_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def recent_broadcasts(self, kinds: Sequence[str], limit: int = 5
                                ) -> Sequence[Broadcast]:
        stmt = (
            select(Broadcast)
            .where(Broadcast.kind.in_(kinds), Broadcast.status != "draft")
            .order_by(Broadcast.id.desc())
            .limit(limit)
        )
        return (await self.s.execute(stmt)).scalars().all()

    async def drop_pending_reminders(self, activity_id: int) -> int:
        """Reminders not yet begun are dropped (cancel, reschedule)."""
        result = await self.s.execute(
            update(Broadcast)
            .where(Broadcast.activity_id == activity_id, Broadcast.kind == "reminder",
                   Broadcast.status == "scheduled")
            .values(status="cancelled")
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def claim_due(self, now: datetime, *, lease: timedelta, token: str,
                        limit: int = 10) -> list[int]:
        """Take due sends (and ones whose claimer's lease ran out) under a lease."""
        due = and_(
            Broadcast.status.in_(("scheduled", "fanout")),
            Broadcast.due_at <= now,
            or_(Broadcast.lease_until.is_(None), Broadcast.lease_until < now),
        )
        pick = (
            select(Broadcast.id)
            .where(due)
            .order_by(Broadcast.due_at, Broadcast.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claim = (
            update(Broadcast)
            .where(Broadcast.id.in_(pick.scalar_subquery()))
            .values(status="fanout", lease_until=now + lease, lease_token=token,
                    started_at=func.coalesce(Broadcast.started_at, now))
            .returning(Broadcast.id)
            .execution_options(synchronize_session=False)
        )
        return sorted(int(r[0]) for r in (await self.s.execute(claim)).all())

    async def fenced(self, broadcast_id: int, token: str) -> Broadcast | None:
        """The send, locked, if this claimer still holds its lease."""
        stmt = (
            select(Broadcast)
            .where(Broadcast.id == broadcast_id, Broadcast.lease_token == token,
                   Broadcast.status == "fanout")
            .with_for_update()
        )
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def watched(self, limit: int = 50) -> Sequence[Broadcast]:
        """Sends whose outbox rows a coordinator is waiting on."""
        stmt = (
            select(Broadcast)
            .where(Broadcast.status == "sending")
            .order_by(Broadcast.id)
            .limit(limit)
        )
        return (await self.s.execute(stmt)).scalars().all()

    async def finish(self, broadcast_id: int, now: datetime) -> bool:
        """Mark a watched send done; False if another replica did first."""
        result = await self.s.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id, Broadcast.status == "sending")
            .values(status="done", finished_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def note_progress(self, broadcast_id: int, before: datetime | None,
                            now: datetime) -> bool:
        """Record a progress message; False if another replica sent this one."""
        cond = (Broadcast.progress_at.is_(None) if before is None
                else Broadcast.progress_at == before)
        result = await self.s.execute(
            update(Broadcast).where(Broadcast.id == broadcast_id, cond)
            .values(progress_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def batch_counts(self, batch: str, now: datetime) -> BatchCounts:
        """Outbox rows of one send, by outcome.

        A bulk row left ``posting`` by a process that died (its lease run out) may have
        reached the platform: it is never sent again, and counted as sent.
        """
        skipped_why = case((OutboxMessage.status == "skipped", OutboxMessage.error),
                           else_=None)
        orphan = case((and_(OutboxMessage.status == "posting",
                            OutboxMessage.lease_until < now), True), else_=False)
        stmt = (
            select(OutboxMessage.status, skipped_why, orphan, func.count())
            .where(OutboxMessage.batch == batch)
            .group_by(OutboxMessage.status, skipped_why, orphan)
        )
        total = sent = failed = blocked = opted_out = pending = 0
        for status, why, is_orphan, n in (await self.s.execute(stmt)).all():
            n = int(n)
            total += n
            if status in _SENT or (status == "posting" and is_orphan):
                sent += n
            elif status == "failed":
                failed += n
            elif status == "blocked" or (status == "skipped" and why == "blocked"):
                blocked += n
            elif status == "skipped":
                opted_out += n
            else:
                pending += n
        return BatchCounts(total, sent, failed, blocked, opted_out, pending)

    async def next_wake(self) -> datetime | None:
        """When something of this feature is next due: a send, a lease to take over, or a
        recurring activity to follow with its next occurrence."""
        due = select(func.min(Broadcast.due_at)).where(Broadcast.status == "scheduled")
        lease = select(func.min(Broadcast.lease_until)).where(Broadcast.status == "fanout")
        roll = select(func.min(Activity.starts_at)).where(
            Activity.recurrence != "none", Activity.rolled_at.is_(None),
            Activity.status.in_(("published", "cancelled")),
        )
        moments = [(await self.s.execute(q)).scalar_one_or_none() for q in (due, lease, roll)]
        found = [m for m in moments if m is not None]
        return min(found) if found else None
