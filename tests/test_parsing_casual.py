"""Table tests: Indonesian (and English) as residents type it, for the answer parsers.

Dates are resolved against Wednesday 25 November 2026, 10:00 in Asia/Jakarta, unless a
case says otherwise.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conversations.parsing import (
    When,
    is_dont_know,
    is_skip,
    kelurahan_candidates,
    match_kelurahan,
    parse_number,
    parse_phone,
    parse_rt_rw,
    parse_when,
    parse_yes_no,
)
from conversations.places import KELURAHAN

JAKARTA = ZoneInfo("Asia/Jakarta")
WED = datetime(2026, 11, 25, 10, 0, tzinfo=JAKARTA)
TODAY = WED.date()
SAT_EVENING = datetime(2026, 11, 28, 20, 0, tzinfo=JAKARTA)

BY_NAME = {k.name: k for k in KELURAHAN}


def d(month: int, day: int, year: int = 2026) -> date:
    return date(year, month, day)


def w(day: date | None, at: time | None = None) -> When:
    return When(day, at)


# --------------------------------------------------------------------------------------
# parse_when: prefer="past" (since when, birth dates)
# --------------------------------------------------------------------------------------

PAST = [
    # a bare weekday, tgl N, a day and month: the latest one, today included
    pytest.param("senin", w(d(11, 23)), id="senin-on-wednesday-is-two-days-ago"),
    pytest.param("sejak senin", w(d(11, 23)), id="sejak-senin"),
    pytest.param("dari hari senin", w(d(11, 23)), id="dari-hari-senin"),
    pytest.param("rabu", w(TODAY), id="rabu-today"),
    pytest.param("kamis", w(d(11, 19)), id="kamis-last-week"),
    pytest.param("minggu", w(d(11, 22)), id="minggu-sunday"),
    pytest.param("tgl 20", w(d(11, 20)), id="tgl-20"),
    pytest.param("tgl 25", w(TODAY), id="tgl-today"),
    pytest.param("tgl 30", w(d(10, 30)), id="tgl-30-last-month"),
    pytest.param("1 des", w(d(12, 1, 2025)), id="1-des-last-year"),
    pytest.param("12/05", w(d(5, 12)), id="12/05"),
    pytest.param("senin lalu", w(d(11, 23)), id="senin-lalu"),
    # two-digit years: the century that keeps the date out of the future
    pytest.param("12/05/85", w(d(5, 12, 1985)), id="12/05/85"),
    pytest.param("17-8-45", w(d(8, 17, 1945)), id="17-8-45"),
    pytest.param("12/05/20", w(d(5, 12, 2020)), id="12/05/20"),
    pytest.param("25/11/26", w(TODAY), id="today-2026"),
    pytest.param("26/11/26", w(d(11, 26, 1926)), id="tomorrow-means-1926"),
    pytest.param("12 mei 85", w(d(5, 12, 1985)), id="12-mei-85"),
    pytest.param("12-05-1985", w(d(5, 12, 1985)), id="four-digit-year"),
    # durations without "lalu"
    pytest.param("3 hari", w(d(11, 22)), id="3-hari"),
    pytest.param("udah 3 hari", w(d(11, 22)), id="udah-3-hari"),
    pytest.param("udah seminggu", w(d(11, 18)), id="udah-seminggu"),
    pytest.param("dua mingguan", w(d(11, 11)), id="dua-mingguan"),
    pytest.param("3 harian", w(d(11, 22)), id="3-harian"),
    pytest.param("sebulanan", w(d(10, 25)), id="sebulanan"),
    pytest.param("2 bulan", w(d(9, 25)), id="2-bulan"),
    pytest.param("setahun", w(d(11, 25, 2025)), id="setahun"),
    pytest.param("2 tahun lalu", w(d(11, 25, 2024)), id="2-tahun-lalu"),
    pytest.param("udah 2 jam", w(TODAY, time(8, 0)), id="udah-2-jam"),
    pytest.param("udah dua ari", w(d(11, 23)), id="betawi-ari"),
    pytest.param("rong dino", w(d(11, 23)), id="javanese-rong-dino"),
    pytest.param("wis telung dino", w(d(11, 22)), id="javanese-wis-telung-dino"),
    pytest.param("wingi", w(d(11, 24)), id="javanese-wingi"),
    # parts of the day looking back
    pytest.param("semalem", w(d(11, 24), time(19, 0)), id="semalem"),
    pytest.param("tadi malem", w(d(11, 24), time(19, 0)), id="tadi-malem"),
    pytest.param("tadi pagi", w(TODAY, time(7, 0)), id="tadi-pagi"),
    pytest.param("dari pagi", w(TODAY, time(7, 0)), id="dari-pagi"),
    pytest.param("sejak sore", w(d(11, 24), time(16, 0)), id="sejak-sore-not-begun"),
    pytest.param("kemarin sore", w(d(11, 24), time(16, 0)), id="kemarin-sore"),
    # parts of the month
    pytest.param("awal bulan", w(d(11, 1)), id="awal-bulan"),
    pytest.param("akhir bulan", w(d(10, 31)), id="akhir-bulan"),
    pytest.param("pertengahan bulan", w(d(11, 15)), id="pertengahan-bulan"),
    pytest.param("akhir bulan lalu", w(d(10, 31)), id="akhir-bulan-lalu"),
    pytest.param("awal desember", w(d(12, 1, 2025)), id="awal-desember"),
    pytest.param("akhir tahun", w(d(12, 31, 2025)), id="akhir-tahun"),
    # a time with no day: the latest such moment
    pytest.param("jam 7", w(TODAY, time(7, 0)), id="jam-7"),
    pytest.param("jam 11", w(d(11, 24), time(11, 0)), id="jam-11-yesterday"),
    pytest.param("habis maghrib", w(d(11, 24), time(18, 30)), id="habis-maghrib"),
    pytest.param("habis jumatan", w(d(11, 20), time(13, 0)), id="habis-jumatan-last-friday"),
    pytest.param("malam minggu", w(d(11, 21), time(19, 0)), id="malam-minggu-last"),
    # English
    pytest.param("since monday", w(d(11, 23)), id="en-since-monday"),
    pytest.param("for 3 days", w(d(11, 22)), id="en-for-3-days"),
    pytest.param("a week", w(d(11, 18)), id="en-a-week"),
    pytest.param("1st of may", w(d(5, 1)), id="en-1st-of-may"),
    pytest.param("december 1", w(d(12, 1, 2025)), id="en-december-1"),
]


@pytest.mark.parametrize(("text", "expected"), PAST)
def test_parse_when_past(text: str, expected: When) -> None:
    assert parse_when(text, WED, prefer="past") == expected


# --------------------------------------------------------------------------------------
# parse_when: the default, prefer="future"
# --------------------------------------------------------------------------------------

FUTURE = [
    pytest.param("senin", w(d(11, 30)), id="senin"),
    pytest.param("1 des", w(d(12, 1)), id="1-des"),
    pytest.param("tgl 20", w(d(12, 20)), id="tgl-20"),
    pytest.param("udah 3 hari", w(d(11, 22)), id="udah-makes-it-past"),
    pytest.param("udah seminggu", w(d(11, 18)), id="udah-seminggu"),
    pytest.param("12/05/85", w(d(5, 12, 2085)), id="two-digit-year-20yy"),
    pytest.param("12 mei 85", w(d(5, 12, 2085)), id="month-name-two-digit-year"),
    # malem / mlm
    pytest.param("lusa jam 8 malem", w(d(11, 27), time(20, 0)), id="lusa-jam-8-malem"),
    pytest.param("besok jam 7 mlm", w(d(11, 26), time(19, 0)), id="besok-jam-7-mlm"),
    pytest.param("besok mlm", w(d(11, 26), time(19, 0)), id="besok-mlm"),
    pytest.param("malem ini", w(TODAY, time(19, 0)), id="malem-ini"),
    pytest.param("selasa malem jam 8", w(d(12, 1), time(20, 0)), id="selasa-malem"),
    # malam <day> is the evening before that day
    pytest.param("malam minggu", w(d(11, 28), time(19, 0)), id="malam-minggu-saturday"),
    pytest.param("malam jumat", w(d(11, 26), time(19, 0)), id="malam-jumat-thursday"),
    pytest.param("malem jum'at", w(d(11, 26), time(19, 0)), id="malem-jum-at"),
    pytest.param("malming", w(d(11, 28), time(19, 0)), id="malming"),
    pytest.param("malam minggu jam 9", w(d(11, 28), time(21, 0)), id="malam-minggu-jam-9"),
    pytest.param("malam minggu depan", w(d(12, 5), time(19, 0)), id="malam-minggu-depan"),
    pytest.param("malam senin", w(d(11, 29), time(19, 0)), id="malam-senin-sunday"),
    # midnight
    pytest.param("tengah malam", w(d(11, 26), time(0, 0)), id="tengah-malam"),
    pytest.param("besok tengah malem", w(d(11, 27), time(0, 0)), id="besok-tengah-malem"),
    pytest.param("tengah hari", w(TODAY, time(12, 0)), id="tengah-hari"),
    # prayer times (Jakarta, representative): subuh 04:30, dzuhur 12:00, ashar 15:15,
    # maghrib 18:00, isya 19:15; after = +30 min, before = -30 min, after Friday prayer 13:00
    pytest.param("ba'da ashar", w(TODAY, time(15, 45)), id="bada-ashar"),
    pytest.param("bakda asar", w(TODAY, time(15, 45)), id="bakda-asar"),
    pytest.param("habis maghrib", w(TODAY, time(18, 30)), id="habis-maghrib"),
    pytest.param("abis isya", w(TODAY, time(19, 45)), id="abis-isya"),
    pytest.param("setelah sholat dzuhur", w(TODAY, time(12, 30)), id="setelah-sholat-dzuhur"),
    pytest.param("pas maghrib", w(TODAY, time(18, 0)), id="pas-maghrib"),
    pytest.param("sebelum maghrib", w(TODAY, time(17, 30)), id="sebelum-maghrib"),
    pytest.param("habis subuh", w(d(11, 26), time(5, 0)), id="habis-subuh-tomorrow"),
    pytest.param("subuh", w(d(11, 26), time(5, 0)), id="subuh-part-of-day"),
    pytest.param("habis jumatan", w(d(11, 27), time(13, 0)), id="habis-jumatan"),
    pytest.param("sholat jumat", w(d(11, 27), time(12, 0)), id="sholat-jumat"),
    pytest.param("jumat", w(d(11, 27)), id="jumat-is-a-day"),
    pytest.param("besok ba'da ashar", w(d(11, 26), time(15, 45)), id="besok-bada-ashar"),
    pytest.param("sabtu habis isya", w(d(11, 28), time(19, 45)), id="sabtu-habis-isya"),
    # a time with no day: the next such moment
    pytest.param("jam 7", w(d(11, 26), time(7, 0)), id="jam-7-tomorrow"),
    pytest.param("jam 11", w(TODAY, time(11, 0)), id="jam-11-today"),
    pytest.param("jam 10", w(TODAY, time(10, 0)), id="jam-10-now"),
    pytest.param("jam 7 malem", w(TODAY, time(19, 0)), id="jam-7-malem"),
    # months
    pytest.param("awal bulan", w(d(12, 1)), id="awal-bulan"),
    pytest.param("akhir bulan", w(d(11, 30)), id="akhir-bulan"),
    pytest.param("awal bulan depan", w(d(12, 1)), id="awal-bulan-depan"),
    pytest.param("pertengahan bulan", w(d(12, 15)), id="pertengahan-bulan-next"),
    pytest.param("akhir tahun", w(d(12, 31)), id="akhir-tahun"),
    pytest.param("awal tahun depan", w(d(1, 1, 2027)), id="awal-tahun-depan"),
    pytest.param("pertengahan desember", w(d(12, 15)), id="pertengahan-desember"),
    # English
    pytest.param("yesterday", w(d(11, 24)), id="en-yesterday"),
    pytest.param("today", w(TODAY), id="en-today"),
    pytest.param("tomorrow", w(d(11, 26)), id="en-tomorrow"),
    pytest.param("Tomorrow morning", w(d(11, 26), time(7, 0)), id="en-tomorrow-morning"),
    pytest.param("3 days ago", w(d(11, 22)), id="en-3-days-ago"),
    pytest.param("three days ago", w(d(11, 22)), id="en-three-days-ago"),
    pytest.param("a week ago", w(d(11, 18)), id="en-a-week-ago"),
    pytest.param("2 weeks ago", w(d(11, 11)), id="en-2-weeks-ago"),
    pytest.param("in 3 days", w(d(11, 28)), id="en-in-3-days"),
    pytest.param("last monday", w(d(11, 23)), id="en-last-monday"),
    pytest.param("next friday", w(d(12, 4)), id="en-next-friday-next-week"),
    pytest.param("this friday", w(d(11, 27)), id="en-this-friday"),
    pytest.param("on friday", w(d(11, 27)), id="en-on-friday"),
    pytest.param("last sunday", w(d(11, 22)), id="en-last-sunday-not-a-week"),
    pytest.param("next sunday", w(d(12, 6)), id="en-next-sunday"),
    pytest.param("at 7 pm", w(TODAY, time(19, 0)), id="en-at-7-pm"),
    pytest.param("7pm", w(TODAY, time(19, 0)), id="en-7pm"),
    pytest.param("tomorrow at 7:30am", w(d(11, 26), time(7, 30)), id="en-tomorrow-7-30am"),
    pytest.param("friday at 8 p.m.", w(d(11, 27), time(20, 0)), id="en-friday-8-pm"),
    pytest.param("12 pm", w(TODAY, time(12, 0)), id="en-12-pm-noon"),
    pytest.param("12 am", w(d(11, 26), time(0, 0)), id="en-12-am-midnight"),
    pytest.param("at 7", w(d(11, 26), time(7, 0)), id="en-at-7"),
    pytest.param("tonight", w(TODAY, time(19, 0)), id="en-tonight"),
    pytest.param("last night", w(d(11, 24), time(19, 0)), id="en-last-night"),
    pytest.param("noon", w(TODAY, time(12, 0)), id="en-noon"),
    pytest.param("midnight", w(d(11, 26), time(0, 0)), id="en-midnight"),
    pytest.param("december 1", w(d(12, 1)), id="en-december-1"),
    pytest.param("Dec 5, 2027", w(d(12, 5, 2027)), id="en-dec-5-2027"),
    pytest.param("the 12th", w(d(12, 12)), id="en-the-12th"),
    pytest.param("end of the month", w(d(11, 30)), id="en-end-of-month"),
    pytest.param("day after tomorrow", w(d(11, 27)), id="en-day-after-tomorrow"),
]


@pytest.mark.parametrize(("text", "expected"), FUTURE)
def test_parse_when_future(text: str, expected: When) -> None:
    assert parse_when(text, WED) == expected


def test_default_is_future() -> None:
    assert parse_when("senin", WED) == parse_when("senin", WED, prefer="future")


def test_malam_minggu_on_saturday_evening_is_tonight() -> None:
    assert parse_when("malam minggu", SAT_EVENING) == w(d(11, 28), time(19, 0))


@pytest.mark.parametrize(
    ("text", "prefer"),
    [
        pytest.param("3 hari", "future", id="duration-has-no-direction"),
        pytest.param("dua mingguan", "future", id="mingguan-no-direction"),
        pytest.param("mingguan", "past", id="mingguan-without-count"),
        pytest.param("harian", "past", id="harian-without-count"),
        pytest.param("13 pm", "future", id="13-pm"),
        pytest.param("jam 25 malem", "future", id="jam-25-malem"),
        pytest.param("selamat malem", "future", id="greeting-malem"),
        pytest.param("met pagi kak", "future", id="greeting-met-pagi"),
        pytest.param("tgl 32", "past", id="tgl-32-past"),
        pytest.param("31/02/85", "past", id="31-february-85"),
        pytest.param("habis", "future", id="habis-alone"),
        pytest.param("isa", "future", id="isa-a-name"),
        pytest.param("mulai pagi", "future", id="mulai-pagi-no-day"),
        pytest.param("makasih", "past", id="makasih"),
        pytest.param("rt 5 rw 3", "past", id="rt-rw-is-no-date"),
    ],
)
def test_parse_when_rejects_casual(text: str, prefer: str) -> None:
    assert parse_when(text, WED, prefer=prefer) is None  # type: ignore[arg-type]


def test_prefer_must_be_known() -> None:
    with pytest.raises(ValueError, match="prefer"):
        parse_when("besok", WED, prefer="soon")  # type: ignore[arg-type]


WEEKDAYS = ["senin", "selasa", "rabu", "kamis", "jumat", "sabtu", "minggu"]


@settings(database=None, deadline=None)
@given(
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    index=st.integers(min_value=0, max_value=6),
    dom=st.integers(min_value=1, max_value=28),
)
def test_past_is_never_after_today(day: date, index: int, dom: int) -> None:
    now = datetime(day.year, day.month, day.day, 9, 0, tzinfo=JAKARTA)
    weekday = parse_when(WEEKDAYS[index], now, prefer="past")
    assert weekday is not None and weekday.date is not None
    assert weekday.date.weekday() == index
    assert 0 <= (day - weekday.date).days <= 6
    tgl = parse_when(f"tgl {dom}", now, prefer="past")
    assert tgl is not None and tgl.date is not None
    assert tgl.date.day == dom and 0 <= (day - tgl.date).days < 32


@settings(database=None, deadline=None)
@given(n=st.integers(min_value=1, max_value=999))
def test_bare_durations_look_back(n: int) -> None:
    assert parse_when(f"{n} hari", WED, prefer="past") == w(TODAY - timedelta(days=n))
    assert parse_when(f"udah {n} hari", WED) == w(TODAY - timedelta(days=n))
    assert parse_when(f"{n} days ago", WED) == w(TODAY - timedelta(days=n))


# --------------------------------------------------------------------------------------
# parse_yes_no
# --------------------------------------------------------------------------------------

YES = [
    # Javanese, Sundanese, Betawi
    "nggih", "inggih", "injih", "ho'oh", "hooh", "leres", "muhun",
    # casual
    "yoi", "yo", "iyo", "bisa", "gapapa", "ga papa", "gpp", "tidak apa-apa", "nggak apa apa",
    "gak masalah", "sudah", "udah", "sdh", "udah bener", "sudah benar semua", "👍", "👌", "✅",
    "ok kirim", "oke kirim aja", "kirim", "ya kirim", "gas", "siap pak", "mantap",
    "insya allah", "insyaallah", "iya insya allah", "ikut", "dateng", "silakan", "blh",
    "bole", "nggih monggo", "mangga", "nggih sampun leres", "sampun",
    # with the way people address each other
    "iya nak", "sudah teh", "boleh aje", "boleh bu", "siap bang",
    # English
    "yes", "yes please", "yeah", "yep", "sure", "ok", "okay", "correct", "that's right",
    "of course", "go ahead", "send", "confirm", "fine",
]  # fmt: skip
NO = [
    "mboten", "boten", "ogah", "kaga", "kagak", "kgk", "ora", "emoh", "g", "gx", "jgn",
    "ogah ah", "kaga deh", "belum", "blm", "tidak usah", "ga jadi", "❌", "tidak datang",
    "ga ikut", "no", "nope", "nah", "no thanks", "not now", "not yet", "don't", "no, thank you",
    "ga usah dihubungi", "jangan ditelpon", "ora",
]  # fmt: skip
NEITHER = [
    "mungkin", "terserah", "yah", "yahh", "kirim besok ya", "ya tapi nanti", "bisa ga?",
    "ok tapi", "sudah?", "udah belum ya", "gak tau", "not sure", "maybe", "idk", "ya tidak",
    "insya allah besok", "1", "halo",
]  # fmt: skip


@pytest.mark.parametrize("text", YES, ids=lambda t: f"yes-{t}")
def test_yes_casual(text: str) -> None:
    assert parse_yes_no(text) is True


@pytest.mark.parametrize("text", NO, ids=lambda t: f"no-{t}")
def test_no_casual(text: str) -> None:
    assert parse_yes_no(text) is False


@pytest.mark.parametrize("text", NEITHER, ids=lambda t: f"neither-{t}")
def test_yes_no_undecided(text: str) -> None:
    assert parse_yes_no(text) is None


# --------------------------------------------------------------------------------------
# parse_number, is_dont_know
# --------------------------------------------------------------------------------------

NUMBERS = [
    pytest.param("20an", 20, id="20an"),
    pytest.param("20-an", 20, id="20-an"),
    pytest.param("20 an", 20, id="20-space-an"),
    pytest.param("dua puluhan", 20, id="dua-puluhan"),
    pytest.param("tiga ratusan", 300, id="tiga-ratusan"),
    pytest.param("setengah", Decimal("0.5"), id="setengah"),
    pytest.param("satu setengah", Decimal("1.5"), id="satu-setengah"),
    pytest.param("dua setengah", Decimal("2.5"), id="dua-setengah"),
    pytest.param("satu setengah juta", 1_500_000, id="satu-setengah-juta"),
    pytest.param("setengah juta", 500_000, id="setengah-juta"),
    pytest.param("berempat", 4, id="berempat"),
    pytest.param("berdua", 2, id="berdua"),
    pytest.param("kami berlima", 5, id="kami-berlima"),
    pytest.param("selusin", 12, id="selusin"),
    pytest.param("dua lusin", 24, id="dua-lusin"),
    pytest.param("gocap", 50, id="gocap"),
    pytest.param("cepek", 100, id="cepek"),
    pytest.param("gopek", 500, id="gopek"),
    pytest.param("seceng", 1_000, id="seceng"),
    pytest.param("noceng", 2_000, id="noceng"),
    pytest.param("goceng", 5_000, id="goceng"),
    pytest.param("ceban", 10_000, id="ceban"),
    pytest.param("2 ceban", 20_000, id="2-ceban"),
    pytest.param("dua goceng", 10_000, id="dua-goceng"),
    pytest.param("goban", 50_000, id="goban"),
    pytest.param("cepek ceng", 100_000, id="cepek-ceng"),
    pytest.param("goceng an", 5_000, id="goceng-an"),
    pytest.param("2 jt an", 2_000_000, id="2-jt-an"),
    pytest.param("2jtan", 2_000_000, id="2jtan"),
    pytest.param("5 ribuan", 5_000, id="5-ribuan"),
    pytest.param("sekitar 20an kk", 20, id="sekitar-20an-kk"),
    pytest.param("kira2 15 rumah", 15, id="kira2-15-rumah"),
    pytest.param("semuanya 30 kk", 30, id="semuanya-30-kk"),
    # English
    pytest.param("twenty", 20, id="en-twenty"),
    pytest.param("twenty five", 25, id="en-twenty-five"),
    pytest.param("a hundred", 100, id="en-a-hundred"),
    pytest.param("two hundred and fifty", 250, id="en-two-hundred-and-fifty"),
    pytest.param("one thousand five hundred", 1_500, id="en-one-thousand-five-hundred"),
    pytest.param("a dozen", 12, id="en-a-dozen"),
    pytest.param("half", Decimal("0.5"), id="en-half"),
    pytest.param("one and a half", Decimal("1.5"), id="en-one-and-a-half"),
    pytest.param("about 20 families", 20, id="en-about-20-families"),
    pytest.param("around 5 houses", 5, id="en-around-5-houses"),
    pytest.param("three people", 3, id="en-three-people"),
]


@pytest.mark.parametrize(("text", "expected"), NUMBERS)
def test_parse_number_casual(text: str, expected: int | Decimal) -> None:
    value = parse_number(text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("puluhan", id="puluhan-alone-is-vague"),
        pytest.param("ratusan ribu", id="ratusan-ribu-vague"),
        pytest.param("belasan", id="belasan"),
        pytest.param("setengah setengah", id="half-twice"),
        pytest.param("goceng ceban", id="two-slang-amounts"),
        pytest.param("berapa ya", id="question"),
        pytest.param("gak tau", id="dont-know-is-no-number"),
        pytest.param("20-30", id="range"),
        pytest.param("a lot", id="en-a-lot"),
    ],
)
def test_parse_number_rejects_casual(text: str) -> None:
    assert parse_number(text) is None


@pytest.mark.parametrize(
    ("text", "of", "expected"),
    [
        pytest.param("20 kk", "households", 20, id="kk"),
        pytest.param("sekitar 20an kk", "households", 20, id="sekitar-20an-kk"),
        pytest.param("15 rumah", "households", 15, id="rumah"),
        pytest.param("10 pintu", "households", 10, id="pintu-kontrakan"),
        pytest.param("20", "households", 20, id="bare-count"),
        pytest.param("dua puluh keluarga", "households", 20, id="keluarga-words"),
        pytest.param("about 20 households", "households", 20, id="en-households"),
        pytest.param("rumah saya aja", "households", 1, id="just-my-house"),
        pytest.param("cuma rumah mbah", "households", 1, id="only-grandmas-house"),
        pytest.param("satu gang kira2 12 rumah", "households", 12, id="count-inside-answer"),
        pytest.param("kontrakan 7 pintu", "households", 7, id="kontrakan-inside-answer"),
        pytest.param("air mati 3 hari, 5 rumah", "households", 5, id="days-then-houses"),
        pytest.param("se rt kyknya 25", "households", None, id="no-unit-in-a-sentence"),
        pytest.param("20-30 kk", "households", None, id="range"),
        pytest.param("rt 3", "households", None, id="rt-is-not-households"),
        pytest.param("3 hari", "households", None, id="days-are-not-households"),
        pytest.param("Rp 5.000", "households", None, id="money-is-not-households"),
        pytest.param("5 orang", "households", None, id="people-are-not-households"),
        pytest.param("5 orang", "people", 5, id="people"),
        pytest.param("berempat", "people", 4, id="berempat-people"),
        pytest.param("2 kk", "people", None, id="kk-are-not-people"),
    ],
)
def test_parse_number_of(text: str, of: str, expected: int | None) -> None:
    assert parse_number(text, of=of) == expected  # type: ignore[arg-type]


DONT_KNOW = [
    "gak tau", "ga tau", "tidak tahu", "gatau", "gatauuu", "gk tau", "nggak tau", "ngga tahu",
    "enggak tau", "tdk tau", "entah", "entahlah", "kurang tau", "kurang tahu", "belum tau",
    "ga tau pak", "saya kurang tau", "gatau berapa", "gak tau persisnya", "ga yakin",
    "tidak pasti", "lupa", "mboh", "embuh", "don't know", "dont know", "i don't know",
    "not sure", "no idea", "idk", "dunno", "unknown", "Tidak tahu.",
    "mbah ga tau rt nya nak", "ga tau, tetangga juga ngeluh", "gatau kapan",
]  # fmt: skip
NOT_DONT_KNOW = [
    "tau", "tahu", "ga", "tidak", "20", "sekitar 20", "kurang", "tau ah nanti", "ya", "",
    "ga ada air", "i know", "sure",
]  # fmt: skip


@pytest.mark.parametrize("text", DONT_KNOW, ids=lambda t: f"dk-{t}")
def test_is_dont_know(text: str) -> None:
    assert is_dont_know(text) is True


@pytest.mark.parametrize("text", NOT_DONT_KNOW, ids=lambda t: f"not-dk-{t}")
def test_is_not_dont_know(text: str) -> None:
    assert is_dont_know(text) is False


SKIP = [
    "lewati", "lewat", "skip", "Skip", "ga ada", "gak ada", "tidak ada", "nggak ada", "gaada",
    "gada", "kosong", "ga ada patokan", "tidak ada foto", "lewati aja", "-", ".", "none",
    "nothing", "n/a", "no", "tidak", "ga",
]  # fmt: skip
NOT_SKIP = [
    "ga ada air", "masjid", "deket masjid", "ya", "ada", "20", "lewat gang mawar", "",
    "tidak ada yang datang sama sekali",
]  # fmt: skip


@pytest.mark.parametrize("text", SKIP, ids=lambda t: f"skip-{t}")
def test_is_skip(text: str) -> None:
    assert is_skip(text) is True


@pytest.mark.parametrize("text", NOT_SKIP, ids=lambda t: f"not-skip-{t}")
def test_is_not_skip(text: str) -> None:
    assert is_skip(text) is False


# --------------------------------------------------------------------------------------
# parse_phone with labels
# --------------------------------------------------------------------------------------

LABELLED_PHONES = [
    pytest.param("WA 0812-3456-7890", id="wa"),
    pytest.param("wa: 0812 3456 7890", id="wa-colon"),
    pytest.param("WA0812-3456-7890", id="wa-attached"),
    pytest.param("no hp saya 0812 3456 7890", id="no-hp-saya"),
    pytest.param("nomor saya 081234567890", id="nomor-saya"),
    pytest.param("0812-3456-7890 (WA)", id="wa-in-brackets"),
    pytest.param("HP/WA: 0812.3456.7890", id="hp-wa"),
    pytest.param("ini nomer wa saya +62 812 3456 7890 ya pak", id="sentence-plus-62"),
    pytest.param("bisa dihubungi di 081234567890", id="dihubungi"),
    pytest.param("my number is 081234567890", id="en-my-number"),
    pytest.param("Telp. 0812-3456-7890", id="telp"),
    pytest.param("nomor aye 0812 3456 7890", id="betawi-aye"),
    pytest.param("ini hp cucu 0812-3456-7890", id="whose-phone"),
    pytest.param("nol delapan satu dua tiga empat lima enam tujuh delapan sembilan nol",
                 id="read-out-digit-by-digit"),
]


@pytest.mark.parametrize("text", LABELLED_PHONES)
def test_parse_phone_with_labels(text: str) -> None:
    assert parse_phone(text) == "+6281234567890"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("0812-3456-7890 atau 0813-1234-5678", id="two-numbers"),
        pytest.param("rt 5 rw 3 0812-3456-7890", id="other-numbers-around"),
        pytest.param("air mati 0812-3456-7890", id="other-words-around"),
        pytest.param("WA 021 4401234", id="labelled-landline"),
        pytest.param("no hp saya", id="label-only"),
        pytest.param("nomor saya 12345", id="too-short"),
        pytest.param("NIK 3172041205900001", id="nik-is-not-a-phone"),
        pytest.param("dua tiga", id="few-digit-words"),
    ],
)
def test_parse_phone_rejects_labelled(text: str) -> None:
    assert parse_phone(text) is None


# --------------------------------------------------------------------------------------
# parse_rt_rw inside longer text and in words
# --------------------------------------------------------------------------------------

RT_RW_IN_TEXT = [
    pytest.param("RT 05 RW 03 Kalibaru", ("005", "003"), id="then-kelurahan"),
    pytest.param("rt 5 rw 3 kalibaru", ("005", "003"), id="lower-then-kelurahan"),
    pytest.param("rt 5 rw 3 deket masjid al hidayah", ("005", "003"), id="then-landmark"),
    pytest.param("Kalibaru RT.005/RW.003", ("005", "003"), id="after-kelurahan"),
    pytest.param("rumah saya di rt 03/04 kalibaru", ("003", "004"), id="rt-slash"),
    pytest.param("rt5/rw3", ("005", "003"), id="rt5/rw3"),
    pytest.param("rt5/rw3 gg mawar", ("005", "003"), id="rt5/rw3-in-text"),
    pytest.param("alamat 005/003 kalibaru", ("005", "003"), id="padded-bare-in-text"),
    pytest.param("rt lima rw tiga", ("005", "003"), id="words"),
    pytest.param("rt dua belas rw tiga", ("012", "003"), id="words-dua-belas"),
    pytest.param("RT kosong lima RW kosong tiga", ("005", "003"), id="words-kosong"),
    pytest.param("rw 3 rt 5 deket pos", ("005", "003"), id="reversed-in-text"),
    pytest.param("RT/RW 5/3 Kalibaru", ("005", "003"), id="combined-label-in-text"),
    pytest.param("rukun tetangga 5 rukun warga 3", ("005", "003"), id="spelled-out"),
    pytest.param("rt 5, rw 3, kalibaru", ("005", "003"), id="commas"),
    pytest.param("RT 5\nRW 3\nKalibaru", ("005", "003"), id="one-per-line"),
    pytest.param("erte 4 erwe 1", ("004", "001"), id="spelled-as-said"),
]


@pytest.mark.parametrize(("text", "expected"), RT_RW_IN_TEXT)
def test_parse_rt_rw_in_text(text: str, expected: tuple[str, str]) -> None:
    assert parse_rt_rw(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Kel. Kalibaru RW 05", id="rw-only"),
        pytest.param("rt 5 kalibaru", id="rt-only"),
        pytest.param("rw 3/5 kalibaru", id="rw-then-bare-unclear"),
        pytest.param("rt 1 rw 2 atau rt 3 rw 4", id="two-different"),
        pytest.param("rt 0 rw 3 kalibaru", id="zero-in-text"),
        pytest.param("air mati dari 05/03", id="two-digit-bare-is-a-date"),
        pytest.param("rt lima puluh ribu rw 3", id="words-too-big"),
    ],
)
def test_parse_rt_rw_rejects_in_text(text: str) -> None:
    assert parse_rt_rw(text) is None


# --------------------------------------------------------------------------------------
# match_kelurahan and kelurahan_candidates inside longer text
# --------------------------------------------------------------------------------------

KELURAHAN_IN_TEXT = [
    pytest.param("RT 05 RW 03 Kalibaru", "Kalibaru", id="after-rt-rw"),
    pytest.param("Rusun Marunda", "Marunda", id="rusun-marunda"),
    pytest.param("Kel. Kalibaru RW 05", "Kalibaru", id="kel-then-rw"),
    pytest.param("saya tinggal di kalibaru kec cilincing", "Kalibaru", id="with-district"),
    pytest.param("Kalibaru, Cilincing", "Kalibaru", id="district-as-context"),
    pytest.param("warga semper timur rt 3", "Semper Timur", id="semper-timur-in-text"),
    pytest.param("di semper brt", "Semper Barat", id="semper-brt-in-text"),
    pytest.param("kali baru rt 5", "Kalibaru", id="kali-baru-two-words"),
    pytest.param("dari kalibru", "Kalibaru", id="typo-in-text"),
    pytest.param("kode 3172041004", "Kalibaru", id="code-in-text"),
    pytest.param("kodepos 14110", "Kalibaru", id="postal-in-text"),
    pytest.param("rumah di rorotan", "Rorotan", id="rorotan"),
]


@pytest.mark.parametrize(("text", "name"), KELURAHAN_IN_TEXT)
def test_match_kelurahan_in_text(text: str, name: str) -> None:
    kelurahan = match_kelurahan(text)
    assert kelurahan is not None and kelurahan.name == name
    assert kelurahan_candidates(text) == [kelurahan]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        pytest.param("Semper", ["Semper Timur", "Semper Barat"], id="semper"),
        pytest.param("di semper rt 3", ["Semper Timur", "Semper Barat"], id="semper-in-text"),
        pytest.param("14130", ["Semper Timur", "Semper Barat"], id="postal-semper"),
        pytest.param("14140", ["Sukapura", "Rorotan"], id="postal-sukapura-rorotan"),
        pytest.param("pindah dari marunda ke kalibaru", ["Marunda", "Kalibaru"], id="two-named"),
        pytest.param("Kalibaru", ["Kalibaru"], id="one"),
        pytest.param("Tanjung Priok", [], id="outside"),
        pytest.param("kec cilincing", [], id="the-district"),
        pytest.param("sempat mati", [], id="sempat-is-not-semper"),
    ],
)
def test_kelurahan_candidates(text: str, names: list[str]) -> None:
    candidates = kelurahan_candidates(text)
    # in Kemendagri code order, as the buttons are shown
    assert [k.name for k in candidates] == sorted(names, key=lambda n: BY_NAME[n].code)
    if len(names) != 1:
        assert match_kelurahan(text) is None


def test_plain_code_has_no_dots() -> None:
    assert BY_NAME["Kalibaru"].plain_code == "3172041004"
    assert all(k.plain_code == k.code.replace(".", "") for k in KELURAHAN)


# --------------------------------------------------------------------------------------
# Any text: the right type, never an exception
# --------------------------------------------------------------------------------------

CASUAL_VOCABULARY = [
    "malem", "mlm", "semalem", "habis", "abis", "ba'da", "maghrib", "ashar", "isya",
    "jumatan", "sholat", "subuh", "tengah", "malam", "minggu", "jumat", "awal", "akhir",
    "bulan", "tahun", "udah", "sejak", "dari", "hari", "mingguan", "seminggu", "3", "12",
    "85", "/", "-", "tgl", "jam", "yesterday", "ago", "last", "next", "monday", "sunday",
    "at", "7", "pm", "am", "in", "days", "the", "12th", "of", "may", "december", "ok",
    "kirim", "gak", "tau", "20an", "kk", "rt", "rw", "lima", "semper", "wa", "0812-3456-7890",
    "gopek", "setengah", "ber", "empat", "lusin", "🙂", "'",
]  # fmt: skip
casual_text = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(CASUAL_VOCABULARY), max_size=14).map(" ".join),
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2098, 12, 31), timezones=st.just(JAKARTA)
)


@settings(database=None, deadline=None, max_examples=400)
@given(text=casual_text, now=moments)
def test_casual_parsers_any_text(text: str, now: datetime) -> None:
    for prefer in ("future", "past"):
        result = parse_when(text, now, prefer=prefer)  # type: ignore[arg-type]
        assert result is None or isinstance(result, When)
        if result is not None:
            assert result.date is not None  # a time alone gets its day
    assert parse_yes_no(text) in (True, False, None)
    assert is_dont_know(text) in (True, False)
    assert is_skip(text) in (True, False)
    for kind in (None, "households", "people"):
        number = parse_number(text, of=kind)  # type: ignore[arg-type]
        assert number is None or number >= 0
    phone = parse_phone(text)
    assert phone is None or phone.startswith("+628")
    candidates = kelurahan_candidates(text)
    assert all(k in KELURAHAN for k in candidates)
    assert match_kelurahan(text) == (candidates[0] if len(candidates) == 1 else None)
