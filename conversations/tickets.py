"""Ticket numbers: ``^[A-Z]{3}-[0-9A-Z]{5}$``, e.g. ``AIR-4K7QX``.

The code part avoids 0/O and 1/I so that a number read aloud over a phone or copied
from a cracked screen is still right.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
TICKET_RE = re.compile(r"^[A-Z]{3}-[0-9A-Z]{5}$")
_FIND_RE = re.compile(r"\b([A-Za-z]{3})([-\s]?)([0-9A-Za-z]{5})\b")

PREFIXES = {"air": "AIR", "keluhan": "ADU", "aspirasi": "ASP", "informasi": "INF"}


def new_ticket(report_type: str) -> str:
    prefix = PREFIXES.get(report_type, "ADU")
    return f"{prefix}-" + "".join(secrets.choice(ALPHABET) for _ in range(5))


def find_ticket(text: str) -> str | None:
    """A ticket number inside a message ('cek air-4k7qx' → 'AIR-4K7QX').

    Only codes that could have been issued count, and without the dash only with a digit
    in them: "air kecil" or "air sumur" is a report, not a ticket.
    """
    for match in _FIND_RE.finditer(text[:500]):
        prefix, dash, code = match.group(1).upper(), match.group(2), match.group(3).upper()
        if prefix not in PREFIXES.values() or any(ch not in ALPHABET for ch in code):
            continue
        if dash == "-" or any(ch.isdigit() for ch in code):
            return f"{prefix}-{code}"
    return None
