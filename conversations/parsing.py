"""Answer parsing: turn what people type in a chat into typed values.

Pure functions, no I/O, used by every flow. Each parser either returns a value, returns
``None`` ("I did not understand, ask again"), or — for identity numbers, where the user
deserves to know what is wrong — raises :class:`InvalidAnswer` with a message-catalog key.
No parser raises anything else, whatever the input (huge, empty, emoji, markup, SQL).

Input is NFKC-normalised (full-width digits become ASCII) and lower-cased; only ASCII digits
count as digits. Work per message is bounded: ``parse_when`` reads the first 200
characters, the other parsers refuse long input up front (identity numbers are scanned
once, linearly, so that the digit count can be reported). Regular expressions are written
without nested quantifiers, so none of them can backtrack catastrophically.

Date rules (``parse_when``), all relative to ``now`` (an aware datetime in Asia/Jakarta):

* Weeks run Monday (Senin) to Sunday (Minggu/Ahad).
* ``Sabtu`` / ``Sabtu ini`` / ``hari Sabtu``: the next Saturday, today included.
  ``Sabtu besok``: the next Saturday after today.
* ``Rabu depan`` / ``Rabu minggu depan``: the Wednesday of *next calendar week* (the week
  after the one containing today). Said on Monday 23 November 2026 that is 2 December;
  said on Saturday 28 November it is also 2 December (then equal to plain ``Rabu``).
* ``Sabtu lalu`` / ``Sabtu kemarin``: the latest Saturday strictly before today.
  ``Rabu minggu lalu``: the Wednesday of the previous calendar week.
* ``Minggu`` is Sunday when alone, after ``hari`` or before ``ini``; it is a week in
  ``minggu depan`` (+7 days), ``minggu lalu``/``minggu kemarin`` (-7 days), ``seminggu``,
  ``2 minggu lagi``.
* ``tgl 12``: the next 12th, today included (this month if not passed, else the next
  month that has that day); ``tgl 12 bulan depan`` / ``bulan lalu`` pin the month.
  ``12 Desember`` and ``12/12`` without a year: the next such date, today included.
* Parts of the day: pagi 07:00, siang 12:00, sore 16:00, malam 19:00, subuh 05:00.
  ``nanti sore``: today if the afternoon (until 18:00) is not over yet, else tomorrow;
  ``nanti malam`` / ``malam ini``: tonight. ``tadi pagi``: today if the morning has begun
  (from 04:00), else yesterday; ``tadi malam`` / ``semalam``: last night (yesterday before
  18:00, today from 18:00).
* Clock hours with a part of the day: pagi keeps 0-12, siang maps 1-6 to 13-18, sore 1-11
  to 13-23, malam 5-11 to 17-23; ``jam 12 malam`` (and 1-4 malam) is after midnight, so a
  given date moves to the next day: ``Sabtu jam 12 malam`` is Sunday 00:00. Without a
  part-of-day word the hour is taken as written (``jam 3`` is 03:00, ``jam 15`` is 15:00),
  except after ``nanti``: ``nanti jam 7`` said at 10:00 means 19:00.
* ``nanti``/``tadi`` with a clock time mean today; ``tadi`` alone is today; ``nanti``
  alone is too vague and gives None. ``sekarang``/``barusan``: today at the current minute.
* Relative amounts: ``3 hari lagi``, ``dua hari yang lalu``, ``seminggu lalu``,
  ``2 minggu lagi``, ``sebulan lalu``, ``2 jam lagi`` (date and time), ``30 menit lagi``.
* Greetings (``selamat pagi``) are not times.
* An explicit but impossible value (``tgl 32``, ``jam 25``, ``31/02``) gives ``None``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation

import phonenumbers

from conversations.places import KELURAHAN, PROVINCE_CODES, Kelurahan

__all__ = [
    "InvalidAnswer",
    "Kelurahan",
    "Kk",
    "Nik",
    "When",
    "match_kelurahan",
    "parse_kk",
    "parse_nik",
    "parse_number",
    "parse_phone",
    "parse_rt_rw",
    "parse_when",
    "parse_yes_no",
]

# Jakarta has had no daylight saving since 1964: a fixed offset is exact, and needs no tzdata.
_WIB = timezone(timedelta(hours=7), "WIB")


class InvalidAnswer(Exception):
    """An answer that has the right shape but cannot be right.

    ``reason`` is a message-catalog key (``"nik.length"``); ``params`` fill the message.
    """

    def __init__(self, reason: str, **params: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.params: dict[str, object] = dict(params)

    def __repr__(self) -> str:
        return f"InvalidAnswer({self.reason!r}, **{self.params!r})"


def _normalise(text: str, limit: int) -> str:
    """NFKC, lower case, at most ``limit`` characters (bounded work on any input)."""
    return unicodedata.normalize("NFKC", text[: limit * 2]).lower()[:limit]


def _today() -> date:
    return datetime.now(_WIB).date()


# --------------------------------------------------------------------------------------
# Numbers written in words (shared by parse_number and parse_when)
# --------------------------------------------------------------------------------------

_DIGIT_WORDS: dict[str, int] = {
    "nol": 0,
    "kosong": 0,
    "satu": 1,
    "dua": 2,
    "tiga": 3,
    "empat": 4,
    "lima": 5,
    "enam": 6,
    "tujuh": 7,
    "delapan": 8,
    "sembilan": 9,
}
# "se" + a multiplier is "one" of it: sepuluh, sebelas, seratus, seribu, sejuta.
_SE_WORDS: dict[str, str] = {
    "sepuluh": "puluh",
    "sebelas": "belas",
    "seratus": "ratus",
    "seribu": "ribu",
    "sejuta": "juta",
    "semiliar": "miliar",
}
_SCALES: dict[str, int] = {
    "ribu": 1_000,
    "rb": 1_000,
    "rbu": 1_000,
    "k": 1_000,
    "juta": 1_000_000,
    "jt": 1_000_000,
    "jta": 1_000_000,
    "miliar": 1_000_000_000,
    "milyar": 1_000_000_000,
    "triliun": 1_000_000_000_000,
}

_NUMERAL_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[str], str]], ...] = (
    # 1500, 007
    (re.compile(r"[0-9]{1,18}"), lambda s: s),
    # 1.500 / 1.500.000 (dot thousands)
    (re.compile(r"[0-9]{1,3}(?:\.[0-9]{3})+"), lambda s: s.replace(".", "")),
    # 1.500,50 (dot thousands, comma decimals)
    (
        re.compile(r"[0-9]{1,3}(?:\.[0-9]{3})+,[0-9]{1,6}"),
        lambda s: s.replace(".", "").replace(",", "."),
    ),
    # 1,500,000 (comma thousands, only when there are two groups or more)
    (re.compile(r"[0-9]{1,3}(?:,[0-9]{3}){2,}"), lambda s: s.replace(",", "")),
    # 3,5 (comma decimal)
    (re.compile(r"[0-9]{1,18},[0-9]{1,6}"), lambda s: s.replace(",", ".")),
    # 1.5 (dot decimal, when the dot is not a thousands separator)
    (re.compile(r"[0-9]{1,18}\.[0-9]{1,6}"), lambda s: s),
)


def _numeral(token: str) -> Decimal | None:
    """A numeral written with digits, Indonesian conventions first."""
    for pattern, clean in _NUMERAL_PATTERNS:
        if pattern.fullmatch(token):
            try:
                return Decimal(clean(token))
            except InvalidOperation:  # pragma: no cover - the patterns only admit digits
                return None
    return None


def _words_value(tokens: Sequence[str]) -> Decimal | None:
    """Combine numerals and number words: ``dua ribu lima ratus``, ``1,5 juta``, ``150 rb``."""
    expanded: list[str] = []
    for token in tokens:
        if token in _SE_WORDS:
            expanded += ["satu", _SE_WORDS[token]]
        else:
            expanded.append(token)
    if not expanded:
        return None
    total = Decimal(0)
    group = Decimal(0)  # the part below the current scale (< 1000)
    pending: Decimal | None = None  # a digit or numeral waiting for its multiplier
    last_scale: int | None = None
    for token in expanded:
        value = _DIGIT_WORDS.get(token)
        number = Decimal(value) if value is not None else _numeral(token)
        if number is not None:
            if pending is not None:
                return None  # "dua tiga"
            pending = number
            continue
        small = pending is not None and pending == pending.to_integral_value() and 1 <= pending <= 9
        if token == "belas":
            if not small or group % 100 != 0 or pending is None:
                return None
            group += 10 + pending
        elif token == "puluh":
            if not small or group % 100 != 0 or pending is None:
                return None
            group += pending * 10
        elif token == "ratus":
            if not small or group != 0 or pending is None:
                return None
            group += pending * 100
        elif token in _SCALES:
            scale = _SCALES[token]
            amount = group + (pending or 0)
            if amount <= 0 or (last_scale is not None and scale >= last_scale):
                return None
            total += amount * scale
            last_scale = scale
            group = Decimal(0)
        else:
            return None
        pending = None
    return total + group + (pending or 0)


def _small_int(tokens: Sequence[str]) -> int | None:
    """A small count written with digits or words (``3``, ``dua``, ``dua belas``)."""
    if len(tokens) == 1 and tokens[0].isdigit():
        return int(tokens[0]) if len(tokens[0]) <= 3 else None
    if any(t.isdigit() for t in tokens):
        return None
    value = _words_value(tokens)
    if value is None or value != value.to_integral_value() or not 0 < value < 1000:
        return None
    return int(value)


# --------------------------------------------------------------------------------------
# parse_when
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class When:
    """A date and/or a time of day. At least one of them is set."""

    date: dt.date | None
    time: dt.time | None


class _OutOfRange(Exception):
    """An explicit date or time that cannot exist (``tgl 32``, ``jam 25``)."""


_WHEN_LIMIT = 200

_MONTHS: dict[str, int] = {
    "januari": 1, "jan": 1,
    "februari": 2, "pebruari": 2, "feb": 2, "peb": 2,
    "maret": 3, "mar": 3,
    "april": 4, "apr": 4,
    "mei": 5,
    "juni": 6, "jun": 6,
    "juli": 7, "jul": 7,
    "agustus": 8, "agu": 8, "agt": 8, "ags": 8, "agst": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9,
    "oktober": 10, "okt": 10, "oct": 10,
    "november": 11, "nopember": 11, "nov": 11, "nop": 11,
    "desember": 12, "des": 12, "dec": 12,
}  # fmt: skip
_MONTH_ALT = "|".join(sorted(_MONTHS, key=len, reverse=True))

_DAYS: dict[str, int] = {
    "senin": 0,
    "selasa": 1,
    "rabu": 2,
    "kamis": 3,
    "jumat": 4,
    "sabtu": 5,
    "minggu": 6,
    "ahad": 6,
}

_PERIODS: dict[str, str] = {
    "pagi": "pagi",
    "siang": "siang",
    "sore": "sore",
    "petang": "sore",
    "malam": "malam",
    "subuh": "subuh",
}
_PERIOD_DEFAULT: dict[str, int] = {"subuh": 5, "pagi": 7, "siang": 12, "sore": 16, "malam": 19}
_PERIOD_START: dict[str, int] = {"subuh": 3, "pagi": 4, "siang": 11, "sore": 15, "malam": 18}
_PERIOD_END: dict[str, int] = {"subuh": 6, "pagi": 11, "siang": 15, "sore": 18, "malam": 24}

_BACK = frozenset({"lalu", "silam", "sebelumnya", "kemarin", "kemaren", "kmrn", "yll"})
_FORWARD = frozenset({"lagi", "lg", "kemudian", "mendatang", "depan", "dpn", "kedepan"})
_UNITS: dict[str, str] = {
    "hari": "day",
    "hr": "day",
    "minggu": "week",
    "mgg": "week",
    "pekan": "week",
    "bulan": "month",
    "bln": "month",
    "jam": "hour",
    "menit": "minute",
    "mnt": "minute",
}
_SE_UNITS: dict[str, str] = {
    "sehari": "day",
    "seminggu": "week",
    "sepekan": "week",
    "sebulan": "month",
    "sejam": "hour",
}

_TOKEN = re.compile(r"[a-z]+|[0-9]+")
_ISO_DATE = re.compile(r"(?<![0-9])([0-9]{4})[-/]([0-9]{1,2})[-/]([0-9]{1,2})(?![0-9])")
_DOTTED_DATE = re.compile(r"(?<![0-9.])([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})(?![0-9.])")
_SLASHED_DATE = re.compile(
    r"(?<![0-9./:-])([0-9]{1,2})([/-])([0-9]{1,2})(?:\2([0-9]{4}|[0-9]{2}))?(?![0-9/:-])"
)
_MONTHNAME_DATE = re.compile(
    rf"(?<![0-9.])([0-9]{{1,2}})[\s-]*({_MONTH_ALT})(?![a-z])\.?(?:[\s,-]*([0-9]{{4}})(?![0-9]))?"
)
_TGL_DATE = re.compile(
    r"(?<![a-z])(?:tgl|tanggal|tggl|tg)\.?\s*([0-9]{1,3})(?![0-9])"
    r"(?:\s*(?:bulan|bln)\s*(ini|depan|dpn|lalu|kemarin|kemaren))?"
)
_PERIOD_PHRASE = re.compile(
    r"(?<![a-z])(?:(nanti|ntar|entar|nnti|tadi|td)\s*)?"
    r"(pagi|siang|sore|petang|malam|subuh)(?![a-z])(\s*ini(?![a-z]))?"
)
_SEMALAM = re.compile(r"(?<![a-z])semalam(?![a-z])")

_HOUR_WORDS: dict[str, int] = {
    "satu": 1, "dua": 2, "tiga": 3, "empat": 4, "lima": 5, "enam": 6, "tujuh": 7,
    "delapan": 8, "sembilan": 9, "sepuluh": 10, "sebelas": 11, "duabelas": 12,
}  # fmt: skip
_HOUR = (
    r"[0-9]{1,2}(?![0-9])|(?:dua\s?belas|sebelas|sepuluh|satu|dua|tiga|empat|lima|enam|tujuh"
    r"|delapan|sembilan)(?![a-z])"
)
_CLOCK = re.compile(rf"setengah\s*(?P<half>{_HOUR})|(?P<h>{_HOUR})(?:[.:](?P<m>[0-9]+))?")
_CLOCK_MOD = re.compile(
    r"\s*(?:(?P<plus>lewat|lebih|lbh|lwt)\s*|(?P<minus>kurang|krg)\s*)?"
    r"(?P<amt>seperempat|(?P<n>[0-9]+)\s*(?:menit|mnt|mnit)?)(?![a-z0-9])"
)
_CLOCK_PERIOD = re.compile(r"\s*(pagi|siang|sore|petang|malam|subuh)(?![a-z])")
_CLOCK_ANCHOR = re.compile(r"(?<![a-z])(?:jam|pukul|pkl|pk|jm)(?![a-z])\.?\s*")
_BARE_HALF = re.compile(r"(?<![a-z])setengah\s*(?=[0-9]|[a-z])")
_BARE_COLON = re.compile(r"(?<![0-9.:,/])[0-9]{1,2}[.:][0-9]{2}(?![0-9.:,/])")
_BARE_PERIOD_HOUR = re.compile(
    r"(?<![0-9.:,/])[0-9]{1,2}\s*(?=(?:pagi|siang|sore|petang|malam|subuh)(?![a-z]))"
)


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int


@dataclass(slots=True)
class _WhenState:
    text: str  # normalised text; consumed parts are blanked out as they are used
    now: datetime

    @property
    def today(self) -> date:
        return self.now.date()

    def consume(self, span: _Span) -> None:
        self.text = self.text[: span.start] + " " * (span.end - span.start) + self.text[span.end :]

    def tokens(self) -> list[tuple[str, _Span]]:
        return [(m.group(), _Span(m.start(), m.end())) for m in _TOKEN.finditer(self.text)]


def _make_date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except (ValueError, OverflowError):
        raise _OutOfRange from None


def _next_annual(today: date, month: int, day: int) -> date:
    """The next ``day``/``month``, today included (29 Feb: the next leap year)."""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise _OutOfRange
    for year in range(today.year, today.year + 9):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    raise _OutOfRange


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month + 1, min(d, day.day))
        except ValueError:
            continue
    raise _OutOfRange  # pragma: no cover - day 28 always exists


def _find_explicit_date(state: _WhenState) -> date | None:
    text, today = state.text, state.today
    m = _ISO_DATE.search(text)
    if m:
        state.consume(_Span(m.start(), m.end()))
        return _make_date(int(m[1]), int(m[2]), int(m[3]))
    m = _DOTTED_DATE.search(text)
    if m:
        state.consume(_Span(m.start(), m.end()))
        return _make_date(int(m[3]), int(m[2]), int(m[1]))
    m = _SLASHED_DATE.search(text)
    if m:
        state.consume(_Span(m.start(), m.end()))
        day, month = int(m[1]), int(m[3])
        if m[4] is None:
            return _next_annual(today, month, day)
        year = int(m[4]) + (2000 if len(m[4]) == 2 else 0)
        return _make_date(year, month, day)
    m = _MONTHNAME_DATE.search(text)
    if m:
        state.consume(_Span(m.start(), m.end()))
        day, month = int(m[1]), _MONTHS[m[2]]
        if m[3] is None:
            return _next_annual(today, month, day)
        return _make_date(int(m[3]), month, day)
    m = _TGL_DATE.search(text)
    if m:
        state.consume(_Span(m.start(), m.end()))
        day = int(m[1])
        if not 1 <= day <= 31:
            raise _OutOfRange
        which = m[2]
        if which is not None:
            offset = {"ini": 0, "depan": 1, "dpn": 1}.get(which, -1)
            first = _add_months(today.replace(day=1), offset)
            return _make_date(first.year, first.month, day)
        first = today.replace(day=1)
        for offset in range(13):
            month_start = _add_months(first, offset)
            try:
                candidate = month_start.replace(day=day)
            except ValueError:
                continue
            if candidate >= today:
                return candidate
        raise _OutOfRange  # pragma: no cover - some month always has the day
    return None


def _find_relative_units(state: _WhenState) -> datetime | date | None:
    """``3 hari lagi``, ``dua hari yang lalu``, ``seminggu lalu``, ``minggu depan``, ``sejam lagi``.

    Returns a datetime for hours and minutes, a date otherwise.
    """
    tokens = state.tokens()
    words = [t for t, _ in tokens]
    for i, (word, span) in enumerate(tokens):
        count: int | None = None
        start = span.start
        if word in _SE_UNITS:
            unit, count = _SE_UNITS[word], 1
        elif word in _UNITS:
            unit = _UNITS[word]
            for width in (3, 2, 1):
                if i - width >= 0:
                    n = _small_int(words[i - width : i])
                    if n is not None:
                        count, start = n, tokens[i - width][1].start
                        break
            if count is None:
                previous = words[i - 1] if i > 0 else ""
                if unit != "week" or previous in _DAYS or previous in {"hari", "hr"}:
                    continue
                count = 1  # "minggu depan", "minggu lalu": a week
        else:
            continue
        j = i + 1
        while j < len(words) and words[j] in {"yang", "yg", "ke"}:
            j += 1
        if j >= len(words) or (words[j] not in _BACK and words[j] not in _FORWARD):
            continue
        sign = -1 if words[j] in _BACK else 1
        state.consume(_Span(start, tokens[j][1].end))
        try:
            if unit == "day":
                return state.today + timedelta(days=sign * count)
            if unit == "week":
                return state.today + timedelta(weeks=sign * count)
            if unit == "month":
                return _add_months(state.today, sign * count)
            delta = timedelta(hours=count) if unit == "hour" else timedelta(minutes=count)
            return state.now + sign * delta
        except OverflowError:
            raise _OutOfRange from None
    return None


def _find_weekday(state: _WhenState) -> date | None:
    tokens = state.tokens()
    words = [t for t, _ in tokens]
    for i, (word, span) in enumerate(tokens):
        if word not in _DAYS:
            continue
        previous = words[i - 1] if i > 0 else ""
        following = words[i + 1] if i + 1 < len(words) else ""
        if word == "minggu" and previous != "hari":
            if previous in _DAYS or previous.isdigit() or previous in _DIGIT_WORDS:
                continue
            if following in _BACK or following in _FORWARD or following in {"yang", "yg"}:
                continue  # a week, handled by _find_relative_units
        target = _DAYS[word]
        today = state.today
        end = span.end
        mode = "next"
        if following in {"ini", "nanti"}:
            end = tokens[i + 1][1].end
        elif following in {"depan", "dpn"}:
            mode, end = "next_week", tokens[i + 1][1].end
        elif following == "besok":
            mode, end = "after_today", tokens[i + 1][1].end
        elif following in _BACK or following in {"yang", "yg"}:
            j = i + 1
            while j < len(words) and words[j] in {"yang", "yg"}:
                j += 1
            if j < len(words) and words[j] in _BACK:
                mode, end = "last", tokens[j][1].end
        elif following in {"minggu", "pekan", "mgg"} and i + 2 < len(words):
            after = words[i + 2]
            if after in {"depan", "dpn"}:
                mode, end = "next_week", tokens[i + 2][1].end
            elif after in _BACK:
                mode, end = "last_week", tokens[i + 2][1].end
            elif after == "ini":
                end = tokens[i + 2][1].end
        start = tokens[i - 1][1].start if previous == "hari" else span.start
        state.consume(_Span(start, end))
        monday = today - timedelta(days=today.weekday())
        if mode == "next":
            return today + timedelta(days=(target - today.weekday()) % 7)
        if mode == "after_today":
            return today + timedelta(days=(target - today.weekday() - 1) % 7 + 1)
        if mode == "next_week":
            return monday + timedelta(days=7 + target)
        if mode == "last_week":
            return monday - timedelta(days=7 - target)
        return today - timedelta(days=(today.weekday() - target - 1) % 7 + 1)
    return None


_SIMPLE_RELATIVE: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"(?<![a-z])(?:kemarin|kemaren|kmrn)\s+lusa(?![a-z])"), -2),
    (re.compile(r"(?<![a-z])lusa(?![a-z])"), 2),
    (re.compile(r"(?<![a-z])(?:besok|besuk|bsk|esok)(?:nya)?(?![a-z])"), 1),
    (re.compile(r"(?<![a-z])(?:kemarin|kemaren|kmrn|kmarin)(?:nya)?(?![a-z])"), -1),
    (re.compile(r"(?<![a-z])(?:hari|hr)\s+ini(?![a-z])"), 0),
)
_NOW_WORDS = re.compile(r"(?<![a-z])(?:sekarang|skrg|skrng|skr|saat\s+ini|barusan)(?![a-z])")
_WEAK_TODAY = re.compile(r"(?<![a-z])(?:nanti|ntar|entar|nnti|tadi|td)(?![a-z])")
_TADI = re.compile(r"(?<![a-z])(?:tadi|td)(?![a-z])")
_NANTI = re.compile(r"(?<![a-z])(?:nanti|ntar|entar|nnti)(?![a-z])")


def _find_simple_relative(state: _WhenState) -> date | None:
    for pattern, days in _SIMPLE_RELATIVE:
        m = pattern.search(state.text)
        if m:
            state.consume(_Span(m.start(), m.end()))
            return state.today + timedelta(days=days)
    return None


def _find_period(state: _WhenState) -> tuple[str | None, date | None]:
    """The part of the day mentioned, and the date it implies (``nanti sore``, ``malam ini``)."""
    now = state.now
    today = state.today
    m = _SEMALAM.search(state.text)
    if m:
        state.consume(_Span(m.start(), m.end()))
        return "malam", today if now.hour >= _PERIOD_START["malam"] else today - timedelta(1)
    m = _PERIOD_PHRASE.search(state.text)
    if not m:
        return None, None
    period = _PERIODS[m[2]]
    modifier = m[1]
    if m[3] is not None:  # "sore ini", "malam ini"
        state.consume(_Span(m.start(), m.end()))
        return period, today
    if modifier in {"tadi", "td"}:
        state.consume(_Span(m.start(), m.end()))
        return period, today if now.hour >= _PERIOD_START[period] else today - timedelta(1)
    if modifier is not None:  # nanti
        state.consume(_Span(m.start(), m.end()))
        return period, today if now.hour < _PERIOD_END[period] else today + timedelta(1)
    return period, None  # a bare "pagi": kept in the text, a clock may claim it


def _hour_value(raw: str) -> int:
    raw = raw.replace(" ", "")
    return int(raw) if raw.isdigit() else _HOUR_WORDS[raw]


def _read_clock(text: str, pos: int) -> tuple[int, int, str | None, int] | None:
    """Read ``7``, ``07.30``, ``setengah 8``, ``8 kurang seperempat``, ``3 sore`` at ``pos``.

    Returns (hour, minute, part-of-day or None, end) with the hour not yet adjusted for the
    part of day, or None when there is no clock there. Raises _OutOfRange for ``25``.
    """
    m = _CLOCK.match(text, pos)
    if not m:
        return None
    end = m.end()
    if m["half"] is not None:
        total = _hour_value(m["half"]) * 60 - 30
        if _hour_value(m["half"]) > 24:
            raise _OutOfRange
    else:
        hour = _hour_value(m["h"])
        if m["m"] is not None and len(m["m"]) != 2:
            raise _OutOfRange  # "7:5", "7.300"
        minute = int(m["m"]) if m["m"] is not None else 0
        if hour > 23 or minute > 59:
            raise _OutOfRange
        total = hour * 60 + minute
        if m["m"] is None:
            mod = _CLOCK_MOD.match(text, end)
            if mod and (mod["plus"] or mod["minus"] or mod["amt"] == "seperempat"):
                amount = 15 if mod["amt"] == "seperempat" else int(mod["n"])
                if amount > 59:
                    raise _OutOfRange
                total += -amount if mod["minus"] else amount
                end = mod.end()
    if not 0 <= total < 24 * 60:
        raise _OutOfRange
    period: str | None = None
    p = _CLOCK_PERIOD.match(text, end)
    if p:
        period = _PERIODS[p[1]]
        end = p.end()
    return total // 60, total % 60, period, end


def _find_clock(state: _WhenState) -> tuple[int, int, str | None] | None:
    text = state.text
    for anchor in _CLOCK_ANCHOR.finditer(text):
        clock = _read_clock(text, anchor.end())  # explicit: out of range is an error
        if clock is not None:
            state.consume(_Span(anchor.start(), clock[3]))
            return clock[0], clock[1], clock[2]
    for pattern in (_BARE_HALF, _BARE_COLON, _BARE_PERIOD_HOUR):
        for m in pattern.finditer(text):
            try:
                clock = _read_clock(text, m.start())
            except _OutOfRange:
                continue  # bare numbers such as "99.99" are simply not a time
            if clock is not None:
                state.consume(_Span(m.start(), clock[3]))
                return clock[0], clock[1], clock[2]
    return None


def _apply_period(hour: int, period: str | None) -> tuple[int, int]:
    """(hour in 0-23, days to add) for an hour said with a part of the day."""
    if period is None:
        return hour, 0
    if period in {"pagi", "subuh"}:
        if hour <= 12:
            return hour, 0
    elif period == "siang":
        if hour <= 6:
            return hour + 12, 0
        if 9 <= hour <= 18:
            return hour, 0
    elif period == "sore":
        if 1 <= hour <= 11:
            return hour + 12, 0
        if 13 <= hour <= 23:
            return hour, 0
    elif period == "malam":
        if hour in {0, 12}:
            return 0, 1
        if 1 <= hour <= 4:
            return hour, 1
        if 5 <= hour <= 11:
            return hour + 12, 0
        if 17 <= hour <= 23:
            return hour, 0
    raise _OutOfRange


def _parse_when(state: _WhenState) -> When | None:
    now = state.now
    found: date | None = None
    exact: datetime | None = None
    is_now = False

    found = _find_explicit_date(state)
    if found is None:
        relative = _find_relative_units(state)
        if isinstance(relative, datetime):
            exact = relative
        else:
            found = relative
    if found is None and exact is None:
        found = _find_weekday(state)
    if found is None and exact is None:
        found = _find_simple_relative(state)
    if found is None and exact is None:
        m = _NOW_WORDS.search(state.text)
        if m:
            state.consume(_Span(m.start(), m.end()))
            found, is_now = state.today, True

    only_period = [t for t, _ in state.tokens()]
    period, period_date = _find_period(state)
    clock = _find_clock(state)

    if exact is not None:
        if clock is None:
            return When(exact.date(), exact.time().replace(second=0, microsecond=0))
        found = exact.date()
    if found is None:
        found = period_date
    weak_today = _WEAK_TODAY.search(state.text) is not None

    when_time: time | None = None
    shift = 0
    if clock is not None:
        hour, minute, own_period = clock
        hour, shift = _apply_period(hour, own_period or period)
        if found is None and weak_today:
            found = state.today
            if (
                own_period is None
                and period is None
                and hour < 12
                and (hour, minute) <= (now.hour, now.minute)
                and _NANTI.search(state.text)
            ):
                hour += 12  # "nanti jam 7" said at 10:00 is 19:00
        when_time = time(hour, minute)
    elif period is not None:
        if found is None and len(only_period) == 1:
            # the whole message is "sore": later today (or tomorrow if it is over)
            found = state.today if now.hour < _PERIOD_END[period] else state.today + timedelta(1)
        if found is not None:
            when_time = time(_PERIOD_DEFAULT[period])
    elif is_now:
        when_time = time(now.hour, now.minute)
    if found is None and when_time is None and _TADI.search(state.text):
        found = state.today  # "tadi": earlier today
    if found is not None and shift:
        found += timedelta(days=shift)
    if found is None and when_time is None:
        return None
    return When(found, when_time)


def parse_when(text: str, now: datetime, prefer: str = "future") -> When | None:
    """A date and/or time typed in everyday Indonesian, resolved against ``now``.

    See the module docstring for the rules. Returns None when nothing date- or time-like
    is found, or when an explicit value is impossible (``tgl 32``, ``jam 25``).
    """
    s = _normalise(text, _WHEN_LIMIT)
    s = re.sub(r"jum\s?['’‘`´]?\s?at", "jumat", s)
    s = re.sub(r"dini\s+hari", "subuh", s)
    s = re.sub(r"selamat\s+(?:pagi|siang|sore|petang|malam)", " ", s)
    if not _TOKEN.search(s):
        return None
    try:
        return _parse_when(_WhenState(s, now))
    except (_OutOfRange, OverflowError, ValueError):
        return None


# --------------------------------------------------------------------------------------
# parse_yes_no
# --------------------------------------------------------------------------------------


def _squeeze(word: str) -> str:
    """Collapse repeated letters: ``iyaaa`` -> ``iya``, ``okee`` -> ``oke``."""
    return re.sub(r"(.)\1+", r"\1", word)


_YES_WORDS = frozenset(
    _squeeze(w)
    for w in (
        "ya", "iya", "iye", "y", "yes", "yup", "yap", "yep", "ok", "oke", "okeh", "okey",
        "okay", "sip", "siap", "betul", "benar", "bener", "boleh", "lanjut", "lanjutkan",
        "setuju", "mau", "baik", "tentu",
    )
)  # fmt: skip
_NO_WORDS = frozenset(
    _squeeze(w)
    for w in (
        "tidak", "tdk", "gak", "ga", "gk", "nggak", "ngga", "enggak", "engga", "kagak",
        "ndak", "nda", "bukan", "jangan", "no", "n", "tak", "nope", "belum", "blm",
    )
)  # fmt: skip
# Words that may accompany a yes or a no without changing it ("ya udah", "gak deh kak").
_FILLER_WORDS = frozenset(
    _squeeze(w)
    for w in (
        "udah", "sudah", "sdh", "dah", "deh", "dong", "aja", "saja", "sih", "lah", "kok",
        "nih", "yuk", "ayo", "kak", "kakak", "pak", "bapak", "bu", "ibu", "mas", "mbak",
        "mba", "bang", "min", "admin", "terima", "kasih", "makasih", "trims", "thanks",
    )
)  # fmt: skip
# Words that a no may govern: "tidak mau", "gak usah", "belum bisa".
_NEGATABLE_WORDS = frozenset(
    _squeeze(w)
    for w in (
        "mau", "usah", "perlu", "jadi", "bisa", "dulu", "setuju", "benar", "betul", "bener",
        "boleh", "lanjut", "ada",
    )
)  # fmt: skip
_THUMBS_UP = "\U0001f44d"
_THUMBS_DOWN = "\U0001f44e"


def parse_yes_no(text: str) -> bool | None:
    """Yes (True), no (False), or None when the whole message is not a plain yes or no.

    ``ya``, ``iyaaa``, ``ok``, ``👍``, ``ya udah``, ``iya benar`` are yes; ``tidak``,
    ``gak``, ``tidak mau`` are no; ``yah``, ``kirim besok ya``, ``ya tapi nanti`` are None.
    """
    if len(text) > 100:
        return None
    s = unicodedata.normalize("NFKC", text).lower()
    s = s.replace(_THUMBS_UP, " ya ").replace(_THUMBS_DOWN, " tidak ")
    # Other emoji, skin tones, joiners and variation selectors carry no yes or no.
    s = "".join(c for c in s if unicodedata.category(c) not in {"So", "Sk", "Cf", "Mn", "Cs"})
    words = [_squeeze(w) for w in re.split(r"[\s.,!]+", s) if w]
    if not words:
        return None
    meaning = [w for w in words if w not in _FILLER_WORDS]
    if not meaning:
        return None
    if all(w in _YES_WORDS for w in meaning):
        return True
    if meaning[0] in _NO_WORDS and all(w in _NO_WORDS or w in _NEGATABLE_WORDS for w in meaning):
        return False
    return None


# --------------------------------------------------------------------------------------
# NIK and No. KK
# --------------------------------------------------------------------------------------

_ID_NUMBER = re.compile(r"[0-9]+(?:[\s.\-]+[0-9]+)*")


def _mask(value: str) -> str:
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


@dataclass(frozen=True, slots=True, repr=False)
class Nik:
    """A format-valid NIK (Nomor Induk Kependudukan). Valid format, not verified."""

    value: str  # 16 digits
    birth_date: date
    sex: str  # "L" (laki-laki) or "P" (perempuan)
    province_code: str  # "31"
    regency_code: str  # "31.72" (where the NIK was first issued)
    district_code: str  # "31.72.04"
    serial: str  # "0001"

    @property
    def masked(self) -> str:
        """``3172********0001``: safe for logs, chat echoes and exports."""
        return _mask(self.value)

    def __repr__(self) -> str:
        return f"Nik({self.masked})"


@dataclass(frozen=True, slots=True, repr=False)
class Kk:
    """A format-valid No. KK (Kartu Keluarga number). Never a primary key: it changes."""

    value: str
    issued_date: date
    province_code: str  # "31"
    regency_code: str  # "31.72"
    district_code: str  # "31.72.04"
    serial: str

    @property
    def masked(self) -> str:
        return _mask(self.value)

    def __repr__(self) -> str:
        return f"Kk({self.masked})"


def _id_digits(text: str, kind: str) -> str:
    """The 16 digits of an NIK or KK typed with optional spaces, dots or dashes."""
    s = unicodedata.normalize("NFKC", text).lower().strip()
    s = re.sub(rf"^(?:no\.?\s*|nomor\s*)?(?:{kind})\s*[:.]?\s*", "", s)
    if s and not _ID_NUMBER.fullmatch(s):
        raise InvalidAnswer(f"{kind}.digits")
    digits = re.sub(r"[^0-9]", "", s)
    if len(digits) != 16:
        raise InvalidAnswer(f"{kind}.length", count=len(digits))
    if digits[:2] not in PROVINCE_CODES:
        raise InvalidAnswer(f"{kind}.province", code=digits[:2])
    if digits[2:4] == "00" or digits[4:6] == "00":
        raise InvalidAnswer(f"{kind}.region", code=digits[:6])
    return digits


def _past_date(day: int, month: int, yy: int, today: date) -> date | None:
    """The date DD-MM-YY in the latest century that does not put it after ``today``."""
    for century in (2000, 1900):
        try:
            candidate = date(century + yy, month, day)
        except ValueError:
            continue
        if candidate <= today:
            return candidate
    return None


def parse_nik(text: str, today: date | None = None) -> Nik:
    """Check an NIK's format: 16 digits ``PP RR SS DDMMYY XXXX``.

    Raises InvalidAnswer with ``nik.digits``, ``nik.length`` (``count``),
    ``nik.province`` (``code``), ``nik.region`` (``code``), ``nik.date`` or ``nik.serial``.
    """
    digits = _id_digits(text, "nik")
    day, month, yy = int(digits[6:8]), int(digits[8:10]), int(digits[10:12])
    sex = "L"
    if day > 40:
        sex, day = "P", day - 40
    birth = _past_date(day, month, yy, today or _today())
    if birth is None:
        raise InvalidAnswer("nik.date")
    if digits[12:] == "0000":
        raise InvalidAnswer("nik.serial")
    return Nik(
        value=digits,
        birth_date=birth,
        sex=sex,
        province_code=digits[:2],
        regency_code=f"{digits[:2]}.{digits[2:4]}",
        district_code=f"{digits[:2]}.{digits[2:4]}.{digits[4:6]}",
        serial=digits[12:],
    )


# A card "issued" before this year is a typing mistake (e.g. 12-12-26 typed in 2026 would
# otherwise become 1926): family cards with 16-digit numbers are far younger.
_KK_EARLIEST_YEAR = 1970


def parse_kk(text: str, today: date | None = None) -> Kk:
    """Check a No. KK's format: 16 digits ``PP RR SS DDMMYY XXXX``, DDMMYY the issue date.

    The issue date may not be after ``today`` (default: today in Jakarta) nor before 1970.
    Raises InvalidAnswer with ``kk.digits``, ``kk.length`` (``count``), ``kk.province``
    (``code``), ``kk.region`` (``code``), ``kk.date`` or ``kk.serial``.
    """
    digits = _id_digits(text, "kk")
    issued = _past_date(int(digits[6:8]), int(digits[8:10]), int(digits[10:12]), today or _today())
    if issued is None or issued.year < _KK_EARLIEST_YEAR:
        raise InvalidAnswer("kk.date")
    if digits[12:] == "0000":
        raise InvalidAnswer("kk.serial")
    return Kk(
        value=digits,
        issued_date=issued,
        province_code=digits[:2],
        regency_code=f"{digits[:2]}.{digits[2:4]}",
        district_code=f"{digits[:2]}.{digits[2:4]}.{digits[4:6]}",
        serial=digits[12:],
    )


# --------------------------------------------------------------------------------------
# parse_phone
# --------------------------------------------------------------------------------------

_PHONE_CHARS = re.compile(r"[0-9+()\s.\-/]+")
_MOBILE_TYPES = frozenset({phonenumbers.PhoneNumberType.MOBILE})


def parse_phone(text: str) -> str | None:
    """An Indonesian mobile number as E.164 (``+6281234567890``), or None.

    Accepts 0812…, 812…, 62812…, +62 812…, 0062812… and the common mistake 62 0812….
    Landlines, numbers of other countries and invalid numbers give None.
    """
    if len(text) > 60:
        return None
    s = unicodedata.normalize("NFKC", text).strip()
    if not s or not _PHONE_CHARS.fullmatch(s):
        return None
    digits = re.sub(r"[^0-9]", "", s)
    if s.lstrip("( ").startswith("+"):
        international = digits
    elif digits.startswith("00"):
        international = digits[2:]
    elif digits.startswith("62"):
        international = digits
    elif digits.startswith("0"):
        international = "62" + digits[1:]
    elif digits.startswith("8"):
        international = "62" + digits
    else:
        return None
    if international.startswith("620"):
        international = "62" + international[3:]
    if not international.startswith("62") or not 10 <= len(international) <= 15:
        return None
    try:
        number = phonenumbers.parse("+" + international, None)
    except phonenumbers.NumberParseException:
        return None
    if (
        number.country_code != 62
        or not phonenumbers.is_valid_number(number)
        or phonenumbers.number_type(number) not in _MOBILE_TYPES
    ):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --------------------------------------------------------------------------------------
# parse_number
# --------------------------------------------------------------------------------------

_NUMBER_LIMIT = 120
_APPROX_PREFIX = re.compile(
    r"^(?:±|\+\s*/?\s*-|~|sekitar|sktr|kira\s*-?\s*kira|kira2|kurang\s*-?\s*lebih|kurleb"
    r"|lebih\s*-?\s*kurang|hampir|ada|cuma|hanya|jumlahnya|jumlah|total)\s*:?\s*"
)
_CURRENCY_PREFIX = re.compile(r"^(?:rp|idr)\s*\.?\s*")
_UNIT_SUFFIX = re.compile(
    r"\s*(?<![a-z])(?:kepala\s+keluarga|rumah\s+tangga|meter\s+persegi|orang|org|kk|rumah|keluarga"
    r"|jiwa|hari|meter|mtr|m2|m|rupiah|perak|anak|unit|buah|bulan|bln|tahun|thn|liter|ltr"
    r"|jeriken|jerigen|galon|kali|x)$"
)


def parse_number(text: str) -> int | Decimal | None:
    """A non-negative amount or count: ``12``, ``1.500``, ``Rp150.000,-``, ``150rb``,
    ``1,2 juta``, ``3,5``, ``dua ratus``, ``seratus lima puluh``, ``lima orang``,
    ``sekitar 10``. Integral values come back as ``int``, others as ``Decimal``.
    """
    if len(text) > _NUMBER_LIMIT:
        return None
    s = unicodedata.normalize("NFKC", text).lower().strip()
    s = re.sub(r"[.,]\s*-+$", "", s)  # "150.000,-"
    s = re.sub(r"[.!?]+$", "", s).strip()
    for _ in range(3):
        stripped = _CURRENCY_PREFIX.sub("", _APPROX_PREFIX.sub("", s))
        if stripped == s:
            break
        s = stripped
    s = re.sub(r"(?<=[0-9])(?=[a-z])", " ", s)  # "150rb" -> "150 rb", "5orang" -> "5 orang"
    for _ in range(3):
        stripped = _UNIT_SUFFIX.sub("", s).strip()
        if not stripped or stripped == s:
            break
        s = stripped
    if not s or "-" in s or "−" in s or s.startswith(("min ", "minus")):
        return None
    value = _words_value(s.split())
    if value is None or value < 0:
        return None
    if value == value.to_integral_value():
        return int(value)
    return value.normalize()


# --------------------------------------------------------------------------------------
# parse_rt_rw
# --------------------------------------------------------------------------------------

_RT_RW_TOKEN = re.compile(r"rt|rw|[0-9]+|[\s.,:/\\\-]+|.", re.DOTALL)


def parse_rt_rw(text: str) -> tuple[str, str] | None:
    """RT and RW as zero-padded 3-digit strings: ``RT 5 RW 3`` -> ``("005", "003")``.

    Accepts ``rt05/rw03``, ``RT.005/RW.003``, ``005/003``, ``5/3``, ``RT 5/3``,
    ``rw 3 rt 5``, ``rt5rw3``, ``RT/RW 5/3``. Values must be 1-999.
    """
    if len(text) > 60:
        return None
    s = unicodedata.normalize("NFKC", text).lower().strip()
    s = re.sub(r"r\s?\.\s?t\.?", "rt", s)
    s = re.sub(r"r\s?\.\s?w\.?", "rw", s)
    items: list[str | int] = []
    for m in _RT_RW_TOKEN.finditer(s):
        token = m.group()
        if token in {"rt", "rw"}:
            items.append(token)
        elif token.isdigit():
            if len(token) > 4:
                return None
            items.append(int(token))
        elif not token.strip(" \t\n.,:/\\-"):
            continue  # a separator
        else:
            return None  # anything else: not an RT/RW answer
    if items[:2] == ["rt", "rw"]:
        items = items[2:]  # "RT/RW 5/3"
    rt: object
    rw: object
    if len(items) == 2:
        rt, rw = items
    elif len(items) == 3 and items[0] == "rt":
        rt, rw = items[1], items[2]
    elif len(items) == 4 and items[0] == "rt" and items[2] == "rw":
        rt, rw = items[1], items[3]
    elif len(items) == 4 and items[0] == "rw" and items[2] == "rt":
        rt, rw = items[3], items[1]
    else:
        return None
    if not isinstance(rt, int) or not isinstance(rw, int):
        return None
    if not (1 <= rt <= 999 and 1 <= rw <= 999):
        return None
    return f"{rt:03d}", f"{rw:03d}"


# --------------------------------------------------------------------------------------
# match_kelurahan
# --------------------------------------------------------------------------------------

_KELURAHAN_BY_CODE = {k.short_code: k for k in KELURAHAN}
_POSTAL_COUNTS = Counter(k.postal_code for k in KELURAHAN)
_KELURAHAN_BY_POSTAL = {k.postal_code: k for k in KELURAHAN if _POSTAL_COUNTS[k.postal_code] == 1}

_ABBREVIATIONS = {"brt": "barat", "bar": "barat", "br": "barat", "tmr": "timur", "tim": "timur"}
_KELURAHAN_ALIASES: dict[str, Kelurahan] = {
    re.sub(r"[^a-z]", "", k.name.lower()): k for k in KELURAHAN
} | {
    "kalibarubarat": _KELURAHAN_BY_CODE["1004"],
    "kalibarutimur": _KELURAHAN_BY_CODE["1004"],
    "kalibiru": _KELURAHAN_BY_CODE["1004"],
    "klbaru": _KELURAHAN_BY_CODE["1004"],
}
_PLACE_PREFIX = frozenset({"kelurahan", "kel", "kelurhan", "klurahan", "desa", "ds"})
_PLACE_CONTEXT = frozenset({"kota", "jakarta", "utara", "jakut", "dki", "adm", "administrasi"})


def match_kelurahan(text: str) -> Kelurahan | None:
    """One of the seven kelurahan of Kecamatan Cilincing, from a name, code or postal code.

    Tolerates spacing, ``kel.``/``kelurahan`` prefixes, abbreviations (``semper brt``) and
    small typos (similarity >= 0.8); ambiguous answers (``Semper``, ``14130``) give None.
    """
    if len(text) > 100:
        return None
    s = unicodedata.normalize("NFKC", text).lower().strip()
    if re.fullmatch(r"[0-9][0-9.\s]*", s):
        digits = re.sub(r"[^0-9]", "", s)
        if len(digits) == 4:
            return _KELURAHAN_BY_CODE.get(digits)
        if len(digits) == 10 and digits.startswith("317204"):
            return _KELURAHAN_BY_CODE.get(digits[6:])
        if len(digits) == 5:
            return _KELURAHAN_BY_POSTAL.get(digits)
        return None
    tokens = re.findall(r"[a-z]+|[0-9]+", s)
    while tokens and tokens[0] in _PLACE_PREFIX:
        tokens = tokens[1:]
    # "Kalibaru, Kec. Cilincing, Jakarta Utara": drop the district and city.
    for i in range(len(tokens) - 1):
        if tokens[i] in {"kec", "kecamatan"} and tokens[i + 1] == "cilincing":
            tokens = tokens[:i] + tokens[i + 2 :]
            break
    while len(tokens) > 1 and tokens[-1] in _PLACE_CONTEXT:
        tokens = tokens[:-1]
    if len(tokens) > 1 and tokens[-1] == "cilincing":
        tokens = tokens[:-1]
    candidate = "".join(_ABBREVIATIONS.get(t, t) for t in tokens)
    if len(candidate) < 4 or not candidate.isalpha():
        return None
    exact = _KELURAHAN_ALIASES.get(candidate)
    if exact is not None:
        return exact
    best = 0.0
    matches: set[str] = set()
    for alias, kelurahan in _KELURAHAN_ALIASES.items():
        ratio = difflib.SequenceMatcher(None, candidate, alias).ratio()
        if ratio > best + 1e-9:
            best, matches = ratio, {kelurahan.code}
        elif abs(ratio - best) <= 1e-9:
            matches.add(kelurahan.code)
    if best < 0.8 or len(matches) != 1:
        return None
    return next(k for k in KELURAHAN if k.code in matches)
