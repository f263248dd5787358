"""Tables of ticket follow-up: links between reports of the same problem,
volunteer assignments, closings and the reporter's answer, SLA escalations, and the
dashboard's one-time login links and sessions.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base


class TicketLink(Base):
    """A report of a problem already reported: it follows its primary ticket."""

    __tablename__ = "ticket_links"

    complaint_id: Mapped[int] = mapped_column(
        ForeignKey("complaints.id", ondelete="CASCADE"), primary_key=True
    )
    primary_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"))
    linked_at: Mapped[datetime]

    __table_args__ = (Index("ix_ticket_links_primary", "primary_id"),)


class TicketAssignment(Base):
    """A volunteer who may change this ticket's status by chat."""

    __tablename__ = "ticket_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    assigned_by: Mapped[str] = mapped_column(String(160))
    assigned_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("complaint_id", "contact_id"),
        Index("ix_ticket_assignments_contact", "contact_id"),
    )


class TicketClosure(Base):
    """One closing of one ticket: the note, the proof photo, the reporter's answer."""

    __tablename__ = "ticket_closures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"))
    closed_at: Mapped[datetime]
    closed_by: Mapped[str] = mapped_column(String(160))
    note: Mapped[str] = mapped_column(Text)
    # The photo as it arrived (channel + platform reference), and our copy once kept.
    proof_channel: Mapped[str | None] = mapped_column(String(16), default=None)
    proof_ref: Mapped[str | None] = mapped_column(String(256), default=None)
    proof_media_id: Mapped[int | None] = mapped_column(
        ForeignKey("media.id", ondelete="SET NULL"), default=None
    )
    # The photo reached the reporter (with the question, or after it once downloaded).
    photo_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    # "ya" (resolved) or "belum" (reopened); None while unanswered.
    answer: Mapped[str | None] = mapped_column(String(8), default=None)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (Index("ix_ticket_closures_complaint", "complaint_id"),)


class TicketEscalation(Base):
    """An overdue deadline told to the coordinators; one row, so it is told once."""

    __tablename__ = "ticket_escalations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    due_at: Mapped[datetime]
    escalated_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("complaint_id", "kind", "due_at"),)


class DashboardLoginToken(Base):
    """A one-time login link; the link's secret is stored only as its SHA-256."""

    __tablename__ = "dashboard_login_tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class DashboardSession(Base):
    """A signed-in browser; the cookie's secret is stored only as its SHA-256."""

    __tablename__ = "dashboard_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]

    __table_args__ = (Index("ix_dashboard_sessions_contact", "contact_id"),)
