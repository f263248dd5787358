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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from conversations.flow import Constraint, Eq, Flow, In, Option, Step, StepType
from conversations.i18n import JAKARTA, T
from conversations.places import KELURAHAN

# -- vocabularies ------------------------------------------------------------------------

KINDS = ("kerja_bakti", "pembagian_air", "penyuluhan", "posyandu", "rapat_warga", "lainnya")
# Volunteer groups of the programme (DESIGN: Tagana, pendamping PKH, Pelopor Perdamaian,
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

# -- flows -------------------------------------------------------------------------------

_AUDIENCE_STEPS = (
    Step(
        "sasaran",
        StepType.SELECT_ONE,
        "audience.sasaran.label",
        "audience.sasaran.title",
        choices=(
            Option("semua", "audience.semua", ("semua", "semua warga", "warga")),
            Option("kelurahan", "audience.kelurahan", ("kelurahan", "satu kelurahan")),
            Option("rw", "audience.rw", ("rw", "satu rw")),
            Option("rt", "audience.rt", ("rt", "satu rt")),
            Option("relawan", "audience.relawan", ("relawan", "semua relawan")),
            Option("jenis_relawan", "audience.jenis_relawan", ("jenis relawan", "kelompok")),
        ),
    ),
    Step(
        "kelurahan",
        StepType.KELURAHAN,
        "audience.kelurahan.label",
        "audience.kelurahan.title",
        relevant=In("sasaran", ("kelurahan", "rw", "rt")),
    ),
    Step(
        "rw",
        StepType.INTEGER,
        "audience.rw.label",
        "audience.rw.title",
        relevant=Eq("sasaran", "rw"),
        constraint=Constraint(min_value=1, max_value=99),
    ),
    Step(
        "rt_rw",
        StepType.RT_RW,
        "audience.rt_rw.label",
        "audience.rt_rw.title",
        relevant=Eq("sasaran", "rt"),
        hint="audience.rt_rw.hint",
    ),
    Step(
        "jenis_relawan",
        StepType.SELECT_ONE,
        "audience.jenis_relawan.label",
        "audience.jenis_relawan.title",
        relevant=Eq("sasaran", "jenis_relawan"),
        choices=(
            Option("tagana", "audience.volunteer_type.tagana", ("tagana",)),
            Option("pkh", "audience.volunteer_type.pkh", ("pkh", "pendamping", "pendamping pkh")),
            Option("pelopor", "audience.volunteer_type.pelopor", ("pelopor", "pelopor perdamaian")),
            Option("karang_taruna", "audience.volunteer_type.karang_taruna",
                   ("karang taruna", "kt")),
        ),
    ),
)

ACTIVITY = Flow(
    id="activity",
    version=1,
    title="activity.title",
    summary_intro="activity.summary_intro",
    steps=(
        Step(
            "judul",
            StepType.TEXT,
            "activity.judul.label",
            "activity.judul.title",
            constraint=Constraint(min_length=3, max_length=120),
            hint="activity.judul.hint",
        ),
        Step(
            "jenis",
            StepType.SELECT_ONE,
            "activity.jenis.label",
            "activity.jenis.title",
            choices=(
                Option("kerja_bakti", "activity.kind.kerja_bakti",
                       ("kerja bakti", "gotong royong", "bersih bersih", "bersih-bersih")),
                Option("pembagian_air", "activity.kind.pembagian_air",
                       ("pembagian air", "bagi air", "air", "tangki")),
                Option("penyuluhan", "activity.kind.penyuluhan",
                       ("penyuluhan", "sosialisasi", "pelatihan")),
                Option("posyandu", "activity.kind.posyandu", ("posyandu", "timbang", "imunisasi")),
                Option("rapat_warga", "activity.kind.rapat_warga",
                       ("rapat", "rapat warga", "musyawarah", "pertemuan")),
                Option("lainnya", "activity.kind.lainnya", ("lain", "lainnya")),
            ),
        ),
        Step(
            "waktu",
            StepType.DATETIME,
            "activity.waktu.label",
            "activity.waktu.title",
            hint="activity.waktu.hint",
        ),
        Step(
            "tempat",
            StepType.TEXT,
            "activity.tempat.label",
            "activity.tempat.title",
            constraint=Constraint(min_length=3, max_length=200),
        ),
        Step(
            "keterangan",
            StepType.TEXT,
            "activity.keterangan.label",
            "activity.keterangan.title",
            required=False,
            constraint=Constraint(max_length=500),
        ),
        *_AUDIENCE_STEPS,
        Step(
            "ulang",
            StepType.SELECT_ONE,
            "activity.ulang.label",
            "activity.ulang.title",
            choices=(
                Option("none", "activity.recurrence.none", ("tidak", "sekali", "sekali saja")),
                Option("weekly", "activity.recurrence.weekly",
                       ("mingguan", "tiap minggu", "setiap minggu", "seminggu sekali")),
                Option("monthly", "activity.recurrence.monthly",
                       ("bulanan", "tiap bulan", "setiap bulan", "sebulan sekali")),
            ),
        ),
        Step(
            "pengingat",
            StepType.SELECT_ONE,
            "activity.pengingat.label",
            "activity.pengingat.title",
            choices=(
                Option("standar", "activity.pengingat.standar", ("standar", "biasa", "default")),
                Option("pilih", "activity.pengingat.pilih", ("pilih", "pilih sendiri", "atur")),
                Option("tanpa", "activity.pengingat.tanpa",
                       ("tanpa", "tanpa pengingat", "tidak usah")),
            ),
        ),
        Step(
            "pengingat_pilih",
            StepType.SELECT_MULTIPLE,
            "activity.pengingat_pilih.label",
            "activity.pengingat_pilih.title",
            relevant=Eq("pengingat", "pilih"),
            choices=tuple(
                Option(code, f"activity.reminder.{code}", aliases)
                for code, aliases in (
                    ("malam", ("malam", "malam sebelumnya")),
                    ("pagi", ("pagi", "pagi hari")),
                    ("sehari", ("sehari", "1 hari", "h-1")),
                    ("2jam", ("2 jam", "dua jam")),
                    ("1jam", ("1 jam", "satu jam", "sejam")),
                    ("30menit", ("30 menit", "setengah jam")),
                )
            ),
        ),
    ),
)

ACTIVITY_MOVE = Flow(
    id="activity_move",
    version=1,
    title="activity_move.title",
    summary_intro="activity_move.summary_intro",
    steps=(
        Step(
            "waktu",
            StepType.DATETIME,
            "activity_move.waktu.label",
            "activity.waktu.title",
            hint="activity.waktu.hint",
        ),
    ),
)

ACTIVITY_CANCEL = Flow(
    id="activity_cancel",
    version=1,
    title="activity_cancel.title",
    summary_intro="activity_cancel.summary_intro",
    steps=(
        Step(
            "alasan",
            StepType.TEXT,
            "activity_cancel.alasan.label",
            "activity_cancel.alasan.title",
            required=False,
            constraint=Constraint(max_length=300),
        ),
    ),
)

BROADCAST = Flow(
    id="broadcast",
    version=1,
    title="broadcast.title",
    summary_intro="broadcast.summary_intro",
    steps=(
        Step(
            "pesan",
            StepType.TEXT,
            "broadcast.pesan.label",
            "broadcast.pesan.title",
            # A WhatsApp template parameter holds the whole text: keep well under 1024.
            constraint=Constraint(min_length=3, max_length=900),
        ),
        *_AUDIENCE_STEPS,
    ),
)

PLACE = Flow(
    id="wilayah",
    version=1,
    title="wilayah.title",
    summary_intro="wilayah.summary_intro",
    steps=(
        Step("kelurahan", StepType.KELURAHAN, "wilayah.kelurahan.label",
             "audience.kelurahan.title"),
        Step("rt_rw", StepType.RT_RW, "wilayah.rt_rw.label", "audience.rt_rw.title",
             hint="audience.rt_rw.hint"),
    ),
)

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


def reminder_times(starts_at: datetime, codes: Iterable[str]) -> list[tuple[str, datetime]]:
    """(code, due time) of each reminder, in time order; none at or after the start, and
    one per moment when two codes fall together."""
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
        if due < starts_at:
            out.setdefault(due, code)
    return [(code, due) for due, code in sorted(out.items())]


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
                 group=T(f"audience.volunteer_type.{audience.get('volunteer_type')}"))
    if kind in ("kelurahan", "rw", "rt"):
        name = audience.get("kelurahan_name") or _kelurahan_name(audience.get("kelurahan_code"))
        if kind == "kelurahan":
            return T("audience.text.kelurahan", kelurahan=name)
        if kind == "rw":
            return T("audience.text.rw", rw=_short(audience.get("rw")), kelurahan=name)
        return T("audience.text.rt", rt=_short(audience.get("rt")), rw=_short(audience.get("rw")),
                 kelurahan=name)
    return T("audience.text.all")


def _short(number: object) -> str:
    """RT/RW as people write them: "003" → "03"."""
    text = str(number or "")
    return f"{int(text):02d}" if text.isdigit() else text


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
    lines = [T("activity.line.main", kind=T(f"activity.kind.{activity.kind}"),
               title=activity.title, when=activity.starts_at, place=activity.place)]
    repeats = recurrence_text(activity.recurrence, activity.starts_at)
    if repeats is not None:
        lines.append(T("activity.line.repeats", repeats=repeats))
    if activity.details:
        lines.append(T("activity.line.details", details=activity.details))
    return lines


def rsvp_choices(activity_id: int) -> list[tuple[str, T | str]]:
    return [(f"rsvp:{activity_id}:{answer}", T(f"rsvp.button.{answer}"))
            for answer in RSVP_ANSWERS]


def announcement(activity: ActivityView) -> list[T]:
    return [T("activity.announce.intro"), *details_lines(activity),
            T("activity.announce.question"), T("broadcast.footer")]


def reminder(activity: ActivityView, code: str, answer: str | None) -> list[T]:
    texts = [T(f"activity.reminder.intro.{code}"), *details_lines(activity)]
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
