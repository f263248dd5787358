"""SQLAlchemy 2 models. Readable names everywhere; JSON documents for flow state and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.base import NAMING, Base, UTCDateTime

__all__ = ["NAMING", "AuditEntry", "Base", "Complaint", "ComplaintStatus", "Contact",
           "ConversationSession", "MediaFile", "OutboxMessage", "ProcessedInbound",
           "UTCDateTime"]

class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_contacts_alt", "channel", "alt_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    # WhatsApp: wa_id beside the BSUID (external_id); kept so either identifies the person.
    alt_id: Mapped[str | None] = mapped_column(String(128), default=None)
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    phone: Mapped[str | None] = mapped_column(String(32), default=None)
    language: Mapped[str] = mapped_column(String(8), default="id")
    role: Mapped[str] = mapped_column(String(16), default="resident")
    volunteer_type: Mapped[str | None] = mapped_column(String(32), default=None)
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    # The platform said we cannot reach this person (blocked the bot, account gone).
    stopped: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_version: Mapped[str | None] = mapped_column(String(32), default=None)
    consent_at: Mapped[datetime | None] = mapped_column(default=None)
    last_inbound_at: Mapped[datetime | None] = mapped_column(default=None)
    # WhatsApp 131047 says the window is closed even if our clock disagrees.
    window_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    # The person's data was erased (a data-subject request): the platform profile name is
    # not stored again.
    erased_at: Mapped[datetime | None] = mapped_column(default=None)
    # Where the coordinator role came from: "env" (WARGA_COORDINATORS, taken away again
    # when the entry goes), "cli", or None (an older grant, or not a coordinator).
    role_source: Mapped[str | None] = mapped_column(String(16), default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ConversationSession(Base):
    __tablename__ = "sessions"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    flow_id: Mapped[str | None] = mapped_column(String(64), default=None)
    flow_version: Mapped[int | None] = mapped_column(Integer, default=None)
    step: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str | None] = mapped_column(String(32), default=None)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime]


class ProcessedInbound(Base):
    """Inbound message ids already taken: platforms re-deliver, we answer once."""

    __tablename__ = "processed_inbound"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    received_at: Mapped[datetime]


class Complaint(Base):
    __tablename__ = "complaints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket: Mapped[str] = mapped_column(String(9), unique=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="RESTRICT"))
    report_type: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(32), default=None)
    description: Mapped[str] = mapped_column(Text)
    kelurahan_code: Mapped[str | None] = mapped_column(String(16), default=None)
    rw: Mapped[str | None] = mapped_column(String(3), default=None)
    rt: Mapped[str | None] = mapped_column(String(3), default=None)
    latitude: Mapped[float | None] = mapped_column(default=None)
    longitude: Mapped[float | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(16), default="diterima")
    flow_id: Mapped[str] = mapped_column(String(64))
    flow_version: Mapped[int] = mapped_column(Integer)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    history: Mapped[list[ComplaintStatus]] = relationship(
        back_populates="complaint", order_by="ComplaintStatus.id", lazy="raise"
    )

    __table_args__ = (
        Index("ix_complaints_contact", "contact_id"),
        Index("ix_complaints_status", "status"),
        Index("ix_complaints_area", "kelurahan_code", "rw", "rt", "category"),
    )


class ComplaintStatus(Base):
    __tablename__ = "complaint_status_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text, default=None)
    actor: Mapped[str] = mapped_column(String(160))
    at: Mapped[datetime]

    complaint: Mapped[Complaint] = relationship(back_populates="history", lazy="raise")

    __table_args__ = (Index("ix_complaint_status_history_complaint", "complaint_id"),)


class MediaFile(Base):
    """Bytes of a photo we received; platform URLs expire, so we keep the content."""

    __tablename__ = "media"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(256))
    unique_id: Mapped[str | None] = mapped_column(String(128), default=None)
    mime_type: Mapped[str | None] = mapped_column(String(64), default=None)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime]


class OutboxMessage(Base):
    """A message to send. Durable: a crash between commit and send loses nothing."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), default=None
    )
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(128))
    # 0 = a reply to someone who is waiting; 10 = bulk (broadcasts, reminders).
    priority: Mapped[int] = mapped_column(Integer, default=0)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending → sending (→ posting, bulk) → sent → delivered → read; failed; skipped
    # (opted out / blocked)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    provider_message_id: Mapped[str | None] = mapped_column(String(160), default=None)
    error: Mapped[str | None] = mapped_column(String(300), default=None)
    # Groups bulk rows (a broadcast id, a reminder id) and prevents double enqueueing.
    batch: Mapped[str | None] = mapped_column(String(64), default=None)
    dedupe_key: Mapped[str | None] = mapped_column(String(160), unique=True, default=None)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    # The body is replaced by a placeholder once the row is final (a login link, an
    # identity read-back: nothing to keep readable in this table).
    ephemeral: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        Index("ix_outbox_due", "status", "priority", "next_attempt_at"),
        # A recipient's rows, to keep their order and hand them out one recipient at a time.
        Index("ix_outbox_recipient", "channel", "recipient", "priority", "status"),
        Index("ix_outbox_provider", "provider_message_id"),
        Index("ix_outbox_batch", "batch"),
    )


class AuditEntry(Base):
    """Append-only log of who did what to whose data."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(160))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(160), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
