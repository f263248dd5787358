"""The shorter household assessment: checks that save prompts or protect the register
match without blocking the volunteer."""

from __future__ import annotations

import pytest

from storage.db import Database
from tests.harness import Button
from tests.test_assessment_transcripts import (
    HEAD_MEMBER,
    HEAD_NIK,
    START,
    WIFE_NIK,
    R,
    assessments,
    by,
    team_with_volunteer,
)

pytestmark = [pytest.mark.e2e]


async def test_the_same_nik_twice_in_one_household_is_warned_and_asked_again(
        db: Database) -> None:
    team = await team_with_volunteer(db)
    await team.run([*START, *HEAD_MEMBER, (R, Button("anggota:__add")), (R, "Siti Aminah")])
    shown = await team.run(by(R, HEAD_NIK))
    assert "sudah dicatat untuk *Budi Santoso*" in shown
    assert "Sudah benar?" not in shown  # not read back as if it were hers
    assert "NIK Siti Aminah?" in shown  # asked again
    shown = await team.run(by(R, WIFE_NIK))
    assert "sudah dicatat" not in shown and "perempuan" in shown
    assert await assessments(db) == []
