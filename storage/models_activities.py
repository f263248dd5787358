"""Tables of activities and broadcasts: activities (one row per occurrence),
RSVPs, bulk sends (announcements, free-form broadcasts, reminders, cancel/reschedule
notices) and where contacts live (for audiences by kelurahan / RW / RT).

A bulk send is one ``broadcasts`` row: due at ``due_at``, claimed by one replica under a
lease, fanned out into outbox rows in chunks (``cursor`` = last contact id enqueued), then
watched until every outbox row of its batch is final. Reminders are bulk sends due later.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base


class Activity(Base):
    """One occurrence of an activity; a recurring one links to the occurrence before."""

    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The occurrence this one follows (recurring activities); unique, so that two
    # replicas rolling a series at the same moment create the next occurrence once.
    previous_id: Mapped[int | None] = mapped_column(
        ForeignKey("activities.id", ondelete="SET NULL"), unique=True, default=None
    )
    seq: Mapped[int] = mapped_column(Integer, default=1)
    title: Mapped[str] = mapped_column(String(120))
    # kerja_bakti, pembagian_air, penyuluhan, posyandu, rapat_warga, lainnya
    kind: Mapped[str] = mapped_column(String(32))
    starts_at: Mapped[datetime]
    place: Mapped[str] = mapped_column(String(200))
    details: Mapped[str | None] = mapped_column(Text, default=None)
    # {"type": "all" | "kelurahan" | "rw" | "rt" | "volunteers" | "volunteer_type", ...}
    audience: Mapped[dict[str, Any]] = mapped_column(JSON)
    # none, weekly, monthly
    recurrence: Mapped[str] = mapped_column(String(16), default="none")
    # Reminder codes ("eve" = 19.00 the evening before, "2h" = two hours before, …).
    reminders: Mapped[list[str]] = mapped_column(JSON)
    # draft → published → (cancelled)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    # A recurring occurrence has been followed by the next one (or its series stopped).
    rolled_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (Index("ix_activities_status_starts", "status", "starts_at"),)


class ActivityRsvp(Base):
    """One person's answer to one occurrence: yes (Hadir), no (Tidak bisa), maybe."""

    __tablename__ = "activity_rsvps"

    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    answer: Mapped[str] = mapped_column(String(8))
    answered_at: Mapped[datetime]

    __table_args__ = (Index("ix_activity_rsvps_answer", "activity_id", "answer"),)


class Broadcast(Base):
    """A bulk send: fanned out into outbox rows by whichever replica claims it first."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    # siaran (free-form), announce, reminder, cancel, reschedule
    kind: Mapped[str] = mapped_column(String(16))
    # The number coordinators see ("Siaran #4"): reminders are counted apart
    # ("reminder"), so that the sends they make by hand are numbered 1, 2, 3 …
    series: Mapped[str] = mapped_column(String(8))
    number: Mapped[int] = mapped_column(Integer)
    activity_id: Mapped[int | None] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), default=None
    )
    # The coordinator who gets progress and the delivery report (none for reminders).
    requested_by: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), default=None
    )
    # An audience (as on activities), or {"type": "rsvp", "answers": ["yes", "maybe"]}.
    audience: Mapped[dict[str, Any]] = mapped_column(JSON)
    body: Mapped[str | None] = mapped_column(Text, default=None)
    # Kind-specific: the reminder code, the time before a reschedule, a reason.
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # draft → scheduled → fanout → sending → done; cancelled; expired (too late to help)
    status: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime]
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    lease_token: Mapped[str | None] = mapped_column(String(32), default=None)
    # Fan-out resumes after the last contact id enqueued.
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    enqueued: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    progress_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        Index("ix_broadcasts_status_due", "status", "due_at"),
        Index("ix_broadcasts_activity", "activity_id"),
        Index("ux_broadcasts_series_number", "series", "number", unique=True),
    )


class ContactPlace(Base):
    """Where a contact lives, as they (or a volunteer registration) told us."""

    __tablename__ = "contact_places"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    kelurahan_code: Mapped[str] = mapped_column(String(16))
    rw: Mapped[str | None] = mapped_column(String(3), default=None)
    rt: Mapped[str | None] = mapped_column(String(3), default=None)
    source: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_contact_places_area", "kelurahan_code", "rw", "rt"),)
