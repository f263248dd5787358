"""Working-day arithmetic: weekends and holidays skipped, the start day never counts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from conversations.tickets_flow import (
    CLOSED,
    SlaPolicy,
    next_statuses,
    sla_for,
)
from conversations.workdays import (
    add_workdays,
    due_at,
    is_workday,
    parse_holidays,
    workdays_between,
)

WIB = ZoneInfo("Asia/Jakarta")
CHRISTMAS = date(2026, 12, 25)  # a Friday


@pytest.mark.parametrize(
    ("start", "days", "holidays", "expected"),
    [
        (date(2026, 11, 30), 3, (), date(2026, 12, 3)),  # Mon + 3 = Thu
        (date(2026, 12, 3), 3, (), date(2026, 12, 8)),  # Thu + 3 = Tue (weekend skipped)
        (date(2026, 11, 28), 3, (), date(2026, 12, 2)),  # Sat: counting starts Monday
        (date(2026, 11, 29), 1, (), date(2026, 11, 30)),  # Sun + 1 = Mon
        (date(2026, 12, 23), 3, (CHRISTMAS,), date(2026, 12, 29)),  # Wed: Thu, (Fri), Mon, Tue
        (date(2026, 12, 24), 1, (CHRISTMAS,), date(2026, 12, 28)),
        (date(2026, 12, 24), 0, (CHRISTMAS,), date(2026, 12, 24)),
    ],
)
def test_add_workdays(start: date, days: int, holidays: tuple[date, ...],
                      expected: date) -> None:
    assert add_workdays(start, days, holidays) == expected


def test_due_at_is_midnight_after_the_last_working_day_in_local_time() -> None:
    # Friday 23.30 WIB is Friday 16.30 UTC: the local day decides, not the UTC one.
    reported = datetime(2026, 12, 4, 16, 30, tzinfo=UTC)
    assert due_at(reported, 3, (), WIB) == datetime(2026, 12, 10, 0, 0, tzinfo=WIB)
    # 00.30 WIB Saturday is still Friday in UTC.
    reported = datetime(2026, 12, 4, 17, 30, tzinfo=UTC)
    assert due_at(reported, 3, (), WIB) == datetime(2026, 12, 10, 0, 0, tzinfo=WIB)
    with pytest.raises(ValueError):
        due_at(datetime(2026, 12, 4), 3, (), WIB)


def test_helpers() -> None:
    assert not is_workday(date(2026, 11, 28)) and is_workday(date(2026, 11, 30))
    assert not is_workday(CHRISTMAS, {CHRISTMAS})
    assert workdays_between(date(2026, 11, 27), date(2026, 12, 4)) == 5
    assert workdays_between(date(2026, 12, 4), date(2026, 11, 27)) == -5
    assert parse_holidays(" 2026-12-25, ,2027-01-01") == {CHRISTMAS, date(2027, 1, 1)}
    with pytest.raises(ValueError, match="25-12-2026"):
        parse_holidays("25-12-2026")
    with pytest.raises(ValueError):
        add_workdays(CHRISTMAS, -1)


def test_sla_follows_the_history() -> None:
    policy = SlaPolicy(verify_days=3, act_days=5, holidays=frozenset({CHRISTMAS}), tz=WIB)
    created = datetime(2026, 12, 21, 9, 0, tzinfo=WIB)  # Monday
    sla = sla_for("diterima", created, [("diterima", created)], policy)
    assert (sla.kind, sla.due_at) == ("verify", datetime(2026, 12, 25, 0, 0, tzinfo=WIB))
    verified = datetime(2026, 12, 23, 9, 0, tzinfo=WIB)
    history = [("diterima", created), ("diverifikasi", verified)]
    sla = sla_for("diverifikasi", created, history, policy)
    # Thu 24, (Fri 25 holiday), Mon 28, Tue 29, Wed 30, Thu 31.
    assert (sla.kind, sla.due_at) == ("act", datetime(2027, 1, 1, 0, 0, tzinfo=WIB))
    # Moving on to diproses does not restart the clock…
    history.append(("diproses", datetime(2026, 12, 28, 9, 0, tzinfo=WIB)))
    assert sla_for("diproses", created, history, policy).due_at == sla.due_at
    # …closing stops it, and reopening starts a new one.
    history.append(("selesai", datetime(2026, 12, 29, 9, 0, tzinfo=WIB)))
    assert sla_for("selesai", created, history, policy).kind is None
    reopened = datetime(2027, 1, 4, 9, 0, tzinfo=WIB)
    history.append(("diproses", reopened))
    sla = sla_for("diproses", created, history, policy)
    assert sla.started_at == reopened and sla.due_at == datetime(2027, 1, 12, tzinfo=WIB)
    assert sla.overdue(datetime(2027, 1, 12, tzinfo=WIB))
    assert not sla.overdue(datetime(2027, 1, 11, 23, 59, tzinfo=WIB))


def test_who_may_move_a_ticket_where() -> None:
    assert next_statuses("diterima", "coordinator") == (
        "diverifikasi", "diproses", "selesai", "ditolak")
    assert next_statuses("diterima", "volunteer") == ("diverifikasi", "diproses", "selesai")
    assert next_statuses("diproses", "coordinator") == ("selesai", "ditolak")
    assert next_statuses("selesai", "volunteer") == ("diproses",)
    assert next_statuses("ditolak", "coordinator") == ("diverifikasi",)
    assert next_statuses("ditolak", "volunteer") == ()
    assert next_statuses("diterima", "resident") == ("diverifikasi", "diproses", "selesai")
    assert next_statuses("unknown", "coordinator") == ()
    assert CLOSED == {"selesai", "ditolak"}
