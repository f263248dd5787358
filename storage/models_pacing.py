"""Tables of the send limiter shared by replicas, and of the per-contact inbound limit.

Times here are seconds since the epoch (floats): the limiters do arithmetic on them in
SQL that SQLite and PostgreSQL both speak, and none of them is shown to anyone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Double, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base


class SendSlot(Base):
    """One platform message on its way (``answered_at`` None) or recently answered, for
    the bot-wide sliding window of one channel and token (``scope``)."""

    __tablename__ = "send_slots"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(80))
    recipient: Mapped[str] = mapped_column(String(128))
    cost: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[float] = mapped_column(Double)
    answered_at: Mapped[float | None] = mapped_column(Double, default=None)

    __table_args__ = (Index("ix_send_slots_scope", "scope"),)


class SendPace(Base):
    """A recipient's allowance (a token bucket kept as its theoretical arrival time,
    ``tat``) and whether a message to them is on its way."""

    __tablename__ = "send_pace"

    scope: Mapped[str] = mapped_column(String(80), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(128), primary_key=True)
    tat: Mapped[float] = mapped_column(Double)
    busy_until: Mapped[float | None] = mapped_column(Double, default=None)
    busy_cost: Mapped[int] = mapped_column(Integer, default=0)


class InboundPace(Base):
    """A contact's inbound allowance, and how many of their messages wait their turn."""

    __tablename__ = "inbound_pace"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    tat: Mapped[float] = mapped_column(Double)
    queued: Mapped[int] = mapped_column(Integer, default=0)


class InboundQueued(Base):
    """A message taken over the contact's allowance: stored (acknowledged), handled in
    its turn."""

    __tablename__ = "inbound_queue"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    message_id: Mapped[str] = mapped_column(String(160))
    inbound: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("channel", "message_id"),
        Index("ix_inbound_queue_contact", "channel", "external_id", "id"),
    )
