"""The dashboard's broadcast composer: the audiences it offers (every one the chat's
``/siaran`` offers, plus those who answered an activity and those who reported a kind of
problem) and the one-time tokens that make a double click on "send" send once.

A token is issued with each preview and signed for the session that saw it; sending
claims it in the same transaction that writes the broadcast (a row of the inbound-dedupe
table, whose key makes the second claim fail on every database), so a repeated post —
a double click, a reload, a second tab — finds it taken and sends nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from conversations.activity import COMING
from conversations.complaint import WATER_CATEGORIES
from conversations.places import KELURAHAN

# (form value, label key) in the order the select shows them.
AUDIENCES: tuple[tuple[str, str], ...] = (
    ("all", "dash.broadcasts.audience_all"),
    ("kelurahan", "dash.broadcasts.audience_kelurahan"),
    ("rw", "dash.broadcasts.audience_rw"),
    ("rt", "dash.broadcasts.audience_rt"),
    ("volunteers", "dash.broadcasts.audience_volunteers"),
    ("volunteer_type", "dash.broadcasts.audience_volunteer_type"),
    ("rsvp", "dash.broadcasts.audience_rsvp"),
    ("reporters", "dash.broadcasts.audience_reporters"),
)
VOLUNTEER_TYPES = ("tagana", "pkh", "pelopor", "karang_taruna")
CATEGORIES = tuple(option.value for option in WATER_CATEGORIES)
# The fields a composed audience is made of (kept as hidden fields of the preview).
FIELDS = ("audience", "kelurahan", "rw", "rt", "volunteer_type", "activity", "category")
TOKEN_SECONDS = 24 * 3600
TOKEN_CHANNEL = "dashboard"
NONCE_BYTES, MAC_BYTES = 16, 16
_ALPHABET = "abcdefghijklmnop"
_NUMBER = re.compile(r"^\s*0*(\d{1,3})\s*$")


@dataclass(frozen=True)
class ActivityChoice:
    id: int
    label: str


@dataclass
class Composed:
    """What a posted composer form says; ``error`` is a catalog key with its params."""

    fields: dict[str, str]
    audience: dict[str, Any] | None = None
    error: tuple[str, dict[str, Any]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def read_audience(form: Mapping[str, Any],
                  activities: Sequence[ActivityChoice]) -> Composed:
    """The stored audience a composer form describes, or which field is wrong."""
    fields = {name: str(form.get(name) or "").strip()[:40] for name in FIELDS}
    kind = fields["audience"]
    composed = Composed(fields)
    if kind not in dict(AUDIENCES):
        composed.fields["audience"] = "all"
        composed.error = ("dash.broadcasts.bad_audience", {})
        return composed
    if kind in ("all", "volunteers"):
        composed.audience = {"type": kind}
    elif kind == "volunteer_type":
        if fields["volunteer_type"] not in VOLUNTEER_TYPES:
            composed.error = ("dash.broadcasts.pick_volunteer_type", {})
        else:
            composed.audience = {"type": kind, "volunteer_type": fields["volunteer_type"]}
    elif kind in ("kelurahan", "rw", "rt"):
        place = next((k for k in KELURAHAN if k.code == fields["kelurahan"]), None)
        rw, rt = _number(fields["rw"]), _number(fields["rt"])
        if place is None:
            composed.error = ("dash.broadcasts.pick_kelurahan", {})
        elif kind != "kelurahan" and rw is None:
            composed.error = ("dash.broadcasts.bad_rw", {})
        elif kind == "rt" and rt is None:
            composed.error = ("dash.broadcasts.bad_rt", {})
        else:
            audience: dict[str, Any] = {"type": kind, "kelurahan_code": place.code,
                                        "kelurahan_name": place.name}
            if kind != "kelurahan":
                audience["rw"] = rw
            if kind == "rt":
                audience["rt"] = rt
            composed.audience = audience
    elif kind == "rsvp":
        chosen = next((a for a in activities if str(a.id) == fields["activity"]), None)
        if chosen is None:
            composed.error = ("dash.broadcasts.pick_activity", {})
        else:
            composed.audience = {"type": "rsvp", "activity_id": chosen.id,
                                 "answers": list(COMING), "activity_title": chosen.label}
    elif fields["category"] not in CATEGORIES:
        composed.error = ("dash.broadcasts.pick_category", {})
    else:
        composed.audience = {"type": "reporters", "category": fields["category"]}
    return composed


def _number(text: str) -> str | None:
    """RT/RW as stored: "3", "03", "003" → "003"; 0 and non-numbers refused."""
    match = _NUMBER.match(text)
    if match is None or int(match.group(1)) == 0:
        return None
    return f"{int(match.group(1)):03d}"


# -- one-time tokens ------------------------------------------------------------------------


def issue_token(key: bytes, binding: str, *, now: float | None = None) -> str:
    """A fresh token for one preview, for this session only."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    issued = int(time.time() if now is None else now).to_bytes(8, "big")
    return _letters(nonce + issued + _mac(key, binding, nonce + issued))


def token_nonce(key: bytes, binding: str | None, token: object, *,
                now: float | None = None) -> str | None:
    """The nonce of a valid, unexpired token of this session (None otherwise)."""
    if not binding or not isinstance(token, str):
        return None
    raw = _unletters(token)
    if raw is None or len(raw) != NONCE_BYTES + 8 + MAC_BYTES:
        return None
    signed, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(key, binding, signed)):
        return None
    age = (time.time() if now is None else now) - int.from_bytes(signed[NONCE_BYTES:], "big")
    if not 0 <= age <= TOKEN_SECONDS:
        return None
    return signed[:NONCE_BYTES].hex()


def claim_id(nonce: str) -> str:
    """The dedupe row that marks a token used."""
    return f"broadcast-form:{nonce}"


def _mac(key: bytes, binding: str, signed: bytes) -> bytes:
    message = b"broadcast-form|" + binding.encode() + b"|" + signed
    return hmac.new(key, message, hashlib.sha256).digest()[:MAC_BYTES]


def _letters(data: bytes) -> str:
    """Bytes as letters only: the pages mask long runs of digits as identity numbers."""
    return "".join(_ALPHABET[b >> 4] + _ALPHABET[b & 15] for b in data)


def _unletters(text: str) -> bytes | None:
    if len(text) % 2 or len(text) > 200 or not all(ch in _ALPHABET for ch in text):
        return None
    pairs = zip(text[::2], text[1::2], strict=True)
    return bytes(_ALPHABET.index(a) << 4 | _ALPHABET.index(b) for a, b in pairs)
