"""Ticket follow-up and dashboard queries. One instance per transaction, like
``storage.repos``; the only place ticket SQL is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, false, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Complaint, ComplaintStatus, Contact, MediaFile
from storage.models_tickets import (
    DashboardLoginToken,
    DashboardSession,
    TicketAssignment,
    TicketClosure,
    TicketEscalation,
    TicketLink,
)

# The lifecycle's closed statuses as stored (the rules live in conversations.tickets_flow;
# a test holds the two together).
CLOSED_STATUSES = ("selesai", "ditolak")


@dataclass(frozen=True)
class TicketFilter:
    """What the ticket list and the map show; empty fields do not filter."""

    status: str | None = None  # a status, or "open" for every open one
    report_type: str | None = None
    category: str | None = None
    rw: str | None = None
    kelurahan_code: str | None = None
    query: str | None = None  # a ticket number, or words of the description
    # A search that must find nothing (it was for an identity number).
    nothing: bool = False


class TicketRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    # -- complaints --------------------------------------------------------------------

    async def get(self, complaint_id: int, *, for_update: bool = False) -> Complaint | None:
        stmt = select(Complaint).where(Complaint.id == complaint_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def by_ticket(self, ticket: str, *, for_update: bool = False) -> Complaint | None:
        stmt = select(Complaint).where(Complaint.ticket == ticket.upper())
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def contact(self, contact_id: int) -> Contact | None:
        return await self.s.get(Contact, contact_id)

    async def histories(self, ids: Sequence[int]) -> dict[int, list[ComplaintStatus]]:
        """Status histories of many complaints in one query, oldest first."""
        out: dict[int, list[ComplaintStatus]] = {i: [] for i in ids}
        if not ids:
            return out
        stmt = (
            select(ComplaintStatus)
            .where(ComplaintStatus.complaint_id.in_(ids))
            .order_by(ComplaintStatus.complaint_id, ComplaintStatus.id)
        )
        for row in (await self.s.execute(stmt)).scalars():
            out[row.complaint_id].append(row)
        return out

    async def open_primaries(self, limit: int = 5000) -> Sequence[Complaint]:
        """Open tickets that are not following another one (oldest first)."""
        linked = select(TicketLink.complaint_id)
        stmt = (
            select(Complaint)
            .where(Complaint.status.not_in(CLOSED_STATUSES), Complaint.id.not_in(linked))
            .order_by(Complaint.id)
            .limit(limit)
        )
        return (await self.s.execute(stmt)).scalars().all()

    # -- links (same problem) ------------------------------------------------------------

    async def find_same_problem(self, complaint: Complaint, window: timedelta) -> Complaint | None:
        """The open primary ticket for the same place and category within ``window``."""
        if None in (complaint.kelurahan_code, complaint.rw, complaint.rt, complaint.category):
            return None
        linked = select(TicketLink.complaint_id)
        stmt = (
            select(Complaint)
            .where(
                Complaint.id != complaint.id,
                Complaint.report_type == complaint.report_type,
                Complaint.category == complaint.category,
                Complaint.kelurahan_code == complaint.kelurahan_code,
                Complaint.rw == complaint.rw,
                Complaint.rt == complaint.rt,
                Complaint.created_at >= complaint.created_at - window,
                Complaint.status.not_in(CLOSED_STATUSES),
                Complaint.id.not_in(linked),
            )
            .order_by(Complaint.id)
            .limit(1)
        )
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def link(self, complaint_id: int, primary_id: int, now: datetime) -> None:
        self.s.add(TicketLink(complaint_id=complaint_id, primary_id=primary_id, linked_at=now))
        await self.s.flush()

    async def primary_id(self, complaint_id: int) -> int:
        stmt = select(TicketLink.primary_id).where(TicketLink.complaint_id == complaint_id)
        found = (await self.s.execute(stmt)).scalar_one_or_none()
        return found if found is not None else complaint_id

    async def group(self, complaint_id: int, *, for_update: bool = False) -> list[Complaint]:
        """The primary first, then the reports linked to it."""
        primary = await self.primary_id(complaint_id)
        linked = select(TicketLink.complaint_id).where(TicketLink.primary_id == primary)
        stmt = (
            select(Complaint)
            .where(or_(Complaint.id == primary, Complaint.id.in_(linked)))
            .order_by(Complaint.id)
        )
        if for_update:
            stmt = stmt.with_for_update()
        rows = list((await self.s.execute(stmt)).scalars().all())
        rows.sort(key=lambda c: (c.id != primary, c.id))
        return rows

    async def linked_counts(self, primary_ids: Sequence[int]) -> dict[int, int]:
        if not primary_ids:
            return {}
        stmt = (
            select(TicketLink.primary_id, func.count())
            .where(TicketLink.primary_id.in_(primary_ids))
            .group_by(TicketLink.primary_id)
        )
        return {pid: int(n) for pid, n in (await self.s.execute(stmt)).all()}

    # -- assignments ---------------------------------------------------------------------

    async def assign(self, complaint_id: int, contact_id: int, by: str, now: datetime) -> bool:
        """Assign a volunteer; False when they already were."""
        try:
            async with self.s.begin_nested():
                self.s.add(TicketAssignment(complaint_id=complaint_id, contact_id=contact_id,
                                            assigned_by=by, assigned_at=now))
                await self.s.flush()
        except IntegrityError:
            return False
        return True

    async def unassign(self, complaint_id: int, contact_id: int) -> bool:
        result = await self.s.execute(
            delete(TicketAssignment).where(TicketAssignment.complaint_id == complaint_id,
                                           TicketAssignment.contact_id == contact_id)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def assignees(self, complaint_id: int) -> Sequence[Contact]:
        stmt = (
            select(Contact)
            .join(TicketAssignment, TicketAssignment.contact_id == Contact.id)
            .where(TicketAssignment.complaint_id == complaint_id)
            .order_by(TicketAssignment.id)
        )
        return (await self.s.execute(stmt)).scalars().all()

    async def is_assigned(self, complaint_ids: Sequence[int], contact_id: int) -> bool:
        stmt = select(TicketAssignment.id).where(
            TicketAssignment.complaint_id.in_(complaint_ids),
            TicketAssignment.contact_id == contact_id,
        )
        return (await self.s.execute(stmt.limit(1))).first() is not None

    async def assigned_open(self, contact_id: int, limit: int = 10) -> Sequence[Complaint]:
        stmt = (
            select(Complaint)
            .join(TicketAssignment, TicketAssignment.complaint_id == Complaint.id)
            .where(TicketAssignment.contact_id == contact_id,
                   Complaint.status.not_in(CLOSED_STATUSES))
            .order_by(Complaint.id)
            .limit(limit)
        )
        return (await self.s.execute(stmt)).scalars().all()

    async def people(self, role: str) -> Sequence[Contact]:
        """Coordinators or volunteers we can still reach."""
        stmt = (
            select(Contact)
            .where(Contact.role == role, Contact.stopped.is_(False))
            .order_by(Contact.id)
        )
        return (await self.s.execute(stmt)).scalars().all()

    # -- closings and the reporter's answer ----------------------------------------------

    async def add_closure(self, **fields: object) -> TicketClosure:
        closure = TicketClosure(**fields)
        self.s.add(closure)
        await self.s.flush()
        return closure

    async def closure(self, closure_id: int, *, for_update: bool = False) -> TicketClosure | None:
        stmt = select(TicketClosure).where(TicketClosure.id == closure_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def latest_closures(self, complaint_ids: Sequence[int]) -> dict[int, TicketClosure]:
        if not complaint_ids:
            return {}
        stmt = (
            select(TicketClosure)
            .where(TicketClosure.complaint_id.in_(complaint_ids))
            .order_by(TicketClosure.id)
        )
        return {c.complaint_id: c for c in (await self.s.execute(stmt)).scalars()}

    async def awaiting_answer(self, contact_id: int, since: datetime) -> TicketClosure | None:
        """The newest closing this reporter has not answered yet (ticket still closed)."""
        stmt = (
            select(TicketClosure)
            .join(Complaint, Complaint.id == TicketClosure.complaint_id)
            .where(Complaint.contact_id == contact_id, Complaint.status == "selesai",
                   TicketClosure.answer.is_(None), TicketClosure.closed_at >= since)
            .order_by(TicketClosure.id.desc())
            .limit(1)
        )
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def photos_to_send(self, limit: int = 100) -> Sequence[TicketClosure]:
        """Closings whose proof photo has not reached the reporter yet."""
        stmt = (
            select(TicketClosure)
            .where(TicketClosure.proof_ref.is_not(None), TicketClosure.photo_sent.is_(False))
            .order_by(TicketClosure.id)
            .limit(limit)
        )
        return (await self.s.execute(stmt)).scalars().all()

    async def media(self, channel: str, ref: str) -> MediaFile | None:
        stmt = select(MediaFile).where(MediaFile.channel == channel, MediaFile.ref == ref)
        return (await self.s.execute(stmt.limit(1))).scalar_one_or_none()

    async def media_by_id(self, media_id: int) -> MediaFile | None:
        return await self.s.get(MediaFile, media_id)

    async def add_media(self, **fields: object) -> MediaFile:
        existing = await self.media(str(fields["channel"]), str(fields["ref"]))
        if existing is not None:
            return existing
        media = MediaFile(**fields)
        self.s.add(media)
        await self.s.flush()
        return media

    # -- escalations -------------------------------------------------------------------

    async def escalate(self, complaint_id: int, kind: str, due_at: datetime,
                       now: datetime) -> bool:
        """Record an escalation; False when this deadline was escalated before."""
        try:
            async with self.s.begin_nested():
                self.s.add(TicketEscalation(complaint_id=complaint_id, kind=kind, due_at=due_at,
                                            escalated_at=now))
                await self.s.flush()
        except IntegrityError:
            return False
        return True

    async def escalations(self, complaint_id: int) -> Sequence[TicketEscalation]:
        stmt = (
            select(TicketEscalation)
            .where(TicketEscalation.complaint_id == complaint_id)
            .order_by(TicketEscalation.id)
        )
        return (await self.s.execute(stmt)).scalars().all()

    # -- dashboard -----------------------------------------------------------------------

    def _filtered(self, f: TicketFilter) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if f.nothing:
            where.append(false())
        if f.status == "open":
            where.append(Complaint.status.not_in(CLOSED_STATUSES))
        elif f.status:
            where.append(Complaint.status == f.status)
        if f.report_type:
            where.append(Complaint.report_type == f.report_type)
        if f.category:
            where.append(Complaint.category == f.category)
        if f.rw:
            where.append(Complaint.rw == f.rw)
        if f.kelurahan_code:
            where.append(Complaint.kelurahan_code == f.kelurahan_code)
        if f.query:
            words = f.query.strip()[:100]
            like = "%" + words.lower().replace("\\", "\\\\").replace("%", "\\%").replace(
                "_", "\\_") + "%"
            where.append(or_(Complaint.ticket == words.upper(),
                             func.lower(Complaint.description).like(like, escape="\\")))
        return where

    async def page(self, f: TicketFilter, *, offset: int = 0,
                   limit: int = 50) -> tuple[Sequence[Complaint], int]:
        where = self._filtered(f)
        total = (await self.s.execute(
            select(func.count()).select_from(Complaint).where(*where)
        )).scalar_one()
        stmt = (
            select(Complaint)
            .where(*where)
            .order_by(Complaint.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return (await self.s.execute(stmt)).scalars().all(), int(total)

    async def with_location(self, f: TicketFilter, limit: int = 2000) -> Sequence[Complaint]:
        where = self._filtered(f)
        stmt = (
            select(Complaint)
            .where(Complaint.latitude.is_not(None), Complaint.longitude.is_not(None),
                   *where)
            .order_by(Complaint.id.desc())
            .limit(limit)
        )
        return (await self.s.execute(stmt)).scalars().all()

    async def open_counts(self, column: str) -> list[tuple[str | None, int]]:
        """Open tickets grouped by ``status``, ``category``, ``rw`` or ``report_type``."""
        col = {"status": Complaint.status, "category": Complaint.category, "rw": Complaint.rw,
               "report_type": Complaint.report_type}[column]
        stmt = (
            select(col, func.count())
            .where(Complaint.status.not_in(CLOSED_STATUSES))
            .group_by(col)
            .order_by(func.count().desc(), col)
        )
        return [(value, int(n)) for value, n in (await self.s.execute(stmt)).all()]

    async def created_since(self, since: datetime, report_type: str) -> Sequence[datetime]:
        """Report times since ``since`` (bucketed by local day by the caller)."""
        stmt = select(Complaint.created_at).where(Complaint.created_at >= since,
                                                  Complaint.report_type == report_type)
        return (await self.s.execute(stmt)).scalars().all()

    async def filter_values(self) -> dict[str, list[str]]:
        """Distinct categories, RWs, kelurahan codes and types, for the filter menus."""
        out: dict[str, list[str]] = {}
        for name, col in (("category", Complaint.category), ("rw", Complaint.rw),
                          ("kelurahan_code", Complaint.kelurahan_code),
                          ("report_type", Complaint.report_type)):
            stmt = select(col).where(col.is_not(None)).distinct().order_by(col)
            out[name] = [str(v) for v in (await self.s.execute(stmt)).scalars()]
        return out

    # -- login links and sessions --------------------------------------------------------

    async def add_login_token(self, token_hash: str, contact_id: int, now: datetime,
                              expires_at: datetime) -> None:
        self.s.add(DashboardLoginToken(id=token_hash, contact_id=contact_id, created_at=now,
                                       expires_at=expires_at))
        await self.s.flush()

    async def login_token(self, token_hash: str) -> DashboardLoginToken | None:
        return await self.s.get(DashboardLoginToken, token_hash)

    async def use_login_token(self, token_hash: str, now: datetime) -> int | None:
        """Spend a link: the contact id, or None when it is unknown, used or expired.

        One conditional UPDATE, so two tabs racing on the same link cannot both win.
        """
        result = await self.s.execute(
            update(DashboardLoginToken)
            .where(DashboardLoginToken.id == token_hash, DashboardLoginToken.used_at.is_(None),
                   DashboardLoginToken.expires_at > now)
            .values(used_at=now)
            .returning(DashboardLoginToken.contact_id)
        )
        row = result.first()
        return int(row[0]) if row else None

    async def add_session(self, session_hash: str, contact_id: int, now: datetime,
                          expires_at: datetime) -> None:
        self.s.add(DashboardSession(id=session_hash, contact_id=contact_id, created_at=now,
                                    expires_at=expires_at, last_seen_at=now))
        await self.s.flush()

    async def session_contact(self, session_hash: str, now: datetime) -> Contact | None:
        """The coordinator behind a live session (None when expired or demoted)."""
        stmt = (
            select(Contact)
            .join(DashboardSession, DashboardSession.contact_id == Contact.id)
            .where(DashboardSession.id == session_hash, DashboardSession.expires_at > now,
                   Contact.role == "coordinator")
        )
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def end_session(self, session_hash: str) -> None:
        await self.s.execute(delete(DashboardSession).where(DashboardSession.id == session_hash))

    async def forget_expired(self, now: datetime) -> int:
        """Housekeeping: drop expired sessions and links a day after they ran out."""
        cutoff = now - timedelta(days=1)
        a = await self.s.execute(
            delete(DashboardSession).where(DashboardSession.expires_at < cutoff))
        b = await self.s.execute(
            delete(DashboardLoginToken).where(DashboardLoginToken.expires_at < cutoff))
        return int(a.rowcount) + int(b.rowcount)  # type: ignore[attr-defined]

    async def primaries_of(self, complaint_ids: Sequence[int]) -> dict[int, int]:
        """Linked reports among ``complaint_ids`` → the id of the ticket they follow."""
        if not complaint_ids:
            return {}
        stmt = select(TicketLink.complaint_id, TicketLink.primary_id).where(
            TicketLink.complaint_id.in_(complaint_ids))
        return {cid: pid for cid, pid in (await self.s.execute(stmt)).all()}

    async def closures(self, complaint_id: int) -> Sequence[TicketClosure]:
        stmt = (
            select(TicketClosure)
            .where(TicketClosure.complaint_id == complaint_id)
            .order_by(TicketClosure.id)
        )
        return (await self.s.execute(stmt)).scalars().all()

    async def tickets_by_id(self, ids: Sequence[int]) -> dict[int, str]:
        if not ids:
            return {}
        stmt = select(Complaint.id, Complaint.ticket).where(Complaint.id.in_(ids))
        return {cid: ticket for cid, ticket in (await self.s.execute(stmt)).all()}
