"""Identity numbers inside stored documents: their safe form, and key rotation.

An identity answer (NIK / No. KK) is a dict ``{"sealed", "hash", "ref", …}``. What is
stored for good keeps no digit of the number and nothing derived from its digits beyond
what the form asks separately: ``masked`` and ``ref`` hold the keyed reference code
(``storage.crypto.reference_code``), and the read-back details the engine works with
(``birth_date``, ``sex``, ``issued`` — six digits of the number) are dropped once the
answer is saved. The full number stays only in ``sealed``.

``rotate_keys`` re-seals every stored number with the current key, in batches of rows,
each batch its own transaction: an interrupted rotation resumes where it stopped (rows
sealed with the current key are skipped), and while it runs the previous key still
opens what is not re-sealed yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from storage.crypto import CryptoError, IdentityCipher, is_sealed, reference_code
from storage.db import Database
from storage.models import ConversationSession
from storage.models_volunteers import Assessment, AssessmentDraft, AssessmentIdentity

log = logging.getLogger(__name__)

# Details of a read-back, derived from the number's own digits.
DERIVED_FROM_DIGITS = ("birth_date", "sex", "issued")


def is_identity(value: Any) -> bool:
    return isinstance(value, dict) and is_sealed(value.get("sealed"))


def identities_in(value: Any) -> Iterator[dict[str, Any]]:
    """Every identity answer inside a JSON document (repeat groups included)."""
    if isinstance(value, dict):
        if is_identity(value):
            yield value
            return
        for item in value.values():
            yield from identities_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from identities_in(item)


def safe_identity(value: dict[str, Any], *, keep_readback: bool = False) -> dict[str, Any]:
    """The form of an identity answer that may be kept: the sealed number, its lookup
    hash and its reference (also as ``masked``, what older readers show)."""
    out = {k: v for k, v in value.items()
           if keep_readback or k not in DERIVED_FROM_DIGITS}
    digest = value.get("hash")
    if isinstance(digest, str) and digest:
        out["ref"] = reference_code(digest)
        out["masked"] = out["ref"]
    else:
        out.pop("masked", None)
    return out


def pseudonymize(value: Any, *, keep_readback: bool = False) -> Any:
    """A copy of a JSON document with every identity answer in its safe form."""
    if isinstance(value, dict):
        if is_identity(value):
            return safe_identity(value, keep_readback=keep_readback)
        return {k: pseudonymize(v, keep_readback=keep_readback) for k, v in value.items()}
    if isinstance(value, list):
        return [pseudonymize(v, keep_readback=keep_readback) for v in value]
    return value


# -- key rotation -------------------------------------------------------------------------


@dataclass
class RotationReport:
    assessments: int = 0
    drafts: int = 0
    sessions: int = 0
    numbers: int = 0
    unreadable: int = 0
    tables: dict[str, int] = field(default_factory=dict)


def _reseal(value: Any, cipher: IdentityCipher, hashes: dict[str, str],
            report: RotationReport) -> tuple[Any, bool]:
    """(document with every number re-sealed with the current key, changed?)."""
    if isinstance(value, dict):
        if is_identity(value):
            token = str(value["sealed"])
            if cipher.is_current(token):
                return value, False
            try:
                kind, digits = cipher.open_any(token)
            except CryptoError:
                report.unreadable += 1
                return value, False
            fresh = cipher.seal(kind, digits)
            if isinstance(value.get("hash"), str):
                hashes[value["hash"]] = fresh["hash"]
            report.numbers += 1
            out = {**value, **fresh}
            if "masked" in value:
                out["masked"] = fresh["ref"]
            return out, True
        changed = False
        result: dict[str, Any] = {}
        for key, item in value.items():
            result[key], moved = _reseal(item, cipher, hashes, report)
            changed = changed or moved
        return result, changed
    if isinstance(value, list):
        items = [_reseal(item, cipher, hashes, report) for item in value]
        return [i for i, _ in items], any(c for _, c in items)
    return value, False


async def rotate_keys(db: Database, cipher: IdentityCipher, now: Callable[[], datetime], *,
                      batch: int = 200, progress: Callable[[str, int], None] | None = None,
                      ) -> RotationReport:
    """Re-seal every stored NIK / No. KK, lookup hash and reference with the current key."""
    report = RotationReport()
    async with db.transaction() as tx:
        await tx.audit.add("system", "keys.rotation_started", now(),
                           details={"key": cipher.key_id})
    await _rotate_assessments(db, cipher, batch, report, progress)
    report.drafts = await _rotate_documents(db, cipher, AssessmentDraft, AssessmentDraft.id,
                                            "state", batch, report, progress, "drafts")
    report.sessions = await _rotate_documents(
        db, cipher, ConversationSession, ConversationSession.contact_id, "state", batch,
        report, progress, "sessions")
    async with db.transaction() as tx:
        await tx.audit.add("system", "keys.rotated", now(),
                           details={"key": cipher.key_id, "assessments": report.assessments,
                                    "drafts": report.drafts, "sessions": report.sessions,
                                    "numbers": report.numbers,
                                    "unreadable": report.unreadable})
    return report


async def _rotate_assessments(db: Database, cipher: IdentityCipher, batch: int,
                              report: RotationReport,
                              progress: Callable[[str, int], None] | None) -> None:
    last = 0
    while True:
        async with db.transaction() as tx:
            rows = (await tx.session.execute(
                select(Assessment).where(Assessment.id > last).order_by(Assessment.id)
                .limit(batch).with_for_update())).scalars().all()
            if not rows:
                return
            for row in rows:
                last = row.id
                hashes: dict[str, str] = {}
                changed = False
                for column in ("nik", "kk"):
                    token = getattr(row, f"{column}_sealed")
                    if cipher.is_current(token):
                        continue
                    try:
                        digits = cipher.decrypt(column, token)
                    except CryptoError:
                        report.unreadable += 1
                        continue
                    fresh = cipher.seal(column, digits)
                    hashes[getattr(row, f"{column}_hash")] = fresh["hash"]
                    setattr(row, f"{column}_sealed", fresh["sealed"])
                    setattr(row, f"{column}_hash", fresh["hash"])
                    setattr(row, f"{column}_masked", fresh["ref"])
                    report.numbers += 1
                    changed = True
                answers, moved = _reseal(row.answers, cipher, hashes, report)
                if moved:
                    row.answers = answers
                if changed or moved:
                    report.assessments += 1
                for old, new in hashes.items():
                    await tx.session.execute(
                        update(AssessmentIdentity)
                        .where(AssessmentIdentity.assessment_id == row.id,
                               AssessmentIdentity.hash == old)
                        .values(hash=new))
        if progress is not None:
            progress("assessments", last)


async def _rotate_documents(db: Database, cipher: IdentityCipher, model: Any, key: Any,
                            attribute: str, batch: int, report: RotationReport,
                            progress: Callable[[str, int], None] | None, name: str) -> int:
    last, changed = 0, 0
    while True:
        async with db.transaction() as tx:
            rows = (await tx.session.execute(
                select(model).where(key > last).order_by(key).limit(batch)
                .with_for_update())).scalars().all()
            if not rows:
                return changed
            for row in rows:
                last = getattr(row, key.key)
                document, moved = _reseal(getattr(row, attribute), cipher, {}, report)
                if moved:
                    setattr(row, attribute, document)
                    changed += 1
        if progress is not None:
            progress(name, last)
