"""Activities, RSVPs, bulk sends (broadcasts and reminders), contacts' places.

Revision ID: 0003_activities
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003_activities"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _at(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk(column: str, table: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "activities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("previous_id", sa.Integer(), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        _at("starts_at"),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("recurrence", sa.String(length=16), nullable=False),
        sa.Column("reminders", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        _at("created_at"),
        _at("updated_at"),
        _at("published_at", nullable=True),
        _at("cancelled_at", nullable=True),
        _at("rolled_at", nullable=True),
        _fk("previous_id", "activities", "activities", "SET NULL"),
        _fk("created_by", "activities", "contacts", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activities")),
        sa.UniqueConstraint("previous_id", name=op.f("uq_activities_previous_id")),
    )
    op.create_index("ix_activities_status_starts", "activities", ["status", "starts_at"])
    op.create_table(
        "activity_rsvps",
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("answer", sa.String(length=8), nullable=False),
        _at("answered_at"),
        _fk("activity_id", "activity_rsvps", "activities", "CASCADE"),
        _fk("contact_id", "activity_rsvps", "contacts", "CASCADE"),
        sa.PrimaryKeyConstraint("activity_id", "contact_id", name=op.f("pk_activity_rsvps")),
    )
    op.create_index("ix_activity_rsvps_answer", "activity_rsvps", ["activity_id", "answer"])
    op.create_table(
        "broadcasts",
        sa.Column("id", BIGINT_ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=True),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _at("due_at"),
        _at("lease_until", nullable=True),
        sa.Column("lease_token", sa.String(length=32), nullable=True),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("enqueued", sa.Integer(), nullable=False),
        _at("created_at"),
        _at("started_at", nullable=True),
        _at("finished_at", nullable=True),
        _at("progress_at", nullable=True),
        _fk("activity_id", "broadcasts", "activities", "CASCADE"),
        _fk("requested_by", "broadcasts", "contacts", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
    )
    op.create_index("ix_broadcasts_status_due", "broadcasts", ["status", "due_at"])
    op.create_index("ix_broadcasts_activity", "broadcasts", ["activity_id"])
    op.create_table(
        "contact_places",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("kelurahan_code", sa.String(length=16), nullable=False),
        sa.Column("rw", sa.String(length=3), nullable=True),
        sa.Column("rt", sa.String(length=3), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        _at("updated_at"),
        _fk("contact_id", "contact_places", "contacts", "CASCADE"),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_contact_places")),
    )
    op.create_index("ix_contact_places_area", "contact_places", ["kelurahan_code", "rw", "rt"])


def downgrade() -> None:
    op.drop_index("ix_contact_places_area", table_name="contact_places")
    op.drop_table("contact_places")
    op.drop_index("ix_broadcasts_activity", table_name="broadcasts")
    op.drop_index("ix_broadcasts_status_due", table_name="broadcasts")
    op.drop_table("broadcasts")
    op.drop_index("ix_activity_rsvps_answer", table_name="activity_rsvps")
    op.drop_table("activity_rsvps")
    op.drop_index("ix_activities_status_starts", table_name="activities")
    op.drop_table("activities")
