"""Tickets: links, assignments, closings, escalations, dashboard login links and sessions.

Revision ID: 0004_tickets
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0004_tickets"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _at(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk(column: str, table: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "ticket_links",
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("primary_id", sa.Integer(), nullable=False),
        _at("linked_at"),
        _fk("complaint_id", "ticket_links", "complaints", "CASCADE"),
        _fk("primary_id", "ticket_links", "complaints", "CASCADE"),
        sa.PrimaryKeyConstraint("complaint_id", name=op.f("pk_ticket_links")),
    )
    op.create_index("ix_ticket_links_primary", "ticket_links", ["primary_id"])
    op.create_table(
        "ticket_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("assigned_by", sa.String(length=160), nullable=False),
        _at("assigned_at"),
        _fk("complaint_id", "ticket_assignments", "complaints", "CASCADE"),
        _fk("contact_id", "ticket_assignments", "contacts", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_assignments")),
        sa.UniqueConstraint("complaint_id", "contact_id",
                            name=op.f("uq_ticket_assignments_complaint_id")),
    )
    op.create_index("ix_ticket_assignments_contact", "ticket_assignments", ["contact_id"])
    op.create_table(
        "ticket_closures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        _at("closed_at"),
        sa.Column("closed_by", sa.String(length=160), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("proof_channel", sa.String(length=16), nullable=True),
        sa.Column("proof_ref", sa.String(length=256), nullable=True),
        sa.Column("proof_media_id", sa.Integer(), nullable=True),
        sa.Column("photo_sent", sa.Boolean(), nullable=False),
        sa.Column("answer", sa.String(length=8), nullable=True),
        _at("answered_at", nullable=True),
        _fk("complaint_id", "ticket_closures", "complaints", "CASCADE"),
        _fk("proof_media_id", "ticket_closures", "media", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_closures")),
    )
    op.create_index("ix_ticket_closures_complaint", "ticket_closures", ["complaint_id"])
    op.create_table(
        "ticket_escalations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        _at("due_at"),
        _at("escalated_at"),
        _fk("complaint_id", "ticket_escalations", "complaints", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_escalations")),
        sa.UniqueConstraint("complaint_id", "kind", "due_at",
                            name=op.f("uq_ticket_escalations_complaint_id")),
    )
    op.create_table(
        "dashboard_login_tokens",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        _at("created_at"),
        _at("expires_at"),
        _at("used_at", nullable=True),
        _fk("contact_id", "dashboard_login_tokens", "contacts", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_login_tokens")),
    )
    op.create_table(
        "dashboard_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        _at("created_at"),
        _at("expires_at"),
        _at("last_seen_at"),
        _fk("contact_id", "dashboard_sessions", "contacts", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_sessions")),
    )
    op.create_index("ix_dashboard_sessions_contact", "dashboard_sessions", ["contact_id"])


def downgrade() -> None:
    op.drop_index("ix_dashboard_sessions_contact", table_name="dashboard_sessions")
    op.drop_table("dashboard_sessions")
    op.drop_table("dashboard_login_tokens")
    op.drop_table("ticket_escalations")
    op.drop_index("ix_ticket_closures_complaint", table_name="ticket_closures")
    op.drop_table("ticket_closures")
    op.drop_index("ix_ticket_assignments_contact", table_name="ticket_assignments")
    op.drop_table("ticket_assignments")
    op.drop_index("ix_ticket_links_primary", table_name="ticket_links")
    op.drop_table("ticket_links")
