"""Identity numbers (NIK, No. KK) in free text: found and masked before anything keeps them."""

from __future__ import annotations

import re

# Sixteen digits, optionally grouped with spaces, dots or dashes: an NIK or No. KK.
_ID_IN_TEXT = re.compile(r"(?<!\d)(?:\d[ .\-]?){15}\d(?!\d)")


def mask_ids(text: str) -> str:
    """'NIK saya 3172 0112 8500 0001' → 'NIK saya 3172********0001'."""

    def _masked(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return digits[:4] + "*" * 8 + digits[-4:]

    return _ID_IN_TEXT.sub(_masked, text)
