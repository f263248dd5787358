"""Activities and broadcasts as chat flows, and the texts they send — pure data and
functions (no I/O), so the bot layer only stores and sends.

Flows:

- ``activity``: a coordinator schedules an activity (title, kind, date and time as people
  type them, place, notes, audience, recurrence, reminders).
- ``activity_move``: a new date and time for an activity (reschedule).
- ``activity_cancel``: an optional reason before an activity is cancelled.
- ``broadcast``: a free-form announcement and its audience (``/siaran``).
- ``place``: where a resident lives (kelurahan, RT/RW), for announcements to their area.

Reminder codes are relative to the activity's start, in Jakarta time: ``malam`` is 19.00
the evening before, ``pagi`` 06.00 on the day, ``sehari`` 24 hours before, ``2jam``,
``1jam`` and ``30menit`` that long before. The default is ``malam`` + ``2jam``.

Quiet hours (default 21.00–05.30 Jakarta time): nothing bulk goes out inside them. A
reminder due inside them goes at 20.30, half an hour before they begin (a reminder is only
useful before the activity, and people read it before they sleep); a broadcast or notice
due inside them waits until they end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from conversations.buttons import Payload
from conversations.forms import load_builtin
from conversations.i18n import JAKARTA, T
from conversations.places import KELURAHAN

# -- vocabularies ------------------------------------------------------------------------

KINDS = ("kerja_bakti", "pembagian_air", "penyuluhan", "posyandu", "rapat_warga", "lainnya")
# Volunteer groups of the programme (Tagana, pendamping PKH, Pelopor Perdamaian,
# Karang Taruna); the codes are those stored in contacts.volunteer_type.
VOLUNTEER_TYPES = ("tagana", "pkh", "pelopor", "karang_taruna")
RECURRENCES = ("none", "weekly", "monthly")
RSVP_ANSWERS = ("yes", "no", "maybe")
# Who is reminded of an activity, told of its cancellation or of its new time.
COMING = ("yes", "maybe")

REMINDER_CODES = ("malam", "pagi", "sehari", "2jam", "1jam", "30menit")
DEFAULT_REMINDERS = ("malam", "2jam")
_BEFORE: dict[str, timedelta] = {
    "sehari": timedelta(hours=24),
    "2jam": timedelta(hours=2),
    "1jam": timedelta(hours=1),
    "30menit": timedelta(minutes=30),
}
EVENING = time(19, 0)
MORNING = time(6, 0)


@dataclass(frozen=True)
class QuietHours:
    """A daily span, in Jakarta time, in which no bulk message goes out; it may run
    across midnight (``21:00-05:30``)."""

    start: time
    end: time
    # A reminder that would fall inside goes this long before the span begins.
    lead: timedelta = timedelta(minutes=30)

    @classmethod
    def parse(cls, text: str) -> QuietHours | None:
        """``"21:00-05:30"`` (``"off"``: none); ValueError for anything else."""
        text = text.strip()
        if text.lower() in ("off", "none", "-"):
            return None
        first, sep, second = text.partition("-")
        if not sep:
            raise ValueError(f"quiet hours {text!r}: expected HH:MM-HH:MM")
        start, end = time.fromisoformat(first.strip()), time.fromisoformat(second.strip())
        if start == end:
            raise ValueError(f"quiet hours {text!r}: start and end are the same")
        return cls(start, end)

    def _span(self, moment: datetime) -> tuple[datetime, datetime] | None:
        """(start, end) of the quiet span that holds ``moment``, or None."""
        local = moment.astimezone(JAKARTA)
        day, clock = local.date(), local.time()
        if self.start < self.end:
            if self.start <= clock < self.end:
                return (_at(day, self.start), _at(day, self.end))
            return None
        if clock >= self.start:
            return (_at(day, self.start), _at(day + timedelta(days=1), self.end))
        if clock < self.end:
            return (_at(day - timedelta(days=1), self.start), _at(day, self.end))
        return None

    def contains(self, moment: datetime) -> bool:
        return self._span(moment) is not None

    def earlier(self, moment: datetime) -> datetime:
        """``moment``, or before the quiet span that holds it (for reminders)."""
        span = self._span(moment)
        return moment if span is None else span[0] - self.lead

    def later(self, moment: datetime) -> datetime:
        """``moment``, or the end of the quiet span that holds it (for broadcasts)."""
        span = self._span(moment)
        return moment if span is None else span[1]


def _at(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=JAKARTA)


QUIET_HOURS = QuietHours(time(21, 0), time(5, 30))

# -- flows -------------------------------------------------------------------------------

ACTIVITY = load_builtin("activity").flow
ACTIVITY_MOVE = load_builtin("activity_move").flow
ACTIVITY_CANCEL = load_builtin("activity_cancel").flow
BROADCAST = load_builtin("broadcast").flow
PLACE = load_builtin("wilayah").flow

FLOWS = (ACTIVITY, ACTIVITY_MOVE, ACTIVITY_CANCEL, BROADCAST, PLACE)


# -- answers → records -------------------------------------------------------------------


def audience_from_answers(answers: Mapping[str, Any]) -> dict[str, Any]:
    """The audience a flow's answers describe, as stored on activities and broadcasts."""
    kind = answers["sasaran"]
    if kind == "semua":
        return {"type": "all"}
    if kind == "relawan":
        return {"type": "volunteers"}
    if kind == "jenis_relawan":
        return {"type": "volunteer_type", "volunteer_type": answers["jenis_relawan"]}
    kel = answers["kelurahan"]
    audience: dict[str, Any] = {"type": kind, "kelurahan_code": kel["code"],
                                "kelurahan_name": kel["name"]}
    if kind == "rw":
        audience["rw"] = f"{int(answers['rw']):03d}"
    elif kind == "rt":
        audience["rt"] = answers["rt_rw"]["rt"]
        audience["rw"] = answers["rt_rw"]["rw"]
    return audience


def reminders_from_answers(answers: Mapping[str, Any]) -> list[str]:
    choice = answers.get("pengingat", "standar")
    if choice == "tanpa":
        return []
    if choice == "pilih":
        picked = set(answers.get("pengingat_pilih") or ())
        return [code for code in REMINDER_CODES if code in picked]
    return list(DEFAULT_REMINDERS)


def reminder_times(starts_at: datetime, codes: Iterable[str],
                   quiet: QuietHours | None = QUIET_HOURS,
                   now: datetime | None = None) -> list[tuple[str, datetime]]:
    """(code, due time) of each reminder, in time order, moved before quiet hours when
    they would fall inside — or, when that is already past at ``now``, to their end; none
    at or after the start, and one per moment when two codes fall together."""
    local = starts_at.astimezone(JAKARTA)
    out: dict[datetime, str] = {}
    for code in codes:
        if code == "malam":
            due = datetime.combine(local.date() - timedelta(days=1), EVENING, tzinfo=JAKARTA)
        elif code == "pagi":
            due = datetime.combine(local.date(), MORNING, tzinfo=JAKARTA)
            if starts_at - due < timedelta(minutes=30):
                continue  # an activity at dawn: "this morning" would come too late
        elif code in _BEFORE:
            due = local - _BEFORE[code]
        else:
            continue  # a code from a newer version: ignore rather than fail a reminder
        if quiet is not None:
            earlier = quiet.earlier(due)
            due = quiet.later(due) if now is not None and earlier <= now else earlier
        if due < starts_at:
            out.setdefault(due, code)
    return [(code, due) for due, code in sorted(out.items())]


def reminder_intro(code: str, starts_at: datetime, due: datetime | None) -> str:
    """Which opening a reminder has: a "soon" reminder moved before quiet hours says
    "tomorrow" or "today" instead, as it now comes hours ahead."""
    if code not in ("2jam", "1jam", "30menit") or due is None:
        return code
    if local_date(due) < local_date(starts_at):
        return "malam"
    if starts_at - due > _BEFORE["2jam"] + timedelta(minutes=30):
        return "pagi"
    return code


# -- what the bot says -------------------------------------------------------------------


@dataclass(frozen=True)
class ActivityView:
    """What the texts need of an activity (read from storage by the bot layer)."""

    id: int
    title: str
    kind: str
    starts_at: datetime
    place: str
    details: str | None
    audience: Mapping[str, Any]
    recurrence: str
    status: str


def audience_text(audience: Mapping[str, Any]) -> T:
    kind = audience.get("type")
    if kind == "volunteers":
        return T("audience.text.volunteers")
    if kind == "volunteer_type":
        return T("audience.text.volunteer_type",
                 group=T(f"activity.jenis_relawan.{audience.get('volunteer_type')}"))
    if kind == "rsvp":
        return T("audience.text.rsvp", activity=audience.get("activity_title") or "-")
    if kind == "reporters":
        return T("audience.text.reporters",
                 category=T(f"complaint.kategori.{audience.get('category')}"))
    if kind in ("kelurahan", "rw", "rt"):
        name = audience.get("kelurahan_name") or _kelurahan_name(audience.get("kelurahan_code"))
        if kind == "kelurahan":
            return T("audience.text.kelurahan", kelurahan=name)
        if kind == "rw":
            return T("audience.text.rw", rw=_padded(audience.get("rw")), kelurahan=name)
        return T("audience.text.rt", rt_rw=rt_rw_text(audience.get("rt"), audience.get("rw")),
                 kelurahan=name)
    return T("audience.text.all")


def rt_rw_text(rt: object, rw: object) -> T:
    """RT and RW in the one order and form used everywhere: "RT 003/RW 004"."""
    return T("place.rt_rw", rt=_padded(rt), rw=_padded(rw))


def _padded(number: object) -> str:
    """RT/RW as on official letters: "3" → "003"."""
    text = str(number or "")
    return f"{int(text):03d}" if text.isdigit() else text


def _kelurahan_name(code: object) -> str:
    return next((k.name for k in KELURAHAN if k.code == code), str(code or "-"))


def recurrence_text(recurrence: str, starts_at: datetime) -> T | None:
    local = starts_at.astimezone(JAKARTA)
    if recurrence == "weekly":
        return T("activity.repeats.weekly", day=T(f"activity.weekday.{local.weekday()}"))
    if recurrence == "monthly":
        return T("activity.repeats.monthly", day=local.day)
    return None


def details_lines(activity: ActivityView) -> list[T]:
    """Title, time, place, repetition and notes: the body of every activity message."""
    lines = [T("activity.line.main", kind=T(f"activity.jenis.{activity.kind}"),
               title=activity.title, when=activity.starts_at, place=activity.place)]
    repeats = recurrence_text(activity.recurrence, activity.starts_at)
    if repeats is not None:
        lines.append(T("activity.line.repeats", repeats=repeats))
    if activity.details:
        lines.append(T("activity.line.details", details=activity.details))
    return lines


@dataclass(frozen=True)
class Rsvp(Payload, prefix="rsvp"):
    activity: int
    answer: Literal["yes", "no", "maybe"]


@dataclass(frozen=True)
class ScheduleItem(Payload, prefix="jadwal"):
    activity: int


@dataclass(frozen=True)
class ManageActivity(Payload, prefix="kegiatan"):
    activity: int
    action: Literal["umumkan", "draf", "pindah", "batal", "henti"]


@dataclass(frozen=True)
class MoveTo(Payload, prefix="pindah"):
    """A new time picked after a time alone was typed (keep the day, or take the new)."""

    activity: int
    minute: int  # minutes since the epoch, UTC


def kept_day(before: datetime, typed: datetime, now: datetime) -> datetime | None:
    """A time alone ("jam 9") reads as its next coming, today or tomorrow; for a move that
    may mean "same day, new hour". That moment, when it could be meant and is ahead."""
    today = local_date(now)
    new, old = typed.astimezone(JAKARTA), before.astimezone(JAKARTA)
    if new.date() not in (today, today + timedelta(days=1)) or new.date() == old.date():
        return None
    kept = datetime.combine(old.date(), new.time(), tzinfo=JAKARTA)
    return kept if kept > now else None


@dataclass(frozen=True)
class BroadcastAction(Payload, prefix="siaran"):
    broadcast: int
    action: Literal["kirim", "batal"]


def rsvp_choices(activity_id: int) -> list[tuple[str, T | str]]:
    return [(Rsvp(activity_id, answer).pack(), T(f"rsvp.button.{answer}"))
            for answer in ("yes", "no", "maybe")]


def announcement(activity: ActivityView) -> list[T]:
    return [T("activity.announce.intro"), *details_lines(activity),
            T("activity.announce.question"), T("broadcast.footer")]


def reminder(activity: ActivityView, code: str, answer: str | None,
             due: datetime | None = None) -> list[T]:
    texts = [T(f"activity.reminder.intro.{reminder_intro(code, activity.starts_at, due)}"),
             *details_lines(activity)]
    if answer in RSVP_ANSWERS:
        texts.append(T("activity.reminder.your_answer", answer=T(f"rsvp.answer.{answer}")))
    texts.append(T("activity.reminder.change"))
    return texts


def cancelled(activity: ActivityView, reason: str | None) -> list[T]:
    texts = [T("activity.cancelled.intro"), *details_lines(activity)]
    if reason:
        texts.append(T("activity.cancelled.reason", reason=reason))
    texts.append(T("activity.cancelled.sorry"))
    return texts


def rescheduled(activity: ActivityView, before: datetime) -> list[T]:
    return [T("activity.moved.intro", before=before), *details_lines(activity),
            T("activity.moved.question")]


def broadcast_message(body: str) -> list[T]:
    return [T("broadcast.message.intro"), T("broadcast.message.body", body=body),
            T("broadcast.footer")]


@dataclass(frozen=True)
class DeliveryCounts:
    """Where the outbox rows of one bulk send stand."""

    total: int = 0
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    opted_out: int = 0
    pending: int = 0

    @property
    def finished(self) -> bool:
        return self.pending == 0

    @property
    def processed(self) -> int:
        return self.total - self.pending


def delivery_report(number: int, counts: DeliveryCounts) -> list[T]:
    return [
        T("broadcast.report.intro", number=number, total=counts.total),
        T("broadcast.report.sent", count=counts.sent),
        T("broadcast.report.failed", count=counts.failed),
        T("broadcast.report.blocked", count=counts.blocked),
        T("broadcast.report.opted_out", count=counts.opted_out),
    ]


def delivery_progress(number: int, counts: DeliveryCounts) -> list[T]:
    return [T("broadcast.progress", number=number, done=counts.processed, total=counts.total,
              sent=counts.sent)]


def local_date(moment: datetime) -> date:
    return moment.astimezone(JAKARTA).date()
