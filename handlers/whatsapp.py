"""WhatsApp Cloud API channel: webhook payloads → ``Inbound``, ``Outbound`` → Graph API
requests, Graph API errors → typed ``SendError``s.

Everything WhatsApp-specific lives here (limits, error codes, the 24-hour window); the
wiring (routes, the shared HTTP session, the database) lives in ``bot/whatsapp.py``.
Reference: https://developers.facebook.com/docs/whatsapp/cloud-api
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import mimetypes
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from conversations.messages import (
    ChannelMisconfigured,
    ChannelUnavailable,
    Choice,
    Inbound,
    InboundKind,
    Location,
    Media,
    Outbound,
    OutsideServiceWindow,
    Pacing,
    PermanentFailure,
    RecipientBlocked,
    SendError,
    SendResult,
    Template,
    Throttled,
)

log = logging.getLogger(__name__)

CHANNEL = "whatsapp"
SIGNATURE_HEADER = "X-Hub-Signature-256"

# -- platform limits (characters; counted in UTF-16 units to be safe with emoji) ----------
TEXT_MAX = 4096
BODY_MAX = 1024  # body of interactive messages, and media captions
BUTTONS_MAX = 3
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
LIST_ROWS_MAX = 10
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
ROW_ID_MAX = 200
LIST_BUTTON_MAX = 20
# A template body, its own text included, is capped at 1024 characters; our approved
# template wraps the parameter in one short sentence, so leave it well over 100 spare.
TEMPLATE_PARAM_MAX = 900

# Uploaded media stay on WhatsApp's servers for 30 days.
UPLOAD_REUSE = timedelta(days=25)

SERVICE_WINDOW = timedelta(hours=24)
# A free-form message accepted just before the window closes can still be refused when
# it is delivered (131047, asynchronously); near the edge a template is the safe choice.
WINDOW_MARGIN = timedelta(minutes=15)

# 80 messages/s per number counts inbound too, so outbound keeps 20/s of headroom for the
# replies' own triggers. Pair limit (131056): about one message per 6 s per user, after a
# short burst — one turn is one message, so 3 covers a quick exchange of button taps.
PACING = Pacing(rate=60.0, per_recipient_interval=6.0, burst=3)

LIST_BUTTON_LABEL = {"id": "Pilih", "en": "Choose"}

# -- error codes (https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes)
WINDOW_CLOSED = 131047
PAIR_RATE_LIMIT = 131056
PAIR_RATE_WAIT = PACING.per_recipient_interval
# Throughput / app rate limits: back off (exponentially, in the outbox) and retry.
THROTTLED_CODES = frozenset({4, 80007, 130429, 131048})
# Meta-side trouble: retry with backoff.
TRANSIENT_CODES = frozenset({1, 2, 131000, 131016})
# Token, permissions, phone number or template set-up: an operator must act.
MISCONFIGURED_CODES = frozenset({3, 10, 190, 200, 131005, 131031, 132001, 132015, 132016,
                                 133010})
# The person cannot be reached (not on WhatsApp, old app, terms not accepted): no retries.
UNREACHABLE_CODES = frozenset({131026})

_BSUID = re.compile(r"^[A-Z]{2}\.[A-Za-z0-9.]+$")
_JOINERS = "\u200d\ufe0e\ufe0f"
_TRAILING = " \t\n/-–—,;:.·|&+(["


class PayloadError(ValueError):
    """A webhook body that is not a WhatsApp payload at all (answer 400)."""


@dataclass(frozen=True, slots=True)
class PlatformError:
    """An ``errors[]`` item; title only, never ``error_data`` (may quote user content)."""

    code: int | None
    title: str

    def describe(self) -> str:
        return f"{self.code}: {self.title}" if self.title else str(self.code)


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A delivery receipt for one of our messages."""

    message_id: str
    status: str  # sent | delivered | read | failed
    recipient: str | None = None
    errors: tuple[PlatformError, ...] = ()
    timestamp: datetime | None = None

    @property
    def window_closed(self) -> bool:
        return self.status == "failed" and any(e.code == WINDOW_CLOSED for e in self.errors)

    @property
    def unreachable(self) -> bool:
        return self.status == "failed" and any(e.code in UNREACHABLE_CODES for e in self.errors)


@dataclass(frozen=True, slots=True)
class NumberChange:
    """A ``user_changed_number`` system notice: the person now writes from ``new``."""

    message_id: str
    old: str
    new: str


@dataclass
class Batch:
    """What one webhook delivery carried."""

    messages: list[Inbound] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    number_changes: list[NumberChange] = field(default_factory=list)
    errors: list[PlatformError] = field(default_factory=list)
    # Items with nothing for us: system notices, removed reactions, other numbers' events.
    ignored: list[str] = field(default_factory=list)


# -- webhook: signature and parsing --------------------------------------------------------


def verify_signature(app_secret: str, body: bytes, header: str) -> bool:
    """``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>``."""
    scheme, _, received = header.strip().partition("=")
    if scheme.lower() != "sha256" or not received:
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), received.strip().lower().encode())


def sign(app_secret: str, body: bytes) -> str:
    """The header value Meta would send for ``body`` (tests, bench)."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def parse(payload: Any, *, phone_number_id: str | None = None) -> Batch:
    """Decode a webhook body: every ``entry[]`` and ``changes[]``.

    Changes for another phone number of the same business account are ignored: a reply
    from our number to them would be wrong.
    """
    if not isinstance(payload, dict):
        raise PayloadError("webhook body is not a JSON object")
    batch = Batch()
    if payload.get("object") != "whatsapp_business_account":
        batch.ignored.append(f"object {str(payload.get('object'))[:40]}")
        return batch
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise PayloadError("webhook body has no entry list")
    for entry in _dicts(entries):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if change.get("field") != "messages" or not isinstance(value, dict):
                batch.ignored.append(f"field {str(change.get('field'))[:40]}")
                continue
            ours = _str(_dict(value.get("metadata")).get("phone_number_id"))
            if phone_number_id and ours and ours != phone_number_id:
                batch.ignored.append("another phone number")
                continue
            _parse_value(value, batch)
    return batch


def _parse_value(value: dict[str, Any], batch: Batch) -> None:
    batch.errors.extend(_errors(value.get("errors")))
    contacts = list(_dicts(value.get("contacts")))
    for msg in _dicts(value.get("messages")):
        batch.errors.extend(_errors(msg.get("errors")))
        change = _number_change(msg)
        if change is not None:
            batch.number_changes.append(change)
            continue
        inbound = _message(msg, contacts)
        if isinstance(inbound, Inbound):
            batch.messages.append(inbound)
        else:
            batch.ignored.append(inbound)
    for status in _dicts(value.get("statuses")):
        update = _status(status)
        if isinstance(update, StatusUpdate):
            batch.statuses.append(update)
        else:
            batch.ignored.append(update)


def _message(msg: dict[str, Any], contacts: list[dict[str, Any]]) -> Inbound | str:
    """One ``messages[]`` item → Inbound, or the reason it carries nothing for us."""
    message_id = _str(msg.get("id"))
    wa_id = _str(msg.get("from"))
    contact = _contact_for(msg, contacts)
    # Users with a username may have no phone number: the BSUID identifies them.
    bsuid = _str(msg.get("from_user_id")) or _str(contact.get("user_id"))
    wa_id = wa_id or _str(contact.get("wa_id"))
    user_id = bsuid or wa_id
    if not message_id or not user_id:
        return "message without id or sender"
    kind = _str(msg.get("type")) or "unknown"
    if kind == "system":
        return "system notice"
    if msg.get("group_id"):
        # Answering a group member privately would surprise them.
        return "group message"
    name = _str(_dict(contact.get("profile")).get("name"))
    base: dict[str, Any] = {
        "channel": CHANNEL,
        "user_id": user_id,
        "message_id": message_id,
        "contact_name": name[:200] if name else None,
        "timestamp": _timestamp(msg.get("timestamp")),
        "alt_user_id": wa_id if wa_id and wa_id != user_id else None,
    }
    body = _dict(msg.get(kind))
    if kind == "text":
        return Inbound(kind=InboundKind.TEXT, text=_str(body.get("body")) or "", **base)
    if kind == "request_welcome":
        # The person opened the chat for the first time: no text means "greet them".
        return Inbound(kind=InboundKind.TEXT, text=None, **base)
    if kind == "interactive":
        reply = _dict(body.get(_str(body.get("type")) or ""))
        choice_id = _str(reply.get("id"))
        if body.get("type") in ("button_reply", "list_reply") and choice_id:
            return Inbound(kind=InboundKind.CHOICE, choice_id=choice_id[:ROW_ID_MAX],
                           text=_str(reply.get("title")), **base)
        return Inbound(kind=InboundKind.UNSUPPORTED, unsupported="other", **base)
    if kind == "button":
        # A template's quick-reply button: its payload is ours; without one, its text is.
        payload = _str(body.get("payload"))
        if payload:
            return Inbound(kind=InboundKind.CHOICE, choice_id=payload[:ROW_ID_MAX],
                           text=_str(body.get("text")), **base)
        return Inbound(kind=InboundKind.TEXT, text=_str(body.get("text")) or "", **base)
    if kind == "location":
        location = _location(body)
        if location is None:
            return Inbound(kind=InboundKind.UNSUPPORTED, unsupported="other", **base)
        return Inbound(kind=InboundKind.LOCATION, location=location, **base)
    media_id = _str(body.get("id"))
    if kind == "image" and media_id:
        media = Media(kind="photo", ref=media_id, mime_type=_str(body.get("mime_type")),
                      sha256=_str(body.get("sha256")), caption=_str(body.get("caption")))
        return Inbound(kind=InboundKind.MEDIA, media=media, **base)
    if kind == "contacts":
        # Only the sender's own card answers "your phone number"; we do not keep other
        # people's numbers (UU PDP).
        phone = _own_phone(msg.get("contacts"), wa_id)
        if phone:
            return Inbound(kind=InboundKind.CONTACT, phone=phone, **base)
        return Inbound(kind=InboundKind.UNSUPPORTED, unsupported="contact", **base)
    if kind == "reaction":
        if not _str(body.get("emoji")):
            return "reaction removed"
        return Inbound(kind=InboundKind.UNSUPPORTED, unsupported="reaction", **base)
    if kind == "audio":
        what = "voice" if body.get("voice") else "audio"
        return Inbound(kind=InboundKind.UNSUPPORTED, unsupported=what, **base)
    if kind in ("video", "document", "sticker"):
        return Inbound(kind=InboundKind.UNSUPPORTED, unsupported=kind, **base)
    # order, unsupported, interactive without content, anything new: a polite answer.
    return Inbound(kind=InboundKind.UNSUPPORTED, unsupported="other", **base)


def _number_change(msg: dict[str, Any]) -> NumberChange | None:
    if msg.get("type") != "system":
        return None
    system = _dict(msg.get("system"))
    if system.get("type") != "user_changed_number":
        return None
    message_id, old, new = _str(msg.get("id")), _str(msg.get("from")), _str(system.get("wa_id"))
    if not message_id or not old or not new or old == new:
        return None
    return NumberChange(message_id=message_id, old=old, new=new)


def _contact_for(msg: dict[str, Any], contacts: list[dict[str, Any]]) -> dict[str, Any]:
    wa_id, bsuid = _str(msg.get("from")), _str(msg.get("from_user_id"))
    for contact in contacts:
        if (wa_id and contact.get("wa_id") == wa_id) or (
            bsuid and contact.get("user_id") == bsuid
        ):
            return contact
    return contacts[0] if len(contacts) == 1 else {}


def _status(item: dict[str, Any]) -> StatusUpdate | str:
    message_id, status = _str(item.get("id")), _str(item.get("status"))
    if not message_id or status not in ("sent", "delivered", "read", "failed"):
        return f"status {str(status)[:20]}"
    return StatusUpdate(
        message_id=message_id,
        status=status,
        recipient=_str(item.get("recipient_user_id")) or _str(item.get("recipient_id")),
        errors=tuple(_errors(item.get("errors"))),
        timestamp=_timestamp(item.get("timestamp")),
    )


def _location(body: dict[str, Any]) -> Location | None:
    lat, lon = body.get("latitude"), body.get("longitude")
    if isinstance(lat, bool) or isinstance(lon, bool):
        return None
    try:
        latitude, longitude = float(lat), float(lon)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):  # a 400-digit number is no coordinate
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    name, address = _str(body.get("name")), _str(body.get("address"))
    return Location(latitude, longitude, name[:200] if name else None,
                    address[:300] if address else None)


def _own_phone(cards: Any, wa_id: str | None) -> str | None:
    for card in _dicts(cards):
        for phone in _dicts(card.get("phones")):
            number = _str(phone.get("phone")) or _str(phone.get("wa_id"))
            if wa_id and phone.get("wa_id") == wa_id and number:
                return number[:32]
    return None


def _errors(items: Any) -> list[PlatformError]:
    out = []
    for item in _dicts(items):
        code = item.get("code")
        out.append(PlatformError(code if isinstance(code, int) else None,
                                 (_str(item.get("title")) or "")[:120]))
    return out


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# -- text fitting ---------------------------------------------------------------------------


def units(text: str) -> int:
    """Length as WhatsApp may count it: UTF-16 code units (an emoji can be two)."""
    return len(text.encode("utf-16-le")) // 2


def _cut(text: str, limit: int) -> str:
    """The longest prefix within ``limit`` units, never ending inside an emoji sequence."""
    if units(text) <= limit:
        return text
    out, used = [], 0
    for ch in text:
        size = 2 if ord(ch) > 0xFFFF else 1
        if used + size > limit:
            break
        out.append(ch)
        used += size
    cut = "".join(out)
    while cut and cut[-1] in _JOINERS:
        cut = cut[:-1]
    return cut


def one_line(text: str) -> str:
    """Titles and template parameters: one line, no *bold* markers (shown literally there)."""
    return " ".join(text.replace("*", "").split())


def shorten(text: str, limit: int) -> str:
    """One line within ``limit``: cut at a word boundary when one is near, mark with '…'."""
    line = one_line(text)
    if units(line) <= limit:
        return line
    head = _cut(line, limit - 1)
    space = head.rfind(" ")
    if space >= len(head) * 0.6:
        head = head[:space]
    head = head.rstrip(_TRAILING) or _cut(line, limit - 1)
    return head + "…"


def unique_titles(labels: Sequence[str], limit: int) -> list[str]:
    """Shortened titles that stay distinct (WhatsApp rejects duplicate button titles)."""
    titles: list[str] = []
    seen: set[str] = set()
    for number, label in enumerate(labels, start=1):
        title = shorten(label, limit) or str(number)
        n = 2
        while title.casefold() in seen:
            suffix = f" ({n})"
            title = shorten(label, limit - units(suffix)) + suffix
            n += 1
        seen.add(title.casefold())
        titles.append(title)
    return titles


def split_text(text: str, limit: int) -> list[str]:
    """Pieces within ``limit``, split at paragraphs, then lines, then words."""
    rest = text.strip()
    parts: list[str] = []
    while units(rest) > limit:
        head = _cut(rest, limit)
        for sep in ("\n\n", "\n", " "):
            at = head.rfind(sep)
            if at > len(head) // 3:
                head = head[:at]
                break
        parts.append(head.rstrip())
        rest = rest[len(head):].strip()
    parts.append(rest)
    return [p for p in parts if p] or [""]


def split_tail(text: str, tail_limit: int, head_limit: int = TEXT_MAX) -> tuple[list[str], str]:
    """Leading text messages, and a last piece within ``tail_limit`` that keeps the question
    (interactive bodies hold 1024 characters, a summary can be longer)."""
    text = text.strip()
    if units(text) <= tail_limit:
        return [], text
    # Where the longest tail that fits begins; then the first break at or after it.
    start = len(text) - len(_cut(text[::-1], tail_limit))
    for sep in ("\n\n", "\n", " "):
        at = text.find(sep, start)
        if at != -1 and text[at:].strip():
            return split_text(text[:at], head_limit), text[at:].strip()
    return split_text(text[:start], head_limit), text[start:].strip()


def template_param(text: str, limit: int = TEMPLATE_PARAM_MAX) -> str:
    """Template parameters may not hold newlines, tabs or runs of spaces: one line."""
    return shorten(text, limit) or "-"


# -- rendering Outbound → Graph API request bodies ---------------------------------------


def window_open(message: Outbound, now: datetime) -> bool:
    """Free-form allowed: the person wrote to us less than 24 hours ago (margin kept)."""
    if message.extra.get("window_closed"):
        return False
    last = message.extra.get("last_inbound_at")
    if not isinstance(last, str):
        return False
    try:
        at = datetime.fromisoformat(last)
    except ValueError:
        return False
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return now - at < SERVICE_WINDOW - WINDOW_MARGIN


def uses_template(message: Outbound, now: datetime) -> bool:
    """Bulk always goes as the approved template; anything else only outside the window."""
    return bool(message.extra.get("bulk")) or not window_open(message, now)


def recipient(message: Outbound) -> dict[str, str]:
    """Send to the phone number when we know it (Meta's advice), else to the BSUID."""
    alt = message.extra.get("alt_user_id")
    if isinstance(alt, str) and alt.isdigit():
        return {"to": alt}
    if _BSUID.match(message.user_id):
        return {"recipient": message.user_id}
    return {"to": message.user_id}


def render(message: Outbound, *, now: datetime, template: Template) -> list[dict[str, Any]]:
    """Graph API ``/messages`` bodies for one Outbound, in the order they must go."""
    head = {"messaging_product": "whatsapp", "recipient_type": "individual",
            **recipient(message)}
    if uses_template(message, now):
        bodies = [render_template(message, template)]
    else:
        bodies = render_free_form(message)
    return [{**head, **body} for body in bodies]


def render_template(message: Outbound, default: Template) -> dict[str, Any]:
    """The approved template; the message text (and its options) as its one parameter."""
    if message.template is not None:
        template = message.template
        params = [template_param(p) for p in template.params]
    else:
        template = default
        text = message.text
        if len(message.choices) >= 2:
            # Typed numbers still work: the dispatcher maps "2" to the second option.
            text += " — " + " · ".join(f"{n}. {c.label}" for n, c in message.numbered())
        params = [template_param(text)]
    body: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if params:
        body["components"] = [
            {"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}
        ]
    return {"type": "template", "template": body}


def render_free_form(message: Outbound) -> list[dict[str, Any]]:
    choices = message.choices
    text = message.text or ""
    if message.media is not None and message.media.kind == "photo" and message.media.ref:
        # The photo first; it carries the text as caption only when nothing else is
        # needed (an image has no buttons), otherwise the text follows as usual.
        image: dict[str, Any] = {"id": message.media.ref}
        if choices or message.request_location or units(text.strip()) > BODY_MAX:
            return [{"type": "image", "image": image},
                    *render_free_form(replace(message, media=None))]
        if text.strip():
            image["caption"] = text.strip()
        return [{"type": "image", "image": image}]
    if message.request_location:
        # A location request carries no buttons; two or more options become numbers, a
        # lone option (skip) is already spelled out in the prompt text.
        if len(choices) >= 2:
            text = _numbered(text, message)
        return _with_body(text, lambda body: {
            "type": "interactive",
            "interactive": {"type": "location_request_message", "body": {"text": body},
                            "action": {"name": "send_location"}},
        })
    if not choices:
        return [{"type": "text", "text": {"body": part, "preview_url": False}}
                for part in split_text(text, TEXT_MAX)]
    # Buttons only when every label fits whole; otherwise a list shows the full label.
    if len(choices) <= BUTTONS_MAX and all(
        0 < units(one_line(c.label)) <= BUTTON_TITLE_MAX for c in choices
    ):
        return _with_body(text, lambda body: _buttons(body, choices))
    if len(choices) <= LIST_ROWS_MAX:
        lang = str(message.extra.get("lang") or "id")
        label = message.button_label or LIST_BUTTON_LABEL.get(lang, LIST_BUTTON_LABEL["id"])
        return _with_body(text, lambda body: _list(body, choices, label))
    return [{"type": "text", "text": {"body": part, "preview_url": False}}
            for part in split_text(_numbered(text, message), TEXT_MAX)]


def _with_body(text: str, build: Callable[[str], dict[str, Any]]) -> list[dict[str, Any]]:
    head, tail = split_tail(text, BODY_MAX)
    out: list[dict[str, Any]] = [
        {"type": "text", "text": {"body": part, "preview_url": False}} for part in head
    ]
    out.append(build(tail or "…"))
    return out


def _buttons(body: str, choices: Sequence[Choice]) -> dict[str, Any]:
    titles = unique_titles([c.label for c in choices], BUTTON_TITLE_MAX)
    return {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": body},
            "action": {"buttons": [
                {"type": "reply", "reply": {"id": c.id[:BUTTON_ID_MAX], "title": title}}
                for c, title in zip(choices, titles, strict=True)
            ]},
        },
    }


def _list(body: str, choices: Sequence[Choice], button: str) -> dict[str, Any]:
    titles = unique_titles([c.label for c in choices], ROW_TITLE_MAX)
    rows = []
    for choice, title in zip(choices, titles, strict=True):
        row: dict[str, Any] = {"id": choice.id[:ROW_ID_MAX], "title": title}
        # A label cut short is shown whole underneath, so nothing is lost.
        full = one_line(choice.label)
        description = choice.description or (full if title != full else None)
        if description:
            row["description"] = shorten(description, ROW_DESCRIPTION_MAX)
        rows.append(row)
    return {
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": body},
            "action": {"button": shorten(button, LIST_BUTTON_MAX) or "Pilih",
                       "sections": [{"rows": rows}]},
        },
    }


def _numbered(text: str, message: Outbound) -> str:
    lines = [f"{n}. {c.label}" for n, c in message.numbered()]
    return f"{text}\n\n" + "\n".join(lines) if text else "\n".join(lines)


# -- errors -----------------------------------------------------------------------------------


def send_error(status: int, body: Any, *, template: bool = False,
               retry_after: float | None = None) -> SendError:
    """Map a Graph API error response to the outbox's typed errors."""
    error = _dict(_dict(body).get("error"))
    code = error.get("code") if isinstance(error.get("code"), int) else None
    detail = f"HTTP {status} code {code}: {(_str(error.get('message')) or '')[:120]}"
    if code in THROTTLED_CODES:
        return Throttled(detail, retry_after)  # None: the outbox backs off exponentially
    if code == PAIR_RATE_LIMIT:
        return Throttled(detail, retry_after or PAIR_RATE_WAIT)
    if code == WINDOW_CLOSED:
        # A template is never refused for the window; do not loop on one.
        return PermanentFailure(detail) if template else OutsideServiceWindow(detail)
    if code in UNREACHABLE_CODES:
        return RecipientBlocked(detail)
    if code in MISCONFIGURED_CODES or (code is None and status in (401, 403)):
        log.error("WhatsApp channel misconfigured (%s): check WHATSAPP_ACCESS_TOKEN, "
                  "WHATSAPP_PHONE_NUMBER_ID and the template settings", detail)
        return ChannelMisconfigured(detail)
    if code in TRANSIENT_CODES or status >= 500:
        return ChannelUnavailable(detail, retry_after)
    if status == 429:
        return Throttled(detail, retry_after)
    return PermanentFailure(detail)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    try:
        value = float(headers.get("Retry-After", ""))
    except ValueError:
        return None
    return value if 0 < value <= 3600 else None


def _sha256_matches(expected: str, digest: bytes) -> bool:
    """The webhook gives base64; the media endpoint has been seen giving hex."""
    value = expected.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", value):
        return hmac.compare_digest(value.lower(), digest.hex())
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(raw, digest)


async def _json(resp: aiohttp.ClientResponse) -> Any:
    """The response's JSON, or None (error pages from proxies are HTML)."""
    try:
        return await resp.json(content_type=None)
    except ValueError:
        return None


class MediaRejected(Exception):
    """A downloaded file that we will not keep (too big, wrong hash)."""


# -- the channel ------------------------------------------------------------------------------


class WhatsAppChannel:
    """Sends through one shared ``aiohttp.ClientSession`` to ``{api_url}``."""

    name = CHANNEL

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_url: str,
        phone_number_id: str,
        access_token: str,
        template: Template,
        clock: Callable[[], datetime],
        max_media_bytes: int = 10 * 1024 * 1024,
        media_attempts: int = 3,
        media_backoff: float = 1.0,
        pacing: Pacing = PACING,
    ) -> None:
        self.session = session
        self.pacing = pacing
        self.api_url = api_url.rstrip("/")
        self.messages_url = f"{self.api_url}/{phone_number_id}/messages"
        self.media_url = f"{self.api_url}/{phone_number_id}/media"
        # Uploaded photos by (path, mtime, size): a broadcast uploads its picture once.
        self._uploads: dict[tuple[str, int, int], tuple[str, datetime]] = {}
        self._auth = {"Authorization": f"Bearer {access_token}"}
        self.template = template
        self.clock = clock
        self.max_media_bytes = max_media_bytes
        self.media_attempts = max(1, media_attempts)
        self.media_backoff = media_backoff
        # Whose limits these are: every replica sending from this number shares them.
        self.limit_scope = f"{CHANNEL}:{phone_number_id}"

    def cost(self, message: Outbound) -> int:
        """How many messages Meta will count for this one (a long text is split)."""
        try:
            return max(1, len(render(message, now=self.clock(), template=self.template)))
        except (SendError, ValueError):
            return 1

    def parse(self, raw: Any) -> list[Inbound]:
        """The messages of a webhook delivery (its statuses: :func:`parse`)."""
        return parse(raw).messages

    async def send(self, message: Outbound) -> SendResult:
        """Send one Outbound (several requests when its text must be split)."""
        now = self.clock()
        if message.media_path and not uses_template(message, now):
            media_id = await self._upload(message.media_path)
            message = replace(message, media=Media(kind="photo", ref=media_id))
        bodies = render(message, now=now, template=self.template)
        provider_id: str | None = None
        for body in bodies:
            provider_id = await self._post(body, template=body.get("type") == "template")
        return SendResult(provider_message_id=provider_id)

    async def mark_read(self, message_id: str) -> None:
        """Blue ticks for the user; best effort, failures only logged."""
        body = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
        if self.session.closed:
            return
        try:
            async with self.session.post(self.messages_url, json=body,
                                         headers=self._auth) as resp:
                if resp.status >= 400:
                    log.info("WhatsApp mark-as-read refused (HTTP %s)", resp.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("WhatsApp mark-as-read failed: %s", type(exc).__name__)

    async def fetch_media(self, media: Media) -> bytes:
        """``GET {api}/{media_id}`` → short-lived URL → bytes, size-limited, sha256 checked.

        The URL expires five minutes after it is handed out, so a failed download asks
        for a fresh one; a few quick attempts stay well inside that.
        """
        for attempt in range(1, self.media_attempts + 1):
            try:
                return await self._fetch_media_once(media)
            except MediaRejected as exc:
                log.warning("WhatsApp media not kept: %s", exc)
                raise
            except ChannelUnavailable:
                if attempt == self.media_attempts:
                    raise
                await asyncio.sleep(self.media_backoff * 3 ** (attempt - 1))
        raise AssertionError("unreachable")

    async def _fetch_media_once(self, media: Media) -> bytes:
        self._check_open()
        try:
            info_url = f"{self.api_url}/{quote(media.ref, safe='')}"
            async with self.session.get(info_url, headers=self._auth) as resp:
                info = _dict(await _json(resp))
                if resp.status != 200:
                    raise send_error(resp.status, info)
            url = _str(info.get("url"))
            size = info.get("file_size")
            if url is None:
                raise MediaRejected("the media endpoint gave no url")
            if isinstance(size, int) and size > self.max_media_bytes:
                raise MediaRejected(f"too large ({size} bytes)")
            if not self._may_send_token(url):
                raise MediaRejected("url is neither https nor on the API host")
            async with self.session.get(url, headers=self._auth) as resp:
                if resp.status != 200:
                    raise ChannelUnavailable(f"media download HTTP {resp.status}")
                data = bytearray()
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    data += chunk
                    if len(data) > self.max_media_bytes:
                        raise MediaRejected("over the size limit")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ChannelUnavailable(type(exc).__name__) from exc
        digest = hashlib.sha256(data).digest()
        for expected in (media.sha256, _str(info.get("sha256"))):
            if expected and not _sha256_matches(expected, digest):
                raise MediaRejected("sha256 mismatch")
        return bytes(data)

    async def _upload(self, path: str) -> str:
        """Upload a photo once; its media id serves every later send of the same file."""
        try:
            stat = await asyncio.to_thread(os.stat, path)
            key = (path, stat.st_mtime_ns, stat.st_size)
            cached = self._uploads.get(key)
            if cached and self.clock() - cached[1] < UPLOAD_REUSE:
                return cached[0]
            data = await asyncio.to_thread(Path(path).read_bytes)
        except OSError as exc:
            raise PermanentFailure("photo file is missing") from exc
        self._check_open()
        mime = mimetypes.guess_type(path)[0] or "image/jpeg"
        form = aiohttp.FormData()
        form.add_field("messaging_product", "whatsapp")
        form.add_field("type", mime)
        form.add_field("file", data, filename=Path(path).name, content_type=mime)
        try:
            async with self.session.post(self.media_url, data=form, headers=self._auth) as resp:
                info = await _json(resp)
                if resp.status != 200:
                    raise send_error(resp.status, info, retry_after=_retry_after(resp.headers))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ChannelUnavailable(type(exc).__name__) from exc
        media_id = _str(_dict(info).get("id"))
        if media_id is None:
            raise ChannelUnavailable("media upload gave no id")
        if len(self._uploads) >= 256:
            self._uploads.pop(next(iter(self._uploads)))
        self._uploads[key] = (media_id, self.clock())
        return media_id

    def _check_open(self) -> None:
        # A send still waiting for its slot when the service stops: the row goes back to
        # the outbox instead of failing with aiohttp's RuntimeError.
        if self.session.closed:
            raise ChannelUnavailable("HTTP session closed (shutting down)")

    def _may_send_token(self, url: str) -> bool:
        parts, api = urlsplit(url), urlsplit(self.api_url)
        return parts.scheme == "https" or (parts.scheme, parts.netloc) == (api.scheme, api.netloc)

    async def _post(self, body: dict[str, Any], *, template: bool) -> str | None:
        self._check_open()
        try:
            async with self.session.post(self.messages_url, json=body, headers=self._auth) as resp:
                data = await _json(resp)
                if resp.status != 200:
                    raise send_error(resp.status, data, template=template,
                                     retry_after=_retry_after(resp.headers))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ChannelUnavailable(type(exc).__name__) from exc
        messages = _dicts(_dict(data).get("messages"))
        return _str(messages[0].get("id")) if messages else None
