"""Broadcast numbers: reminders numbered apart from the sends coordinators make.

Revision ID: 0007_activities
Revises: 0003_activities
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_activities"
down_revision: str | Sequence[str] | None = "0003_activities"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("broadcasts") as batch:
        batch.add_column(sa.Column("series", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("number", sa.Integer(), nullable=True))
    # Existing sends keep their order: numbered by id within each series.
    op.execute("UPDATE broadcasts SET series = CASE WHEN kind = 'reminder' "
               "THEN 'reminder' ELSE 'siaran' END")
    op.execute("UPDATE broadcasts SET number = (SELECT COUNT(*) FROM broadcasts AS b "
               "WHERE b.series = broadcasts.series AND b.id <= broadcasts.id)")
    with op.batch_alter_table("broadcasts") as batch:
        batch.alter_column("series", existing_type=sa.String(length=8), nullable=False)
        batch.alter_column("number", existing_type=sa.Integer(), nullable=False)
        batch.create_index("ux_broadcasts_series_number", ["series", "number"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("broadcasts") as batch:
        batch.drop_index("ux_broadcasts_series_number")
        batch.drop_column("number")
        batch.drop_column("series")
