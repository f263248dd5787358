"""Erasure of a data subject (UU PDP art. 43): everything that identifies the person.

``erase_data_subject`` is the one function that does it, inside the caller's
transaction. What goes:

- the contact's name, phone, WhatsApp phone id (``alt_id``) and consent fields; the
  profile name is not stored again (``erased_at``);
- their conversation, assessment drafts, dashboard sign-ins, where they live;
- their complaints' texts and answers (description, landmark, phone, photo reference),
  coordinates and RT; the notes officers wrote on them (they may quote the person);
- their photos: the media rows and the files on disk (a file another row still uses,
  the very same picture sent by someone else, stays);
- the details of their data requests and their registration's name;
- every outbox message to them, and their name, phone and texts inside messages to
  others (coordinators, volunteers).

What stays, because the law or the programme's accounting needs it and it no longer
identifies anyone by itself: the contact row with its chat address (so that the closing
answer reaches them and a later message is not taken for a new person), ticket numbers
with category, kelurahan, RW and status history (counts), consent records (proof of
consent, UU PDP art. 22), the data requests' numbers and dates, RSVP counts, and an
audit row saying the erasure happened, with counts only.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from storage.models import (
    Complaint,
    ComplaintStatus,
    Contact,
    ConversationSession,
    MediaFile,
    OutboxMessage,
)
from storage.models_activities import ContactPlace
from storage.models_tickets import DashboardLoginToken, DashboardSession, TicketClosure
from storage.models_volunteers import AssessmentDraft, DataRequest, VolunteerApplication
from storage.repos import Repos

log = logging.getLogger(__name__)

ERASED_TEXT = "[dihapus]"
# Words of someone's text that are looked for in messages to others: long enough not to
# match ordinary words.
_MIN_VALUE = 3
_TEXT_PREFIX = 40


@dataclass
class ErasureReport:
    complaints: int = 0
    photos: int = 0
    files: int = 0
    outbox_deleted: int = 0
    outbox_redacted: int = 0
    requests: int = 0
    drafts: int = 0

    def counts(self) -> dict[str, int]:
        return asdict(self)


def _values(contact: Contact, texts: Iterable[str | None]) -> list[str]:
    """What identifies the person inside someone else's message."""
    found: list[str] = []
    for value in (contact.name, contact.phone, contact.alt_id):
        if value and len(value.strip()) >= _MIN_VALUE:
            found.append(value.strip())
    if contact.phone and contact.phone.startswith("+62"):
        found.append("0" + contact.phone[3:])  # as Indonesians write it
    for text in texts:
        if text and len(text.strip()) >= _MIN_VALUE:
            text = text.strip()
            found.append(text[:_TEXT_PREFIX] if len(text) > _TEXT_PREFIX else text)
    return sorted(set(found), key=len, reverse=True)


def _texts_in(answers: Any) -> Iterable[str]:
    if isinstance(answers, dict):
        for value in answers.values():
            yield from _texts_in(value)
    elif isinstance(answers, list):
        for value in answers:
            yield from _texts_in(value)
    elif isinstance(answers, str):
        yield answers


def _refs_in(answers: Any) -> Iterable[str]:
    """Photo references inside an answers document (``{"ref": …}``)."""
    if isinstance(answers, dict):
        if isinstance(answers.get("ref"), str) and "sealed" not in answers:
            yield answers["ref"]
        for value in answers.values():
            yield from _refs_in(value)
    elif isinstance(answers, list):
        for value in answers:
            yield from _refs_in(value)


def _redact(payload: dict[str, Any], pattern: re.Pattern[str]) -> dict[str, Any] | None:
    """The payload with the person's values replaced; None when nothing matched."""
    changed = False

    def scrub(value: Any) -> Any:
        nonlocal changed
        if isinstance(value, str):
            new = pattern.sub(ERASED_TEXT, value)
            changed = changed or new != value
            return new
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    result = scrub(payload)
    return result if changed else None


async def erase_data_subject(tx: Repos, contact_id: int, now: datetime, *,
                             actor: str) -> ErasureReport:
    """Erase everything that identifies contact ``contact_id`` (see the module doc)."""
    s = tx.session
    report = ErasureReport()
    contact = await s.get(Contact, contact_id, with_for_update=True)
    if contact is None:
        return report
    complaints = (await s.execute(
        select(Complaint).where(Complaint.contact_id == contact_id))).scalars().all()
    requests = (await s.execute(
        select(DataRequest).where(DataRequest.contact_id == contact_id))).scalars().all()
    applications = (await s.execute(select(VolunteerApplication).where(
        VolunteerApplication.contact_id == contact_id))).scalars().all()
    session_row = await s.get(ConversationSession, contact_id)
    texts: list[str | None] = []
    refs: set[str] = set()
    for complaint in complaints:
        texts.append(complaint.description)
        texts.extend(t for t in _texts_in(complaint.answers) if len(t) >= 8)
        refs.update(_refs_in(complaint.answers))
    for request in requests:
        texts.append(request.details)
    for application in applications:
        texts.extend((application.full_name, application.type_other))
    if session_row is not None:
        refs.update(_refs_in(session_row.state))
    values = _values(contact, texts)

    # Photos: rows, and files no other row uses.
    if refs:
        media = (await s.execute(select(MediaFile).where(
            MediaFile.channel == contact.channel, MediaFile.ref.in_(sorted(refs))))).scalars().all()
        for row in media:
            others = (await s.execute(select(func.count(MediaFile.id)).where(
                MediaFile.path == row.path, MediaFile.id != row.id))).scalar_one()
            if not others:
                try:
                    os.remove(row.path)
                    report.files += 1
                except FileNotFoundError:
                    pass
                except OSError as err:
                    # The row goes regardless; an operator must remove the file by hand.
                    log.error("could not remove an erased photo file (%s)", type(err).__name__)
            await s.delete(row)
            report.photos += 1

    for complaint in complaints:
        complaint.description = ERASED_TEXT
        complaint.answers = {}
        complaint.latitude = None
        complaint.longitude = None
        complaint.rt = None
        complaint.updated_at = now
        report.complaints += 1
    if complaints:
        ids = [c.id for c in complaints]
        await s.execute(update(ComplaintStatus).where(ComplaintStatus.complaint_id.in_(ids))
                        .values(note=None))
        await s.execute(update(TicketClosure).where(TicketClosure.complaint_id.in_(ids))
                        .values(note=""))
    for request in requests:
        if request.details is not None or request.note is not None:
            report.requests += 1
        request.details = None
        request.note = None
    for application in applications:
        application.full_name = None
        application.type_other = None

    report.drafts = int((await s.execute(delete(AssessmentDraft).where(
        AssessmentDraft.contact_id == contact_id))).rowcount)  # type: ignore[attr-defined]
    for model in (ConversationSession, ContactPlace, DashboardLoginToken, DashboardSession):
        await s.execute(delete(model).where(model.contact_id == contact_id))

    # Messages to them: all of them. Messages to others: their values taken out.
    report.outbox_deleted = int((await s.execute(delete(OutboxMessage).where(
        OutboxMessage.contact_id == contact_id))).rowcount)  # type: ignore[attr-defined]
    if values:
        pattern = re.compile("|".join(
            rf"(?<!\w){re.escape(v)}(?!\w)" if v[0].isalnum() and v[-1].isalnum()
            else re.escape(v) for v in values), re.IGNORECASE)
        # Messages about someone go to the officers (notifications); bulk messages to
        # every resident are not searched, they carry no one's own data.
        officers = select(Contact.id).where(Contact.role.in_(("volunteer", "coordinator")))
        last = 0
        while True:
            rows = (await s.execute(
                select(OutboxMessage.id, OutboxMessage.payload)
                .where(OutboxMessage.id > last,
                       OutboxMessage.contact_id.is_(None)
                       | OutboxMessage.contact_id.in_(officers))
                .order_by(OutboxMessage.id).limit(500))).all()
            if not rows:
                break
            for row_id, payload in rows:
                last = row_id
                redacted = _redact(payload, pattern) if isinstance(payload, dict) else None
                if redacted is not None:
                    await s.execute(update(OutboxMessage).where(OutboxMessage.id == row_id)
                                    .values(payload=redacted))
                    report.outbox_redacted += 1

    contact.name = None
    contact.phone = None
    contact.alt_id = None
    contact.consent_version = None
    contact.consent_at = None
    contact.erased_at = now
    contact.updated_at = now
    await s.flush()
    await tx.audit.add(actor, "data.erased", now, subject=f"{contact.channel}:{contact.id}",
                       details=report.counts())
    return report
