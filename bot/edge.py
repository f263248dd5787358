"""What arrives over HTTP, made safe to handle: headers and cookies as ASCII or nothing,
JSON without lone surrogates.

A lone surrogate (``"\\ud800"`` is valid JSON) cannot be encoded as UTF-8: PostgreSQL
refuses it, and a platform that gets a 5xx for it delivers the same update for days.
Invalid UTF-8 in a header or a cookie arrives as surrogate escapes, which no ``encode``
accepts. Both are dealt with here, once, before anything else reads the request.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from conversations.messages import Inbound

_SURROGATES = re.compile("[\ud800-\udfff]")


def ascii_or_none(value: str | None) -> str | None:
    """A header, cookie or path value our secrets and tokens could match: printable
    ASCII. Anything else matches nothing of ours."""
    if value is None or not value.isascii() or not value.isprintable():
        return None
    return value


def strip_surrogates(text: str) -> str:
    return _SURROGATES.sub("", text) if _SURROGATES.search(text) else text


def clean_json(value: Any) -> Any:
    """A decoded JSON document with every lone surrogate removed (keys too)."""
    if isinstance(value, str):
        return strip_surrogates(value)
    if isinstance(value, dict):
        return {strip_surrogates(k) if isinstance(k, str) else k: clean_json(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(v) for v in value]
    return value


_INBOUND_TEXT = ("user_id", "message_id", "text", "choice_id", "contact_name", "alt_user_id",
                 "phone")


def clean_inbound(inbound: Inbound) -> Inbound:
    """An inbound message without lone surrogates (updates that did not come through our
    JSON decoding, e.g. Telegram polling, get the same treatment)."""
    changes = {f: strip_surrogates(v) for f in _INBOUND_TEXT
               if isinstance(v := getattr(inbound, f, None), str) and _SURROGATES.search(v)}
    return replace(inbound, **changes) if changes else inbound
