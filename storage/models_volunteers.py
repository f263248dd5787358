"""Tables of volunteers and household assessments: invite codes, volunteer
registrations, proof of consent, assessments with their identity numbers (encrypted, with
keyed lookup hashes), paused assessment drafts, and data-subject requests.

No column holds an NIK or No. KK in plain text: ``*_sealed`` is AES-GCM ciphertext,
``*_hash`` a keyed HMAC for lookups, ``*_masked`` the form safe to show
("3172********0001"). Members' numbers are inside ``answers`` in the same three forms.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base

BIGINT_ID = BigInteger().with_variant(Integer, "sqlite")


class InviteCode(Base):
    """A code a coordinator hands out; volunteers register with it."""

    __tablename__ = "invite_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    max_uses: Mapped[int] = mapped_column(Integer, default=1)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class VolunteerApplication(Base):
    """A registration waiting for, or decided by, a coordinator."""

    __tablename__ = "volunteer_applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    invite_id: Mapped[int | None] = mapped_column(
        ForeignKey("invite_codes.id", ondelete="SET NULL"), default=None
    )
    volunteer_type: Mapped[str] = mapped_column(String(32))
    type_other: Mapped[str | None] = mapped_column(String(100), default=None)
    full_name: Mapped[str | None] = mapped_column(String(200), default=None)
    kelurahan_code: Mapped[str | None] = mapped_column(String(16), default=None)
    # menunggu → disetujui | ditolak
    status: Mapped[str] = mapped_column(String(16), default="menunggu")
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_by: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), default=None
    )

    __table_args__ = (
        Index("ix_volunteer_applications_contact", "contact_id"),
        Index("ix_volunteer_applications_status", "status"),
    )


class Assessment(Base):
    """One household assessment (DTKS/Regsosek wording and codes, see the flow)."""

    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(9), unique=True)
    # The volunteer (or coordinator) who submitted it.
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="RESTRICT"))
    kelurahan_code: Mapped[str] = mapped_column(String(16))
    rw: Mapped[str | None] = mapped_column(String(3), default=None)
    rt: Mapped[str | None] = mapped_column(String(3), default=None)
    head_name: Mapped[str | None] = mapped_column(String(200), default=None)
    nik_sealed: Mapped[str] = mapped_column(String(128))
    nik_hash: Mapped[str] = mapped_column(String(64))
    nik_masked: Mapped[str] = mapped_column(String(16))
    # Empty for a keluarga without a card number (the reason is in the answers).
    kk_sealed: Mapped[str | None] = mapped_column(String(128), default=None)
    kk_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    kk_masked: Mapped[str | None] = mapped_column(String(16), default=None)
    household_size: Mapped[int] = mapped_column(Integer)
    member_count: Mapped[int] = mapped_column(Integer)
    latitude: Mapped[float | None] = mapped_column(default=None)
    longitude: Mapped[float | None] = mapped_column(default=None)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    flow_id: Mapped[str] = mapped_column(String(64))
    flow_version: Mapped[int] = mapped_column(Integer)
    consent_version: Mapped[str] = mapped_column(String(32))
    specific_consent: Mapped[bool] = mapped_column(Boolean)
    # An earlier assessment of the same NIK or No. KK in the same kelurahan.
    duplicate_of: Mapped[int | None] = mapped_column(
        ForeignKey("assessments.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_assessments_nik", "kelurahan_code", "nik_hash"),
        Index("ix_assessments_kk", "kelurahan_code", "kk_hash"),
        Index("ix_assessments_contact", "contact_id"),
    )


class AssessmentIdentity(Base):
    """Every identity number of an assessment (head, members, family card), by keyed
    hash: duplicates and a person's own records are found without decrypting."""

    __tablename__ = "assessment_identities"

    id: Mapped[int] = mapped_column(BIGINT_ID, primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(4))  # nik | kk
    # kepala | anggota | kk; position is the member's number (1 = head).
    role: Mapped[str] = mapped_column(String(8))
    position: Mapped[int | None] = mapped_column(Integer, default=None)
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_assessment_identities_hash", "hash"),
        Index("ix_assessment_identities_assessment", "assessment_id"),
    )


class AssessmentDraft(Base):
    """An assessment put aside with "nanti", to be continued (also after a restart)."""

    __tablename__ = "assessment_drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    flow_id: Mapped[str] = mapped_column(String(64))
    flow_version: Mapped[int] = mapped_column(Integer)
    label: Mapped[str | None] = mapped_column(String(200), default=None)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_assessment_drafts_contact", "contact_id"),)


class ConsentRecord(Base):
    """Proof of consent (UU PDP art. 22-24): which notice, when, recorded by whom, the
    answer. ``subject`` is ``diri`` (the contact's own data) or ``rumah_tangga`` (a
    household answering a volunteer); ``scope`` is ``umum`` or ``spesifik``."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(BIGINT_ID, primary_key=True)
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), default=None
    )
    subject: Mapped[str] = mapped_column(String(16))
    assessment_id: Mapped[int | None] = mapped_column(
        ForeignKey("assessments.id", ondelete="SET NULL"), default=None
    )
    scope: Mapped[str] = mapped_column(String(16))
    notice_version: Mapped[str] = mapped_column(String(32))
    # SHA-256 of the notice exactly as it was shown, in that language.
    notice_sha256: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(16))
    granted: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        Index("ix_consent_records_contact", "contact_id"),
        Index("ix_consent_records_assessment", "assessment_id"),
    )


class DataRequest(Base):
    """A data subject's request by chat: correct (``ubah``), erase (``hapus``) or
    withdraw consent (``tarik``); coordinators act within 3×24 hours."""

    __tablename__ = "data_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(9), unique=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(16))
    details: Mapped[str | None] = mapped_column(Text, default=None)
    # baru → selesai | ditolak
    status: Mapped[str] = mapped_column(String(16), default="baru")
    created_at: Mapped[datetime]
    due_at: Mapped[datetime]
    reminded_at: Mapped[datetime | None] = mapped_column(default=None)
    overdue_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_by: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), default=None
    )
    note: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (
        Index("ix_data_requests_contact", "contact_id"),
        Index("ix_data_requests_open", "status", "due_at"),
    )
