"""A keluarga without a family card number is recorded (with the reason in its answers).

Revision ID: 0007_assessment
Revises: 0005_privacy
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_assessment"
down_revision: str | Sequence[str] | None = "0005_privacy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KK = (("kk_sealed", 128), ("kk_hash", 64), ("kk_masked", 16))


def upgrade() -> None:
    with op.batch_alter_table("assessments") as batch:
        for name, length in _KK:
            batch.alter_column(name, existing_type=sa.String(length=length), nullable=True)


def downgrade() -> None:
    # Rows saved without a card number cannot go back under NOT NULL: give them "".
    for name, _length in _KK:
        op.execute(sa.text(f"UPDATE assessments SET {name} = '' WHERE {name} IS NULL"))
    with op.batch_alter_table("assessments") as batch:
        for name, length in _KK:
            batch.alter_column(name, existing_type=sa.String(length=length), nullable=False)
