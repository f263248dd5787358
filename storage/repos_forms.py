"""Submissions of stand-alone forms. One instance per transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models_forms import FormSubmission

# A new reference is drawn again when it is taken (rare: 32^5 codes per prefix).
REF_ATTEMPTS = 5


class FormRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *, form_id: str, form_version: int, contact_id: int | None,
                  answers: dict[str, Any], now: datetime,
                  new_ref: Callable[[], str]) -> FormSubmission:
        for _ in range(REF_ATTEMPTS):
            ref = new_ref()
            taken = await self.session.scalar(
                select(FormSubmission.id).where(FormSubmission.ref == ref))
            if taken is None:
                break
        row = FormSubmission(ref=ref, form_id=form_id, form_version=form_version,
                             contact_id=contact_id, answers=answers, created_at=now)
        self.session.add(row)
        await self.session.flush()
        return row

    async def of_form(self, form_id: str, limit: int = 1000) -> Sequence[FormSubmission]:
        rows = await self.session.scalars(
            select(FormSubmission).where(FormSubmission.form_id == form_id)
            .order_by(FormSubmission.id).limit(limit))
        return rows.all()
