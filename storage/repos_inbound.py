"""The per-contact inbound allowance and the messages held over it (``bot.inbound_limit``).

The allowance is a token bucket kept as its theoretical arrival time (``tat``, seconds
since the epoch): ``burst`` messages at once, then one per ``interval``. Everything a
contact sends while earlier messages of theirs are held is held too, so their messages
are handled in the order they came.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Double, TextClause

from storage.models import UTCDateTime
from storage.repos import Repos, _Hot, _sql

# The two statements that charge the bucket share its arithmetic. Columns are qualified:
# inside ON CONFLICT DO UPDATE a bare name would be ambiguous on PostgreSQL.
# The bucket has room for one more message (within the burst tolerance) ...
_ROOM = "inbound_pace.tat - :tolerance <= :now"
# ... and after that message it is charged one interval, from now if it had drained.
_CHARGED = ("(CASE WHEN inbound_pace.tat > :now THEN inbound_pace.tat ELSE :now END) "
            "+ :interval")
_PACE_TYPES = {"now": Double(), "interval": Double(), "tolerance": Double()}

# One statement for the common case (admitted): the bucket is charged, or the message is
# counted as held when the bucket is empty or earlier messages are still held. Every SET
# expression reads the row as it was before this statement (SQLite and PostgreSQL alike).
_ADMIT = _sql(
    "INSERT INTO inbound_pace (channel, external_id, tat, queued) "
    "VALUES (:channel, :external_id, :now + :interval, 0) "
    "ON CONFLICT (channel, external_id) DO UPDATE SET "
    f"tat = CASE WHEN inbound_pace.queued = 0 AND {_ROOM} THEN {_CHARGED} "
    "ELSE inbound_pace.tat END, "
    f"queued = CASE WHEN inbound_pace.queued = 0 AND {_ROOM} "
    "THEN 0 ELSE inbound_pace.queued + 1 END "
    "RETURNING queued",
    **_PACE_TYPES,
)
_HOLD = _sql(
    "INSERT INTO inbound_queue (channel, external_id, message_id, inbound, received_at) "
    "VALUES (:channel, :external_id, :message_id, :inbound, :received_at) "
    "ON CONFLICT (channel, message_id) DO NOTHING RETURNING id",
    inbound=JSON(), received_at=UTCDateTime(),
)
_UNCOUNT = _sql(
    "UPDATE inbound_pace SET queued = queued - 1 "
    "WHERE channel = :channel AND external_id = :external_id AND queued > 0"
)
# A held message's turn: the bucket has a message again; charged, one fewer held.
_TURN = _sql(
    f"UPDATE inbound_pace SET tat = {_CHARGED}, queued = queued - 1 "
    "WHERE channel = :channel AND external_id = :external_id AND queued > 0 "
    f"AND {_ROOM} RETURNING queued",
    **_PACE_TYPES,
)
_OLDEST = _sql(
    "SELECT id, inbound FROM inbound_queue WHERE channel = :channel "
    "AND external_id = :external_id ORDER BY id LIMIT 1"
).columns(inbound=JSON())
_FORGET = _sql("DELETE FROM inbound_queue WHERE id = :id")
_RESET = _sql(
    "UPDATE inbound_pace SET queued = 0 WHERE channel = :channel AND external_id = :external_id"
)
_DUE = _sql(
    "SELECT channel, external_id, tat FROM inbound_pace WHERE queued > 0 "
    "ORDER BY tat LIMIT :limit"
)
_HELD = _sql("SELECT COALESCE(SUM(queued), 0) AS held FROM inbound_pace WHERE queued > 0")


class InboundHoldRepo:
    def __init__(self, tx: Repos) -> None:
        self.s = tx.session
        # The transaction's hot path (one trip per statement on SQLite).
        self.hot: _Hot = tx.inbound.hot

    async def _rows(self, stmt: TextClause, params: dict[str, Any]) -> list[Any]:
        if self.hot.sqlite:
            return await self.hot.all(stmt, params)
        result = await self.s.execute(stmt, params)
        return [dict(r._mapping) for r in result.all()] if result.returns_rows else []

    async def admit(self, channel: str, external_id: str, now: float, interval: float,
                    tolerance: float) -> int:
        """Charge the contact's bucket for one message; 0 when it may be handled now,
        else how many of their messages are held, this one included."""
        found = await self._rows(_ADMIT, {"channel": channel, "external_id": external_id,
                                          "now": now, "interval": interval,
                                          "tolerance": tolerance})
        return int(found[0]["queued"])

    async def hold(self, channel: str, external_id: str, message_id: str,
                   inbound: dict[str, Any], received_at: datetime) -> bool:
        """Store a message for later; False when it was held already (a re-delivery)."""
        found = await self._rows(_HOLD, {"channel": channel, "external_id": external_id,
                                         "message_id": message_id, "inbound": inbound,
                                         "received_at": received_at})
        if found:
            return True
        await self._rows(_UNCOUNT, {"channel": channel, "external_id": external_id})
        return False

    async def take_turn(self, channel: str, external_id: str, now: float, interval: float,
                        tolerance: float) -> dict[str, Any] | None:
        """The contact's oldest held message if its turn has come (taken off the queue,
        the bucket charged); None when it has not, or another replica took it."""
        params = {"channel": channel, "external_id": external_id, "now": now,
                  "interval": interval, "tolerance": tolerance}
        if not await self._rows(_TURN, params):
            return None
        oldest = await self._rows(_OLDEST, {"channel": channel, "external_id": external_id})
        if not oldest:
            await self._rows(_RESET, {"channel": channel, "external_id": external_id})
            return None
        await self._rows(_FORGET, {"id": oldest[0]["id"]})
        return dict(oldest[0]["inbound"])

    async def due(self, limit: int) -> Sequence[tuple[str, str, float]]:
        """Contacts with held messages, the soonest turn first: (channel, id, tat)."""
        return [(r["channel"], r["external_id"], float(r["tat"]))
                for r in await self._rows(_DUE, {"limit": limit})]

    async def held(self) -> int:
        """Messages held over all contacts."""
        found = await self._rows(_HELD, {})
        return int(found[0]["held"]) if found else 0
