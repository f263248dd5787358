"""Repository of volunteers, assessments, consent and data-subject requests.

Bound to one transaction like the repositories in ``storage.repos``:
``VolunteerRepo(tx.session)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import reference_code
from storage.identities import pseudonymize
from storage.models import AuditEntry, Contact
from storage.models_volunteers import (
    Assessment,
    AssessmentDraft,
    AssessmentIdentity,
    ConsentRecord,
    DataRequest,
    InviteCode,
    VolunteerApplication,
)


@dataclass(frozen=True)
class Duplicate:
    """An earlier assessment of the same household: found by which number."""

    assessment: Assessment
    by: str  # nik | kk


class VolunteerRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def _insert_with_code(self, make: Callable[[], Any]) -> Any:
        """Insert a row whose random code may (rarely) collide: draw again."""
        for _ in range(20):
            row = make()
            try:
                async with self.s.begin_nested():
                    self.s.add(row)
                    await self.s.flush()
            except IntegrityError:
                continue
            return row
        raise RuntimeError("could not draw a unique code")

    # -- invite codes ----------------------------------------------------------------------

    async def create_invite(self, new_code: Callable[[], str], *, created_by: int, now: datetime,
                            expires_at: datetime, max_uses: int) -> InviteCode:
        invite: InviteCode = await self._insert_with_code(lambda: InviteCode(
            code=new_code(), created_by=created_by, created_at=now, expires_at=expires_at,
            max_uses=max_uses, uses=0))
        return invite

    async def valid_invite(self, code: str, now: datetime) -> InviteCode | None:
        """The invite with this code if it may still be used (locked for this transaction)."""
        stmt = (select(InviteCode).where(InviteCode.code == code.strip().upper())
                .with_for_update())
        invite = (await self.s.execute(stmt)).scalar_one_or_none()
        if invite is None or invite.revoked_at is not None or invite.expires_at <= now:
            return None
        if invite.uses >= invite.max_uses:
            return None
        return invite

    async def use_invite(self, invite_id: int) -> bool:
        """Count one use; False when it was used up meanwhile."""
        result = await self.s.execute(
            update(InviteCode)
            .where(InviteCode.id == invite_id, InviteCode.uses < InviteCode.max_uses)
            .values(uses=InviteCode.uses + 1)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def failed_code_attempts(self, actor: str, since: datetime) -> int:
        stmt = select(func.count(AuditEntry.id)).where(
            AuditEntry.actor == actor, AuditEntry.action == "volunteer.code_invalid",
            AuditEntry.at >= since)
        return int((await self.s.execute(stmt)).scalar_one())

    # -- registrations ---------------------------------------------------------------------

    async def add_application(self, **fields: Any) -> VolunteerApplication:
        application = VolunteerApplication(**fields)
        self.s.add(application)
        await self.s.flush()
        return application

    async def application(self, application_id: int) -> VolunteerApplication | None:
        stmt = (select(VolunteerApplication)
                .where(VolunteerApplication.id == application_id).with_for_update())
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def pending_application(self, contact_id: int) -> VolunteerApplication | None:
        stmt = (select(VolunteerApplication)
                .where(VolunteerApplication.contact_id == contact_id,
                       VolunteerApplication.status == "menunggu")
                .order_by(VolunteerApplication.id.desc()).limit(1))
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def applications_of(self, contact_id: int) -> Sequence[VolunteerApplication]:
        stmt = (select(VolunteerApplication)
                .where(VolunteerApplication.contact_id == contact_id)
                .order_by(VolunteerApplication.id))
        return (await self.s.execute(stmt)).scalars().all()

    async def area_of(self, contact_id: int) -> str | None:
        """The kelurahan a volunteer works in: that of their last assessment, otherwise
        the one of their approved application."""
        last = (select(Assessment.kelurahan_code).where(Assessment.contact_id == contact_id)
                .order_by(Assessment.id.desc()).limit(1))
        code = (await self.s.execute(last)).scalar_one_or_none()
        if code:
            return code
        applied = (select(VolunteerApplication.kelurahan_code)
                   .where(VolunteerApplication.contact_id == contact_id,
                          VolunteerApplication.status == "disetujui",
                          VolunteerApplication.kelurahan_code.is_not(None))
                   .order_by(VolunteerApplication.id.desc()).limit(1))
        return (await self.s.execute(applied)).scalar_one_or_none()

    async def pending_applications(self, limit: int = 10) -> Sequence[VolunteerApplication]:
        stmt = (select(VolunteerApplication)
                .where(VolunteerApplication.status == "menunggu")
                .order_by(VolunteerApplication.id).limit(limit))
        return (await self.s.execute(stmt)).scalars().all()

    # -- assessments -----------------------------------------------------------------------

    async def add_assessment(self, new_ref: Callable[[], str],
                             identities: Sequence[tuple[str, str, int | None, str]],
                             **fields: Any) -> Assessment:
        """Insert an assessment and its identity hashes ((kind, role, position, hash)).

        Whatever the caller passes, what is stored shows no digit of a number: the masked
        columns and the answers hold keyed references (``storage.identities``)."""
        fields["answers"] = pseudonymize(fields.get("answers") or {})
        for kind in ("nik", "kk"):
            if fields.get(f"{kind}_hash"):
                fields[f"{kind}_masked"] = reference_code(fields[f"{kind}_hash"])
        assessment: Assessment = await self._insert_with_code(
            lambda: Assessment(ref=new_ref(), **fields))
        self.s.add_all([
            AssessmentIdentity(assessment_id=assessment.id, kind=kind, role=role,
                               position=position, hash=digest)
            for kind, role, position, digest in identities
        ])
        await self.s.flush()
        return assessment

    async def find_duplicate(self, kelurahan_code: str, nik_hash: str | None,
                             kk_hash: str | None) -> Duplicate | None:
        """The latest assessment in this kelurahan with the same head NIK or No. KK (or
        with that NIK among its members)."""
        found: list[Duplicate] = []
        if nik_hash:
            stmt = (select(Assessment)
                    .join(AssessmentIdentity, AssessmentIdentity.assessment_id == Assessment.id)
                    .where(Assessment.kelurahan_code == kelurahan_code,
                           AssessmentIdentity.kind == "nik",
                           AssessmentIdentity.hash == nik_hash)
                    .order_by(Assessment.id.desc()).limit(1))
            row = (await self.s.execute(stmt)).scalar_one_or_none()
            if row is not None:
                found.append(Duplicate(row, "nik"))
        if kk_hash:
            stmt = (select(Assessment)
                    .where(Assessment.kelurahan_code == kelurahan_code,
                           Assessment.kk_hash == kk_hash)
                    .order_by(Assessment.id.desc()).limit(1))
            row = (await self.s.execute(stmt)).scalar_one_or_none()
            if row is not None:
                found.append(Duplicate(row, "kk"))
        return max(found, key=lambda d: d.assessment.id) if found else None

    async def assessment_by_ref(self, ref: str) -> Assessment | None:
        stmt = select(Assessment).where(Assessment.ref == ref.strip().upper())
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def assessment(self, assessment_id: int) -> Assessment | None:
        return await self.s.get(Assessment, assessment_id)

    async def count_assessments_by(self, contact_id: int) -> int:
        stmt = select(func.count(Assessment.id)).where(Assessment.contact_id == contact_id)
        return int((await self.s.execute(stmt)).scalar_one())

    async def count_assessments(self) -> int:
        return int((await self.s.execute(select(func.count(Assessment.id)))).scalar_one())

    async def last_assessment_id(self) -> int:
        return int((await self.s.execute(select(func.max(Assessment.id)))).scalar() or 0)

    async def shared_houses(self, until: int) -> dict[str, int]:
        """House ref -> number of keluarga recorded in it, for the houses with more than
        one (as many entries as such houses: the export keeps it in memory)."""
        house = Assessment.answers["rumah"].as_string()
        count = func.count(Assessment.id)
        stmt = (select(house, count).where(Assessment.id <= until, house.is_not(None))
                .group_by(house).having(count > 1))
        return {str(ref): int(n) for ref, n in (await self.s.execute(stmt)).all()}

    async def assessment_page(self, after_id: int, limit: int,
                              until: int | None = None) -> Sequence[Any]:
        """Rows for the export in id order (keyset pagination: bounded memory), up to
        ``until`` when given."""
        earlier = Assessment.__table__.alias("earlier")
        stmt = (
            select(Assessment.id, Assessment.ref, Assessment.created_at, Assessment.contact_id,
                   Contact.channel, Contact.volunteer_type, Assessment.kelurahan_code,
                   Assessment.rw, Assessment.rt, Assessment.head_name, Assessment.nik_sealed,
                   Assessment.nik_masked, Assessment.kk_sealed, Assessment.kk_masked,
                   Assessment.household_size, Assessment.member_count, Assessment.latitude,
                   Assessment.longitude, Assessment.flags, Assessment.answers,
                   Assessment.flow_version, Assessment.consent_version,
                   Assessment.specific_consent, earlier.c.ref.label("duplicate_ref"))
            .join(Contact, Contact.id == Assessment.contact_id)
            .outerjoin(earlier, earlier.c.id == Assessment.duplicate_of)
            .where(Assessment.id > after_id)
            .order_by(Assessment.id)
            .limit(limit)
        )
        if until is not None:
            stmt = stmt.where(Assessment.id <= until)
        return (await self.s.execute(stmt)).all()

    # -- drafts ----------------------------------------------------------------------------

    async def save_draft(self, *, contact_id: int, flow_id: str, flow_version: int,
                         label: str | None, state: dict[str, Any],
                         now: datetime) -> AssessmentDraft:
        # The engine's read-back details stay (a draft may be resumed at that question).
        draft = AssessmentDraft(contact_id=contact_id, flow_id=flow_id,
                                flow_version=flow_version, label=label,
                                state=pseudonymize(state, keep_readback=True),
                                created_at=now, updated_at=now)
        self.s.add(draft)
        await self.s.flush()
        return draft

    async def drafts(self, contact_id: int, limit: int = 8) -> Sequence[AssessmentDraft]:
        stmt = (select(AssessmentDraft).where(AssessmentDraft.contact_id == contact_id)
                .order_by(AssessmentDraft.updated_at.desc(), AssessmentDraft.id.desc())
                .limit(limit))
        return (await self.s.execute(stmt)).scalars().all()

    async def take_draft(self, draft_id: int, contact_id: int) -> AssessmentDraft | None:
        """Remove one of this contact's drafts and return it (to continue it)."""
        stmt = select(AssessmentDraft).where(AssessmentDraft.id == draft_id,
                                             AssessmentDraft.contact_id == contact_id)
        draft = (await self.s.execute(stmt.with_for_update())).scalar_one_or_none()
        if draft is not None:
            await self.s.delete(draft)
            await self.s.flush()
        return draft

    async def forget_drafts_before(self, cutoff: datetime) -> int:
        result = await self.s.execute(
            delete(AssessmentDraft).where(AssessmentDraft.updated_at < cutoff))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def delete_drafts_of(self, contact_id: int) -> int:
        result = await self.s.execute(
            delete(AssessmentDraft).where(AssessmentDraft.contact_id == contact_id))
        return int(result.rowcount)  # type: ignore[attr-defined]

    # -- consent ---------------------------------------------------------------------------

    async def add_consent(self, **fields: Any) -> ConsentRecord:
        record = ConsentRecord(**fields)
        self.s.add(record)
        await self.s.flush()
        return record

    async def consents_of(self, contact_id: int) -> Sequence[ConsentRecord]:
        stmt = (select(ConsentRecord)
                .where(ConsentRecord.contact_id == contact_id,
                       ConsentRecord.subject == "diri")
                .order_by(ConsentRecord.id))
        return (await self.s.execute(stmt)).scalars().all()

    async def consents_for(self, assessment_id: int) -> Sequence[ConsentRecord]:
        stmt = (select(ConsentRecord).where(ConsentRecord.assessment_id == assessment_id)
                .order_by(ConsentRecord.id))
        return (await self.s.execute(stmt)).scalars().all()

    async def withdraw_consents(self, contact_id: int, now: datetime) -> int:
        result = await self.s.execute(
            update(ConsentRecord)
            .where(ConsentRecord.contact_id == contact_id, ConsentRecord.subject == "diri",
                   ConsentRecord.withdrawn_at.is_(None))
            .values(withdrawn_at=now))
        return int(result.rowcount)  # type: ignore[attr-defined]

    # -- data-subject requests -------------------------------------------------------------

    async def add_request(self, new_ref: Callable[[], str], **fields: Any) -> DataRequest:
        request: DataRequest = await self._insert_with_code(
            lambda: DataRequest(ref=new_ref(), **fields))
        return request

    async def request(self, request_id: int) -> DataRequest | None:
        stmt = select(DataRequest).where(DataRequest.id == request_id).with_for_update()
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def requests_of(self, contact_id: int, limit: int = 10) -> Sequence[DataRequest]:
        stmt = (select(DataRequest).where(DataRequest.contact_id == contact_id)
                .order_by(DataRequest.id.desc()).limit(limit))
        return (await self.s.execute(stmt)).scalars().all()

    async def open_requests(self, limit: int = 10) -> Sequence[DataRequest]:
        stmt = (select(DataRequest).where(DataRequest.status == "baru")
                .order_by(DataRequest.due_at, DataRequest.id).limit(limit))
        return (await self.s.execute(stmt)).scalars().all()

    async def requests_to_remind(self, remind_from: datetime) -> Sequence[DataRequest]:
        """Open requests whose deadline is near (due before ``remind_from``), not reminded."""
        stmt = (select(DataRequest)
                .where(DataRequest.status == "baru", DataRequest.reminded_at.is_(None),
                       DataRequest.due_at <= remind_from)
                .order_by(DataRequest.due_at).with_for_update(skip_locked=True))
        return (await self.s.execute(stmt)).scalars().all()

    async def requests_overdue(self, now: datetime) -> Sequence[DataRequest]:
        stmt = (select(DataRequest)
                .where(DataRequest.status == "baru", DataRequest.overdue_at.is_(None),
                       DataRequest.due_at <= now)
                .order_by(DataRequest.due_at).with_for_update(skip_locked=True))
        return (await self.s.execute(stmt)).scalars().all()

    # -- the data subject's view -----------------------------------------------------------

    async def processing_log(self, actor: str, subject: str,
                             limit: int = 10) -> Sequence[AuditEntry]:
        """Audit entries by or about one contact, newest first."""
        stmt = (select(AuditEntry)
                .where(or_(AuditEntry.actor == actor, AuditEntry.subject == subject,
                           AuditEntry.subject == actor))
                .order_by(AuditEntry.id.desc()).limit(limit))
        return (await self.s.execute(stmt)).scalars().all()
