"""The one contract every chat channel implements (console, Telegram, WhatsApp).

A channel decodes what its platform delivers into :class:`Inbound` messages (``parse``;
an update with nothing for us — a delivery status, an edited live location — gives an
empty list, never an error), sends an :class:`Outbound` (``send``, raising the typed
errors of ``conversations.messages``: ``Throttled``, ``RecipientBlocked``,
``OutsideServiceWindow``, ``ChannelUnavailable``, ``ChannelMisconfigured``), fetches the
bytes of a media reference (``fetch_media``), and says its platform's limits
(``pacing``). The service registers one with ``Services.attach(channel)``.
"""

from __future__ import annotations

from typing import Any, Protocol

from conversations.messages import Inbound, Media, Outbound, Pacing, SendResult


class Channel(Protocol):
    name: str
    pacing: Pacing

    def parse(self, raw: Any) -> list[Inbound]: ...

    async def send(self, message: Outbound) -> SendResult: ...

    async def fetch_media(self, media: Media) -> bytes: ...
