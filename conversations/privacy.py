"""Identity numbers in what people type, and the form in which we show them (pure).

Two things live here, and nowhere else:

- ``mask_ids``: THE mask for free text. Every run of 16 digits (an NIK or a No. KK),
  however people group it — spaces (one or several), dots, dashes, slashes, underscores,
  commas, line breaks — becomes a placeholder that shows no digit. Keeping "the first four
  and the last four" is no mask: the middle six digits of an NIK are the birth date and
  sex, stored beside it anyway, so such a mask narrows a number to a handful of candidates.
- ``reference_label``: how a *keyed reference* is shown (``NIK #KQXM-PRTA``). The code is
  derived by ``storage.crypto`` from an HMAC under the service's secret key: the same
  number always gives the same reference, so coordinators can link records, while the
  reference reveals no digit and cannot be computed without the key.
"""

from __future__ import annotations

import re
from typing import Any

# Shown where a number was: no digit, understandable in a sentence ("NIK saya …").
ID_PLACEHOLDER = "[nomor disembunyikan]"

# Between two digits of one number: up to three of the separators people type.
_SEPARATORS = r"[\s.\-/_,\u00a0\u2010-\u2015]{0,3}"
# Sixteen digits or more (a longer run may be a number typed with a stray digit): all of it.
_ID_IN_TEXT = re.compile(rf"(?<!\d)\d(?:{_SEPARATORS}\d){{15,}}(?!\d)")

KIND_LABELS = {"nik": "NIK", "kk": "KK"}


def mask_ids(text: str) -> str:
    """'NIK saya 3172 0112-8500/0001' → 'NIK saya [nomor disembunyikan]'."""
    if not text:
        return text
    return _ID_IN_TEXT.sub(ID_PLACEHOLDER, text)


def has_id(text: str) -> bool:
    """Whether free text holds something ``mask_ids`` would hide."""
    return bool(text) and _ID_IN_TEXT.search(text) is not None


def reference_label(kind: str | None, code: str) -> str:
    """'NIK #KQXM-PRTA' for the reference code 'KQXMPRTA' (no kind: '#KQXM-PRTA')."""
    code = code.strip().upper()
    shown = f"#{code[:4]}-{code[4:]}" if len(code) > 4 else f"#{code}"
    label = KIND_LABELS.get(kind or "")
    return f"{label} {shown}" if label else shown


def identity_label(value: Any, kind: str | None = None) -> str | None:
    """The display form of a stored identity number: an answer ``{"ref": …}`` or a bare
    reference code. Anything else (an old digit mask, a stray value) shows as the
    placeholder, never as digits."""
    if isinstance(value, dict):
        value = value.get("ref")
    if not value:
        return None
    text = str(value)
    if any(ch.isdigit() for ch in text):
        return ID_PLACEHOLDER
    if text.startswith(tuple(f"{label} #" for label in KIND_LABELS.values())) or \
            text.startswith("#"):
        return text
    return reference_label(kind, text)
