"""Outbox pacing: ephemeral bodies, a recipient index, the shared send limiter, and the
per-contact inbound limit.

Revision ID: 0005_pacing
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_pacing"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("ephemeral", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    op.create_index("ix_outbox_recipient", "outbox",
                    ["channel", "recipient", "priority", "status"])
    op.create_table(
        "send_slots",
        sa.Column("id", BIGINT_ID, nullable=False),
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("recipient", sa.String(length=128), nullable=False),
        sa.Column("cost", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("answered_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_send_slots")),
    )
    op.create_index("ix_send_slots_scope", "send_slots", ["scope"])
    op.create_table(
        "send_pace",
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("recipient", sa.String(length=128), nullable=False),
        sa.Column("tat", sa.Double(), nullable=False),
        sa.Column("busy_until", sa.Double(), nullable=True),
        sa.Column("busy_cost", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "recipient", name=op.f("pk_send_pace")),
    )
    op.create_table(
        "inbound_pace",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("tat", sa.Double(), nullable=False),
        sa.Column("queued", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "external_id", name=op.f("pk_inbound_pace")),
    )
    op.create_table(
        "inbound_queue",
        sa.Column("id", BIGINT_ID, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("message_id", sa.String(length=160), nullable=False),
        sa.Column("inbound", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_queue")),
        sa.UniqueConstraint("channel", "message_id", name=op.f("uq_inbound_queue_channel")),
    )
    op.create_index("ix_inbound_queue_contact", "inbound_queue",
                    ["channel", "external_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_inbound_queue_contact", table_name="inbound_queue")
    op.drop_table("inbound_queue")
    op.drop_table("inbound_pace")
    op.drop_table("send_pace")
    op.drop_index("ix_send_slots_scope", table_name="send_slots")
    op.drop_table("send_slots")
    op.drop_index("ix_outbox_recipient", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("ephemeral")
