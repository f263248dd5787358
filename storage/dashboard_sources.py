"""What the dashboard shows of other features' tables (assessments, activities and
broadcasts). One small function per page section."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Contact, OutboxMessage
from storage.models_activities import Activity, ActivityRsvp, Broadcast
from storage.models_volunteers import Assessment


@dataclass(frozen=True)
class ActivityRow:
    id: int
    title: str
    kind: str
    starts_at: datetime
    place: str
    status: str
    yes: int
    no: int
    maybe: int


@dataclass(frozen=True)
class BroadcastRow:
    id: int
    kind: str
    status: str
    due_at: datetime
    created_at: datetime
    enqueued: int
    # Outbox rows of this send by status (pending, sending, sent, delivered, read, failed…).
    outbox: dict[str, int]

    @property
    def done(self) -> int:
        return sum(self.outbox.get(s, 0) for s in ("sent", "delivered", "read"))

    @property
    def failed(self) -> int:
        return sum(self.outbox.get(s, 0) for s in ("failed", "skipped"))


@dataclass(frozen=True)
class AssessmentRow:
    """One household assessment as the dashboard lists it; the NIK is masked by the query."""

    id: int
    created_at: datetime
    head_name: str | None
    nik_masked: str | None
    kelurahan_code: str | None
    rw: str | None
    rt: str | None
    volunteer: str | None


async def activities_with_rsvp_counts(
    session: AsyncSession, now: datetime, *, past_days: int = 30, limit: int = 100
) -> list[ActivityRow] | None:
    """Activities from ``past_days`` ago onwards, with their yes / no / maybe counts."""
    activity, rsvp = Activity, ActivityRsvp
    stmt = (
        select(activity)
        .where(activity.starts_at >= now - timedelta(days=past_days))
        .order_by(activity.starts_at)
        .limit(limit)
    )
    activities = (await session.execute(stmt)).scalars().all()
    counts: dict[tuple[int, str], int] = {}
    if activities:
        rows = await session.execute(
            select(rsvp.activity_id, rsvp.answer, func.count())
            .where(rsvp.activity_id.in_([a.id for a in activities]))
            .group_by(rsvp.activity_id, rsvp.answer)
        )
        counts = {(aid, answer): int(n) for aid, answer, n in rows.all()}
    return [
        ActivityRow(a.id, a.title, a.kind, a.starts_at, a.place, a.status,
                    counts.get((a.id, "yes"), 0), counts.get((a.id, "no"), 0),
                    counts.get((a.id, "maybe"), 0))
        for a in activities
    ]


def broadcast_batch(kind: str, broadcast_id: int) -> str:
    """The outbox ``batch`` of a broadcast's messages: ``bot.broadcast.batch_of``'s naming."""
    return f"{kind}:{broadcast_id}"


async def recent_broadcasts(session: AsyncSession, *, limit: int = 20) -> list[BroadcastRow] | None:
    """The newest bulk sends with their delivery progress."""
    broadcast = Broadcast
    rows = (await session.execute(
        select(broadcast).order_by(broadcast.id.desc()).limit(limit)
    )).scalars().all()
    batches = {broadcast_batch(b.kind, b.id): b.id for b in rows}
    progress: dict[int, dict[str, int]] = {b.id: {} for b in rows}
    if batches:
        found = await session.execute(
            select(OutboxMessage.batch, OutboxMessage.status, func.count())
            .where(OutboxMessage.batch.in_(list(batches)))
            .group_by(OutboxMessage.batch, OutboxMessage.status)
        )
        for batch, status, n in found.all():
            progress[batches[batch]][status] = int(n)
    return [
        BroadcastRow(b.id, b.kind, b.status, b.due_at, b.created_at, b.enqueued, progress[b.id])
        for b in rows
    ]


async def assessments_masked(
    session: AsyncSession, *, limit: int = 100
) -> list[AssessmentRow] | None:
    """Household assessments, newest first, with the NIK as stored masked (never the
    sealed value: the dashboard has no reason to decrypt anything)."""
    assessment = Assessment
    stmt = (
        select(assessment.id, assessment.created_at, assessment.head_name,
               assessment.nik_masked, assessment.kelurahan_code, assessment.rw,
               assessment.rt, Contact.name)
        .join(Contact, Contact.id == assessment.contact_id)
        .order_by(assessment.id.desc())
        .limit(limit)
    )
    return [AssessmentRow(*row) for row in (await session.execute(stmt)).all()]
