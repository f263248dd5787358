"""Initial schema: contacts, sessions, inbound dedupe, complaints, media, outbox, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _at(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("alt_id", sa.String(length=128), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("volunteer_type", sa.String(length=32), nullable=True),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("stopped", sa.Boolean(), nullable=False),
        sa.Column("consent_version", sa.String(length=32), nullable=True),
        _at("consent_at", nullable=True),
        _at("last_inbound_at", nullable=True),
        sa.Column("window_closed", sa.Boolean(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("channel", "external_id", name=op.f("uq_contacts_channel")),
    )
    op.create_index("ix_contacts_alt", "contacts", ["channel", "alt_id"])
    op.create_table(
        "sessions",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("flow_id", sa.String(length=64), nullable=True),
        sa.Column("flow_version", sa.Integer(), nullable=True),
        sa.Column("step", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
        _at("expires_at", nullable=True),
        _at("updated_at"),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_sessions_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_sessions")),
    )
    op.create_table(
        "processed_inbound",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=160), nullable=False),
        _at("received_at"),
        sa.PrimaryKeyConstraint("channel", "message_id", name=op.f("pk_processed_inbound")),
    )
    op.create_table(
        "complaints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket", sa.String(length=9), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("report_type", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("kelurahan_code", sa.String(length=16), nullable=True),
        sa.Column("rw", sa.String(length=3), nullable=True),
        sa.Column("rt", sa.String(length=3), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("flow_id", sa.String(length=64), nullable=False),
        sa.Column("flow_version", sa.Integer(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_complaints_contact_id_contacts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaints")),
        sa.UniqueConstraint("ticket", name=op.f("uq_complaints_ticket")),
    )
    op.create_index("ix_complaints_contact", "complaints", ["contact_id"])
    op.create_index("ix_complaints_status", "complaints", ["status"])
    op.create_index("ix_complaints_area", "complaints", ["kelurahan_code", "rw", "rt", "category"])
    op.create_table(
        "complaint_status_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=160), nullable=False),
        _at("at"),
        sa.ForeignKeyConstraint(
            ["complaint_id"],
            ["complaints.id"],
            name=op.f("fk_complaint_status_history_complaint_id_complaints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_status_history")),
    )
    op.create_index(
        "ix_complaint_status_history_complaint", "complaint_status_history", ["complaint_id"]
    )
    op.create_table(
        "media",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=256), nullable=False),
        sa.Column("unique_id", sa.String(length=128), nullable=True),
        sa.Column("mime_type", sa.String(length=64), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        _at("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", BIGINT_ID, nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=128), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _at("next_attempt_at"),
        _at("lease_until", nullable=True),
        sa.Column("provider_message_id", sa.String(length=160), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("batch", sa.String(length=64), nullable=True),
        sa.Column("dedupe_key", sa.String(length=160), nullable=True),
        _at("created_at"),
        _at("sent_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_outbox_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_dedupe_key")),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "priority", "next_attempt_at"])
    op.create_index("ix_outbox_provider", "outbox", ["provider_message_id"])
    op.create_index("ix_outbox_batch", "outbox", ["batch"])
    op.create_table(
        "audit_log",
        sa.Column("id", BIGINT_ID, nullable=False),
        _at("at"),
        sa.Column("actor", sa.String(length=160), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=160), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_index("ix_outbox_batch", table_name="outbox")
    op.drop_index("ix_outbox_provider", table_name="outbox")
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("media")
    op.drop_index(
        "ix_complaint_status_history_complaint", table_name="complaint_status_history"
    )
    op.drop_table("complaint_status_history")
    op.drop_index("ix_complaints_area", table_name="complaints")
    op.drop_index("ix_complaints_status", table_name="complaints")
    op.drop_index("ix_complaints_contact", table_name="complaints")
    op.drop_table("complaints")
    op.drop_table("processed_inbound")
    op.drop_table("sessions")
    op.drop_index("ix_contacts_alt", table_name="contacts")
    op.drop_table("contacts")
