"""The conversation state the dispatcher keeps for one contact, typed.

Stored as one JSON document per contact (``sessions.state``) and written with every
answer. ``flow`` is the flow engine's own document; ``features`` holds each feature's
small state under its name (a ticket a closing note is being written for), so features
never share keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# What the dispatcher is waiting for outside a flow.
AWAITING = ("menu", "language", "resume")


@dataclass
class Session:
    flow: dict[str, Any] | None = None
    # Put aside ("nanti", the menu, a stale session offered for resumption).
    paused: bool = False
    awaiting: str | None = None
    # The button ids on screen, in order: "2" typed means the second of them.
    offered: list[str] = field(default_factory=list)
    # A reply keyboard (share location / contact) is showing and must be removed later.
    keyboard: bool = False
    expires_at: datetime | None = None
    features: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The payload of a Telegram deep link in this message (never stored).
    start_payload: str | None = None

    @property
    def in_flow(self) -> bool:
        """A flow is under way and not put aside."""
        return self.flow is not None and not self.paused

    def data(self, feature: str) -> dict[str, Any]:
        """A feature's own part of the session (created empty)."""
        return self.features.setdefault(feature, {})

    def end_flow(self) -> None:
        self.flow = None
        self.paused = False

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> Session:
        raw = dict(raw or {})
        features: dict[str, dict[str, Any]] = {
            k: dict(v) for k, v in (raw.pop("features", None) or {}).items()
        }
        # Sessions written before the typed session kept features' keys at the top level.
        for key in [k for k in raw if "." in k]:
            owner, _, name = key.partition(".")
            features.setdefault(owner, {})[name] = raw.pop(key)
        expires = raw.get("expires_at")
        awaiting = raw.get("awaiting", raw.get("await"))
        return cls(
            flow=raw.get("flow") or None,
            paused=bool(raw.get("paused")),
            awaiting=awaiting if awaiting in AWAITING else None,
            offered=[str(c) for c in raw.get("offered", raw.get("choices")) or []],
            keyboard=bool(raw.get("keyboard", raw.get("kb"))),
            expires_at=datetime.fromisoformat(expires) if expires else None,
            features={k: v for k, v in features.items() if v},
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.flow is not None:
            out["flow"] = self.flow
        if self.paused:
            out["paused"] = True
        if self.awaiting:
            out["awaiting"] = self.awaiting
        if self.offered:
            out["offered"] = list(self.offered)
        if self.keyboard:
            out["keyboard"] = True
        if self.expires_at is not None:
            out["expires_at"] = self.expires_at.isoformat()
        features = {k: v for k, v in self.features.items() if v}
        if features:
            out["features"] = features
        return out
