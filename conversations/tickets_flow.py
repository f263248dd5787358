"""Ticket lifecycle rules, service levels, and the two short flows officers use by chat.

Lifecycle (SP4N-LAPOR!): diterima → diverifikasi → diproses → selesai, or ditolak with a
reason. Moving forward may skip a step (a burst pipe fixed the same day goes straight to
selesai); going back is only a reopening: selesai → diproses (the reporter said "belum",
or an officer reopened it) and ditolak → diverifikasi (a coordinator reconsidered).

```mermaid
stateDiagram-v2
  [*] --> diterima
  diterima --> diverifikasi
  diterima --> diproses
  diverifikasi --> diproses
  diterima --> selesai: note (+ photo)
  diverifikasi --> selesai: note (+ photo)
  diproses --> selesai: note (+ photo)
  diterima --> ditolak: reason
  diverifikasi --> ditolak: reason
  diproses --> ditolak: reason
  selesai --> diproses: "belum" / reopen
  ditolak --> diverifikasi: reconsider
```
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from conversations.forms import load_builtin
from conversations.roles import COORDINATOR
from conversations.workdays import due_at

RECEIVED = "diterima"
VERIFIED = "diverifikasi"
IN_PROGRESS = "diproses"
DONE = "selesai"
REJECTED = "ditolak"

ORDER = (RECEIVED, VERIFIED, IN_PROGRESS, DONE)
STATUSES = (*ORDER, REJECTED)
CLOSED = frozenset({DONE, REJECTED})
OPEN = frozenset({RECEIVED, VERIFIED, IN_PROGRESS})

# Same place, same category, within this window: the same problem.
DUPLICATE_WINDOW = timedelta(hours=48)
# After this long a reporter's "belum" starts a new report instead of reopening.
REOPEN_WINDOW = timedelta(days=14)



def next_statuses(current: str, role: str) -> tuple[str, ...]:
    """Where a ticket may go from ``current``, for someone with ``role``.

    Rejecting, and reconsidering a rejection, are a coordinator's call: a volunteer in
    the field fixes or reports, but does not turn a resident away.
    """
    if current == DONE:
        out: tuple[str, ...] = (IN_PROGRESS,)
    elif current == REJECTED:
        out = (VERIFIED,) if role == COORDINATOR else ()
    elif current in ORDER:
        later = ORDER[ORDER.index(current) + 1:]
        out = later + ((REJECTED,) if role == COORDINATOR else ())
    else:
        out = ()
    return out


def needs_note(status: str) -> bool:
    """Closing needs a note; rejecting needs a reason."""
    return status in CLOSED


def is_reopening(current: str, target: str) -> bool:
    return current in CLOSED and target in OPEN


# -- service levels -----------------------------------------------------------------------


@dataclass(frozen=True)
class SlaPolicy:
    verify_days: int = 3
    act_days: int = 5
    holidays: frozenset[date] = frozenset()
    tz: tzinfo | None = None


@dataclass(frozen=True)
class Sla:
    """The clock that runs for a ticket now: ``kind`` 'verify' or 'act', and its deadline."""

    kind: str | None
    started_at: datetime | None
    due_at: datetime | None

    def overdue(self, now: datetime) -> bool:
        return self.due_at is not None and now >= self.due_at


def sla_for(
    status: str,
    created_at: datetime,
    history: Sequence[tuple[str, datetime]],
    policy: SlaPolicy,
) -> Sla:
    """Which deadline applies, from the status history (oldest first).

    Verification runs from the report; action runs from the moment the ticket left
    ``diterima`` (or was reopened) until it is closed. Closing stops both.
    """
    tz = policy.tz or created_at.tzinfo
    assert tz is not None
    if status in CLOSED:
        return Sla(None, None, None)
    if status == RECEIVED:
        return Sla("verify", created_at, due_at(created_at, policy.verify_days,
                                                policy.holidays, tz))
    started = created_at
    previous = RECEIVED
    for step_status, at in history:
        if step_status in OPEN and step_status != RECEIVED and (
            previous == RECEIVED or previous in CLOSED
        ):
            started = at
        previous = step_status
    return Sla("act", started, due_at(started, policy.act_days, policy.holidays, tz))


# -- flows -------------------------------------------------------------------------------

CLOSE = load_builtin("ticket_close").flow
REJECT = load_builtin("ticket_reject").flow

NOTE_FLOWS = {DONE: CLOSE, REJECTED: REJECT}


# Typed answers to "Sudah teratasi?" (the buttons are the main path). Whole words only:
# these become commands, so nothing as common as "ya" or "tidak".
RESOLVED_YES = ("sudah", "sudah teratasi", "udah", "sdh", "sudah beres")
RESOLVED_NO = ("belum", "belum teratasi", "blm", "belom", "masih rusak", "belum beres")

