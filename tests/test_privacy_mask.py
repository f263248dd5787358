"""The one ID mask and the display form of keyed references (conversations.privacy)."""

from __future__ import annotations

import pytest

from conversations.privacy import (
    ID_PLACEHOLDER,
    has_id,
    identity_label,
    mask_ids,
    reference_label,
)

NIK = "3172014501900001"

MASKED = [
    ("plain", f"NIK saya {NIK}"),
    ("spaces in fours", "NIK saya 3172 0145 0190 0001"),
    ("doubled spaces", "NIK saya 3172  0145  0190  0001"),
    ("dots", "3172.0145.0190.0001"),
    ("dashes", "3172-0145-0190-0001"),
    ("slashes", "3172/0145/0190/0001"),
    ("underscores", "3172_0145_0190_0001"),
    ("commas", "3172,0145,0190,0001"),
    ("newlines", "3172\n0145\n0190\n0001"),
    ("space dash space", "3172 - 0145 - 0190 - 0001"),
    ("mixed", "31.72-01 45/01_90,00 01"),
    ("irregular groups", "317 20145 019000 01"),
    ("non-breaking spaces", "3172\u00a00145\u00a00190\u00a00001"),
    ("a digit too many", "NIK 31720145019000012"),
    ("fullwidth digits", "３１７２０１４５０１９０００００１"),
    ("two numbers", f"NIK {NIK} KK 3172011505150007"),
    ("glued to words", f"nik{NIK}tolong"),
]


@pytest.mark.parametrize(("label", "text"), MASKED, ids=[m[0] for m in MASKED])
def test_every_way_people_write_a_number_is_hidden(label: str, text: str) -> None:
    masked = mask_ids(text)
    assert ID_PLACEHOLDER in masked
    assert not any(ch.isdigit() for ch in masked.replace("KK", "")), masked
    assert has_id(text)


KEPT = [
    ("phone", "hubungi 0812-3456-7890"),
    ("date and time", "sejak 12-03-2026 jam 07.00"),
    ("rt rw", "RT 005 RW 012 Kalibaru"),
    ("money", "Rp 1.500.000 per bulan"),
    ("fifteen digits", "317201450190000"),
    ("ticket", "AIR-4K7QX"),
]


@pytest.mark.parametrize(("label", "text"), KEPT, ids=[k[0] for k in KEPT])
def test_other_numbers_are_left_alone(label: str, text: str) -> None:
    assert mask_ids(text) == text
    assert not has_id(text)


def test_the_placeholder_reads_in_a_sentence_and_shows_no_digit() -> None:
    assert mask_ids(f"Air keruh, NIK {NIK}") == f"Air keruh, NIK {ID_PLACEHOLDER}"
    assert not any(ch.isdigit() for ch in ID_PLACEHOLDER)


def test_reference_label() -> None:
    assert reference_label("nik", "kqxmprta") == "NIK #KQXM-PRTA"
    assert reference_label("kk", "KQXMPRTA") == "KK #KQXM-PRTA"
    assert reference_label(None, "KQXMPRTA") == "#KQXM-PRTA"


def test_identity_label_never_shows_digits() -> None:
    assert identity_label({"ref": "KQXMPRTA", "sealed": "v2…"}, "nik") == "NIK #KQXM-PRTA"
    assert identity_label("KQXMPRTA", "kk") == "KK #KQXM-PRTA"
    assert identity_label("NIK #KQXM-PRTA") == "NIK #KQXM-PRTA"
    # An old "first four, last four" mask is not shown as it was.
    assert identity_label("3172********0001") == ID_PLACEHOLDER
    assert identity_label({"masked": "3172********0001"}) is None
    assert identity_label(None) is None
