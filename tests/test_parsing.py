"""Table-driven and property-based tests of conversations.parsing.

Dates are resolved against fixed moments in Asia/Jakarta; the main one is
Saturday 28 November 2026, 10:00.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conversations.parsing import (
    InvalidAnswer,
    Kk,
    Nik,
    When,
    match_kelurahan,
    parse_kk,
    parse_nik,
    parse_number,
    parse_phone,
    parse_rt_rw,
    parse_when,
    parse_yes_no,
)
from conversations.places import KELURAHAN, PROVINCE_CODES, Kelurahan

JAKARTA = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=JAKARTA)  # Saturday morning
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=JAKARTA)
EVENING = datetime(2026, 11, 28, 20, 0, tzinfo=JAKARTA)  # Saturday evening
EARLY = datetime(2026, 11, 28, 3, 0, tzinfo=JAKARTA)  # Saturday, before dawn
FEBRUARY = datetime(2027, 2, 10, 9, 0, tzinfo=JAKARTA)
TODAY = NOW.date()

SAT = date(2026, 11, 28)
SUN = date(2026, 11, 29)

HOSTILE = [
    pytest.param("", id="empty"),
    pytest.param("   \n\t ", id="whitespace"),
    pytest.param("a" * 10_000, id="10k-letters"),
    pytest.param("🙂", id="emoji"),
    pytest.param("🙂🙏🔥" * 500, id="emoji-run"),
    pytest.param("'; DROP TABLE contacts; --", id="sql-drop"),
    pytest.param("1' OR '1'='1", id="sql-or"),
    pytest.param("<script>alert(1)</script>", id="script-tag"),
    pytest.param("<b>halo</b> *tebal* _miring_", id="markup"),
    pytest.param("{{7*7}} ${jndi:ldap://x}", id="template-injection"),
    pytest.param("\x00\x01\x02\ufeff\u200b", id="control-chars"),
    pytest.param("\u202eesrever", id="bidi-override"),
    pytest.param("ﷺ" * 300, id="nfkc-expanding"),
]


# --------------------------------------------------------------------------------------
# parse_when
# --------------------------------------------------------------------------------------


def w(d: date | None = None, t: time | None = None) -> When:
    return When(d, t)


WHEN_CASES = [
    # relative days
    pytest.param("hari ini", w(SAT), id="hari-ini"),
    pytest.param("Hari  ini!!", w(SAT), id="hari-ini-punctuation"),
    pytest.param("sekarang", w(SAT, time(10, 0)), id="sekarang"),
    pytest.param("besok", w(SUN), id="besok"),
    pytest.param("BESOK", w(SUN), id="besok-caps"),
    pytest.param("bsk", w(SUN), id="bsk"),
    pytest.param("besok pagi", w(SUN, time(7, 0)), id="besok-pagi"),
    pytest.param("besok sore", w(SUN, time(16, 0)), id="besok-sore"),
    pytest.param("lusa", w(date(2026, 11, 30)), id="lusa"),
    pytest.param("kemarin", w(date(2026, 11, 27)), id="kemarin"),
    pytest.param("kemaren", w(date(2026, 11, 27)), id="kemaren"),
    pytest.param("kemarin sore", w(date(2026, 11, 27), time(16, 0)), id="kemarin-sore"),
    pytest.param("kemarin lusa", w(date(2026, 11, 26)), id="kemarin-lusa"),
    pytest.param("2 hari yang lalu", w(date(2026, 11, 26)), id="2-hari-yang-lalu"),
    pytest.param("dua hari lalu", w(date(2026, 11, 26)), id="dua-hari-lalu"),
    pytest.param("3 hari lalu", w(date(2026, 11, 25)), id="3-hari-lalu"),
    pytest.param("3 hari yg lalu", w(date(2026, 11, 25)), id="3-hari-yg-lalu"),
    pytest.param("seminggu lalu", w(date(2026, 11, 21)), id="seminggu-lalu"),
    pytest.param("minggu lalu", w(date(2026, 11, 21)), id="minggu-lalu-week"),
    pytest.param("minggu kemarin", w(date(2026, 11, 21)), id="minggu-kemarin-week"),
    pytest.param("3 hari lagi", w(date(2026, 12, 1)), id="3-hari-lagi"),
    pytest.param("dua belas hari lagi", w(date(2026, 12, 10)), id="dua-belas-hari-lagi"),
    pytest.param("minggu depan", w(date(2026, 12, 5)), id="minggu-depan-week"),
    pytest.param("2 minggu lagi", w(date(2026, 12, 12)), id="2-minggu-lagi"),
    pytest.param("sebulan lalu", w(date(2026, 10, 28)), id="sebulan-lalu"),
    pytest.param("2 jam lagi", w(SAT, time(12, 0)), id="2-jam-lagi"),
    pytest.param("30 menit lagi", w(SAT, time(10, 30)), id="30-menit-lagi"),
    # parts of the day
    pytest.param("nanti sore", w(SAT, time(16, 0)), id="nanti-sore"),
    pytest.param("nanti malam", w(SAT, time(19, 0)), id="nanti-malam"),
    pytest.param("malam ini", w(SAT, time(19, 0)), id="malam-ini"),
    pytest.param("sore ini", w(SAT, time(16, 0)), id="sore-ini"),
    pytest.param("tadi pagi", w(SAT, time(7, 0)), id="tadi-pagi"),
    pytest.param("tadi malam", w(date(2026, 11, 27), time(19, 0)), id="tadi-malam"),
    pytest.param("semalam", w(date(2026, 11, 27), time(19, 0)), id="semalam"),
    pytest.param("sore", w(SAT, time(16, 0)), id="sore-alone"),
    pytest.param("tadi", w(SAT), id="tadi-alone"),
    # days of the week (NOW is a Saturday)
    pytest.param("Sabtu ini", w(SAT), id="sabtu-ini-today"),
    pytest.param("Sabtu", w(SAT), id="sabtu-today"),
    pytest.param("hari sabtu", w(SAT), id="hari-sabtu"),
    pytest.param("Sabtu besok", w(date(2026, 12, 5)), id="sabtu-besok-after-today"),
    pytest.param("Sabtu depan", w(date(2026, 12, 5)), id="sabtu-depan"),
    pytest.param("Sabtu kemarin", w(date(2026, 11, 21)), id="sabtu-kemarin"),
    pytest.param("sabtu lalu", w(date(2026, 11, 21)), id="sabtu-lalu"),
    pytest.param("sabtu yang lalu", w(date(2026, 11, 21)), id="sabtu-yang-lalu"),
    pytest.param("sabtu minggu depan", w(date(2026, 12, 5)), id="sabtu-minggu-depan"),
    pytest.param("Rabu", w(date(2026, 12, 2)), id="rabu"),
    pytest.param("Rabu depan", w(date(2026, 12, 2)), id="rabu-depan"),
    pytest.param("Rabu minggu lalu", w(date(2026, 11, 18)), id="rabu-minggu-lalu"),
    pytest.param("Jumat", w(date(2026, 12, 4)), id="jumat"),
    pytest.param("Jum'at", w(date(2026, 12, 4)), id="jum-apostrophe-at"),
    pytest.param("jum’at", w(date(2026, 12, 4)), id="jum-curly-apostrophe-at"),
    pytest.param("Jum at", w(date(2026, 12, 4)), id="jum-space-at"),
    pytest.param("Senin", w(date(2026, 11, 30)), id="senin"),
    pytest.param("Ahad", w(SUN), id="ahad"),
    pytest.param("Minggu", w(SUN), id="minggu-sunday"),
    pytest.param("hari Minggu", w(SUN), id="hari-minggu"),
    pytest.param("Minggu ini", w(SUN), id="minggu-ini-sunday"),
    pytest.param("Minggu pagi", w(SUN, time(7, 0)), id="minggu-pagi-sunday"),
    pytest.param("hari minggu depan", w(date(2026, 12, 6)), id="hari-minggu-depan"),
    pytest.param("hari minggu lalu", w(date(2026, 11, 22)), id="hari-minggu-lalu"),
    # explicit dates
    pytest.param("tgl 12", w(date(2026, 12, 12)), id="tgl-12"),
    pytest.param("tanggal 12", w(date(2026, 12, 12)), id="tanggal-12"),
    pytest.param("tgl. 28", w(SAT), id="tgl-today"),
    pytest.param("tgl 31", w(date(2026, 12, 31)), id="tgl-31-skips-november"),
    pytest.param("tgl 12 bulan depan", w(date(2026, 12, 12)), id="tgl-bulan-depan"),
    pytest.param("tgl 5 bulan ini", w(date(2026, 11, 5)), id="tgl-bulan-ini"),
    pytest.param("12 Desember", w(date(2026, 12, 12)), id="12-desember"),
    pytest.param("12 Des 2026", w(date(2026, 12, 12)), id="12-des-2026"),
    pytest.param("12 desember 2027", w(date(2027, 12, 12)), id="12-desember-2027"),
    pytest.param("5 jan", w(date(2027, 1, 5)), id="5-jan-next-year"),
    pytest.param("12 November", w(date(2027, 11, 12)), id="passed-month-day-next-year"),
    pytest.param("12/12", w(date(2026, 12, 12)), id="12/12"),
    pytest.param("12/12/2026", w(date(2026, 12, 12)), id="12/12/2026"),
    pytest.param("12-12-2026", w(date(2026, 12, 12)), id="12-12-2026"),
    pytest.param("12/12/26", w(date(2026, 12, 12)), id="12/12/26"),
    pytest.param("12.12.2026", w(date(2026, 12, 12)), id="12.12.2026"),
    pytest.param("2026-12-12", w(date(2026, 12, 12)), id="iso"),
    pytest.param("2026-12-12T08:00", w(date(2026, 12, 12), time(8, 0)), id="iso-datetime"),
    # times: a time with no day is the next such moment (NOW is Saturday 10:00)
    pytest.param("jam 7", w(SUN, time(7, 0)), id="jam-7"),
    pytest.param("jam 7 pagi", w(SUN, time(7, 0)), id="jam-7-pagi"),
    pytest.param("jam 3 sore", w(SAT, time(15, 0)), id="jam-3-sore"),
    pytest.param("jam 7 malam", w(SAT, time(19, 0)), id="jam-7-malam"),
    pytest.param("jam 12 siang", w(SAT, time(12, 0)), id="jam-12-siang"),
    pytest.param("jam 1 siang", w(SAT, time(13, 0)), id="jam-1-siang"),
    pytest.param("jam 2 siang", w(SAT, time(14, 0)), id="jam-2-siang"),
    pytest.param("jam 11 siang", w(SAT, time(11, 0)), id="jam-11-siang"),
    pytest.param("jam 12 malam", w(SUN, time(0, 0)), id="jam-12-malam"),
    pytest.param("jam 15", w(SAT, time(15, 0)), id="jam-15"),
    pytest.param("pukul 07.00", w(SUN, time(7, 0)), id="pukul-07.00"),
    pytest.param("pkl 07.00 WIB", w(SUN, time(7, 0)), id="pkl-wib"),
    pytest.param("07:30", w(SUN, time(7, 30)), id="07:30"),
    pytest.param("jam 19.30", w(SAT, time(19, 30)), id="jam-19.30"),
    pytest.param("jam setengah 8", w(SUN, time(7, 30)), id="jam-setengah-8"),
    pytest.param("setengah 8 malam", w(SAT, time(19, 30)), id="setengah-8-malam"),
    pytest.param("setengah 1 siang", w(SAT, time(12, 30)), id="setengah-1-siang"),
    pytest.param("jam 8 kurang seperempat", w(SUN, time(7, 45)), id="kurang-seperempat"),
    pytest.param("jam 8 lewat seperempat", w(SUN, time(8, 15)), id="lewat-seperempat"),
    pytest.param("jam 8 seperempat", w(SUN, time(8, 15)), id="seperempat"),
    pytest.param("jam 8 lewat 10 menit", w(SUN, time(8, 10)), id="lewat-10-menit"),
    pytest.param("jam 8 kurang 10", w(SUN, time(7, 50)), id="kurang-10"),
    pytest.param("jam tujuh pagi", w(SUN, time(7, 0)), id="jam-tujuh-pagi"),
    pytest.param("jam setengah delapan malam", w(SAT, time(19, 30)), id="setengah-delapan"),
    # combinations
    pytest.param("Sabtu ini jam 7 pagi", w(SAT, time(7, 0)), id="sabtu-ini-jam-7-pagi"),
    pytest.param("tgl 12 pukul 08.00", w(date(2026, 12, 12), time(8, 0)), id="tgl-pukul"),
    pytest.param("besok jam setengah 8", w(SUN, time(7, 30)), id="besok-setengah-8"),
    pytest.param("besok 7 pagi", w(SUN, time(7, 0)), id="besok-7-pagi"),
    pytest.param("besok sore jam 4", w(SUN, time(16, 0)), id="besok-sore-jam-4"),
    pytest.param("besok jam 12 malam", w(date(2026, 11, 30), time(0, 0)), id="midnight-rolls"),
    pytest.param("Sabtu jam 12 malam", w(SUN, time(0, 0)), id="sabtu-midnight"),
    pytest.param("tadi malam jam 1", w(SAT, time(1, 0)), id="last-night-1am"),
    pytest.param("nanti jam 7", w(SAT, time(19, 0)), id="nanti-jam-7-evening"),
    pytest.param("nanti jam 11", w(SAT, time(11, 0)), id="nanti-jam-11"),
    pytest.param("tadi jam 8", w(SAT, time(8, 0)), id="tadi-jam-8"),
    pytest.param("2 hari lalu jam 3 sore", w(date(2026, 11, 26), time(15, 0)), id="2-hari-jam"),
    pytest.param(
        "Sabtu, 5 Desember 2026 pukul 07.00 WIB",
        w(date(2026, 12, 5), time(7, 0)),
        id="own-echo-format",
    ),
    pytest.param("<b>besok</b>", w(SUN), id="markup-around-besok"),
    pytest.param("kegiatannya besok ya pak", w(SUN), id="besok-in-sentence"),
    pytest.param("air mati dari kemarin?", w(date(2026, 11, 27)), id="kemarin-in-sentence"),
]


@pytest.mark.parametrize(("text", "expected"), WHEN_CASES)
def test_parse_when(text: str, expected: When) -> None:
    assert parse_when(text, NOW) == expected


WHEN_OTHER_NOW = [
    # Monday 23 November: "Rabu" is this week, "Rabu depan" next week.
    pytest.param(MONDAY, "Rabu", w(date(2026, 11, 25)), id="mon-rabu"),
    pytest.param(MONDAY, "Rabu ini", w(date(2026, 11, 25)), id="mon-rabu-ini"),
    pytest.param(MONDAY, "Rabu depan", w(date(2026, 12, 2)), id="mon-rabu-depan"),
    pytest.param(MONDAY, "Rabu lalu", w(date(2026, 11, 18)), id="mon-rabu-lalu"),
    pytest.param(MONDAY, "Senin", w(date(2026, 11, 23)), id="mon-senin-today"),
    pytest.param(MONDAY, "Senin depan", w(date(2026, 11, 30)), id="mon-senin-depan"),
    pytest.param(MONDAY, "Senin lalu", w(date(2026, 11, 16)), id="mon-senin-lalu"),
    pytest.param(MONDAY, "Minggu", w(date(2026, 11, 29)), id="mon-minggu"),
    pytest.param(MONDAY, "hari Minggu depan", w(date(2026, 12, 6)), id="mon-minggu-depan"),
    pytest.param(MONDAY, "minggu depan", w(date(2026, 11, 30)), id="mon-week-later"),
    # Saturday 20:00: the afternoon is over, the evening is not.
    pytest.param(EVENING, "nanti sore", w(SUN, time(16, 0)), id="eve-nanti-sore-tomorrow"),
    pytest.param(EVENING, "nanti malam", w(SAT, time(19, 0)), id="eve-nanti-malam"),
    pytest.param(EVENING, "tadi malam", w(SAT, time(19, 0)), id="eve-tadi-malam"),
    pytest.param(EVENING, "sekarang", w(SAT, time(20, 0)), id="eve-sekarang"),
    # 03:00: the morning has not begun yet.
    pytest.param(EARLY, "tadi pagi", w(date(2026, 11, 27), time(7, 0)), id="early-tadi-pagi"),
    pytest.param(EARLY, "nanti pagi", w(SAT, time(7, 0)), id="early-nanti-pagi"),
    # 10 February 2027: "tgl 30" is in March; 29 February is in 2028.
    pytest.param(FEBRUARY, "tgl 30", w(date(2027, 3, 30)), id="feb-tgl-30"),
    pytest.param(FEBRUARY, "tgl 5", w(date(2027, 3, 5)), id="feb-tgl-passed"),
    pytest.param(FEBRUARY, "29/02", w(date(2028, 2, 29)), id="feb-29-next-leap"),
    pytest.param(FEBRUARY, "tgl 12 bulan lalu", w(date(2027, 1, 12)), id="feb-bulan-lalu"),
]


@pytest.mark.parametrize(("now", "text", "expected"), WHEN_OTHER_NOW)
def test_parse_when_other_moments(now: datetime, text: str, expected: When) -> None:
    assert parse_when(text, now) == expected


@pytest.mark.parametrize(
    "text",
    [
        *HOSTILE,
        pytest.param("halo", id="halo"),
        pytest.param("selamat pagi", id="greeting"),
        pytest.param("selamat malam pak", id="greeting-2"),
        pytest.param("nanti", id="nanti-alone"),
        pytest.param("tgl 32", id="tgl-32"),
        pytest.param("tgl 0", id="tgl-0"),
        pytest.param("jam 25", id="jam-25"),
        pytest.param("jam 24", id="jam-24"),
        pytest.param("jam 7.61", id="minute-61"),
        pytest.param("pukul 7:5", id="one-digit-minute"),
        pytest.param("jam 13 pagi", id="13-pagi"),
        pytest.param("jam 8 lewat 75", id="lewat-75"),
        pytest.param("jam 8 lewat 100", id="lewat-100"),
        pytest.param("jam 8 kurang 60 menit", id="kurang-60"),
        pytest.param("31/02", id="31-february"),
        pytest.param("31/02/2026", id="31-february-with-year"),
        pytest.param("2026-13-01", id="iso-month-13"),
        pytest.param("30 Februari", id="30-februari"),
        pytest.param("99.99", id="bare-99.99"),
        pytest.param("1.500", id="a-number"),
        pytest.param("12", id="bare-number"),
        pytest.param("jam berapa?", id="jam-question"),
        pytest.param("3 hari", id="duration-without-direction"),
    ],
)
def test_parse_when_rejects(text: str) -> None:
    assert parse_when(text, NOW) is None


WEEKDAYS = ["senin", "selasa", "rabu", "kamis", "jumat", "sabtu", "minggu"]


@settings(database=None, deadline=None)
@given(
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    index=st.integers(min_value=0, max_value=6),
)
def test_weekday_rules(day: date, index: int) -> None:
    now = datetime(day.year, day.month, day.day, 9, 0, tzinfo=JAKARTA)
    name = WEEKDAYS[index]
    prefix = "hari " if name == "minggu" else ""
    this = parse_when(f"{prefix}{name}", now)
    following = parse_when(f"{prefix}{name} depan", now)
    last = parse_when(f"{prefix}{name} lalu", now)
    assert this is not None and this.date is not None
    assert following is not None and following.date is not None
    assert last is not None and last.date is not None
    for result in (this, following, last):
        assert result.date is not None and result.date.weekday() == index
        assert result.time is None
    assert 0 <= (this.date - day).days <= 6
    assert 1 <= (day - last.date).days <= 7
    next_monday = day - timedelta(days=day.weekday()) + timedelta(days=7)
    assert next_monday <= following.date < next_monday + timedelta(days=7)


@settings(database=None, deadline=None)
@given(n=st.integers(min_value=1, max_value=999))
def test_relative_days(n: int) -> None:
    assert parse_when(f"{n} hari lagi", NOW) == w(TODAY + timedelta(days=n))
    assert parse_when(f"{n} hari yang lalu", NOW) == w(TODAY - timedelta(days=n))


@settings(database=None, deadline=None)
@given(hour=st.integers(min_value=0, max_value=23), minute=st.integers(min_value=0, max_value=59))
def test_clock_round_trip(hour: int, minute: int) -> None:
    # NOW is 10:00: an earlier time of day is tomorrow's, a later one today's
    day = TODAY if (hour, minute) >= (10, 0) else TODAY + timedelta(days=1)
    assert parse_when(f"pukul {hour:02d}.{minute:02d}", NOW) == w(day, time(hour, minute))
    assert parse_when(f"{hour}:{minute:02d}", NOW) == w(day, time(hour, minute))


# --------------------------------------------------------------------------------------
# parse_yes_no
# --------------------------------------------------------------------------------------

YES = [
    "ya", "Ya", "YA!", "ya.", "  iya  ", "iya", "iyaaa", "iye", "y", "yes", "ok", "OK", "oke",
    "okee", "okeh", "okay", "sip", "sipp", "siap", "betul", "benar", "bener", "boleh", "lanjut",
    "setuju", "mau", "👍", "👍🏽", "ya udah", "ya sudah", "iya benar", "ya betul", "ya, betul!",
    "oke deh", "ya kak", "ya terima kasih", "ya ya", "ya 😊",
    # "udah" / "bisa" answer "sudah benar?"; English yes words count
    "udah", "bisa", "yes please",
]  # fmt: skip
NO = [
    "tidak", "Tidak.", "tdk", "gak", "ga", "gk", "nggak", "ngga", "enggak", "engga", "kagak",
    "ndak", "nda", "bukan", "jangan", "no", "n", "tak", "nope", "gaaak", "tidak mau",
    "gak mau", "ga usah", "gak usah deh", "nggak deh kak", "jangan dulu", "tidak, terima kasih",
    "👎", "belum",
]  # fmt: skip
NEITHER = [
    "yah", "yahh", "kirim besok ya", "ya tapi nanti", "ya tidak", "mau ga", "ya?", "ok?",
    "tidak tahu", "mungkin", "deh", "halo", "ya :)",
    "1", "ya" * 60,
]  # fmt: skip


@pytest.mark.parametrize("text", YES, ids=lambda t: f"yes-{t}")
def test_yes(text: str) -> None:
    assert parse_yes_no(text) is True


@pytest.mark.parametrize("text", NO, ids=lambda t: f"no-{t}")
def test_no(text: str) -> None:
    assert parse_yes_no(text) is False


@pytest.mark.parametrize("text", [*NEITHER, *HOSTILE], ids=lambda t: f"neither-{t[:20]}")
def test_yes_no_neither(text: str) -> None:
    assert parse_yes_no(text) is None


# --------------------------------------------------------------------------------------
# parse_nik / parse_kk
# --------------------------------------------------------------------------------------

NIK_OK = [
    pytest.param("3172041205900001", date(1990, 5, 12), "L", id="man-1990"),
    pytest.param("3172 0412 0590 0001", date(1990, 5, 12), "L", id="spaces"),
    pytest.param("3172.0412.0590.0001", date(1990, 5, 12), "L", id="dots"),
    pytest.param("3172-0412-0590-0001", date(1990, 5, 12), "L", id="dashes"),
    pytest.param("  3172041205900001\n", date(1990, 5, 12), "L", id="padding"),
    pytest.param("NIK: 3172041205900001", date(1990, 5, 12), "L", id="nik-label"),
    pytest.param("3172045205900001", date(1990, 5, 12), "P", id="woman-plus-40"),
    pytest.param("3172047112850002", date(1985, 12, 31), "P", id="woman-day-71"),
    pytest.param("3172041505150001", date(2015, 5, 15), "L", id="born-2015-not-1915"),
    pytest.param("3175064101000003", date(2000, 1, 1), "P", id="born-2000-jakarta-timur"),
    pytest.param("3172042902000001", date(2000, 2, 29), "L", id="leap-2000"),
    pytest.param("3172042811260001", date(2026, 11, 28), "L", id="born-today"),
    pytest.param("3172041212260001", date(1926, 12, 12), "L", id="future-2026-means-1926"),
    pytest.param("9601011205900001", date(1990, 5, 12), "L", id="papua-barat-daya"),
    pytest.param("１１０１０１１２０５９００００１", date(1990, 5, 12), "L", id="fullwidth"),
]


@pytest.mark.parametrize(("text", "birth", "sex"), NIK_OK)
def test_parse_nik(text: str, birth: date, sex: str) -> None:
    nik = parse_nik(text, today=TODAY)
    assert isinstance(nik, Nik)
    assert len(nik.value) == 16 and nik.value.isdigit()
    assert nik.birth_date == birth
    assert nik.sex == sex


def test_nik_fields_and_masking() -> None:
    nik = parse_nik("3172 0412 0590 0001", today=TODAY)
    assert nik.value == "3172041205900001"
    assert nik.province_code == "31"
    assert nik.regency_code == "31.72"
    assert nik.district_code == "31.72.04"
    assert nik.serial == "0001"
    assert nik.masked == "3172********0001"
    assert "3172041205900001" not in repr(nik)
    assert "3172041205900001" not in str(nik)


NIK_BAD = [
    pytest.param("", "nik.length", {"count": 0}, id="empty"),
    pytest.param("317204120590000", "nik.length", {"count": 15}, id="15-digits"),
    pytest.param("31720412059000011", "nik.length", {"count": 17}, id="17-digits"),
    pytest.param("3" * 10_000, "nik.length", {"count": 10_000}, id="10k-digits"),
    pytest.param("abc", "nik.digits", {}, id="letters"),
    pytest.param("3172o41205900001", "nik.digits", {}, id="letter-o"),
    pytest.param("3172041205900001 ok", "nik.digits", {}, id="trailing-word"),
    pytest.param("a" * 10_000, "nik.digits", {}, id="10k-letters"),
    pytest.param("🙂", "nik.digits", {}, id="emoji"),
    pytest.param("'; DROP TABLE nik; --", "nik.digits", {}, id="sql"),
    pytest.param("<b>3172041205900001</b>", "nik.digits", {}, id="markup"),
    pytest.param("-3172041205900001", "nik.digits", {}, id="leading-dash"),
    pytest.param("٣١٧٢٠٤١٢٠٥٩٠٠٠٠١", "nik.digits", {}, id="arabic-indic-digits"),
    pytest.param("9972041205900001", "nik.province", {"code": "99"}, id="province-99"),
    pytest.param("2072041205900001", "nik.province", {"code": "20"}, id="province-20"),
    pytest.param("3772041205900001", "nik.province", {"code": "37"}, id="province-37"),
    pytest.param("9772041205900001", "nik.province", {"code": "97"}, id="province-97"),
    pytest.param("0072041205900001", "nik.province", {"code": "00"}, id="province-00"),
    pytest.param("3100041205900001", "nik.region", {"code": "310004"}, id="regency-00"),
    pytest.param("3172001205900001", "nik.region", {"code": "317200"}, id="district-00"),
    pytest.param("3172040005900001", "nik.date", {}, id="day-0"),
    pytest.param("3172043205900001", "nik.date", {}, id="day-32"),
    pytest.param("3172044005900001", "nik.date", {}, id="day-40"),
    pytest.param("3172047205900001", "nik.date", {}, id="day-72"),
    pytest.param("3172041213900001", "nik.date", {}, id="month-13"),
    pytest.param("3172041200900001", "nik.date", {}, id="month-0"),
    pytest.param("3172043002900001", "nik.date", {}, id="30-february"),
    pytest.param("3172042902900001", "nik.date", {}, id="29-feb-1990-and-2090-future"),
    pytest.param("3172041205900000", "nik.serial", {}, id="serial-0000"),
]


@pytest.mark.parametrize(("text", "reason", "params"), NIK_BAD)
def test_parse_nik_rejects(text: str, reason: str, params: dict[str, object]) -> None:
    with pytest.raises(InvalidAnswer) as caught:
        parse_nik(text, today=TODAY)
    assert caught.value.reason == reason
    assert caught.value.params == params


@pytest.mark.parametrize("code", sorted(PROVINCE_CODES))
def test_every_province_code_is_accepted(code: str) -> None:
    assert parse_nik(f"{code}01011205900001", today=TODAY).province_code == code


def test_province_list() -> None:
    assert len(PROVINCE_CODES) == 38
    assert {"92", "93", "94", "95", "96"} <= PROVINCE_CODES.keys()
    assert PROVINCE_CODES["31"] == "DKI Jakarta"


def test_nik_default_today_is_used() -> None:
    # Someone born in 1990 is in the past whatever the date the tests run on.
    assert parse_nik("3172041205900001").birth_date == date(1990, 5, 12)


KK_OK = [
    pytest.param("3172041205900001", date(1990, 5, 12), id="issued-1990"),
    pytest.param("3172 0415 0115 0007", date(2015, 1, 15), id="issued-2015-spaces"),
    pytest.param("No. KK: 3172041505150001", date(2015, 5, 15), id="kk-label"),
    pytest.param("3172042811260001", date(2026, 11, 28), id="issued-today"),
]


@pytest.mark.parametrize(("text", "issued"), KK_OK)
def test_parse_kk(text: str, issued: date) -> None:
    kk = parse_kk(text, today=TODAY)
    assert isinstance(kk, Kk)
    assert kk.issued_date == issued
    assert kk.province_code == "31"
    assert kk.masked == kk.value[:4] + "********" + kk.value[-4:]
    assert kk.value not in repr(kk)


KK_BAD = [
    pytest.param("", "kk.length", {"count": 0}, id="empty"),
    pytest.param("31720412", "kk.length", {"count": 8}, id="8-digits"),
    pytest.param("3172 0412 0590 00011", "kk.length", {"count": 17}, id="17-digits"),
    pytest.param("kk saya hilang", "kk.digits", {}, id="words"),
    pytest.param("'; DROP TABLE kk; --", "kk.digits", {}, id="sql"),
    pytest.param("1072041205900001", "kk.province", {"code": "10"}, id="province-10"),
    pytest.param("3100041205900001", "kk.region", {"code": "310004"}, id="regency-00"),
    pytest.param("3172044205900001", "kk.date", {}, id="no-plus-40-for-kk"),
    pytest.param("3172041212260001", "kk.date", {}, id="future-issue-date"),
    pytest.param("3172043102900001", "kk.date", {}, id="31-february"),
    pytest.param("3172041205900000", "kk.serial", {}, id="serial-0000"),
]


@pytest.mark.parametrize(("text", "reason", "params"), KK_BAD)
def test_parse_kk_rejects(text: str, reason: str, params: dict[str, object]) -> None:
    with pytest.raises(InvalidAnswer) as caught:
        parse_kk(text, today=TODAY)
    assert caught.value.reason == reason
    assert caught.value.params == params


@settings(database=None, deadline=None)
@given(
    province=st.sampled_from(sorted(PROVINCE_CODES)),
    regency=st.integers(min_value=1, max_value=99),
    district=st.integers(min_value=1, max_value=99),
    birth=st.dates(min_value=date(1927, 1, 1), max_value=TODAY),
    female=st.booleans(),
    serial=st.integers(min_value=1, max_value=9999),
    separator=st.sampled_from(["", " ", ".", "-"]),
)
def test_nik_round_trip(
    province: str,
    regency: int,
    district: int,
    birth: date,
    female: bool,
    serial: int,
    separator: str,
) -> None:
    day = birth.day + (40 if female else 0)
    digits = (
        f"{province}{regency:02d}{district:02d}{day:02d}{birth.month:02d}"
        f"{birth.year % 100:02d}{serial:04d}"
    )
    text = separator.join(digits[i : i + 4] for i in range(0, 16, 4))
    nik = parse_nik(text, today=TODAY)
    assert nik.value == digits
    assert nik.birth_date == birth
    assert nik.sex == ("P" if female else "L")
    assert nik.masked == digits[:4] + "*" * 8 + digits[-4:]


# --------------------------------------------------------------------------------------
# parse_phone
# --------------------------------------------------------------------------------------

PHONES = [
    pytest.param("0812-3456-7890", "+6281234567890", id="08-dashes"),
    pytest.param("081234567890", "+6281234567890", id="08"),
    pytest.param("812 3456 7890", "+6281234567890", id="8-spaces"),
    pytest.param("628123456789", "+628123456789", id="62"),
    pytest.param("+62 812-3456-7890", "+6281234567890", id="plus-62"),
    pytest.param("+62 (812) 3456-7890", "+6281234567890", id="plus-62-brackets"),
    pytest.param("6208123456789", "+628123456789", id="62-0-mistake"),
    pytest.param("+62 0812 3456 789", "+628123456789", id="plus-62-0-mistake"),
    pytest.param("0062 812 3456 7890", "+6281234567890", id="00-prefix"),
    pytest.param("0857.1234.5678", "+6285712345678", id="dots"),
    pytest.param(" 0813 1234 5678 ", "+6281312345678", id="padding"),
]


@pytest.mark.parametrize(("text", "expected"), PHONES)
def test_parse_phone(text: str, expected: str) -> None:
    assert parse_phone(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        *HOSTILE,
        pytest.param("021 4401234", id="jakarta-landline"),
        pytest.param("(021) 4401234", id="landline-brackets"),
        pytest.param("+62 21 4401234", id="landline-international"),
        pytest.param("+65 9123 4567", id="singapore-mobile"),
        pytest.param("+1 202 555 0123", id="us-number"),
        pytest.param("0812345", id="too-short"),
        pytest.param("08123456789012345", id="too-long"),
        pytest.param("12345", id="short-digits"),
        pytest.param("0" * 10_000, id="10k-zeros"),
    ],
)
def test_parse_phone_rejects(text: str) -> None:
    assert parse_phone(text) is None


# --------------------------------------------------------------------------------------
# parse_number
# --------------------------------------------------------------------------------------

NUMBERS = [
    pytest.param("12", 12, id="12"),
    pytest.param("0", 0, id="0"),
    pytest.param("007", 7, id="leading-zeros"),
    pytest.param("1.500", 1500, id="dot-thousands"),
    pytest.param("1.500.000", 1_500_000, id="dot-millions"),
    pytest.param("1,500,000", 1_500_000, id="comma-millions"),
    pytest.param("Rp 150.000", 150_000, id="rp"),
    pytest.param("Rp150.000,-", 150_000, id="rp-comma-dash"),
    pytest.param("Rp 1.500.000,00", 1_500_000, id="rp-cents"),
    pytest.param("IDR 50.000", 50_000, id="idr"),
    pytest.param("150rb", 150_000, id="150rb"),
    pytest.param("150 ribu", 150_000, id="150-ribu"),
    pytest.param("150k", 150_000, id="150k"),
    pytest.param("1,2 juta", 1_200_000, id="1,2-juta"),
    pytest.param("1.5 juta", 1_500_000, id="1.5-juta"),
    pytest.param("2 jt", 2_000_000, id="2-jt"),
    pytest.param("2jt", 2_000_000, id="2jt"),
    pytest.param("2 juta 500 ribu", 2_500_000, id="2-juta-500-ribu"),
    pytest.param("3,5", Decimal("3.5"), id="3,5"),
    pytest.param("1.5", Decimal("1.5"), id="1.5"),
    pytest.param("1,500", Decimal("1.5"), id="1,500-is-decimal"),
    pytest.param("dua ratus", 200, id="dua-ratus"),
    pytest.param("seratus lima puluh", 150, id="seratus-lima-puluh"),
    pytest.param("sebelas", 11, id="sebelas"),
    pytest.param("dua belas", 12, id="dua-belas"),
    pytest.param("tiga puluh dua", 32, id="tiga-puluh-dua"),
    pytest.param("seribu", 1000, id="seribu"),
    pytest.param("dua ribu lima ratus", 2500, id="dua-ribu-lima-ratus"),
    pytest.param("satu juta", 1_000_000, id="satu-juta"),
    pytest.param("dua puluh lima ribu rupiah", 25_000, id="words-rupiah"),
    pytest.param("nol", 0, id="nol"),
    pytest.param("enam", 6, id="enam"),
    pytest.param("lima orang", 5, id="lima-orang"),
    pytest.param("5 orang", 5, id="5-orang"),
    pytest.param("5orang", 5, id="5orang"),
    pytest.param("4 kk", 4, id="kk"),
    pytest.param("3 rumah", 3, id="rumah"),
    pytest.param("2 keluarga", 2, id="keluarga"),
    pytest.param("6 jiwa", 6, id="jiwa"),
    pytest.param("2 kepala keluarga", 2, id="kepala-keluarga"),
    pytest.param("7 hari", 7, id="hari"),
    pytest.param("20 meter", 20, id="meter"),
    pytest.param("36 m2", 36, id="m2"),
    pytest.param("36 m²", 36, id="m-squared"),
    pytest.param("36m²", 36, id="m-squared-attached"),
    pytest.param("±10", 10, id="plus-minus"),
    pytest.param("+- 10", 10, id="plus-dash"),
    pytest.param("sekitar 10", 10, id="sekitar"),
    pytest.param("kurang lebih 10", 10, id="kurang-lebih"),
    pytest.param("kira-kira 10 orang", 10, id="kira-kira"),
    pytest.param("12.", 12, id="trailing-period"),
    pytest.param("１２", 12, id="fullwidth"),
]


@pytest.mark.parametrize(("text", "expected"), NUMBERS)
def test_parse_number(text: str, expected: int | Decimal) -> None:
    value = parse_number(text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    "text",
    [
        *HOSTILE,
        pytest.param("-5", id="negative"),
        pytest.param("−5", id="unicode-minus"),
        pytest.param("minus 5", id="minus-word"),
        pytest.param("5-10", id="range"),
        pytest.param("abc", id="letters"),
        pytest.param("dua tiga", id="two-digits-words"),
        pytest.param("lima puluh puluh", id="puluh-twice"),
        pytest.param("ribu", id="scale-alone"),
        pytest.param("seribu seribu", id="scale-twice"),
        pytest.param("1.2.3", id="dotted-garbage"),
        pytest.param("1e5", id="exponent"),
        pytest.param("0x10", id="hex"),
        pytest.param("Rp", id="currency-alone"),
        pytest.param("orang", id="unit-alone"),
        pytest.param("٣", id="arabic-indic-digit"),
        pytest.param("9" * 30, id="30-digits"),
        pytest.param("9" * 10_000, id="10k-digits"),
        pytest.param("lima orang dewasa", id="unknown-trailing-word"),
    ],
)
def test_parse_number_rejects(text: str) -> None:
    assert parse_number(text) is None


@settings(database=None, deadline=None)
@given(st.integers(min_value=0, max_value=10**15))
def test_number_round_trip(n: int) -> None:
    indonesian = f"{n:,}".replace(",", ".")
    assert parse_number(str(n)) == n
    assert parse_number(indonesian) == n
    assert parse_number(f"Rp {indonesian},-") == n


# --------------------------------------------------------------------------------------
# parse_rt_rw
# --------------------------------------------------------------------------------------

RT_RW = [
    pytest.param("RT 5 RW 3", id="spaced"),
    pytest.param("rt05/rw03", id="slash-padded"),
    pytest.param("RT.005/RW.003", id="dots"),
    pytest.param("rt 5 rw 3", id="lower"),
    pytest.param("RT 005 / RW 003", id="spaced-slash"),
    pytest.param("005/003", id="bare-padded"),
    pytest.param("5/3", id="bare"),
    pytest.param("5 / 3", id="bare-spaced"),
    pytest.param("RT 5/3", id="rt-then-bare"),
    pytest.param("rw 3 rt 5", id="reversed-labelled"),
    pytest.param("RW 03 RT 05", id="reversed-upper"),
    pytest.param("RT05 RW03", id="attached"),
    pytest.param("rt5rw3", id="all-attached"),
    pytest.param("RT/RW 5/3", id="combined-label"),
    pytest.param("RT: 5, RW: 3", id="colons"),
    pytest.param("r.t. 5 r.w. 3", id="dotted-labels"),
]


@pytest.mark.parametrize("text", RT_RW)
def test_parse_rt_rw(text: str) -> None:
    assert parse_rt_rw(text) == ("005", "003")


def test_rt_rw_three_digits() -> None:
    assert parse_rt_rw("RT 12 RW 999") == ("012", "999")


@pytest.mark.parametrize(
    "text",
    [
        *HOSTILE,
        pytest.param("RT 5", id="rt-only"),
        pytest.param("5", id="one-number"),
        pytest.param("rt 0 rw 3", id="rt-zero"),
        pytest.param("rt 5 rw 0", id="rw-zero"),
        pytest.param("000/003", id="bare-zero"),
        pytest.param("rt 1000 rw 3", id="rt-1000"),
        pytest.param("5/3000", id="rw-3000"),
        pytest.param("5/3/2", id="three-numbers"),
        pytest.param("rw 3/5", id="rw-then-bare"),
        pytest.param("rt 5 rt 3", id="rt-twice"),
        pytest.param("rt rw", id="labels-only"),
        pytest.param("halo", id="halo"),
        pytest.param("1" * 10_000, id="10k-digits"),
    ],
)
def test_parse_rt_rw_rejects(text: str) -> None:
    assert parse_rt_rw(text) is None


@settings(database=None, deadline=None)
@given(
    rt=st.integers(min_value=1, max_value=999),
    rw=st.integers(min_value=1, max_value=999),
    form=st.sampled_from(["RT {rt} RW {rw}", "{rt:03d}/{rw:03d}", "rw{rw}rt{rt}", "RT.{rt}/{rw}"]),
)
def test_rt_rw_round_trip(rt: int, rw: int, form: str) -> None:
    assert parse_rt_rw(form.format(rt=rt, rw=rw)) == (f"{rt:03d}", f"{rw:03d}")


# --------------------------------------------------------------------------------------
# match_kelurahan
# --------------------------------------------------------------------------------------

KALIBARU = "31.72.04.1004"

KELURAHAN_CASES = [
    pytest.param("Kalibaru", KALIBARU, id="kalibaru"),
    pytest.param("KALIBARU", KALIBARU, id="caps"),
    pytest.param("Kali Baru", KALIBARU, id="kali-baru"),
    pytest.param("kali-baru.", KALIBARU, id="punctuation"),
    pytest.param("Kalibiru", KALIBARU, id="kalibiru"),
    pytest.param("Kalibaru Barat", KALIBARU, id="kalibaru-barat"),
    pytest.param("Kalibaru Timur", KALIBARU, id="kalibaru-timur"),
    pytest.param("klbaru", KALIBARU, id="klbaru"),
    pytest.param("Kalibaruu", KALIBARU, id="typo"),
    pytest.param("kel. kalibaru", KALIBARU, id="kel-prefix"),
    pytest.param("Kelurahan Kalibaru", KALIBARU, id="kelurahan-prefix"),
    pytest.param("Kalibaru, Kec. Cilincing, Jakarta Utara", KALIBARU, id="full-address"),
    pytest.param("1004", KALIBARU, id="short-code"),
    pytest.param("31.72.04.1004", KALIBARU, id="full-code"),
    pytest.param("3172041004", KALIBARU, id="full-code-digits"),
    pytest.param("14110", KALIBARU, id="postal-code"),
    pytest.param("Cilincing", "31.72.04.1001", id="cilincing"),
    pytest.param("14120", "31.72.04.1001", id="cilincing-postal"),
    pytest.param("sukapura", "31.72.04.1002", id="sukapura"),
    pytest.param("marunda", "31.72.04.1003", id="marunda"),
    pytest.param("14150", "31.72.04.1003", id="marunda-postal"),
    pytest.param("Semper Timur", "31.72.04.1005", id="semper-timur"),
    pytest.param("smper timur", "31.72.04.1005", id="smper-timur"),
    pytest.param("semper tmr", "31.72.04.1005", id="semper-tmr"),
    pytest.param("rorotan", "31.72.04.1006", id="rorotan"),
    pytest.param("Rorotn", "31.72.04.1006", id="rorotn"),
    pytest.param("semper brt", "31.72.04.1007", id="semper-brt"),
    pytest.param("Semper Barat", "31.72.04.1007", id="semper-barat"),
    pytest.param("1007", "31.72.04.1007", id="semper-barat-code"),
]


@pytest.mark.parametrize(("text", "code"), KELURAHAN_CASES)
def test_match_kelurahan(text: str, code: str) -> None:
    kelurahan = match_kelurahan(text)
    assert isinstance(kelurahan, Kelurahan)
    assert kelurahan.code == code


@pytest.mark.parametrize(
    "text",
    [
        *HOSTILE,
        pytest.param("Tanjung Priok", id="other-district"),
        pytest.param("Koja", id="koja"),
        pytest.param("Jakarta", id="jakarta"),
        pytest.param("Jakarta Utara", id="jakarta-utara"),
        pytest.param("Sukabumi", id="sukabumi"),
        pytest.param("Semper", id="ambiguous-semper"),
        pytest.param("kec cilincing", id="the-district-not-a-kelurahan"),
        pytest.param("14130", id="ambiguous-postal-semper"),
        pytest.param("14140", id="ambiguous-postal-sukapura-rorotan"),
        pytest.param("1008", id="unknown-code"),
        pytest.param("31.72.05.1004", id="other-district-code"),
        pytest.param("kal", id="too-short"),
    ],
)
def test_match_kelurahan_rejects(text: str) -> None:
    assert match_kelurahan(text) is None


def test_kelurahan_data() -> None:
    assert [(k.short_code, k.name, k.postal_code) for k in KELURAHAN] == [
        ("1001", "Cilincing", "14120"),
        ("1002", "Sukapura", "14140"),
        ("1003", "Marunda", "14150"),
        ("1004", "Kalibaru", "14110"),
        ("1005", "Semper Timur", "14130"),
        ("1006", "Rorotan", "14140"),
        ("1007", "Semper Barat", "14130"),
    ]
    for kelurahan in KELURAHAN:
        assert kelurahan.code.startswith("31.72.04.")
        assert match_kelurahan(kelurahan.name) == kelurahan
        assert match_kelurahan(kelurahan.code) == kelurahan


# --------------------------------------------------------------------------------------
# Any text: the right type, or InvalidAnswer, never another exception
# --------------------------------------------------------------------------------------

VOCABULARY = [
    "jam", "pukul", "setengah", "kurang", "lewat", "seperempat", "pagi", "siang", "sore",
    "malam", "besok", "lusa", "kemarin", "nanti", "tadi", "hari", "minggu", "depan", "lalu",
    "lagi", "yang", "ini", "sabtu", "rabu", "jum'at", "ahad", "tgl", "tanggal", "desember",
    "des", "bulan", "ya", "tidak", "mau", "rt", "rw", "rp", "ribu", "juta", "ratus", "puluh",
    "belas", "se", "dua", "lima", "orang", "kel", "kalibaru", "semper", "12", "7", "0", "32",
    "99", "/", ".", ":", "-", ",", "+", "±", "62", "08", "2026", "07.30", "12/12", "1.500",
    "3,5", "🙂", "👍", "'", ";", "<b>",
]  # fmt: skip

any_text = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(VOCABULARY), max_size=12).map(" ".join),
    st.lists(st.sampled_from(VOCABULARY), max_size=12).map("".join),
)
nows = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2098, 12, 31),
    timezones=st.just(JAKARTA),
)


@settings(database=None, deadline=None, max_examples=300)
@given(text=any_text, now=nows)
def test_parse_when_any_text(text: str, now: datetime) -> None:
    result = parse_when(text, now)
    assert result is None or isinstance(result, When)
    if result is not None:
        assert result.date is not None or result.time is not None
        assert result.date is None or type(result.date) is date
        assert result.time is None or (isinstance(result.time, time) and not result.time.tzinfo)


@settings(database=None, deadline=None, max_examples=300)
@given(text=any_text)
def test_other_parsers_any_text(text: str) -> None:
    assert parse_yes_no(text) in (True, False, None)
    phone = parse_phone(text)
    assert phone is None or (phone.startswith("+628") and phone[1:].isdigit())
    number = parse_number(text)
    assert number is None or (isinstance(number, int | Decimal) and number >= 0)
    rt_rw = parse_rt_rw(text)
    assert rt_rw is None or all(len(part) == 3 and part.isdigit() for part in rt_rw)
    kelurahan = match_kelurahan(text)
    assert kelurahan is None or kelurahan in KELURAHAN


@settings(database=None, deadline=None, max_examples=300)
@given(text=st.one_of(any_text, st.from_regex(r"[0-9 .\-]{10,24}", fullmatch=True)))
def test_identity_parsers_any_text(text: str) -> None:
    for parse, kind in ((parse_nik, Nik), (parse_kk, Kk)):
        try:
            result = parse(text, today=TODAY)
        except InvalidAnswer as error:
            assert error.reason.split(".")[0] in {"nik", "kk"}
            assert error.reason.split(".")[1] in {
                "digits",
                "length",
                "province",
                "region",
                "date",
                "serial",
            }
        else:
            assert isinstance(result, kind)


def test_invalid_answer() -> None:
    error = InvalidAnswer("nik.length", count=15)
    assert error.reason == "nik.length"
    assert error.params == {"count": 15}
    assert str(error) == "nik.length"
    assert InvalidAnswer("nik.digits").params == {}
