"""Privacy: erased contacts, where a coordinator's role came from, and no digit of an
identity number left in stored text.

- ``contacts.erased_at``: the person's data was erased; their platform profile name is
  not stored again.
- ``contacts.role_source``: ``env`` when the coordinator role came from
  ``WARGA_COORDINATORS`` (taken away again when the entry is removed), else who gave it.
- Existing rows: the "first four, last four" masks of NIK / No. KK become keyed
  references (computed from the stored lookup hash: no key needed), the digits a
  read-back derived from the number are dropped from saved assessments, and 16-digit
  numbers typed into free text (complaints, notes, data requests) are hidden.

Revision ID: 0005_privacy
Revises: 0002_volunteers
Create Date: 2026-12-10
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005_privacy"
down_revision: str | Sequence[str] | None = "0002_volunteers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies (a migration must keep doing what it did when it was written): the
# reference code of storage.crypto and the ID mask of conversations.privacy.
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_PLACEHOLDER = "[nomor disembunyikan]"
_ID_IN_TEXT = re.compile(r"(?<!\d)\d(?:[\s.\-/_,\u00a0\u2010-\u2015]{0,3}\d){15,}(?!\d)")
_DERIVED = ("birth_date", "sex", "issued")


def _code(digest: str) -> str:
    try:
        value = int(digest[:20], 16)
    except ValueError:
        value = int(hashlib.sha256(digest.encode()).hexdigest()[:20], 16)
    letters = []
    for _ in range(8):
        value, index = divmod(value, len(_ALPHABET))
        letters.append(_ALPHABET[index])
    return "".join(letters)


def _is_identity(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("sealed"), str) and \
        value["sealed"].startswith(("v1.", "v2."))


def _safe(value: Any, keep_readback: bool) -> Any:
    if isinstance(value, dict):
        if _is_identity(value):
            out = {k: v for k, v in value.items() if keep_readback or k not in _DERIVED}
            if isinstance(value.get("hash"), str) and value["hash"]:
                out["ref"] = out["masked"] = _code(value["hash"])
            else:
                out.pop("masked", None)
            return out
        return {k: _safe(v, keep_readback) for k, v in value.items()}
    if isinstance(value, list):
        return [_safe(v, keep_readback) for v in value]
    if isinstance(value, str):
        return _ID_IN_TEXT.sub(_PLACEHOLDER, value)
    return value


def _mask(text: str | None) -> str | None:
    return _ID_IN_TEXT.sub(_PLACEHOLDER, text) if text else text


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("role_source", sa.String(length=16), nullable=True))
    bind = op.get_bind()

    assessments = sa.table("assessments", sa.column("id", sa.Integer),
                           sa.column("nik_hash", sa.String), sa.column("kk_hash", sa.String),
                           sa.column("nik_masked", sa.String),
                           sa.column("kk_masked", sa.String), sa.column("answers", sa.JSON))
    for row in bind.execute(sa.select(assessments)).all():
        bind.execute(assessments.update().where(assessments.c.id == row.id).values(
            nik_masked=_code(row.nik_hash), kk_masked=_code(row.kk_hash),
            answers=_safe(row.answers, keep_readback=False)))

    for name, key in (("assessment_drafts", "id"), ("sessions", "contact_id")):
        table = sa.table(name, sa.column(key, sa.Integer), sa.column("state", sa.JSON))
        for row in bind.execute(sa.select(table)).all():
            state = _safe(row.state, keep_readback=True)
            if state != row.state:
                bind.execute(table.update().where(table.c[key] == row[0]).values(state=state))

    complaints = sa.table("complaints", sa.column("id", sa.Integer),
                          sa.column("description", sa.Text), sa.column("answers", sa.JSON))
    for row in bind.execute(sa.select(complaints)).all():
        description, answers = _mask(row.description), _safe(row.answers, keep_readback=False)
        if description != row.description or answers != row.answers:
            bind.execute(complaints.update().where(complaints.c.id == row.id).values(
                description=description, answers=answers))

    for name, column in (("complaint_status_history", "note"), ("data_requests", "details"),
                         ("data_requests", "note")):
        table = sa.table(name, sa.column("id", sa.Integer), sa.column(column, sa.Text))
        for row in bind.execute(sa.select(table).where(table.c[column].is_not(None))).all():
            masked = _mask(row[1])
            if masked != row[1]:
                bind.execute(table.update().where(table.c.id == row.id)
                             .values({column: masked}))


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("role_source")
        batch.drop_column("erased_at")
