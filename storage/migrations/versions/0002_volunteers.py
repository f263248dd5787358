"""Volunteers and household assessments: invite codes, registrations, assessments and
their identity hashes, drafts, proof of consent, data-subject requests.

Revision ID: 0002_volunteers
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002_volunteers"
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
        "invite_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        _at("created_at"),
        _at("expires_at"),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        _at("revoked_at", nullable=True),
        _fk("created_by", "invite_codes", "contacts", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invite_codes")),
        sa.UniqueConstraint("code", name=op.f("uq_invite_codes_code")),
    )
    op.create_table(
        "volunteer_applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("invite_id", sa.Integer(), nullable=True),
        sa.Column("volunteer_type", sa.String(length=32), nullable=False),
        sa.Column("type_other", sa.String(length=100), nullable=True),
        sa.Column("full_name", sa.String(length=200), nullable=True),
        sa.Column("kelurahan_code", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        _at("created_at"),
        _at("decided_at", nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        _fk("contact_id", "volunteer_applications", "contacts", "CASCADE"),
        _fk("invite_id", "volunteer_applications", "invite_codes", "SET NULL"),
        _fk("decided_by", "volunteer_applications", "contacts", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volunteer_applications")),
    )
    op.create_index("ix_volunteer_applications_contact", "volunteer_applications",
                    ["contact_id"])
    op.create_index("ix_volunteer_applications_status", "volunteer_applications", ["status"])
    op.create_table(
        "assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=9), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("kelurahan_code", sa.String(length=16), nullable=False),
        sa.Column("rw", sa.String(length=3), nullable=True),
        sa.Column("rt", sa.String(length=3), nullable=True),
        sa.Column("head_name", sa.String(length=200), nullable=True),
        sa.Column("nik_sealed", sa.String(length=128), nullable=False),
        sa.Column("nik_hash", sa.String(length=64), nullable=False),
        sa.Column("nik_masked", sa.String(length=16), nullable=False),
        sa.Column("kk_sealed", sa.String(length=128), nullable=False),
        sa.Column("kk_hash", sa.String(length=64), nullable=False),
        sa.Column("kk_masked", sa.String(length=16), nullable=False),
        sa.Column("household_size", sa.Integer(), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("flow_id", sa.String(length=64), nullable=False),
        sa.Column("flow_version", sa.Integer(), nullable=False),
        sa.Column("consent_version", sa.String(length=32), nullable=False),
        sa.Column("specific_consent", sa.Boolean(), nullable=False),
        sa.Column("duplicate_of", sa.Integer(), nullable=True),
        _at("created_at"),
        _at("updated_at"),
        _fk("contact_id", "assessments", "contacts", "RESTRICT"),
        _fk("duplicate_of", "assessments", "assessments", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessments")),
        sa.UniqueConstraint("ref", name=op.f("uq_assessments_ref")),
    )
    op.create_index("ix_assessments_nik", "assessments", ["kelurahan_code", "nik_hash"])
    op.create_index("ix_assessments_kk", "assessments", ["kelurahan_code", "kk_hash"])
    op.create_index("ix_assessments_contact", "assessments", ["contact_id"])
    op.create_table(
        "assessment_identities",
        sa.Column("id", BIGINT_ID, nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=4), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=False),
        _fk("assessment_id", "assessment_identities", "assessments", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_identities")),
    )
    op.create_index("ix_assessment_identities_hash", "assessment_identities", ["hash"])
    op.create_index("ix_assessment_identities_assessment", "assessment_identities",
                    ["assessment_id"])
    op.create_table(
        "assessment_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("flow_id", sa.String(length=64), nullable=False),
        sa.Column("flow_version", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        _fk("contact_id", "assessment_drafts", "contacts", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_drafts")),
    )
    op.create_index("ix_assessment_drafts_contact", "assessment_drafts", ["contact_id"])
    op.create_table(
        "consent_records",
        sa.Column("id", BIGINT_ID, nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=16), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=True),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("notice_version", sa.String(length=32), nullable=False),
        sa.Column("notice_sha256", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        _at("at"),
        _at("withdrawn_at", nullable=True),
        _fk("contact_id", "consent_records", "contacts", "SET NULL"),
        _fk("assessment_id", "consent_records", "assessments", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_records")),
    )
    op.create_index("ix_consent_records_contact", "consent_records", ["contact_id"])
    op.create_index("ix_consent_records_assessment", "consent_records", ["assessment_id"])
    op.create_table(
        "data_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=9), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        _at("created_at"),
        _at("due_at"),
        _at("reminded_at", nullable=True),
        _at("overdue_at", nullable=True),
        _at("closed_at", nullable=True),
        sa.Column("closed_by", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        _fk("contact_id", "data_requests", "contacts", "RESTRICT"),
        _fk("closed_by", "data_requests", "contacts", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_requests")),
        sa.UniqueConstraint("ref", name=op.f("uq_data_requests_ref")),
    )
    op.create_index("ix_data_requests_contact", "data_requests", ["contact_id"])
    op.create_index("ix_data_requests_open", "data_requests", ["status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_data_requests_open", table_name="data_requests")
    op.drop_index("ix_data_requests_contact", table_name="data_requests")
    op.drop_table("data_requests")
    op.drop_index("ix_consent_records_assessment", table_name="consent_records")
    op.drop_index("ix_consent_records_contact", table_name="consent_records")
    op.drop_table("consent_records")
    op.drop_index("ix_assessment_drafts_contact", table_name="assessment_drafts")
    op.drop_table("assessment_drafts")
    op.drop_index("ix_assessment_identities_assessment", table_name="assessment_identities")
    op.drop_index("ix_assessment_identities_hash", table_name="assessment_identities")
    op.drop_table("assessment_identities")
    op.drop_index("ix_assessments_contact", table_name="assessments")
    op.drop_index("ix_assessments_kk", table_name="assessments")
    op.drop_index("ix_assessments_nik", table_name="assessments")
    op.drop_table("assessments")
    op.drop_index("ix_volunteer_applications_status", table_name="volunteer_applications")
    op.drop_index("ix_volunteer_applications_contact", table_name="volunteer_applications")
    op.drop_table("volunteer_applications")
    op.drop_table("invite_codes")
