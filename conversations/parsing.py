"""Answer parsing: turn what people type in a chat into typed values.

Pure functions, no I/O, used by every flow. Each parser either returns a value, returns
``None`` ("I did not understand, ask again"), or — for identity numbers, where the user
deserves to know what is wrong — raises :class:`InvalidAnswer` with a message-catalog key.
No parser raises anything else, whatever the input (huge, empty, emoji, markup, SQL).

Input is NFKC-normalised (full-width digits become ASCII) and lower-cased; only ASCII digits
count as digits. Work per message is bounded: ``parse_when`` reads the first 200
characters, ``extract_report`` the first 500, the other parsers refuse long input up front
(identity numbers are scanned once, linearly, so that the digit count can be reported).
Regular expressions are written without nested quantifiers, so none of them can backtrack
catastrophically.

People write Jakarta Indonesian (``ga``, ``udh``, ``kmrn``, ``malem``), some Javanese and
Betawi (``nggih``, ``mboten``, ``kaga``), and, in English mode, English: every parser
accepts both languages at once, because the words do not collide.

Date rules (``parse_when``), all relative to ``now`` (an aware datetime in Asia/Jakarta).
``prefer="future"`` (the default) reads an open date as the next one — for meetings and
activities; ``prefer="past"`` reads it as the latest one — for "since when" and birth dates.

* Weeks run Monday (Senin) to Sunday (Minggu/Ahad).
* ``Sabtu`` / ``Sabtu ini`` / ``hari Sabtu``: the next Saturday, today included; with
  ``prefer="past"`` the latest Saturday, today included (``senin`` said on a Wednesday is
  two days ago). ``Sabtu besok``: the next Saturday after today.
* ``Rabu depan`` / ``Rabu minggu depan``: the Wednesday of *next calendar week* (the week
  after the one containing today). Said on Monday 23 November 2026 that is 2 December;
  said on Saturday 28 November it is also 2 December (then equal to plain ``Rabu``).
* ``Sabtu lalu`` / ``Sabtu kemarin``: the latest Saturday strictly before today.
  ``Rabu minggu lalu``: the Wednesday of the previous calendar week.
* ``malam <day>`` is the evening before that day, as people say it: ``malam minggu`` is
  Saturday night, ``malam jumat`` Thursday night (19:00 unless a clock time is given).
* ``Minggu`` is Sunday when alone, after ``hari`` or ``malam``, or before ``ini``; it is a
  week in ``minggu depan`` (+7 days), ``minggu lalu``/``minggu kemarin`` (-7 days),
  ``seminggu``, ``2 minggu lagi``.
* ``tgl 12``: the next 12th, today included (this month if not passed, else the next
  month that has that day); with ``prefer="past"`` the latest 12th, today included.
  ``tgl 12 bulan depan`` / ``bulan lalu`` pin the month. ``12 Desember`` and ``12/12``
  without a year: the next (or latest) such date, today included. A two-digit year is
  20YY, except with ``prefer="past"``, where the century is the latest that does not put
  the date in the future (``12/05/85`` is 1985, ``17-8-45`` is 1945).
* ``awal bulan`` (the 1st), ``pertengahan bulan`` (the 15th), ``akhir bulan`` (the last
  day), also of ``tahun`` or of a named month: the next such day, or the latest with
  ``prefer="past"``; ``ini``/``depan``/``lalu`` pin the month.
* Parts of the day: pagi 07:00, siang 12:00, sore 16:00, malam 19:00, subuh 05:00
  (``malem``/``mlm`` are malam). ``nanti sore``: today if the afternoon (until 18:00) is
  not over yet, else tomorrow; ``nanti malam`` / ``malam ini``: tonight. ``tadi pagi``:
  today if the morning has begun (from 04:00), else yesterday; ``tadi malam`` /
  ``semalam`` / ``semalem``: last night (yesterday before 18:00, today from 18:00). With
  ``prefer="past"``, ``dari pagi`` / ``sejak sore`` read like ``tadi``.
* Prayer times are anchors, at fixed times representative of Jakarta through the year
  (the real times move by about 20 minutes): subuh 04:30, dzuhur 12:00, ashar 15:15,
  maghrib 18:00, isya 19:15. ``habis``/``abis``/``ba'da``/``setelah`` a prayer is half an
  hour after it (``habis maghrib`` 18:30), ``sebelum``/``menjelang`` half an hour before;
  ``habis jumatan`` is Friday 13:00 (the sermon and prayer take about an hour from 12:00).
  A bare ``subuh`` is the part of the day (05:00), a bare ``jumat`` the weekday.
* Clock hours with a part of the day: pagi keeps 0-12, siang maps 1-6 to 13-18, sore 1-11
  to 13-23, malam 5-11 to 17-23; ``jam 12 malam`` / ``tengah malam`` (and 1-4 malam) is
  after midnight, so a given date moves to the next day: ``Sabtu jam 12 malam`` is Sunday
  00:00. Without a part-of-day word the hour is taken as written (``jam 3`` is 03:00,
  ``jam 15`` is 15:00), except after ``nanti``: ``nanti jam 7`` said at 10:00 means 19:00.
* A time with no day is the next such moment (today if it is still to come, else
  tomorrow), or with ``prefer="past"`` the latest one.
* ``nanti``/``tadi`` with a clock time mean today; ``tadi`` alone is today; ``nanti``
  alone is too vague and gives None. ``sekarang``/``barusan``: today at the current minute.
* Relative amounts: ``3 hari lagi``, ``dua hari yang lalu``, ``seminggu lalu``,
  ``2 minggu lagi``, ``sebulan lalu``, ``setahun lalu``, ``2 jam lagi`` (date and time),
  ``30 menit lagi``. A bare amount (``3 hari``, ``dua mingguan``) has no direction and
  gives None, except with ``prefer="past"`` or after ``udah``/``sudah``/``sejak``, where it
  is that long ago (``udah seminggu``).
* English: ``yesterday``, ``today``, ``tomorrow``, ``tonight``, ``3 days ago``,
  ``in 2 weeks``, ``last monday``, ``next friday`` (like ``jumat depan``), ``at 7 pm``,
  ``7:30am``, ``noon``, ``midnight``, ``december 1``, ``1st of may``, ``end of the month``.
* Greetings (``selamat pagi``, ``selamat malem``) are not times.
* An explicit but impossible value (``tgl 32``, ``jam 25``, ``31/02``) gives ``None``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Literal

import phonenumbers

from conversations.places import KELURAHAN, PROVINCE_CODES, Kelurahan
from conversations.water_words import (
    CATEGORY_PATTERNS,
    CAUSES,
    NEGATION_BEFORE,
    REPORT_INTENT,
    SUPPORTING_CLAUSE,
    WATER_CONTEXT,
    WaterPattern,
)

__all__ = [
    "InvalidAnswer",
    "Kelurahan",
    "Kk",
    "Location",
    "Nik",
    "Prefer",
    "Report",
    "When",
    "extract_location",
    "extract_report",
    "is_dont_know",
    "is_skip",
    "is_water_report",
    "kelurahan_candidates",
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

Prefer = Literal["future", "past"]


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


_APOSTROPHES = re.compile(r"['’‘`´]")


def _words_only(text: str, limit: int) -> list[str]:
    """Lower-case words of a short answer: apostrophes dropped, punctuation as spaces."""
    s = _APOSTROPHES.sub("", _normalise(text, limit))
    return re.findall(r"[a-z0-9]+", s)


# --------------------------------------------------------------------------------------
# Numbers written in words (shared by parse_number, parse_when and the report slots)
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
    # Javanese
    "siji": 1,
    "loro": 2,
    "rong": 2,
    "telu": 3,
    "telung": 3,
    "papat": 4,
    "patang": 4,
    "limo": 5,
    "limang": 5,
}
# "se" + a multiplier is "one" of it: sepuluh, sebelas, seratus, seribu, sejuta, selusin.
_SE_WORDS: dict[str, str] = {
    "sepuluh": "puluh",
    "sebelas": "belas",
    "seratus": "ratus",
    "seribu": "ribu",
    "sejuta": "juta",
    "semiliar": "miliar",
    "selusin": "lusin",
}
_SCALES: dict[str, int] = {
    "lusin": 12,
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
_HALF = Decimal("0.5")

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
    """Combine numerals and number words: ``dua ribu lima ratus``, ``1,5 juta``, ``150 rb``,
    ``satu setengah juta``, ``dua lusin``."""
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
        if token == "setengah":  # "setengah" is a half; "satu setengah" one and a half
            if pending is None:
                pending = _HALF
            elif pending == pending.to_integral_value():
                pending += _HALF
            else:
                return None
            continue
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


def small_int(tokens: Sequence[str]) -> int | None:
    """A small count written with digits or words (``3``, ``dua``, ``dua belas``)."""
    if len(tokens) == 1 and tokens[0].isdigit():
        return int(tokens[0]) if len(tokens[0]) <= 3 else None
    if any(t.isdigit() for t in tokens):
        return None
    value = _words_value(tokens)
    if value is None or value != value.to_integral_value() or not 0 < value < 1000:
        return None
    return int(value)


# English number words, rewritten into Indonesian ones so that one grammar reads both.
_EN_NUMBER_WORDS: dict[str, str] = {
    "zero": "nol", "one": "satu", "two": "dua", "three": "tiga", "four": "empat",
    "five": "lima", "six": "enam", "seven": "tujuh", "eight": "delapan", "nine": "sembilan",
    "ten": "sepuluh", "eleven": "sebelas", "twelve": "dua belas", "thirteen": "tiga belas",
    "fourteen": "empat belas", "fifteen": "lima belas", "sixteen": "enam belas",
    "seventeen": "tujuh belas", "eighteen": "delapan belas", "nineteen": "sembilan belas",
    "twenty": "dua puluh", "thirty": "tiga puluh", "forty": "empat puluh",
    "fifty": "lima puluh", "sixty": "enam puluh", "seventy": "tujuh puluh",
    "eighty": "delapan puluh", "ninety": "sembilan puluh", "hundred": "ratus",
    "thousand": "ribu", "million": "juta", "billion": "miliar", "dozen": "lusin",
    "half": "setengah",
}  # fmt: skip
_EN_SCALE_AFTER_ONE = frozenset({"hundred", "thousand", "million", "billion", "dozen"})


def _english_numbers(s: str) -> str:
    """``two hundred and fifty`` -> ``dua ratus lima puluh``, ``a dozen`` -> ``selusin``,
    ``one and a half`` -> ``satu setengah``. Other words pass unchanged."""
    words = s.split()
    if not any(w in _EN_NUMBER_WORDS for w in words):
        return s
    out: list[str] = []
    for i, word in enumerate(words):
        following = words[i + 1] if i + 1 < len(words) else ""
        if word in {"a", "an", "one"} and following in _EN_SCALE_AFTER_ONE:
            out.append("se")
        elif word in {"a", "an"} and following == "half":
            continue
        elif word == "and" and out and (following in _EN_NUMBER_WORDS or following == "a"):
            continue  # "two hundred and fifty", "one and a half"
        else:
            out.append(_EN_NUMBER_WORDS.get(word, word))
    joined = " ".join(out)
    return re.sub(r"(?<![a-z])se (ratus|ribu|juta|lusin|miliar)(?![a-z])", r"se\1", joined)


# --------------------------------------------------------------------------------------
# parse_when
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class When:
    """A day, and the time of day when one was said. ``parse_when`` always sets the day (a
    time alone is given the day it next, or last, comes round); ``date`` stays optional
    for callers that build a When themselves."""

    date: dt.date | None
    time: dt.time | None


class _OutOfRange(Exception):
    """An explicit date or time that cannot exist (``tgl 32``, ``jam 25``)."""


_WHEN_LIMIT = 200

_MONTHS: dict[str, int] = {
    "januari": 1, "jan": 1, "january": 1,
    "februari": 2, "pebruari": 2, "feb": 2, "peb": 2, "february": 2,
    "maret": 3, "mar": 3, "march": 3,
    "april": 4, "apr": 4,
    "mei": 5, "may": 5,
    "juni": 6, "jun": 6, "june": 6,
    "juli": 7, "jul": 7, "july": 7,
    "agustus": 8, "agu": 8, "agt": 8, "ags": 8, "agst": 8, "aug": 8, "august": 8,
    "september": 9, "sept": 9, "sep": 9,
    "oktober": 10, "okt": 10, "oct": 10, "october": 10,
    "november": 11, "nopember": 11, "nov": 11, "nop": 11,
    "desember": 12, "des": 12, "dec": 12, "december": 12,
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

_KEMARIN = r"kemarin|kemaren|kmrn|kmarin|kmaren|kmren|kmrin|kemrn|kemarn|wingi"
_BACK = frozenset(
    {"lalu", "silam", "sebelumnya", "yll", *_KEMARIN.split("|")}
)
_FORWARD = frozenset({"lagi", "lg", "kemudian", "mendatang", "depan", "dpn", "kedepan"})
_UNITS: dict[str, str] = {
    "hari": "day",
    "hr": "day",
    "ari": "day",  # Betawi
    "dino": "day",  # Javanese
    "minggu": "week",
    "mgg": "week",
    "pekan": "week",
    "bulan": "month",
    "bln": "month",
    "tahun": "year",
    "thn": "year",
    "jam": "hour",
    "menit": "minute",
    "mnt": "minute",
}
_SE_UNITS: dict[str, str] = {
    "sehari": "day",
    "sedino": "day",
    "seminggu": "week",
    "semingguan": "week",
    "sepekan": "week",
    "sebulan": "month",
    "sebulanan": "month",
    "setahun": "year",
    "setahunan": "year",
    "sejam": "hour",
}
# After these, "minggu" is Sunday: "hari minggu depan", "malam minggu depan".
_SUNDAY_BEFORE = frozenset({"hari", "hr", "malam"})
# Words before a bare amount that make it a time ago: "udah 3 hari", "sejak seminggu".
_ALREADY = frozenset({"udah", "sudah", "sdh", "udh", "dah", "sejak", "semenjak", "wis", "uwis"})

_TOKEN = re.compile(r"[a-z]+|[0-9]+")
_ISO_DATE = re.compile(r"(?<![0-9])([0-9]{4})[-/]([0-9]{1,2})[-/]([0-9]{1,2})(?![0-9])")
_DOTTED_DATE = re.compile(r"(?<![0-9.])([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})(?![0-9.])")
_SLASHED_DATE = re.compile(
    r"(?<![0-9./:-])([0-9]{1,2})([/-])([0-9]{1,2})(?:\2([0-9]{4}|[0-9]{2}))?(?![0-9/:-])"
)
_MONTHNAME_DATE = re.compile(
    rf"(?<![0-9.])([0-9]{{1,2}})[\s-]*({_MONTH_ALT})(?![a-z])\.?(?:[\s,-]*([0-9]{{4}})(?![0-9]))?"
)
# A two-digit year after a month name ("12 mei 85"); not a clock hour ("12 mei 10 pagi").
_MONTHNAME_DATE_YY = re.compile(
    rf"(?<![0-9.])([0-9]{{1,2}})[\s-]*({_MONTH_ALT})(?![a-z])\.?[\s,-]*([0-9]{{2}})(?![0-9.:])"
    r"(?!\s*(?:pagi|siang|sore|petang|malam|subuh|jam|wib))"
)
# English order: "december 1", "dec 5, 2026".
_MONTHFIRST_DATE = re.compile(
    rf"(?<![a-z])({_MONTH_ALT})\.?\s*([0-9]{{1,2}})(?![0-9.:])(?:\s*,?\s*([0-9]{{4}})(?![0-9]))?"
)
_TGL_DATE = re.compile(
    r"(?<![a-z])(?:tgl|tanggal|tggl|tg)\.?\s*([0-9]{1,3})(?![0-9])"
    r"(?:\s*(?:bulan|bln)\s*(ini|depan|dpn|lalu|kemarin|kemaren))?"
)
_MONTH_PART = re.compile(
    rf"(?<![a-z])(awal|permulaan|akhir|ahir|penghujung|pertengahan|tengah|medio)\s*"
    rf"(bulan|bln|tahun|thn|{_MONTH_ALT})(?![a-z])"
    rf"(?:\s*(ini|depan|dpn|lalu|{_KEMARIN})(?![a-z]))?"
)
_PERIOD_PHRASE = re.compile(
    r"(?<![a-z])(?:(nanti|ntar|entar|nnti|tadi|td|dari|dr|sejak|semenjak|mulai)\s*)?"
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

# --- rewrites applied before the rules: spelling, English, prayer times ----------------

_SPELLING: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?<![a-z])(?:semalem|smlm|semalm|smalam|smalem)(?![a-z])"), "semalam"),
    (re.compile(r"(?<![a-z])(?:malem|malm|mlm|mlem|malam2|malem2)(?![a-z])"), "malam"),
    (re.compile(r"(?<![a-z])malming(?![a-z])"), "malam minggu"),
    (re.compile(r"(?<![a-z])(?:pgi|pagi2|pagi-pagi|pagi pagi)(?![a-z])"), "pagi"),
    (re.compile(r"(?<![a-z])(?:siang2|siang-siang)(?![a-z])"), "siang"),
    (re.compile(r"(?<![a-z])(?:sore2|sore-sore)(?![a-z])"), "sore"),
    (re.compile(r"(?<![a-z])(?:tdi|td)(?![a-z])"), "tadi"),
    (re.compile(r"(?<![a-z])(?:bsok|besoq)(?![a-z])"), "besok"),
    (re.compile(r"(?<![a-z])dini\s+hari(?![a-z])"), "subuh"),
    (
        re.compile(r"(?<![a-z])(?:selamat|slmt|met)\s+(?:pagi|siang|sore|petang|malam)(?![a-z])"),
        " ",
    ),
    (re.compile(r"(?<![a-z])tengah\s+malam(?![a-z])"), " jam 12 malam "),
    (re.compile(r"(?<![a-z])tengah\s+hari(?![a-z])"), " jam 12 siang "),
)

_EN_DAYS: dict[str, str] = {
    "monday": "senin",
    "tuesday": "selasa",
    "wednesday": "rabu",
    "thursday": "kamis",
    "friday": "jumat",
    "saturday": "sabtu",
    "sunday": "hari minggu",  # "hari" keeps it a Sunday, never a week
}
_EN_UNITS: dict[str, str] = {
    "day": "hari", "days": "hari", "week": "minggu", "weeks": "minggu", "month": "bulan",
    "months": "bulan", "year": "tahun", "years": "tahun", "hour": "jam", "hours": "jam",
    "hrs": "jam", "minute": "menit", "minutes": "menit", "min": "menit",
    "mins": "menit",
}  # fmt: skip
_EN_SMALL: dict[str, str] = {
    "a": "1", "an": "1", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11",
    "twelve": "12", "few": "3", "couple": "2",
}  # fmt: skip
_EN_DAY_ALT = "|".join(_EN_DAYS)
_EN_AMOUNT = re.compile(
    r"(?<![a-z0-9])(?:a\s+)?([0-9]{1,3}|" + "|".join(_EN_SMALL) + r")(?:\s+of)?\s+("
    + "|".join(sorted(_EN_UNITS, key=len, reverse=True))
    + r")(?![a-z])"
)
_EN_CLOCK_AMPM = re.compile(
    r"(?<![a-z0-9.:])(?:at\s+)?([0-9]{1,2})(?:[:.]([0-9]{2}))?\s*([ap])\.?\s?m\.?(?![a-z])"
)
_EN_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(rf"(?<![a-z]){pattern}(?![a-z])"), replacement)
    for pattern, replacement in (
        (r"(?:the\s+)?day\s+after\s+tomorrow", "lusa"),
        (r"(?:the\s+)?day\s+before\s+yesterday", "kemarin lusa"),
        (r"last\s+night", "semalam"),
        (r"this\s+morning", "pagi ini"),
        (r"this\s+afternoon", "sore ini"),
        (r"this\s+evening", "malam ini"),
        (r"tonight|tonite", "malam ini"),
        (r"yesterday", "kemarin"),
        (r"today", "hari ini"),
        (r"tomorrow|tmrw|tmr", "besok"),
        (r"right\s+now|now", "sekarang"),
        (r"just\s+now", "barusan"),
        (r"noon|midday", "jam 12 siang"),
        (r"midnight", "jam 12 malam"),
        (rf"(?:last|past|previous)\s+({_EN_DAY_ALT})", r"\1 lalu"),
        (rf"next\s+({_EN_DAY_ALT})", r"\1 depan"),
        (rf"(?:this|coming)\s+({_EN_DAY_ALT})", r"\1 ini"),
        (r"(?:last|past|previous)\s+week", "minggu lalu"),
        (r"next\s+week", "minggu depan"),
        (r"(?:last|past|previous)\s+month", "1 bulan lalu"),
        (r"next\s+month", "1 bulan lagi"),
        (r"(?:last|past|previous)\s+year", "1 tahun lalu"),
        (r"next\s+year", "1 tahun lagi"),
        (r"(?:the\s+)?(?:end)\s+of\s+(?:the\s+)?month", "akhir bulan"),
        (r"(?:the\s+)?(?:beginning|start)\s+of\s+(?:the\s+)?month", "awal bulan"),
        (r"(?:the\s+)?middle\s+of\s+(?:the\s+)?month|mid\s*-?\s*month", "pertengahan bulan"),
        (r"(?:in\s+the\s+)?morning", "pagi"),
        (r"(?:in\s+the\s+)?afternoon", "sore"),
        (r"(?:in\s+the\s+)?evening|(?:at\s+)?night", "malam"),
        (r"since|from", "sejak"),
        (r"ago", "lalu"),
        (r"later|from\s+now", "lagi"),
        (r"(?:on\s+)?the\s+([0-9]{1,2})(?![0-9])", r"tgl \1"),
        (r"([0-9]{1,2})\s+of", r"\1"),
        (r"at\s+([0-9]{1,2}(?:[:.][0-9]{2})?)(?![0-9])", r"jam \1"),
        (r"oclock", " "),
    )
)
_EN_IN = re.compile(r"(?<![a-z])in\s+([0-9]{1,3}\s+(?:hari|minggu|bulan|tahun|jam|menit))(?![a-z])")
_EN_ORDINAL = re.compile(r"(?<![0-9])([0-9]{1,2})(?:st|nd|rd|th)(?![a-z])")
_EN_HINT = re.compile(
    r"(?<![a-z])(?:yesterday|today|tomorrow|tmrw?|tonight|tonite|now|noon|midday|midnight|ago"
    r"|last|next|this|coming|in|at|on|the|since|from|later|morning|afternoon|evening|night"
    r"|end|beginning|start|middle|mid|oclock|day|days|weeks?|months?|years?|hours?|hrs"
    r"|minutes?|mins?|[ap]\.?m|[0-9]{1,2}(?:st|nd|rd|th)|" + _EN_DAY_ALT + r")(?![a-z])"
)


def _english_when(s: str) -> str:
    """Rewrite English date words into the Indonesian forms the rules read."""
    if not _EN_HINT.search(s):
        return s
    s = _EN_ORDINAL.sub(r"\1", s)

    def ampm(m: re.Match[str]) -> str:
        hour, minute = int(m[1]), m[2] or "00"
        if not 1 <= hour <= 12:
            return " jam 99 "  # "13 pm": impossible, like "jam 25"
        hour = hour % 12 + (12 if m[3] == "p" else 0)
        return f" jam {hour}.{minute} "

    s = _EN_CLOCK_AMPM.sub(ampm, s)
    s = _EN_AMOUNT.sub(lambda m: f"{_EN_SMALL.get(m[1], m[1])} {_EN_UNITS[m[2]]}", s)
    s = _EN_IN.sub(r"\1 lagi", s)
    for pattern, replacement in _EN_PHRASES:
        s = pattern.sub(replacement, s)
    for english, indonesian in _EN_DAYS.items():
        s = re.sub(rf"(?<![a-z]){english}(?![a-z])", indonesian, s)
    return s


# Representative prayer times for Jakarta (hour, minute); see the module docstring.
_PRAYER_TIMES: dict[str, tuple[int, int]] = {
    "subuh": (4, 30),
    "dzuhur": (12, 0),
    "ashar": (15, 15),
    "maghrib": (18, 0),
    "isya": (19, 15),
    "jumat": (12, 0),
}
_PRAYER_NAMES: dict[str, str] = {
    "subuh": "subuh", "shubuh": "subuh", "subu": "subuh", "fajr": "subuh",
    "dzuhur": "dzuhur", "zuhur": "dzuhur", "duhur": "dzuhur", "dhuhur": "dzuhur",
    "zhuhur": "dzuhur", "dhuhr": "dzuhur", "lohor": "dzuhur", "luhur": "dzuhur",
    "zuhr": "dzuhur", "ashar": "ashar", "asar": "ashar", "azhar": "ashar", "asr": "ashar",
    "maghrib": "maghrib", "magrib": "maghrib", "mahgrib": "maghrib", "mgrb": "maghrib",
    "maghreb": "maghrib", "isya": "isya", "isyak": "isya", "isa": "isya", "jumatan": "jumatan",
    "jumat": "jumat",
}  # fmt: skip
_AFTER_PRAYER = frozenset(
    {"bakda", "bada", "ba da", "habis", "abis", "hbs", "abs", "sehabis", "selesai", "slesai",
     "setelah", "stlh", "sesudah", "ssdh", "after"}
)  # fmt: skip
_BEFORE_PRAYER = frozenset({"sebelum", "sblm", "menjelang", "jelang", "before"})
_PRAYER_REL = "|".join(sorted(_AFTER_PRAYER | _BEFORE_PRAYER, key=len, reverse=True))
_PRAYER = re.compile(
    rf"(?<![a-z])(?:(?P<rel>{_PRAYER_REL}|pas|waktu|wkt|saat)\s*)?"
    r"(?P<sholat>(?:sholat|shalat|solat|salat|sembahyang|sembayang)\s*)?"
    r"(?P<p>" + "|".join(sorted(_PRAYER_NAMES, key=len, reverse=True)) + r")(?![a-z])"
)


def _prayer_time(m: re.Match[str]) -> str:
    name = _PRAYER_NAMES[m["p"]]
    rel, sholat = m["rel"], m["sholat"]
    anchored = rel is not None or sholat is not None
    if name in {"subuh", "jumat", "isya"} and not anchored:
        return m.group()  # a part of the day, a weekday, a name ("Isa")
    if name == "jumat" and rel in {"pas", "waktu", "wkt", "saat"} and sholat is None:
        return m.group()  # "pas jumat": on Friday
    if name == "jumatan":
        name = "jumat"
    hour, minute = _PRAYER_TIMES[name]
    total = hour * 60 + minute
    if rel in _AFTER_PRAYER:
        total += 60 if name == "jumat" else 30
    elif rel in _BEFORE_PRAYER:
        total -= 30
    clock = f"jam {total // 60:02d}.{total % 60:02d}"
    return f" jumat {clock} " if name == "jumat" else f" {clock} "


def _prepare_when(text: str, limit: int = _WHEN_LIMIT) -> str:
    s = _normalise(text, limit)
    s = re.sub(r"jum\s?['’‘`´]?\s?at", "jumat", s)
    s = _APOSTROPHES.sub("", s)
    s = re.sub(r"\s+", " ", s)
    s = _english_when(s)
    for pattern, replacement in _SPELLING:
        s = pattern.sub(replacement, s)
    return _PRAYER.sub(_prayer_time, s)


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int


@dataclass(slots=True)
class _WhenState:
    text: str  # normalised text; consumed parts are blanked out as they are used
    now: datetime
    prefer: Prefer = "future"

    @property
    def today(self) -> date:
        return self.now.date()

    @property
    def past(self) -> bool:
        return self.prefer == "past"

    def consume(self, span: _Span) -> None:
        self.text = self.text[: span.start] + " " * (span.end - span.start) + self.text[span.end :]

    def tokens(self) -> list[tuple[str, _Span]]:
        return [(m.group(), _Span(m.start(), m.end())) for m in _TOKEN.finditer(self.text)]


def _make_date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except (ValueError, OverflowError):
        raise _OutOfRange from None


def _annual(today: date, month: int, day: int, past: bool) -> date:
    """The next ``day``/``month``, today included, or the latest one when ``past``
    (29 February: the nearest leap year)."""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise _OutOfRange
    step = -1 if past else 1
    for offset in range(9):
        try:
            candidate = date(today.year + step * offset, month, day)
        except ValueError:
            continue
        if (candidate <= today) if past else (candidate >= today):
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


def _two_digit_year(yy: int, month: int, day: int, today: date, past: bool) -> date:
    if not past:
        return _make_date(2000 + yy, month, day)
    found = _past_date(day, month, yy, today)
    if found is None:
        raise _OutOfRange
    return found


def _month_part(state: _WhenState, m: re.Match[str]) -> date:
    """``awal bulan``, ``akhir bulan lalu``, ``pertengahan desember``, ``akhir tahun``."""
    today = state.today
    part = {"awal": 1, "permulaan": 1, "pertengahan": 15, "tengah": 15, "medio": 15}.get(m[1], 31)
    unit, which = m[2], m[3]
    offset = {None: None, "ini": 0, "depan": 1, "dpn": 1}.get(which, -1)

    def in_month(first: date) -> date:
        if part == 31:
            return _add_months(first, 1) - timedelta(days=1)
        return first.replace(day=part)

    def in_year(year: int) -> date:
        return date(year, *{1: (1, 1), 15: (7, 1), 31: (12, 31)}[part])

    if unit in {"bulan", "bln"}:
        first = today.replace(day=1)
        if offset is not None:
            return in_month(_add_months(first, offset))
        candidate = in_month(first)
        if state.past and candidate > today:
            return in_month(_add_months(first, -1))
        if not state.past and candidate < today:
            return in_month(_add_months(first, 1))
        return candidate
    if unit in {"tahun", "thn"}:
        if offset is not None:
            return in_year(today.year + offset)
        candidate = in_year(today.year)
        if state.past and candidate > today:
            return in_year(today.year - 1)
        if not state.past and candidate < today:
            return in_year(today.year + 1)
        return candidate
    month = _MONTHS[unit]
    year = today.year + (offset or 0)
    candidate = in_month(date(year, month, 1))
    if offset is None:
        if state.past and candidate > today:
            candidate = in_month(date(year - 1, month, 1))
        elif not state.past and candidate < today:
            candidate = in_month(date(year + 1, month, 1))
    return candidate


def _find_explicit_date(state: _WhenState) -> date | None:
    text, today, past = state.text, state.today, state.past
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
            return _annual(today, month, day, past)
        if len(m[4]) == 2:
            return _two_digit_year(int(m[4]), month, day, today, past)
        return _make_date(int(m[4]), month, day)
    m = _MONTHNAME_DATE_YY.search(text)
    if m:
        state.consume(_Span(m.start(), m.end()))
        return _two_digit_year(int(m[3]), _MONTHS[m[2]], int(m[1]), today, past)
    m = _MONTHNAME_DATE.search(text)
    if m:
        state.consume(_Span(m.start(), m.end()))
        day, month = int(m[1]), _MONTHS[m[2]]
        if m[3] is None:
            return _annual(today, month, day, past)
        return _make_date(int(m[3]), month, day)
    m = _MONTH_PART.search(text)
    if m:
        state.consume(_Span(m.start(), m.end()))
        return _month_part(state, m)
    m = _MONTHFIRST_DATE.search(text)
    if m:
        state.consume(_Span(m.start(), m.end()))
        day, month = int(m[2]), _MONTHS[m[1]]
        if m[3] is None:
            return _annual(today, month, day, past)
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
            month_start = _add_months(first, -offset if past else offset)
            try:
                candidate = month_start.replace(day=day)
            except ValueError:
                continue
            if (candidate <= today) if past else (candidate >= today):
                return candidate
        raise _OutOfRange  # pragma: no cover - some month always has the day
    return None


def _unit_of(word: str) -> tuple[str, bool] | None:
    """The unit a word names, and whether it carries the "about" suffix (``mingguan``)."""
    if word in _UNITS:
        return _UNITS[word], False
    if word.endswith("an") and word[:-2] in _UNITS and word[:-2] != "jam":
        return _UNITS[word[:-2]], True  # "harian", "mingguan", "bulanan", "tahunan"
    return None


def _find_relative_units(state: _WhenState) -> datetime | date | None:
    """``3 hari lagi``, ``dua hari yang lalu``, ``seminggu lalu``, ``minggu depan``, ``sejam lagi``;
    with ``prefer="past"`` or after ``udah``: ``3 hari``, ``dua mingguan``.

    Returns a datetime for hours and minutes, a date otherwise.
    """
    tokens = state.tokens()
    words = [t for t, _ in tokens]
    for i, (word, span) in enumerate(tokens):
        count: int | None = None
        start = span.start
        first = i  # index of the first token of the amount
        explicit = True  # the amount was written ("3 hari", "seminggu"), not implied
        if word in _SE_UNITS:
            unit, count = _SE_UNITS[word], 1
        else:
            found = _unit_of(word)
            if found is None:
                continue
            unit, suffixed = found
            for width in (3, 2, 1):
                if i - width >= 0:
                    n = small_int(words[i - width : i])
                    if n is not None:
                        count, start, first = n, tokens[i - width][1].start, i - width
                        break
            if count is None:
                previous = words[i - 1] if i > 0 else ""
                if suffixed or unit != "week" or previous in _DAYS or previous in _SUNDAY_BEFORE:
                    continue
                count, explicit = 1, False  # "minggu depan", "minggu lalu": a week
        j = i + 1
        while j < len(words) and words[j] in {"yang", "yg", "ke", "an"}:
            j += 1
        if j < len(words) and (words[j] in _BACK or words[j] in _FORWARD):
            sign = -1 if words[j] in _BACK else 1
            end = tokens[j][1].end
        elif explicit and (state.past or (first > 0 and words[first - 1] in _ALREADY)):
            after = words[i + 1 : i + 3]
            if unit in {"hour", "minute"} and after and after[0].isdigit():
                continue  # "5 jam 3": not an amount of hours
            if after[:1] == ["sekali"] or (
                len(after) == 2 and small_int(after[:1]) is not None and after[1] in {"kali", "x"}
            ):
                continue  # "3 hari sekali", "seminggu 2 kali": how often, not since when
            sign = -1
            end = tokens[j - 1][1].end
        else:
            continue
        state.consume(_Span(start, end))
        try:
            if unit == "day":
                return state.today + timedelta(days=sign * count)
            if unit == "week":
                return state.today + timedelta(weeks=sign * count)
            if unit == "month":
                return _add_months(state.today, sign * count)
            if unit == "year":
                return _add_months(state.today, sign * 12 * count)
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
        eve = previous == "malam"  # "malam minggu": the evening before Sunday
        if word == "minggu" and previous != "hari" and not eve:
            if previous in _DAYS or previous.isdigit() or previous in _DIGIT_WORDS:
                continue
            if following in _BACK or following in _FORWARD or following in {"yang", "yg"}:
                continue  # a week, handled by _find_relative_units
        target = (_DAYS[word] - 1) % 7 if eve else _DAYS[word]
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
        # "malam" stays in the text: it is the part of the day, read later
        state.consume(_Span(start, end))
        monday = today - timedelta(days=today.weekday())
        if mode == "next":
            if state.past:
                return today - timedelta(days=(today.weekday() - target) % 7)
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
    (re.compile(rf"(?<![a-z])(?:{_KEMARIN})\s+lusa(?![a-z])"), -2),
    (re.compile(r"(?<![a-z])lusa(?![a-z])"), 2),
    (re.compile(r"(?<![a-z])(?:besok|besuk|bsk|esok|sesuk)(?:nya)?(?![a-z])"), 1),
    (re.compile(rf"(?<![a-z])(?:{_KEMARIN})(?:nya)?(?![a-z])"), -1),
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
    if modifier in {"dari", "dr", "sejak", "semenjak", "mulai"}:
        if not state.past:
            return period, None  # "mulai pagi": the part of the day only
        modifier = "tadi"  # "air mati dari pagi": since this morning
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


def _nearest_day(now: datetime, moment: time, past: bool) -> date:
    """The day of the next (or latest) ``moment`` of the clock, seen from ``now``."""
    current = time(now.hour, now.minute)
    if past:
        return now.date() if moment <= current else now.date() - timedelta(days=1)
    return now.date() if moment >= current else now.date() + timedelta(days=1)


def _parse_when(state: _WhenState) -> tuple[When | None, bool]:
    """The moment, and whether a day was named: not only a clock time, a part of the day or
    ``sekarang`` (which says "now", not "since when")."""
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
            return When(exact.date(), exact.time().replace(second=0, microsecond=0)), True
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
            # the whole message is "sore": later today (or tomorrow if it is over);
            # looking back, this one if it has begun, else yesterday's
            if state.past:
                started = now.hour >= _PERIOD_START[period]
                found = state.today if started else state.today - timedelta(1)
            else:
                over = now.hour >= _PERIOD_END[period]
                found = state.today + timedelta(1) if over else state.today
            when_time = time(_PERIOD_DEFAULT[period])
            return When(found, when_time), False
        if found is not None:
            when_time = time(_PERIOD_DEFAULT[period])
    elif is_now:
        when_time = time(now.hour, now.minute)
    if found is None and when_time is None and _TADI.search(state.text):
        found = state.today  # "tadi": earlier today
    if found is not None and shift:
        found += timedelta(days=shift)
    if found is None and when_time is None:
        return None, False
    if found is None and when_time is not None:
        return When(_nearest_day(now, when_time, state.past), when_time), False
    return When(found, when_time), not is_now


def _when(prepared: str, now: datetime, prefer: Prefer) -> tuple[When | None, bool]:
    if not _TOKEN.search(prepared):
        return None, False
    try:
        return _parse_when(_WhenState(prepared, now, prefer))
    except (_OutOfRange, OverflowError, ValueError):
        return None, False


def parse_when(text: str, now: datetime, prefer: Prefer = "future") -> When | None:
    """A date and/or time typed in everyday Indonesian (or English), resolved against ``now``.

    ``prefer="past"`` reads open dates as the latest one ("since when", birth dates). See
    the module docstring for the rules. Returns None when nothing date- or time-like is
    found, or when an explicit value is impossible (``tgl 32``, ``jam 25``).
    """
    if prefer not in ("future", "past"):
        raise ValueError(f"prefer must be 'future' or 'past', not {prefer!r}")
    return _when(_prepare_when(text), now, prefer)[0]


# --------------------------------------------------------------------------------------
# parse_yes_no, is_dont_know, is_skip
# --------------------------------------------------------------------------------------


def _squeeze(word: str) -> str:
    """Collapse repeated letters: ``iyaaa`` -> ``iya``, ``okee`` -> ``oke``."""
    return re.sub(r"(.)\1+", r"\1", word)


_YES_WORDS = frozenset(
    _squeeze(w)
    for w in (
        "ya", "iya", "iye", "iyo", "y", "yes", "yup", "yups", "yap", "yep", "yeah", "yea", "yo",
        "yoi", "yoa", "ok", "oke", "okeh", "okey", "okay", "oce", "oks", "sip", "siap", "betul",
        "btl", "benar", "bnr", "bener", "boleh", "lanjut", "lanjutkan", "setuju", "mau", "baik",
        "tentu", "pasti", "bisa", "gapapa", "gpp", "kirim", "kirimkan", "simpan", "gas",
        "gaskeun", "cus", "mantap", "mantul", "cocok", "datang", "dateng", "hadir", "ikut",
        "insyaallah", "silakan", "silahkan", "blh", "bole",
        # Javanese, Sundanese, Betawi
        "nggih", "inggih", "enggih", "injih", "hooh", "leres", "muhun", "sumuhun", "monggo",
        "mangga",
        # English
        "sure", "correct", "right", "confirm", "confirmed", "send", "agree", "fine", "alright",
        "absolutely", "definitely", "yess",
    )
)  # fmt: skip
_NO_WORDS = frozenset(
    _squeeze(w)
    for w in (
        "tidak", "tdk", "gak", "ga", "gk", "g", "gx", "nggak", "ngga", "ngak", "nggk", "enggak",
        "engga", "kagak", "kaga", "kgk", "ndak", "nda", "bukan", "jangan", "jgn", "no", "n",
        "tak", "nope", "nah", "belum", "blm", "blom", "ogah", "emoh", "moh", "ora", "mboten",
        "boten", "teu", "henteu", "not", "dont", "never",
    )
)  # fmt: skip
# Words that may accompany a yes or a no without changing it ("ya udah", "gak deh kak").
_FILLER_WORDS = frozenset(
    _squeeze(w)
    for w in (
        "udah", "sudah", "sdh", "udh", "dah", "deh", "dong", "aja", "ajah", "saja", "sih", "lah",
        "kok", "lho", "loh", "nih", "yuk", "ayo", "kak", "kakak", "pak", "bapak", "bu", "ibu",
        "mas", "mbak", "mba", "bang", "om", "min", "admin", "bos", "gan", "terima", "kasih",
        "makasih", "trims", "thanks", "thank", "thx", "you", "please", "pls", "plz", "sir",
        "semua", "semuanya", "sekali", "banget", "bgt", "do", "that", "is", "its", "it", "ah",
        # how people address the bot or each other: "iya nak", "boleh teh", "sudah bu"
        "nak", "teh", "aje", "ajeh", "aye", "mpok", "bude", "pakde", "mbah", "ning", "cak",
        "kang", "akang", "aa", "neng", "dek", "adek", "bro", "sis", "mang", "uda", "uni",
        "babe", "nyak", "sampun", "wis", "uwis",
    )
)  # fmt: skip
# Said alone, these answer "sudah benar?" with a yes.
_DONE_WORDS = frozenset(
    _squeeze(w) for w in ("udah", "sudah", "sdh", "udh", "dah", "sampun", "wis", "uwis")
)
# Words that a no may govern: "tidak mau", "gak usah", "belum bisa", "no thanks".
_NEGATABLE_WORDS = frozenset(
    _squeeze(w)
    for w in (
        "mau", "usah", "perlu", "jadi", "bisa", "dulu", "setuju", "benar", "betul", "bener",
        "boleh", "lanjut", "ada", "datang", "dateng", "hadir", "ikut", "kirim", "simpan",
        "want", "need", "now", "yet", "right", "correct", "dihubungi", "hubungi", "ditelpon",
        "ditelepon", "telpon", "dikontak", "kontak", "dichat", "contact", "call",
    )
)  # fmt: skip
_EMOJI_YES = ("\U0001f44d", "\U0001f44c", "\u2705", "\u2714", "\u2611")  # 👍 👌 ✅ ✔ ☑
_EMOJI_NO = ("\U0001f44e", "\u274c", "\u2716")  # 👎 ❌ ✖
_YES_NO_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = (
    # "ga papa", "tidak apa-apa", "gak masalah", "no problem": it is fine, so yes
    (
        re.compile(
            r"(?<![a-z])(?:ga|gak|gk|g|nggak|ngga|enggak|tidak|tdk|ndak|nda|kagak)\s*"
            r"(?:apa\s*-?\s*apa|apa2|papa|pa2|masalah|msh|masalh)(?![a-z])"
            r"|(?<![a-z])no\s+(?:problem|worries)(?![a-z])"
        ),
        " gapapa ",
    ),
    (re.compile(r"(?<![a-z])in\s*sya\s*-?\s*a?ll[ao]h|insya\s*-?\s*all[ao]h|insh?a\s*-?\s*all[ao]h"
                r"|isya\s*all[ao]h|insyallah|insyaalloh"), " insyaallah "),
    (re.compile(r"(?<![a-z])of\s+course(?![a-z])"), " tentu "),
    (re.compile(r"(?<![a-z])go\s+ahead(?![a-z])"), " lanjut "),
    (re.compile(r"(?<![a-z])(?:that\s*s|thats|its)\s+(?=right|correct|fine)"), " "),
)


def parse_yes_no(text: str) -> bool | None:
    """Yes (True), no (False), or None when the whole message is not a plain yes or no.

    ``ya``, ``iyaaa``, ``ok kirim``, ``👍``, ``ya udah``, ``sudah``, ``bisa``, ``gapapa``,
    ``nggih``, ``ho'oh``, ``yes please`` are yes; ``tidak``, ``gak``, ``tidak mau``, ``ogah``,
    ``mboten``, ``kaga``, ``no thanks`` are no; ``yah``, ``kirim besok ya``, ``ya tapi
    nanti``, ``mungkin``, ``terserah`` are None.
    """
    if len(text) > 100:
        return None
    s = unicodedata.normalize("NFKC", text).lower()
    for emoji in _EMOJI_YES:
        s = s.replace(emoji, " ya ")
    for emoji in _EMOJI_NO:
        s = s.replace(emoji, " tidak ")
    # Other emoji, skin tones, joiners and variation selectors carry no yes or no.
    s = "".join(c for c in s if unicodedata.category(c) not in {"So", "Sk", "Cf", "Mn", "Cs"})
    s = _APOSTROPHES.sub("", s)
    for pattern, replacement in _YES_NO_PHRASES:
        s = pattern.sub(replacement, s)
    words = [_squeeze(w) for w in re.split(r"[\s.,!]+", s) if w]
    if not words:
        return None
    meaning = [w for w in words if w not in _FILLER_WORDS]
    if not meaning:
        return True if any(w in _DONE_WORDS for w in words) else None
    if all(w in _YES_WORDS for w in meaning):
        return True
    if meaning[0] in _NO_WORDS and all(w in _NO_WORDS or w in _NEGATABLE_WORDS for w in meaning):
        return False
    return None


_UNSURE_FILLERS = frozenset(
    {
        "saya", "sy", "aku", "ak", "gue", "gw", "gua", "i", "im", "am", "juga", "jg", "pak",
        "bu", "kak", "mas", "mbak", "sih", "deh", "ya", "yah", "nih", "berapa", "brp",
        "persisnya", "pastinya", "jumlahnya", "jumlah", "soalnya", "maaf", "mohon", "sorry",
        "banget", "bgt", "really", "exactly", "dah", "udah", "sudah",
        "pokoknya", "tuh", "lah", "kok", "min", "the", "how", "many", "number", "so", "sayang",
        "nak", "teh", "aje", "aye", "mbah", "rt", "rw", "rtnya", "rwnya", "nya", "nomornya",
        "tanggalnya", "kapan", "sejak", "persis", "alamatnya",
    }
)  # fmt: skip
_DONT_KNOW = re.compile(
    r"(?:ga|gak|gk|g|nggak|ngga|ngak|enggak|engga|tidak|tdk|tak|ndak|nda|kaga|kagak|kgk"
    r"|kurang|krg|belum|blm|blom|ora|not|dont|do not|doesnt)\s?"
    r"(?:tau|tahu|tw|thu|taw|tauk|ngerti|mengerti|yakin|jelas|paham|hafal|apal|inget|ingat"
    r"|pasti|know|sure|certain)"
    r"|gatau|gatw|gataw|gatauk|gktau|gtau|gatahu|tauk ah|au ah|entah|entahlah|mboh|embuh"
    r"|lupa|idk|dunno|unknown|unsure|no idea|wallahualam|wallahu alam|ga ada yang tau"
)


def is_dont_know(text: str) -> bool:
    """Whether the whole message says "I don't know": ``gak tau``, ``ga tau``, ``tidak
    tahu``, ``gatau``, ``entah``, ``kurang tau``, ``lupa``, ``don't know``, ``not sure``."""
    if len(text) > 80:
        return False
    # "gatauuu", "tauu": a letter held at the end of a word, as in speech
    words = [re.sub(r"(.)\1+$", r"\1", w) for w in _words_only(text, 80)]
    kept = [w for w in words if w not in _UNSURE_FILLERS]
    if not kept:
        return False
    if _DONT_KNOW.fullmatch(" ".join(kept)) is not None:
        return True
    # "ga tau, tetangga juga ngeluh": the answer is in the first clause
    first = re.split(r"[,.;!?\n]", text, maxsplit=1)[0]
    return first != text and is_dont_know(first)


_SKIP = re.compile(
    r"(?:lewati|lewat|lewatin|lewatkan|skip|skp|lompat|lompati|next|pass"
    r"|(?:ga|gak|gk|g|nggak|ngga|enggak|engga|tidak|tdk|ndak|nda|kaga|kagak|kgk|blm|belum)"
    r"(?: ada| punya)?"
    r"|gaada|gada|gd|kosong|ksg|none|nothing|no|nope|na|n a|nil|nihil|tanpa|without)"
)
_SKIP_FILLERS = frozenset(
    {
        "patokan", "patokannya", "landmark", "foto", "fotonya", "photo", "picture", "gambar",
        "catatan", "keterangan", "ket", "tambahan", "lagi", "apa", "apa2", "apapun", "info",
        "nomor", "nomer", "hp", "wa", "email", "pak", "bu", "kak", "sih", "deh", "ya", "dulu",
        "aja", "saja", "ini", "itu", "yang", "yg", "mau", "di", "sini", "the", "this", "one",
        "question", "it", "please", "pls", "step", "thanks", "makasih",
    }
)  # fmt: skip


def is_skip(text: str) -> bool:
    """Whether the whole message passes on an optional question: ``lewati``, ``skip``,
    ``ga ada``, ``tidak ada patokan``, ``kosong``, ``-``, ``none``, ``nothing``."""
    if len(text) > 60:
        return False
    if text.strip() in {"-", "--", "---", ".", "x", "X", "/"}:
        return True
    words = [w for w in _words_only(text, 60) if w not in _SKIP_FILLERS]
    if not words or len(words) > 3:
        return False
    return _SKIP.fullmatch(" ".join(words)) is not None


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
# A run that may be a phone number inside a sentence: digits with the usual separators.
_PHONE_RUN = re.compile(r"\+?\(?[0-9][0-9()\s.\-/]{5,24}[0-9]\)?")
# Words that may surround a number given as an answer: "WA 0812…", "no hp saya …".
_PHONE_LABELS = frozenset(
    {
        "wa", "whatsapp", "whatsap", "watsap", "wasap", "was", "hp", "handphone", "hape",
        "henpon", "ponsel", "no", "nomor", "nomer", "nmr", "nmor", "nomornya", "nomernya",
        "telp", "tlp", "telpon", "telepon", "tel", "phone", "mobile", "number", "nr", "contact",
        "kontak", "cp", "saya", "sy", "aku", "ak", "gue", "gw", "ane", "kami", "my", "is",
        "ini", "itu", "nya", "ya", "pak", "bu", "kak", "min", "bang", "mas", "mbak", "di",
        "ke", "bisa", "dihubungi", "hubungi", "call", "sms", "telegram", "aktif", "yg", "yang",
        "sama", "juga", "only", "the", "and", "atau", "dan", "ok", "oke", "silakan", "aja",
        "saja", "baru", "new", "here", "it", "its", "dengan", "dgn", "pakai", "pake", "aye",
        "aje", "nak", "teh", "cucu", "anak", "suami", "istri", "bapak", "ibu", "adik", "adek",
        "kakak", "ponakan", "keponakan", "menantu", "mantu", "tetangga", "mertua", "nenek",
        "kakek", "mbah", "saudara", "punya", "milik",
    }
)  # fmt: skip


def _phone_from_digits(s: str) -> str | None:
    """E.164 for a string of digits and separators (the whole answer), or None."""
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


_SPOKEN_DIGITS = {
    "nol": "0", "kosong": "0", "satu": "1", "dua": "2", "tiga": "3", "empat": "4",
    "lima": "5", "enam": "6", "tujuh": "7", "delapan": "8", "sembilan": "9",
}  # fmt: skip


def _spoken_digits(s: str) -> str:
    """``nol delapan satu dua …`` -> ``0812…``: a number read out digit by digit (eight
    digit words or more in a row; fewer are an ordinary count, left as they are)."""
    words = s.split()
    if sum(w.lower() in _SPOKEN_DIGITS for w in words) < 8:
        return s
    out: list[str] = []
    run: list[str] = []
    for word in [*words, ""]:
        if word.lower() in _SPOKEN_DIGITS:
            run.append(word)
            continue
        if len(run) >= 8:
            out.append("".join(_SPOKEN_DIGITS[w.lower()] for w in run))
        else:
            out += run
        run = []
        if word:
            out.append(word)
    return " ".join(out)


def parse_phone(text: str) -> str | None:
    """An Indonesian mobile number as E.164 (``+6281234567890``), or None.

    Accepts 0812…, 812…, 62812…, +62 812…, 0062812… and the common mistake 62 0812…,
    alone or with labels around it: ``WA 0812-3456-7890``, ``no hp saya 0812…``,
    ``0812… (WA)``, ``ini hp cucu 0812…``, and digits read out as words (``nol delapan
    satu dua …``). Landlines, numbers of other countries, invalid numbers, two numbers,
    and numbers inside other words give None.
    """
    if len(text) > 160:
        return None
    s = unicodedata.normalize("NFKC", text).strip()
    if not s:
        return None
    s = _spoken_digits(s)
    if _PHONE_CHARS.fullmatch(s):
        return _phone_from_digits(s)
    runs = [m for m in _PHONE_RUN.finditer(s) if len(re.sub(r"[^0-9]", "", m.group())) >= 8]
    if len(runs) != 1:
        return None
    run = runs[0]
    rest = (s[: run.start()] + " " + s[run.end() :]).lower()
    rest = _APOSTROPHES.sub("", rest)
    if re.search(r"[0-9]", rest):
        return None
    if any(word not in _PHONE_LABELS for word in re.findall(r"[^\W\d_]+", rest)):
        return None
    return _phone_from_digits(run.group().strip())


# --------------------------------------------------------------------------------------
# parse_number
# --------------------------------------------------------------------------------------

_NUMBER_LIMIT = 120
_APPROX_PREFIX = re.compile(
    r"^(?:±|\+\s*/?\s*-|~|sekitar|sekitaran|sktr|kira\s*-?\s*kira|kira2|kurang\s*-?\s*lebih"
    r"|kurleb|lebih\s*-?\s*kurang|hampir|ada|cuma|cuman|hanya|jumlahnya|jumlah|total|kami|kita"
    r"|semuanya|semua|about|around|approximately|approx|roughly|nearly|almost|maybe\s+about"
    r"|only|just|we\s+are|there\s+are)\s*:?\s*"
)
_CURRENCY_PREFIX = re.compile(r"^(?:rp|idr)\s*\.?\s*")
_UNIT_SUFFIX = re.compile(
    r"\s*(?<![a-z])(?:kepala\s+keluarga|rumah\s+tangga|meter\s+persegi|orang|org|kk|rumah|keluarga"
    r"|jiwa|hari|meter|mtr|m2|m|rupiah|perak|anak|unit|pintu|buah|bulan|bln|tahun|thn|liter|ltr"
    r"|jeriken|jerigen|galon|kali|x|people|persons?|families|family|households?|houses?"
    r"|homes?|days?|months?|years?|times|litres?|liters?|rupiahs?|kids|children)$"
)
# Jakarta money slang, from Hokkien numerals (values as in KBBI).
_MONEY_SLANG: dict[str, int] = {
    "gocap": 50,
    "cepek": 100,
    "gopek": 500,
    "seceng": 1_000,
    "ceceng": 1_000,
    "noceng": 2_000,
    "goceng": 5_000,
    "ceban": 10_000,
    "goban": 50_000,
    "cepekceng": 100_000,
    "cetiao": 1_000_000,
    "gotiao": 5_000_000,
}
# "berdua", "bertiga", "berempat": that many people together.
_TOGETHER = re.compile(
    r"^ber(dua|tiga|empat|lima|enam|tujuh|delapan|sembilan|sepuluh|sebelas)$"
)


def _approximate(s: str) -> str:
    """``20an`` -> ``20``, ``dua puluhan`` -> ``dua puluh``, ``2 jt an`` -> ``2 jt``."""
    s = re.sub(r"(?<=[0-9a-z])\s*-\s*an(?![a-z])", " an", s)  # "20-an"
    s = re.sub(r"(?<=[0-9])an(?![a-z])", " an", s)  # "20an"
    s = re.sub(r"(?<![a-z])(puluh|belas|ratus|ribu|rb|juta|jt|lusin)an(?![a-z])", r"\1 an", s)
    return re.sub(r"(?<=[0-9a-z])\s+an(?![a-z])", "", s)


_COUNT_UNITS: dict[str, re.Pattern[str]] = {
    "households": re.compile(
        r"kepala\s+keluarga|rumah\s+tangga|kk|rumah|keluarga|families|family|households?"
        r"|houses?|homes?|unit|pintu"
    ),
    "people": re.compile(r"orang|org|jiwa|anak|people|persons?|kids|children"),
}


def parse_number(
    text: str, *, of: Literal["households", "people"] | None = None
) -> int | Decimal | None:
    """A non-negative amount or count: ``12``, ``1.500``, ``Rp150.000,-``, ``150rb``,
    ``1,2 juta``, ``3,5``, ``dua ratus``, ``seratus lima puluh``, ``lima orang``,
    ``sekitar 10``, ``20an``, ``dua puluhan``, ``setengah``, ``satu setengah juta``,
    ``berempat``, ``selusin``, ``goceng``, ``2 ceban``, ``2 jt an``, ``sekitar 20an kk``,
    ``twenty five``, ``about 20 families``. Integral values come back as ``int``, others
    as ``Decimal``.

    ``of="households"`` (or ``"people"``) accepts only a count of those: ``20 kk`` and
    ``20`` are 20, ``rumah saya aja`` is 1, ``3 hari`` or ``Rp 5.000`` is None. For
    households a longer answer is searched for a count with its unit, as in a report:
    ``satu gang kira2 12 rumah`` is 12, ``kontrakan 7 pintu`` is 7.
    """
    if len(text) > _NUMBER_LIMIT:
        return None
    s = unicodedata.normalize("NFKC", text).lower().strip()
    if of == "households" and _ONLY_MY_HOUSE.fullmatch(s.rstrip(".!")):
        return 1
    s = re.sub(r"[.,]\s*-+$", "", s)  # "150.000,-"
    s = re.sub(r"[.!?]+$", "", s).strip()
    s = _english_numbers(s)
    for _ in range(3):
        stripped = _CURRENCY_PREFIX.sub("", _APPROX_PREFIX.sub("", s))
        if stripped == s:
            break
        s = stripped
    s = re.sub(r"(?<=[0-9])(?=[a-z])", " ", s)  # "150rb" -> "150 rb", "5orang" -> "5 orang"
    s = _approximate(s)
    units: list[str] = []
    for _ in range(3):
        unit = _UNIT_SUFFIX.search(s)
        stripped = s[: unit.start()].strip() if unit else ""
        if unit is None or not stripped:
            break
        units.append(unit.group().strip())
        s = stripped
    if of is not None and (
        any(not _COUNT_UNITS[of].fullmatch(u) for u in units)
        or _CURRENCY_PREFIX.match(text.strip().lower())
    ):
        return None
    if not s or "-" in s or "−" in s or s.startswith(("min ", "minus")):
        return None
    tokens = re.sub(r"cepek\s+ceng", "cepekceng", s).split()
    together = _TOGETHER.match(s)
    if together:
        value: Decimal | None = _words_value([together[1]])
    elif tokens and tokens[-1] in _MONEY_SLANG:
        # "goceng", "2 ceban", "dua goceng": a count of a slang amount
        count = _words_value(tokens[:-1]) if len(tokens) > 1 else Decimal(1)
        value = None if count is None else count * _MONEY_SLANG[tokens[-1]]
    else:
        value = _words_value(tokens)
    if value is None and of == "households":
        return _households_in(text)  # "satu gang kira2 12 rumah", "kontrakan 7 pintu"
    if value is None or value < 0:
        return None
    if value == value.to_integral_value():
        return int(value)
    return value.normalize()


# --------------------------------------------------------------------------------------
# parse_rt_rw
# --------------------------------------------------------------------------------------

_RT_RW_LIMIT = 300
_RT_RW_TOKEN = re.compile(r"rt|rw|[0-9]+|[\s.,:/\\\-]+|.", re.DOTALL)
# Spelled-out and dotted labels, rewritten in place to the same length (spans stay valid).
_RT_RW_LABELS = re.compile(
    r"(?<![a-z])(?:r\s?\.\s?(?P<t>t)\.?|r\s?\.\s?(?P<w>w)\.?|rukun\s+(?P<tt>tetangga)"
    r"|rukun\s+(?P<ww>warga)|er(?P<te>te)|er(?P<we>we))(?![a-z])"
)
_RT_NUMBER_WORDS = frozenset(
    {*_DIGIT_WORDS, *_SE_WORDS, "belas", "puluh", "ratus"} - {"seribu", "sejuta", "semiliar"}
)


def _relabel(s: str) -> str:
    def repl(m: re.Match[str]) -> str:
        label = "rt" if m["t"] or m["tt"] or m["te"] else "rw"
        return label + " " * (len(m.group()) - 2)

    return _RT_RW_LABELS.sub(repl, s)


def _rt_rw_whole(s: str) -> tuple[int, int] | None:
    """RT and RW when the whole answer is nothing else (``5/3``, ``rw 3 rt 5``)."""
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
    return rt, rw


@dataclass(frozen=True, slots=True)
class _Tok:
    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _RtRwHit:
    rt: int | None
    rw: int | None
    start: int
    end: int
    ambiguous: bool = False  # "rw 3/5": which number is which cannot be told


class _RtRwScanner:
    """Finds ``RT 5 RW 3``, ``rt5/rw3``, ``RT 05/03``, ``rw 3 rt 5``, ``RT/RW 5/3``,
    ``rt lima rw tiga``, ``005/003`` and a lone ``RW 05`` inside a longer text."""

    def __init__(self, s: str) -> None:
        self.s = s
        found = re.finditer(r"[a-z]+|[0-9]+|/", s)
        self.toks = [_Tok(m.group(), m.start(), m.end()) for m in found]

    def _close(self, k: int) -> bool:
        """Whether token ``k`` follows token ``k - 1`` with only a short separator between."""
        if not 0 < k < len(self.toks):
            return False
        return self.toks[k].start - self.toks[k - 1].end <= 4

    def _is(self, k: int, *texts: str) -> bool:
        return k < len(self.toks) and self.toks[k].text in texts and (k == 0 or self._close(k))

    def _number(self, k: int) -> tuple[int, int] | None:
        """(value, next index) of a number at ``k``: digits, or number words."""
        if k >= len(self.toks) or (k > 0 and not self._close(k)):
            return None
        tok = self.toks[k]
        if tok.text.isdigit():
            return (int(tok.text), k + 1) if len(tok.text) <= 3 else None
        best: tuple[int, int] | None = None
        words: list[str] = []
        j = k
        while j < len(self.toks) and len(words) < 4 and self.toks[j].text in _RT_NUMBER_WORDS:
            if j > k and self.s[self.toks[j - 1].end : self.toks[j].start].strip():
                break
            words.append(self.toks[j].text)
            j += 1
            spoken = [w for w in words if w not in {"nol", "kosong"}]  # "kosong lima"
            value = small_int(spoken) if spoken else None
            if value is not None:
                best = (value, j)
        return best

    def hits(self) -> list[_RtRwHit]:
        found: list[_RtRwHit] = []
        k = 0
        toks = self.toks
        while k < len(toks):
            hit = self._hit_at(k)
            if hit is None:
                k += 1
                continue
            found.append(hit[0])
            k = hit[1]
        return found

    def _span(self, first: int, after: int) -> tuple[int, int]:
        return self.toks[first].start, self.toks[after - 1].end

    def _hit_at(self, k: int) -> tuple[_RtRwHit, int] | None:
        toks = self.toks
        word = toks[k].text
        if word in {"rt", "rtrw"}:
            j = k + 1
            combined = word == "rtrw"
            if word == "rt" and self._is(j, "/") and self._is(j + 1, "rw"):
                combined, j = True, j + 2  # "RT/RW 5/3"
            elif word == "rt" and self._is(j, "rw"):
                combined, j = True, j + 1  # "RT RW 5/3"
            first = self._number(j)
            if first is None:
                return None
            a, j = first
            if combined:
                if self._is(j, "/"):
                    j += 1
                second = self._number(j)
                if second is None:
                    return None
                b, j = second
                return _RtRwHit(a, b, *self._span(k, j)), j
            if self._is(j, "rw"):  # "rt 5 rw 3"
                second = self._number(j + 1)
                if second is not None:
                    return _RtRwHit(a, second[0], *self._span(k, second[1])), second[1]
            if self._is(j, "/") and self._is(j + 1, "rw"):  # "rt5/rw3"
                second = self._number(j + 2)
                if second is not None:
                    return _RtRwHit(a, second[0], *self._span(k, second[1])), second[1]
            if self._is(j, "/"):  # "RT 05/03"
                second = self._number(j + 1)
                if second is not None:
                    return _RtRwHit(a, second[0], *self._span(k, second[1])), second[1]
            return _RtRwHit(a, None, *self._span(k, j)), j
        if word == "rw":
            first = self._number(k + 1)
            if first is None:
                return None
            b, j = first
            if self._is(j, "rt"):  # "rw 3 rt 5"
                second = self._number(j + 1)
                if second is not None:
                    return _RtRwHit(second[0], b, *self._span(k, second[1])), second[1]
            after = self._number(j + 1) if self._is(j, "/") else None
            if after is not None:  # "rw 3/5": which number is which cannot be told
                return _RtRwHit(None, b, *self._span(k, after[1]), ambiguous=True), after[1]
            return _RtRwHit(None, b, *self._span(k, j)), j
        # "005/003": three digits each, as RT/RW are written on forms (not a date)
        if (
            len(word) == 3
            and word.isdigit()
            and self._is(k + 1, "/")
            and k + 2 < len(toks)
            and len(toks[k + 2].text) == 3
            and toks[k + 2].text.isdigit()
            and self._close(k + 2)
            and not self._is(k + 3, "/")
            and not (k > 0 and toks[k - 1].text == "/" and self._close(k))
        ):
            return _RtRwHit(int(word), int(toks[k + 2].text), *self._span(k, k + 3)), k + 3
        return None


def _rt_rw_hits(s: str) -> list[_RtRwHit]:
    """RT/RW mentions in normalised text ``s`` (same length as the text spans refer to)."""
    return _RtRwScanner(_relabel(s)).hits()


def _valid(value: int | None) -> bool:
    return value is None or 1 <= value <= 999


def _pad(value: int) -> str:
    return f"{value:03d}"


def find_rt_rw(text: str) -> tuple[str, str] | None:
    """The one RT/RW mention in a longer answer, and the rest of it:
    ``RT 5 RW 3 gang Melati`` -> ``("RT 5 RW 3", "gang Melati")``."""
    if len(text) > _RT_RW_LIMIT:
        return None
    s = unicodedata.normalize("NFKC", text).lower()
    if len(s) != len(text):
        return None  # spans would not point into the text as typed
    hits = _rt_rw_hits(s)
    if len(hits) != 1 or hits[0].ambiguous or hits[0].rt is None or hits[0].rw is None:
        return None
    hit = hits[0]
    return text[hit.start:hit.end], _rest(text, hit.start, hit.end)


_ID_RUN = re.compile(r"(?<![0-9])(?:[0-9][ .\-]?){15}[0-9](?![0-9])")
_ID_LABEL = re.compile(r"(?:^|\s)(?:nik|no\.?\s*ktp|ktp|no\.?)\s*[:.]?\s*$", re.IGNORECASE)


def find_id_number(text: str) -> tuple[str, str] | None:
    """A 16-digit number (NIK, No. KK) in a longer answer, and the rest of it:
    ``Budi Santoso NIK 3172…`` -> ``("3172…", "Budi Santoso")``."""
    found = list(_ID_RUN.finditer(text))
    if len(found) != 1:
        return None
    m = found[0]
    before = _ID_LABEL.sub("", text[:m.start()])
    return m.group(), _rest(before + " " + text[m.end():], 0, 0)


def _rest(text: str, start: int, end: int) -> str:
    """``text`` without ``[start:end]``, and without the commas and spaces left around it."""
    return re.sub(r"\s+", " ", text[:start] + " " + text[end:]).strip(" ,.;:-")


def parse_rt_rw(text: str) -> tuple[str, str] | None:
    """RT and RW as zero-padded 3-digit strings: ``RT 5 RW 3`` -> ``("005", "003")``.

    Accepts ``rt05/rw03``, ``RT.005/RW.003``, ``005/003``, ``5/3``, ``RT 5/3``,
    ``rw 3 rt 5``, ``rt5rw3``, ``RT/RW 5/3``, ``rt lima rw tiga``, also inside a longer
    answer: ``RT 05 RW 03 Kalibaru``, ``rt 5 rw 3 deket masjid``. Values must be 1-999.
    An answer with only one of them, two different RT/RW, or ``rw 3/5`` gives None.
    """
    if len(text) > _RT_RW_LIMIT:
        return None
    s = _relabel(unicodedata.normalize("NFKC", text).lower().strip())
    whole = _rt_rw_whole(s)
    if whole is not None:
        rt, rw = whole
        return (_pad(rt), _pad(rw)) if 1 <= rt <= 999 and 1 <= rw <= 999 else None
    hits = _RtRwScanner(s).hits()
    if any(h.ambiguous or not _valid(h.rt) or not _valid(h.rw) for h in hits):
        return None
    pairs: set[tuple[int, int]] = set()
    for hit in hits:
        if hit.rt is None or hit.rw is None:
            return None  # an RT or an RW alone beside the pair: which one is meant?
        pairs.add((hit.rt, hit.rw))
    if len(pairs) != 1:
        return None
    rt, rw = pairs.pop()
    return _pad(rt), _pad(rw)


# --------------------------------------------------------------------------------------
# match_kelurahan, kelurahan_candidates
# --------------------------------------------------------------------------------------

_KELURAHAN_LIMIT = 300
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
_SEMPER = (_KELURAHAN_BY_CODE["1005"], _KELURAHAN_BY_CODE["1007"])
# Names found inside a longer text; "Semper" alone is two kelurahan.
_PLACE_NAMES: dict[str, tuple[Kelurahan, ...]] = {
    alias: (k,) for alias, k in _KELURAHAN_ALIASES.items()
} | {"semper": _SEMPER, "smper": _SEMPER}
_PLACE_PREFIX = frozenset({"kelurahan", "kel", "kelurhan", "klurahan", "desa", "ds"})
_PLACE_CONTEXT = frozenset({"kota", "jakarta", "utara", "jakut", "dki", "adm", "administrasi"})
_DISTRICT_WORDS = frozenset({"kec", "kecamatan", "kcm", "district"})
_CODE_IN_TEXT = re.compile(r"(?<![0-9.])31\.?72\.?04\.?(100[1-7])(?![0-9])")
_POSTAL_IN_TEXT = re.compile(r"(?<![0-9.])(141[0-9]0)(?![0-9])")
_CILINCING = _KELURAHAN_BY_CODE["1001"]


def _whole_candidates(s: str) -> tuple[Kelurahan, ...]:
    """The kelurahan an answer that is only a place name, code or postal code names."""
    if re.fullmatch(r"[0-9][0-9.\s]*", s):
        digits = re.sub(r"[^0-9]", "", s)
        if len(digits) == 4 and digits in _KELURAHAN_BY_CODE:
            return (_KELURAHAN_BY_CODE[digits],)
        if len(digits) == 10 and digits.startswith("317204") and digits[6:] in _KELURAHAN_BY_CODE:
            return (_KELURAHAN_BY_CODE[digits[6:]],)
        if len(digits) == 5:
            return tuple(k for k in KELURAHAN if k.postal_code == digits)
        return ()
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
        return ()
    exact = _KELURAHAN_ALIASES.get(candidate)
    if exact is not None:
        return (exact,)
    best = 0.0
    matches: set[str] = set()
    for alias, kelurahan in _KELURAHAN_ALIASES.items():
        ratio = difflib.SequenceMatcher(None, candidate, alias).ratio()
        if ratio > best + 1e-9:
            best, matches = ratio, {kelurahan.code}
        elif abs(ratio - best) <= 1e-9:
            matches.add(kelurahan.code)
    if best < 0.8:
        return ()
    return tuple(k for k in KELURAHAN if k.code in matches)


def _fuzzy_place(word: str) -> tuple[Kelurahan, ...] | None:
    """A one-word place name with a small typo (``kalibru``, ``marundaa``), or None."""
    if len(word) < 6:
        return None
    found: set[Kelurahan] = set()
    best = 0.0
    for alias, places in _PLACE_NAMES.items():
        if alias[:2] != word[:2] or abs(len(alias) - len(word)) > 2:
            continue
        matcher = difflib.SequenceMatcher(None, word, alias)
        if matcher.real_quick_ratio() < 0.85 or matcher.quick_ratio() < 0.85:
            continue
        ratio = matcher.ratio()
        if ratio >= 0.85 and ratio > best + 1e-9:
            best, found = ratio, set(places)
        elif ratio >= 0.85 and abs(ratio - best) <= 1e-9:
            found |= set(places)
    return tuple(k for k in KELURAHAN if k in found) or None


def _kelurahan_hits(s: str) -> list[tuple[tuple[Kelurahan, ...], int, int]]:
    """Place names, Kemendagri codes and postal codes inside normalised text ``s``."""
    hits: list[tuple[tuple[Kelurahan, ...], int, int]] = []
    for m in _CODE_IN_TEXT.finditer(s):
        hits.append(((_KELURAHAN_BY_CODE[m[1]],), m.start(), m.end()))
    for m in _POSTAL_IN_TEXT.finditer(s):
        places = tuple(k for k in KELURAHAN if k.postal_code == m[1])
        if places:
            hits.append((places, m.start(), m.end()))
    toks = [(m.group(), m.start(), m.end()) for m in re.finditer(r"[a-z]+", s)]
    used = [False] * len(toks)
    for width in (3, 2, 1):
        for i in range(len(toks) - width + 1):
            if any(used[i : i + width]):
                continue
            parts = [toks[i][0], *(_ABBREVIATIONS.get(t[0], t[0]) for t in toks[i + 1 : i + width])]
            joined = "".join(parts)
            places = _PLACE_NAMES.get(joined)
            if places is None and width == 1:
                places = _fuzzy_place(joined)
            if places is None:
                continue
            if places == (_CILINCING,) and i > 0 and toks[i - 1][0] in _DISTRICT_WORDS:
                continue  # "kec. Cilincing" is the district
            for j in range(i, i + width):
                used[j] = True
            hits.append((places, toks[i][1], toks[i + width - 1][2]))
    return hits


def _merge_places(hits: Sequence[tuple[tuple[Kelurahan, ...], int, int]]) -> list[Kelurahan]:
    found = {k for places, _, _ in hits for k in places}
    if len(found) > 1:
        found.discard(_CILINCING)  # "Kalibaru, Cilincing": the district named as context
    return [k for k in KELURAHAN if k in found]


def kelurahan_candidates(text: str) -> list[Kelurahan]:
    """Every kelurahan of Kecamatan Cilincing that an answer may mean, in code order.

    One for a clear answer (``Kalibaru``, ``Rusun Marunda``, ``RT 05 RW 03 Kalibaru``),
    two for ``Semper`` or ``14130`` (Semper Timur and Semper Barat), none for a place
    outside Cilincing. The flow offers the candidates as buttons when there are several.
    """
    if len(text) > _KELURAHAN_LIMIT:
        return []
    s = _normalise(text, _KELURAHAN_LIMIT).strip()
    whole = _whole_candidates(s) if len(s) <= 100 else ()
    if whole:
        return list(whole)
    return _merge_places(_kelurahan_hits(s))


def match_kelurahan(text: str) -> Kelurahan | None:
    """One of the seven kelurahan of Kecamatan Cilincing, from a name, code or postal code,
    alone or inside a longer answer (``Kel. Kalibaru RW 05``, ``Rusun Marunda``).

    Tolerates spacing, ``kel.``/``kelurahan`` prefixes, abbreviations (``semper brt``) and
    small typos; ambiguous answers (``Semper``, ``14130``) give None — see
    :func:`kelurahan_candidates` for the choices.
    """
    candidates = kelurahan_candidates(text)
    return candidates[0] if len(candidates) == 1 else None


# --------------------------------------------------------------------------------------
# extract_report, is_water_report, extract_location
# --------------------------------------------------------------------------------------

_REPORT_LIMIT = 500


class _FieldMapping(Mapping[str, object]):
    """Read a frozen dataclass like a mapping too: ``report["category"]``."""

    __slots__ = ()

    def _keys(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self))  # type: ignore[arg-type]  # a dataclass

    def __getitem__(self, key: str) -> object:
        if key not in self._keys():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())


@dataclass(frozen=True, slots=True)
class Report(_FieldMapping):
    """What a free-text water report already says. A slot not found is None (or empty).

    ``categories`` holds every category the text points at, strongest first: only those
    at least half as strong as the strongest, and not what a named cause brings about
    (``pompa rusak, air mati`` is the pump alone); ``category`` is the first of them. With
    two or more, ask the resident which one they mean. ``kelurahan`` is set only when the text
    names one kelurahan; ``kelurahan_candidates`` lists them all (``Semper``: two).
    ``rt_rw`` needs both numbers; ``rt`` and ``rw`` are kept when only one was given.
    """

    category: str | None = None
    categories: tuple[str, ...] = ()
    since: date | None = None
    households: int | None = None
    kelurahan: Kelurahan | None = None
    kelurahan_candidates: tuple[Kelurahan, ...] = ()
    rt_rw: tuple[str, str] | None = None
    rt: str | None = None
    rw: str | None = None
    landmark: str | None = None


@dataclass(frozen=True, slots=True)
class Location(_FieldMapping):
    """Where something is, from a one-line answer: ``kalibaru rt 5 rw 3 masjid al hidayah``.

    Without a ``deket``/``depan``/… word, the landmark is what is left once the kelurahan,
    RT and RW are taken out.
    """

    kelurahan: Kelurahan | None = None
    kelurahan_candidates: tuple[Kelurahan, ...] = ()
    rt_rw: tuple[str, str] | None = None
    rt: str | None = None
    rw: str | None = None
    landmark: str | None = None


@dataclass(slots=True)
class _ReportText:
    """A report, normalised for reading, with the parts already read marked as claimed."""

    raw: str  # the resident's text: NFKC, single spaces, apostrophes dropped (case kept)
    low: str  # the same, lower-case; same length, so spans index both
    claimed: list[bool]
    blanked: str  # ``low`` with the claimed parts as spaces

    @classmethod
    def of(cls, text: str) -> _ReportText:
        raw = unicodedata.normalize("NFKC", text[: _REPORT_LIMIT * 2])
        raw = _APOSTROPHES.sub("", raw)
        raw = re.sub(r"([a-z])\1{2,}", r"\1", raw, flags=re.IGNORECASE)  # "bauuu" -> "bau"
        raw = re.sub(r"\s+", " ", raw).strip()[:_REPORT_LIMIT]
        low = raw.lower()
        if len(low) != len(raw):  # a rare letter whose lower case is longer
            raw = low
        return cls(raw, low, [False] * len(low), low)

    def claim(self, start: int, end: int) -> None:
        self.claimed[start:end] = [True] * (end - start)
        self.blanked = self.blanked[:start] + " " * (end - start) + self.blanked[end:]

    def free(self, start: int, end: int) -> bool:
        return not any(self.claimed[start:end])

    def unclaimed(self) -> str:
        """The lower-case text with claimed parts blanked (same length)."""
        return self.blanked


# Identity and phone numbers: never a date, a count or an RT.
_LONG_NUMBER = re.compile(r"\+?[0-9][0-9 .\-]{7,22}[0-9]")


def _claim_long_numbers(t: _ReportText) -> None:
    for m in _LONG_NUMBER.finditer(t.low):
        digits = re.sub(r"[^0-9]", "", m.group())
        if len(digits) >= 10 or (len(digits) >= 9 and m.group()[0] in "08+"):
            t.claim(m.start(), m.end())


def _claim_rt_rw(t: _ReportText) -> tuple[int | None, int | None]:
    rt: int | None = None
    rw: int | None = None
    for hit in _rt_rw_hits(t.low):
        if not t.free(hit.start, hit.end):
            continue
        t.claim(hit.start, hit.end)
        if hit.ambiguous or not _valid(hit.rt) or not _valid(hit.rw):
            continue
        rt = rt if rt is not None else hit.rt
        rw = rw if rw is not None else hit.rw
    return rt, rw


_HH_UNIT = (
    r"kepala\s?keluarga|kk|keluarga|klg|rumah\s?tangga|ruta|rumah|rmh|pintu|kontrakan|petak"
    r"|households?|houses?|homes?|families|family"
)
_HH_WORD = (
    r"nol|satu|dua|tiga|empat|lima|enam|tujuh|delapan|sembilan|sepuluh|sebelas|seratus|seribu"
    r"|belas(?:an)?|puluh(?:an)?|ratus(?:an)?|ribu(?:an)?|one|two|three|four|five|six|seven"
    r"|eight|nine|ten|eleven|twelve|[a-z]{3,5}teen|twenty|thirty|forty|fifty|hundred|a\sdozen"
    r"|dozen"
)
_HOUSEHOLDS = re.compile(
    rf"(?<![a-z0-9.,/])(?P<num>[0-9]{{1,4}}(?:\s?-?\s?an)?|(?:{_HH_WORD})(?:\s(?:{_HH_WORD})){{0,3}})"
    rf"\s?(?P<unit>{_HH_UNIT})(?![a-z])"
)
# "rumah saya aja", "cuma rumah mbah": one household
_ONLY_MY_HOUSE = re.compile(
    r"(?<![a-z])(?:(?:cuma|hanya|cman|cuman)\s?)?(?:rumah|rmh)\s?(?:saya|sy|aye|gue|gw|aku"
    r"|kami|mbah|sendiri)\s?(?:aja|saja|aje|doang|sendiri)(?![a-z])"
    r"|(?<![a-z])(?:cuma|hanya|cman|cuman)\s?(?:rumah|rmh)\s?(?:saya|sy|aye|gue|gw|aku|kami"
    r"|mbah)(?![a-z])"
)
# "20-30 kk", "20 sampai 30 rumah": a range is not one count
_HH_RANGE = re.compile(r"[0-9a-z]\s?(?:-|sampai|sampe|smp|s/d|sd|atau|ato|to|or)\s?$")
_HH_NOT_A_COUNT = re.compile(
    r"(?<![a-z])(?:tgl|tanggal|jam|pukul|no|nomor|nomer|nmr|rt|rw|gang|gg|blok|lantai|ke|tahun"
    r"|thn|umur|usia)\.?\s?$"
)


def _claim_households(t: _ReportText) -> int | None:
    text = t.unclaimed()
    counts: list[tuple[bool, int]] = []
    only = _ONLY_MY_HOUSE.search(text)
    if only:
        t.claim(only.start(), only.end())
        counts.append((True, 1))
    for m in _HOUSEHOLDS.finditer(text):
        before = text[max(0, m.start() - 12) : m.start()]
        if _HH_NOT_A_COUNT.search(before) or _HH_RANGE.search(before):
            continue
        words = _approximate(_english_numbers(m["num"].replace("-", " "))).split()
        value = _words_value(words)
        if value is None or value != value.to_integral_value() or not 1 <= value <= 9999:
            continue
        t.claim(m.start(), m.end())
        unit = m["unit"]
        families = unit.startswith(("k", "rumah t", "ruta", "household", "famil"))
        counts.append((families, int(value)))
    if not counts:
        return None
    # Several families share a house: a count of KK wins over a count of houses.
    return next((n for families, n in counts if families), counts[0][1])


def _households_in(text: str) -> int | None:
    """A count of households inside a longer answer, read as in a report."""
    t = _ReportText.of(text)
    _claim_long_numbers(t)
    _claim_rt_rw(t)
    return _claim_households(t)


def _claim_kelurahan(t: _ReportText) -> tuple[Kelurahan, ...]:
    hits = [h for h in _kelurahan_hits(t.unclaimed()) if t.free(h[1], h[2])]
    for _, start, end in hits:
        t.claim(start, end)
    return tuple(_merge_places(hits))


@dataclass(frozen=True, slots=True)
class _CategoryMatch:
    pattern: WaterPattern
    start: int
    end: int


def _category_matches(t: _ReportText) -> list[_CategoryMatch]:
    """Category phrases, most specific first; each claims its words."""
    found: list[_CategoryMatch] = []
    for water in CATEGORY_PATTERNS:
        text = t.unclaimed()
        for m in water.pattern.finditer(text):
            t.claim(m.start(), m.end())
            if water.category is not None and NEGATION_BEFORE.search(
                text[max(0, m.start() - 24) : m.start()]
            ):
                continue  # "ga keruh": the words are read, the problem is not there
            found.append(_CategoryMatch(water, m.start(), m.end()))
    return found


def _supporting_spans(text: str) -> list[tuple[int, int]]:
    """Where a ``padahal …`` clause runs: to the end of its sentence."""
    spans = []
    for m in SUPPORTING_CLAUSE.finditer(text):
        end = re.search(r"[.!?\n]", text[m.end() :])
        spans.append((m.start(), m.end() + end.start() if end else len(text)))
    return spans


def _rank_categories(matches: Sequence[_CategoryMatch], text: str) -> tuple[str, ...]:
    supporting = _supporting_spans(text)
    named = [(m.pattern.category, m) for m in matches if m.pattern.category is not None]
    main = [(c, m) for c, m in named if not any(a <= m.start < b for a, b in supporting)]
    score: dict[str, int] = {}
    first: dict[str, int] = {}
    for category, match in main or named:  # a "padahal" clause counts when nothing else does
        score[category] = score.get(category, 0) + match.pattern.weight
        first.setdefault(category, match.start)
    if len(score) > 1:
        score.pop("lainnya", None)
    for cause, effects in CAUSES.items():
        if cause in score and len(score) > 1:
            for effect in effects:
                score.pop(effect, None)
    if not score:
        return ()
    top = max(score.values())
    ranked = sorted(score, key=lambda c: (-score[c], first[c]))
    return tuple(c for c in ranked if score[c] * 2 >= top)


_LANDMARK_MARK = re.compile(
    r"(?<![a-z])(?:(?P<near>deket|dekat|dkt|dket|dekt|depan|dpn|depannya|samping|smping"
    r"|sampingnya|sebelah|sblh|sebelahnya|seberang|sebrang|sebrg|sbrg|seberangnya|belakang"
    r"|blkg|blakang|belakangnya|pinggir|ujung|pojok|near|behind|opposite|next\sto"
    r"|in\sfront\sof|across\sfrom)|(?P<gang>gang|gg|gng))(?![a-z])"
)
_TIME_WORDS_BEFORE_DEPAN = frozenset(
    {*_DAYS, "pekan", "bulan", "bln", "tahun", "thn", "ke", "hari", "mgg", "minggu", "tgl"}
)
_LANDMARK_STOP = frozenset(
    {
        "dari", "dr", "sejak", "semenjak", "mulai", "udah", "sudah", "sdh", "udh", "dah", "dan",
        "tapi", "tp", "terus", "trus", "tolong", "mohon", "besok", "tadi", "sekarang", "skrg",
        "hari", "jam", "pukul", "tgl", "tanggal", "since", "from", "and", "but", "please", "air",
        "airnya", "pam", "pdam", "ya", "yah", "nih", "tuh", "pak", "bu", "kak", "min", "kok",
        "soalnya", "karena", "krn", "sampai", "sampe", "kalau", "kalo", "klo", "sekitar",
        "kira", "kira2", "ada", "sama", "water", "for", "about", "around", "kami",
        "saya", "sy", "aku", "gue", "gw", *_KEMARIN.split("|"),
    }
)  # fmt: skip
_LANDMARK_EDGE = frozenset(
    {
        "di", "yg", "yang", "ke", "sama", "dengan", "dgn", "ama", "ma", "sm", "the", "at", "in",
        "of", "to", "a", "an", "nya", "dari", "dr", "persis", "pas", "tepat", "banget", "bgt",
    }
)  # fmt: skip
_NOT_A_LANDMARK = frozenset(
    {
        "rumah", "rumah saya", "rumah sy", "rumah gue", "rumah gw", "rumah aku", "rumah kami",
        "rmh", "rmh saya", "sini", "situ", "sana", "saya", "my house", "house", "home",
        "my home", "rumahnya", "rumah warga",
    }
)  # fmt: skip
# Dots that do not end a sentence: "Gg. Mawar", "Jl. Kali Baru", "No. 5"
_ABBREVIATION_DOT = frozenset({"gg", "gng", "jl", "jln", "no", "kav", "blok", "ds", "kp", "rs"})
_TIME_UNIT_WORDS = frozenset({*_UNITS, *_SE_UNITS, "days", "weeks", "months", "hours"})


def _landmark_words(t: _ReportText, start: int) -> list[tuple[str, str]]:
    """(raw word, lower word) pairs from ``start`` to the end of the landmark phrase."""
    words: list[tuple[str, str]] = []
    matches = list(re.finditer(r"\S+", t.low[start:]))
    for i, m in enumerate(matches):
        ws, we = start + m.start(), start + m.end()
        if not t.free(ws, we):
            break
        low = t.low[ws:we]
        core = low.strip(".,;:!?()\"*-")
        if not core:
            break
        if core in _LANDMARK_STOP and words:
            break
        if core in _LANDMARK_STOP and core not in _LANDMARK_EDGE:
            break
        following = matches[i + 1].group().strip(".,;:!?") if i + 1 < len(matches) else ""
        if core.isdigit() and following in _TIME_UNIT_WORDS:
            break  # "3 hari": the since-when, not a house number
        if low.startswith(("(", ",")) and words:
            break
        words.append((t.raw[ws:we], core))
        ends_sentence = low.endswith((",", ";", "!", "?", ")")) or (
            low.endswith(".") and core not in _ABBREVIATION_DOT
        )
        if ends_sentence or len(words) >= 8:
            break
    return words


def _trim_landmark(words: list[tuple[str, str]]) -> str | None:
    while words and words[0][1] in _LANDMARK_EDGE:
        words = words[1:]
    while words and (words[-1][1] in _LANDMARK_EDGE or words[-1][1] in _LANDMARK_STOP):
        words = words[:-1]
    if not words:
        return None
    text = " ".join(raw for raw, _ in words).strip(" .,;:!?()\"*-")
    if not text or text.lower() in _NOT_A_LANDMARK or not re.search(r"[^\W\d_]", text):
        return None
    return text[:80]


def _find_landmark(t: _ReportText) -> str | None:
    """The resident's words after ``deket``/``depan``/``samping``/…, or from ``gang``/``gg``."""
    for m in _LANDMARK_MARK.finditer(t.low):
        if not t.free(m.start(), m.end()):
            continue
        if m["near"] in {"depan", "dpn"}:
            before = t.low[: m.start()].split()
            if before and before[-1] in _TIME_WORDS_BEFORE_DEPAN:
                continue  # "minggu depan", "senin depan": a date
        start = m.start() if m["gang"] else m.end()
        words = _landmark_words(t, start)
        if m["gang"] and len(words) < 2:
            continue  # "gang" alone names nothing
        landmark = _trim_landmark(words)
        if landmark is not None:
            return landmark
    return None


def _pad_or_none(value: int | None) -> str | None:
    return None if value is None else _pad(value)


@dataclass(frozen=True, slots=True)
class _Places:
    kelurahan: Kelurahan | None
    candidates: tuple[Kelurahan, ...]
    rt_rw: tuple[str, str] | None
    rt: str | None
    rw: str | None


def _place_slots(t: _ReportText) -> _Places:
    """Claim identity and phone numbers, then RT/RW, then the kelurahan."""
    _claim_long_numbers(t)
    rt, rw = _claim_rt_rw(t)
    places = _claim_kelurahan(t)
    return _Places(
        kelurahan=places[0] if len(places) == 1 else None,
        candidates=places,
        rt_rw=(_pad(rt), _pad(rw)) if rt is not None and rw is not None else None,
        rt=_pad_or_none(rt),
        rw=_pad_or_none(rw),
    )


def extract_report(text: str, now: datetime) -> Report:
    """The slots a free-text water report already fills.

    ``air pam mati dr kmrn di rt 3 rw 4 kalibaru deket masjid, 20an kk`` gives category
    ``mati``, since yesterday, 20 households, Kalibaru, RT/RW ("003", "004"), landmark
    ``masjid``. A slot comes only from words that say it: ``3 hari`` is a since-when, never
    a count of houses; ``rt 3`` is never 3 households; a phone or NIK number is nothing.
    ``since`` is a date not after today, read with ``prefer="past"``; a clock time alone
    (``cuma ngalir jam 2 pagi``) is not a since-when.
    """
    t = _ReportText.of(text)
    if not t.low:
        return Report()
    slots = _place_slots(t)
    households = _claim_households(t)
    matches = _category_matches(t)
    categories = _rank_categories(matches, t.low)
    local_now = now.astimezone(_WIB) if now.tzinfo is not None else now
    when, dated = _when(_prepare_when(t.unclaimed(), _REPORT_LIMIT), local_now, "past")
    since = when.date if when is not None and dated else None
    if since is not None and since > local_now.date():
        since = None
    return Report(
        category=categories[0] if categories else None,
        categories=categories,
        since=since,
        households=households,
        kelurahan=slots.kelurahan,
        kelurahan_candidates=slots.candidates,
        rt_rw=slots.rt_rw,
        rt=slots.rt,
        rw=slots.rw,
        landmark=_find_landmark(t),
    )


def is_water_report(text: str) -> bool:
    """Whether a message describes a clean-water problem at all, or asks to report one.

    Yes: ``air ga ngalir dr kmrn``, ``sumur bor mati``, ``mau lapor air``, ``pam mati``,
    ``air keruh``, ``no water since yesterday``. No: ``halo``, ``menu``, ``jadwal
    kegiatan``, ``makasih``, ``sudah``, ``lampu mati``. A symptom word that may be about
    anything (``bau``, ``bocor``, ``mati``) counts only when water, a tap, a well or a pipe
    is named too.
    """
    t = _ReportText.of(text)
    if not t.low:
        return False
    if REPORT_INTENT.search(t.low):
        return True
    context = WATER_CONTEXT.search(t.low) is not None
    return any(
        m.pattern.category not in {None, "lainnya"} and (context or not m.pattern.context)
        for m in _category_matches(t)
    )


_LOCATION_FILLERS = frozenset(
    {
        "di", "rt", "rw", "kel", "kelurahan", "kec", "kecamatan", "cilincing", "jakarta",
        "utara", "jakut", "dki", "kota", "alamat", "alamatnya", "lokasi", "lokasinya", "saya",
        "sy", "rumah", "tinggal", "dekat", "deket", "ya", "pak", "bu", "kak", "min", "in",
        "at", "the", "my", "is", "near", "address", "location", "no", "nomor", "wilayah",
    }
)  # fmt: skip


def extract_location(text: str) -> Location:
    """Kelurahan, RT/RW and landmark from one line: ``Kalibaru rt 5 rw 3 deket masjid`` or
    ``rt 05/03 kalibaru masjid al hidayah`` (what is left is the landmark)."""
    t = _ReportText.of(text)
    if not t.low:
        return Location()
    slots = _place_slots(t)
    landmark = _find_landmark(t)
    if landmark is None:
        words = [
            (t.raw[m.start() : m.end()], m.group().strip(".,;:!?()\"*-"))
            for m in re.finditer(r"\S+", t.low)
            if t.free(m.start(), m.end())
        ]
        kept = [(raw, low) for raw, low in words if low and low not in _LOCATION_FILLERS]
        landmark = _trim_landmark(kept)
    return Location(
        kelurahan=slots.kelurahan,
        kelurahan_candidates=slots.candidates,
        rt_rw=slots.rt_rw,
        rt=slots.rt,
        rw=slots.rw,
        landmark=landmark,
    )
