"""Channel-neutral message types: what a channel hands in, and what it is asked to send.

Channels (``handlers/``) import only this module of ``conversations``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class InboundKind(StrEnum):
    """What an inbound message carries."""

    TEXT = "text"
    CHOICE = "choice"
    LOCATION = "location"
    MEDIA = "media"
    CONTACT = "contact"
    # Voice notes, stickers, documents, group messages: something we cannot use.
    UNSUPPORTED = "unsupported"
    # The user blocked or unblocked the bot (Telegram my_chat_member).
    STOPPED = "stopped"
    RESUMED = "resumed"


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "latitude": self.latitude,
            "longitude": self.longitude,
            "name": self.name,
            "address": self.address,
        }


@dataclass(frozen=True, slots=True)
class Media:
    """A platform media reference; ``storage`` keeps the bytes, never a temporary URL."""

    kind: str  # "photo"
    ref: str  # Telegram file_id, WhatsApp media id
    unique_id: str | None = None  # Telegram file_unique_id
    mime_type: str | None = None
    sha256: str | None = None
    size: int | None = None
    caption: str | None = None
    # Our own media row once the bytes are downloaded and kept.
    stored_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "stored_id": self.stored_id,
            "ref": self.ref,
            "unique_id": self.unique_id,
            "mime_type": self.mime_type,
            "sha256": self.sha256,
            "size": self.size,
        }


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message from a user, decoded at the channel edge."""

    channel: str
    user_id: str
    message_id: str
    kind: InboundKind = InboundKind.TEXT
    text: str | None = None
    choice_id: str | None = None
    location: Location | None = None
    media: Media | None = None
    contact_name: str | None = None
    phone: str | None = None
    timestamp: datetime | None = None
    # What the unsupported thing was ("voice", "sticker", "group", …), for the polite answer.
    unsupported: str | None = None
    # Channel-specific extras the dispatcher may keep (e.g. WhatsApp wa_id beside the BSUID).
    alt_user_id: str | None = None
    language: str | None = None
    # Platform handle needed to acknowledge the input (Telegram callback query id).
    ack_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Choice:
    id: str  # compact, ≤ 64 bytes: "<step>:<value>"
    label: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Template:
    """A pre-approved WhatsApp template used outside the 24-hour service window."""

    name: str
    language: str
    params: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Outbound:
    """One message to send; channels render it to platform calls."""

    channel: str
    user_id: str
    text: str
    choices: tuple[Choice, ...] = ()
    request_location: bool = False
    request_contact: bool = False
    remove_keyboard: bool = False
    media: Media | None = None
    media_path: str | None = None
    template: Template | None = None
    # Free-form button label for a list message (WhatsApp) or the reply keyboard.
    button_label: str | None = None
    # For Telegram: the message whose inline keyboard should be edited to show the choice.
    edit_ref: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def numbered(self) -> list[tuple[str, Choice]]:
        """The choices with the number a person types for each: its position, or — for a
        question numbered by its codes, as on paper (``extra["coded"]``) — its code."""
        if not self.extra.get("coded"):
            return [(str(n), c) for n, c in enumerate(self.choices, start=1)]
        return [(value if value.isdigit() else "•", c) for c in self.choices
                for value in (c.id.partition(":")[2],)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "user_id": self.user_id,
            "text": self.text,
            "choices": [
                {"id": c.id, "label": c.label, "description": c.description}
                for c in self.choices
            ],
            "request_location": self.request_location,
            "request_contact": self.request_contact,
            "remove_keyboard": self.remove_keyboard,
            "media": self.media.as_dict() if self.media else None,
            "media_path": self.media_path,
            "template": (
                {
                    "name": self.template.name,
                    "language": self.template.language,
                    "params": list(self.template.params),
                }
                if self.template
                else None
            ),
            "button_label": self.button_label,
            "edit_ref": self.edit_ref,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outbound:
        media = data.get("media")
        template = data.get("template")
        return cls(
            channel=data["channel"],
            user_id=data["user_id"],
            text=data["text"],
            choices=tuple(
                Choice(c["id"], c["label"], c.get("description")) for c in data.get("choices", ())
            ),
            request_location=bool(data.get("request_location")),
            request_contact=bool(data.get("request_contact")),
            remove_keyboard=bool(data.get("remove_keyboard")),
            media=Media(**media) if media else None,
            media_path=data.get("media_path"),
            template=(
                Template(template["name"], template["language"], tuple(template["params"]))
                if template
                else None
            ),
            button_label=data.get("button_label"),
            edit_ref=data.get("edit_ref"),
            extra=dict(data.get("extra") or {}),
        )


@dataclass(frozen=True, slots=True)
class Pacing:
    """A channel's limits: overall messages/s, seconds between messages to one recipient,
    and how many messages one recipient may get back to back before the interval applies."""

    rate: float
    per_recipient_interval: float
    burst: int = 1


@dataclass(frozen=True, slots=True)
class SendResult:
    provider_message_id: str | None = None


class SendError(Exception):
    """A send failed; ``retry`` says whether the outbox should try again."""

    retry: bool = True

    def __init__(self, detail: str = "", retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


class Throttled(SendError):
    """The platform asked us to slow down; wait ``retry_after`` seconds and try again."""

    retry = True


class RecipientBlocked(SendError):
    """The user blocked the bot or no longer exists: stop the contact, never retry."""

    retry = False


class OutsideServiceWindow(SendError):
    """WhatsApp 24-hour window closed: only a template may be sent."""

    retry = False


class ChannelUnavailable(SendError):
    """Network error or platform 5xx: retry with backoff."""

    retry = True


class ChannelMisconfigured(SendError):
    """Bad token or configuration: retrying will not help until an operator acts."""

    retry = False


class PermanentFailure(SendError):
    """The platform refused this message for good (invalid recipient, bad payload)."""

    retry = False
