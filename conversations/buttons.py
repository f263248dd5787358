"""Typed button payloads: a registered prefix and fields, packed within Telegram's 64 bytes.

Like aiogram's ``CallbackData``: a feature declares ``Rsvp(activity=12, answer="yes")``
instead of building ``"rsvp:12:yes"`` by hand, and reads a pressed button back with
``Rsvp.unpack(data)``, which returns None for anything that is not a well-formed payload
of that kind (a stale or forged button).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable
from typing import Any, ClassVar, Self

# Telegram callback_data is 1-64 bytes.
MAX_BYTES = 64
SEPARATOR = ":"
# Prefixes the dispatcher and the flow engine use themselves.
RESERVED = frozenset({"menu", "lang", "resume", "confirm", "edit"})

PAYLOADS: dict[str, type[Payload]] = {}


class PayloadError(ValueError):
    pass


class Payload:
    """Base of every button payload; subclass as a frozen dataclass with a prefix."""

    prefix: ClassVar[str]

    def __init_subclass__(cls, prefix: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if prefix is None:
            return
        if not prefix.isidentifier() or SEPARATOR in prefix:
            raise PayloadError(f"button prefix {prefix!r} must be a short word")
        if prefix in RESERVED:
            raise PayloadError(f"button prefix {prefix!r} is reserved")
        if prefix in PAYLOADS and PAYLOADS[prefix].__qualname__ != cls.__qualname__:
            raise PayloadError(f"button prefix {prefix!r} is used by "
                               f"{PAYLOADS[prefix].__qualname__} and {cls.__qualname__}")
        cls.prefix = prefix
        PAYLOADS[prefix] = cls

    def pack(self) -> str:
        fields = list(dataclasses.fields(self))  # type: ignore[arg-type]
        # Trailing fields left at their default are not written ("vol:code").
        while fields and fields[-1].default is not dataclasses.MISSING and getattr(
                self, fields[-1].name) == fields[-1].default:
            fields.pop()
        parts = [self.prefix]
        for f in fields:
            value = getattr(self, f.name)
            text = ("1" if value else "0") if isinstance(value, bool) else str(value)
            if SEPARATOR in text:
                raise PayloadError(f"{self.prefix}.{f.name}: {SEPARATOR!r} is not allowed")
            parts.append(text)
        data = SEPARATOR.join(parts)
        if len(data.encode()) > MAX_BYTES:
            raise PayloadError(f"{data!r} is over {MAX_BYTES} bytes")
        return data

    @classmethod
    def unpack(cls, data: str | None) -> Self | None:
        """The payload a button carried, or None if it is not one of this kind."""
        if not data or len(data.encode()) > MAX_BYTES:
            return None
        prefix, *values = data.split(SEPARATOR)
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        required = sum(f.default is dataclasses.MISSING for f in fields)
        if prefix != cls.prefix or not required <= len(values) <= len(fields):
            return None
        fields = fields[: len(values)]
        hints = typing.get_type_hints(cls)
        converted: dict[str, Any] = {}
        for f, raw in zip(fields, values, strict=True):
            kind = hints[f.name]
            try:
                if kind is int:
                    if not raw.lstrip("-").isdigit():
                        return None
                    converted[f.name] = int(raw)
                elif kind is bool:
                    if raw not in ("0", "1"):
                        return None
                    converted[f.name] = raw == "1"
                else:
                    allowed = typing.get_args(kind) if typing.get_origin(kind) is \
                        typing.Literal else ()
                    if allowed and raw not in allowed:
                        return None
                    converted[f.name] = raw
            except ValueError:
                return None
        return cls(**converted)


def prefix_of(data: str | None) -> str:
    return (data or "").partition(SEPARATOR)[0]


def check_namespace(prefixes: Iterable[str], step_names: Iterable[str]) -> None:
    """Feature prefixes and question names share the button namespace: refuse overlaps."""
    prefixes = list(prefixes)
    seen: set[str] = set()
    for prefix in prefixes:
        if prefix in seen:
            raise PayloadError(f"button prefix {prefix!r} is declared twice")
        seen.add(prefix)
    clash = seen & (set(step_names) | RESERVED)
    if clash:
        raise PayloadError(f"button prefix(es) {', '.join(sorted(clash))} are also "
                           "question names or reserved: rename one")
