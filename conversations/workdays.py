"""Working-day arithmetic for service levels (SP4N-LAPOR!: 3 working days to verify, 5 to
act). Saturdays, Sundays and the configured public holidays are not working days.

A deadline of N working days from a moment is the end of the N-th working day *after*
the local calendar day of that moment: the day a report arrives does not count (it may
arrive at 23.50), and a report sent on a Saturday starts counting on Monday. "End of a
day" is midnight local time, so ``due_at`` returns 00:00 of the following day.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date, datetime, time, timedelta, tzinfo

SATURDAY = 5


def parse_holidays(raw: str | Iterable[str]) -> frozenset[date]:
    """'2026-12-25, 2027-01-01' → dates; raises ValueError naming a bad entry."""
    items = raw.split(",") if isinstance(raw, str) else raw
    out: set[date] = set()
    for item in items:
        item = item.strip()
        if not item:
            continue
        try:
            out.add(date.fromisoformat(item))
        except ValueError as err:
            raise ValueError(f"not an ISO date (YYYY-MM-DD): {item!r}") from err
    return frozenset(out)


def is_workday(day: date, holidays: Collection[date] = ()) -> bool:
    return day.weekday() < SATURDAY and day not in holidays


def add_workdays(day: date, days: int, holidays: Collection[date] = ()) -> date:
    """The ``days``-th working day after ``day`` (``day`` itself never counts)."""
    if days < 0:
        raise ValueError("days must not be negative")
    current = day
    left = days
    while left > 0:
        current += timedelta(days=1)
        if is_workday(current, holidays):
            left -= 1
    return current


def due_at(start: datetime, days: int, holidays: Collection[date], tz: tzinfo) -> datetime:
    """When ``days`` working days counted from ``start`` run out (aware, in ``tz``)."""
    if start.tzinfo is None:
        raise ValueError("due_at needs an aware datetime")
    last = add_workdays(start.astimezone(tz).date(), days, holidays)
    return datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz)


def workdays_between(start: date, end: date, holidays: Collection[date] = ()) -> int:
    """Working days in (start, end]; negative when ``end`` is before ``start``."""
    if end < start:
        return -workdays_between(end, start, holidays)
    count = 0
    current = start
    while current < end:
        current += timedelta(days=1)
        if is_workday(current, holidays):
            count += 1
    return count
