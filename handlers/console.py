"""The terminal channel: `warga chat` talks to the same dispatcher, engine and database."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from conversations.messages import (
    Inbound,
    InboundKind,
    Location,
    Media,
    Outbound,
    Pacing,
    SendResult,
)

CHANNEL = "console"


@dataclass(frozen=True)
class ConsoleLine:
    """What the terminal delivers: a line typed by someone."""

    text: str
    user_id: str
    name: str | None = None


class ConsoleChannel:
    """Prints replies with numbered choices; reads typed lines as messages."""

    name = CHANNEL

    def __init__(self, write: Callable[[str], None]) -> None:
        self.pacing = Pacing(rate=1000.0, per_recipient_interval=0.0, burst=1000)
        self.write = write

    def parse(self, raw: ConsoleLine) -> list[Inbound]:
        """A typed line → one inbound. `/lokasi LAT,LON` shares a location, `/foto PATH` a photo."""
        line, user_id, name = raw.text, raw.user_id, raw.name
        now = datetime.now(UTC)
        message_id = uuid.uuid4().hex
        stripped = line.strip()
        base = {"channel": CHANNEL, "user_id": user_id, "message_id": message_id,
                "timestamp": now, "contact_name": name}
        if stripped.lower().startswith("/lokasi"):
            try:
                lat_s, lon_s = stripped.split(maxsplit=1)[1].replace(" ", "").split(",")
                lat, lon = float(lat_s), float(lon_s)
            except (IndexError, ValueError):
                return [Inbound(kind=InboundKind.TEXT, text=stripped, **base)]  # type: ignore[arg-type]
            if -90 <= lat <= 90 and -180 <= lon <= 180:
                return [Inbound(kind=InboundKind.LOCATION, location=Location(lat, lon), **base)]  # type: ignore[arg-type]
        if stripped.lower().startswith("/foto"):
            path = Path(stripped[5:].strip()).expanduser()
            if path.is_file():
                data = path.read_bytes()
                media = Media(kind="photo", ref=str(path),
                              sha256=hashlib.sha256(data).hexdigest(), size=len(data))
                return [Inbound(kind=InboundKind.MEDIA, media=media, **base)]  # type: ignore[arg-type]
        return [Inbound(kind=InboundKind.TEXT, text=line, **base)]  # type: ignore[arg-type]

    async def fetch_media(self, media: Media) -> bytes:
        return await asyncio.to_thread(Path(media.ref).read_bytes)

    async def send(self, message: Outbound) -> SendResult:
        lines = [message.text]
        for number, choice in message.numbered():
            lines.append(f"  {number}. {choice.label}")
        if message.request_location:
            lines.append("  📍 /lokasi LAT,LON")
        self.write("\n".join(lines) + "\n")
        return SendResult(provider_message_id=uuid.uuid4().hex)
