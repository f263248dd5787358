"""Table tests for one-message water reports: extract_report, is_water_report,
extract_location.

Reports are read on Wednesday 25 November 2026, 10:00 in Asia/Jakarta.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conversations.parsing import (
    Location,
    Report,
    extract_location,
    extract_report,
    is_water_report,
)
from conversations.places import KELURAHAN, Kelurahan
from conversations.water_words import CATEGORIES, CATEGORY_PATTERNS

JAKARTA = ZoneInfo("Asia/Jakarta")
WED = datetime(2026, 11, 25, 10, 0, tzinfo=JAKARTA)
TODAY = WED.date()
YESTERDAY = date(2026, 11, 24)
MONDAY = date(2026, 11, 23)

BY_NAME = {k.name: k for k in KELURAHAN}
KALIBARU = BY_NAME["Kalibaru"]
MARUNDA = BY_NAME["Marunda"]
SEMPER = (BY_NAME["Semper Timur"], BY_NAME["Semper Barat"])


def report(
    *categories: str,
    kelurahan: Kelurahan | None = None,
    candidates: tuple[Kelurahan, ...] | None = None,
    rt_rw: tuple[str, str] | None = None,
    **slots: Any,
) -> Report:
    """The expected Report: every slot not named is absent."""
    if rt_rw is not None:
        slots.setdefault("rt", rt_rw[0])
        slots.setdefault("rw", rt_rw[1])
    if candidates is None:
        candidates = (kelurahan,) if kelurahan is not None else ()
    return Report(
        category=categories[0] if categories else None,
        categories=categories,
        kelurahan=kelurahan,
        kelurahan_candidates=candidates,
        rt_rw=rt_rw,
        **slots,
    )


REPORTS = [
    pytest.param(
        "air pam mati dr kmrn di rt 3 rw 4 kalibaru deket masjid, 20an kk",
        report(
            "mati", since=YESTERDAY, households=20, kelurahan=KALIBARU, rt_rw=("003", "004"),
            landmark="masjid",
        ),
        id="the-one-message-report",
    ),
    pytest.param(
        "Air PAM ga keluar sejak senin, RT 05 RW 03 Kalibaru, dekat Masjid Al-Hidayah. "
        "Sekitar 20 KK kena",
        report(
            "mati", since=MONDAY, households=20, kelurahan=KALIBARU, rt_rw=("005", "003"),
            landmark="Masjid Al-Hidayah",
        ),
        id="capitals-kept-in-landmark",
    ),
    pytest.param("air ga ngalir dr kmrn", report("mati", since=YESTERDAY), id="ga-ngalir"),
    pytest.param("tidak ada air", report("mati"), id="tidak-ada-air"),
    pytest.param("air mati sampai sekarang", report("mati"), id="sekarang-is-not-since"),
    pytest.param("sumur bor mati", report("pompa"), id="sumur-bor-mati-is-the-pump"),
    pytest.param(
        "sumur bor rusak, pompa ga mau nyala. 15 rumah ga dapet air",
        report("pompa", households=15),
        id="pump-and-houses",
    ),
    pytest.param(
        "2 hari yang lalu pompa air rusak, 3 kk",
        report("pompa", since=MONDAY, households=3),
        id="pompa-air-rusak",
    ),
    pytest.param(
        "airnya kecil bgt cuma ngalir jam 2 pagi, rt 5 rw 3 gg. mawar",
        report("debit", rt_rw=("005", "003"), landmark="gg. mawar"),
        id="debit-clock-is-not-since",
    ),
    pytest.param(
        "air kadang ngalir kadang mati, tiap malem doang",
        report("debit"),
        id="intermittent-is-debit",
    ),
    pytest.param("air ga keruh kok, cuma kecil", report("debit"), id="negated-keruh"),
    pytest.param(
        "rt lima rw tiga, gatau sejak kapan, airnya butek",
        report("keruh", rt_rw=("005", "003")),
        id="butek-rt-in-words",
    ),
    pytest.param(
        "air keruh dan bau udah 3 hari",
        report("keruh", "bau", since=date(2026, 11, 22)),
        id="two-categories",
    ),
    pytest.param(
        "air bau kaporit + keruh dari tadi pagi",
        report("keruh", "bau", since=TODAY),
        id="bau-and-keruh",
    ),
    pytest.param("air bau got dr semalem", report("bau", since=YESTERDAY), id="bau-semalem"),
    pytest.param(
        "Semper Barat RT 2 RW 7 Gg. Kenanga, air asin",
        report("asin", kelurahan=SEMPER[1], rt_rw=("002", "007"), landmark="Gg. Kenanga"),
        id="asin-semper-barat",
    ),
    pytest.param(
        "pipa bocor depan sekolah sd 05, air ngocor terus",
        report("bocor", landmark="sekolah sd 05"),
        id="bocor-depan",
    ),
    pytest.param(
        "keran rusak di rumah no 12 rt 1 rw 9",
        report("bocor", rt_rw=("001", "009")),
        id="keran-rusak-house-number",
    ),
    pytest.param("meteran air bocor", report("bocor"), id="meter-leaking"),
    pytest.param(
        "sumur saya kering udah seminggu, rt 7 rw 2 marunda",
        report("kering", since=date(2026, 11, 18), kelurahan=MARUNDA, rt_rw=("007", "002")),
        id="kering",
    ),
    pytest.param(
        "tangki air ga dateng2 dari hari senin, di semper",
        report("tangki", since=MONDAY, candidates=SEMPER),
        id="tangki-ambiguous-semper",
    ),
    pytest.param("antri air di hidran umum lama bgt", report("tangki"), id="hidran-umum"),
    pytest.param(
        "harga air sejerigen 5rb skrg, mahal bgt", report("harga"), id="harga-jerigen"
    ),
    pytest.param(
        "tagihan pam naik padahal air jarang ngalir",
        report("tagihan"),
        id="tagihan-padahal-debit",
    ),
    pytest.param(
        "tagihan naik, air juga jarang ngalir",
        report("tagihan", "debit"),
        id="tagihan-and-debit",
    ),
    pytest.param(
        "meteran muter terus padahal air ga ngalir",
        report("tagihan"),
        id="meter-running-padahal-no-water",
    ),
    pytest.param(
        "rob masuk sumur, airnya jadi asin. rusun marunda blok 3",
        report("rob", kelurahan=MARUNDA),
        id="rob-is-the-cause-of-asin",
    ),
    pytest.param(
        "pompa rusak, air mati dari kemarin",
        report("pompa", since=YESTERDAY),
        id="pump-is-the-cause-of-no-water",
    ),
    pytest.param(
        "tukang air gerobak ga lewat 2 hari, warga ga ada air",
        report("tangki", since=MONDAY),
        id="vendor-is-the-cause-of-no-water",
    ),
    pytest.param(
        "air ga ngalir dan pipa depan rumah bocor",
        report("bocor"),
        id="leak-is-the-cause",
    ),
    pytest.param(
        "tagihan pam 450rb padahal air sering mati",
        report("tagihan"),
        id="padahal-clause-supports",
    ),
    pytest.param(
        "air keruh, filter cepet mampet",
        report("keruh"),
        id="clogged-filter-is-sediment",
    ),
    pytest.param(
        "banyu ne mati wis rong dino",
        report("mati", since=MONDAY),
        id="javanese",
    ),
    pytest.param(
        "kontrakan 10 pintu ga ada air dr tgl 20",
        report("mati", since=date(2026, 11, 20), households=10),
        id="kontrakan-pintu",
    ),
    pytest.param(
        "air mati 3 hari, hub 0812-3456-7890, 5 rumah",
        report("mati", since=date(2026, 11, 22), households=5),
        id="phone-is-nothing",
    ),
    pytest.param(
        "NIK saya 3172041205900001, air mati", report("mati"), id="nik-is-nothing"
    ),
    pytest.param(
        "rumah saya di rt 3, air keruh", report("keruh", rt="003"), id="rt-alone"
    ),
    pytest.param(
        "Kel. Kalibaru RW 05 air mati",
        report("mati", kelurahan=KALIBARU, rw="005"),
        id="rw-alone",
    ),
    pytest.param(
        "air mati tgl 5 rumah saya kebanjiran",
        report("mati", since=date(2026, 11, 5)),
        id="tgl-5-is-not-5-houses",
    ),
    pytest.param("mau lapor air", report(), id="intent-only"),
    pytest.param(
        "no water since yesterday in rt 3 rw 4 kalibaru near the mosque, about 20 households",
        report(
            "mati", since=YESTERDAY, households=20, kelurahan=KALIBARU, rt_rw=("003", "004"),
            landmark="mosque",
        ),
        id="english",
    ),
    pytest.param(
        "the water is brown and smells, since last monday",
        report("keruh", "bau", since=MONDAY),
        id="english-two-categories",
    ),
    pytest.param("the pipe is leaking", report("bocor"), id="english-leak"),
    pytest.param("AIR MATIII DARI KEMARENNN", report("mati", since=YESTERDAY), id="shouting"),
]


@pytest.mark.parametrize(("text", "expected"), REPORTS)
def test_extract_report(text: str, expected: Report) -> None:
    assert extract_report(text, WED) == expected


NEVER_GUESSED = [
    # (text, slots that must stay empty)
    pytest.param("air mati 3 hari", ("households", "rt", "rw"), id="3-hari-is-not-households"),
    pytest.param("air mati rt 3", ("households", "since"), id="rt-3-is-not-households"),
    pytest.param("rt 3 rw 4", ("households", "since", "category"), id="rt-rw-only"),
    pytest.param("0812-3456-7890", ("households", "rt", "rw", "since"), id="phone"),
    pytest.param("WA 0812 3456 7890", ("households", "rt", "rw", "since"), id="phone-spaced"),
    pytest.param("tgl 5", ("households",), id="tgl-5"),
    pytest.param("jam 2 pagi air mati", ("since", "households"), id="clock-time"),
    pytest.param("no 12 air mati", ("households", "since"), id="house-number"),
    pytest.param("harga 5000 per jerigen", ("households", "since"), id="a-price"),
    pytest.param("air mati, umur saya 45 tahun", ("households",), id="age"),
    pytest.param("lampu mati", ("category",), id="lampu-mati-is-not-water"),
    pytest.param("atap bocor", ("category",), id="roof-leak-is-not-water"),
    pytest.param("air mati 20-30 kk", ("households",), id="a-range-is-not-guessed"),
    pytest.param("air cuma ngalir seminggu 2 kali", ("since",), id="how-often-is-not-since"),
    pytest.param("air ngalir 3 hari sekali", ("since", "households"), id="every-3-days"),
]


@pytest.mark.parametrize(("text", "empty"), NEVER_GUESSED)
def test_extract_report_never_guesses(text: str, empty: tuple[str, ...]) -> None:
    found = extract_report(text, WED)
    for slot in empty:
        assert found[slot] is None, slot


def test_report_is_a_mapping_and_frozen() -> None:
    found = extract_report("air pam mati dr kmrn di rt 3 rw 4 kalibaru", WED)
    assert found["category"] == found.category == "mati"
    assert found["kelurahan"].code == "31.72.04.1004"  # type: ignore[attr-defined]
    assert found["kelurahan"].plain_code == "3172041004"  # type: ignore[attr-defined]
    assert set(found) == {
        "category", "categories", "since", "households", "kelurahan", "kelurahan_candidates",
        "rt_rw", "rt", "rw", "landmark",
    }  # fmt: skip
    assert dict(found)["rt_rw"] == ("003", "004")
    assert found.get("nothing") is None
    with pytest.raises(KeyError):
        found["nothing"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.category = "bau"  # type: ignore[misc]


def test_since_is_never_in_the_future() -> None:
    assert extract_report("air mati besok", WED).since is None
    assert extract_report("air mati dari 3 hari lagi", WED).since is None


def test_every_category_can_be_found() -> None:
    found = {p.category for p in CATEGORY_PATTERNS if p.category is not None}
    assert found == set(CATEGORIES)


WATER = [
    "air ga ngalir dr kmrn", "sumur bor mati", "mau lapor air", "pam mati", "air keruh",
    "air ga keluar", "keran mati", "airnya kecil banget", "sumur kering", "pipa bocor",
    "air asin", "air payau", "air bau", "tagihan pam mahal", "mobil tangki ga dateng",
    "rob masuk sumur", "harga air naik", "lapor masalah air", "ada masalah air di rt 3",
    "keluhan pdam", "air bermasalah", "AIR MATI!!!", "no water since yesterday",
    "the water is dirty", "the tap is leaking", "tidak ada air",
]  # fmt: skip
NOT_WATER = [
    "halo", "menu", "jadwal kegiatan", "makasih", "sudah", "ya", "1", "batal", "bantuan",
    "lampu mati", "listrik mati dari kemarin", "bau", "atap bocor", "harga sembako naik",
    "tagihan listrik mahal", "motor saya mati", "jadwal kerja bakti", "daftar relawan",
    "cek laporan AIR-4K7QX", "air udah ngalir, makasih", "air sudah normal", "", "🙂",
]  # fmt: skip


@pytest.mark.parametrize("text", WATER, ids=lambda t: f"water-{t}")
def test_is_water_report(text: str) -> None:
    assert is_water_report(text) is True


@pytest.mark.parametrize("text", NOT_WATER, ids=lambda t: f"not-water-{t}")
def test_is_not_water_report(text: str) -> None:
    assert is_water_report(text) is False


LOCATIONS = [
    pytest.param(
        "kalibaru rt 5 rw 3 masjid al hidayah",
        Location(KALIBARU, (KALIBARU,), ("005", "003"), "005", "003", "masjid al hidayah"),
        id="no-preposition-rest-is-landmark",
    ),
    pytest.param(
        "rt 05/03 kalibaru, deket pos rw",
        Location(KALIBARU, (KALIBARU,), ("005", "003"), "005", "003", "pos rw"),
        id="deket",
    ),
    pytest.param(
        "Semper Barat RT 2 RW 7 Gg. Kenanga",
        Location(SEMPER[1], (SEMPER[1],), ("002", "007"), "002", "007", "Gg. Kenanga"),
        id="gang",
    ),
    pytest.param(
        "di semper rt 3 rw 1",
        Location(None, SEMPER, ("003", "001"), "003", "001", None),
        id="ambiguous-semper-no-landmark",
    ),
    pytest.param(
        "Marunda",
        Location(MARUNDA, (MARUNDA,), None, None, None, None),
        id="kelurahan-only",
    ),
    pytest.param(
        "rumah saya di rt 3 rw 4",
        Location(None, (), ("003", "004"), "003", "004", None),
        id="rumah-saya-is-not-a-landmark",
    ),
]


@pytest.mark.parametrize(("text", "expected"), LOCATIONS)
def test_extract_location(text: str, expected: Location) -> None:
    assert extract_location(text) == expected


VOCABULARY = [
    "air", "mati", "keruh", "ga", "ngalir", "dr", "kmrn", "rt", "rw", "3", "4", "05/03",
    "kalibaru", "semper", "deket", "masjid", "gang", "gg.", "20an", "kk", "rumah", "udah",
    "hari", "jam", "malem", "bocor", "pipa", "sumur", "bor", "tgl", "12", "0812-3456-7890",
    ",", ".", "🙂", "'", "<b>", "lalu", "seminggu", "no", "water", "since", "yesterday",
]  # fmt: skip
any_text = st.one_of(
    st.text(max_size=600),
    st.lists(st.sampled_from(VOCABULARY), max_size=30).map(" ".join),
)


@settings(database=None, deadline=None, max_examples=300)
@given(text=any_text)
def test_report_parsers_any_text(text: str) -> None:
    found = extract_report(text, WED)
    assert found.category is None or found.category in CATEGORIES
    assert all(c in CATEGORIES for c in found.categories)
    assert found.category == (found.categories[0] if found.categories else None)
    assert found.since is None or found.since <= TODAY
    assert found.households is None or 1 <= found.households <= 9999
    assert found.kelurahan is None or found.kelurahan_candidates == (found.kelurahan,)
    assert found.rt_rw is None or found.rt_rw == (found.rt, found.rw)
    for part in (found.rt, found.rw):
        assert part is None or (len(part) == 3 and part.isdigit() and part != "000")
    assert found.landmark is None or 0 < len(found.landmark) <= 80
    assert is_water_report(text) in (True, False)
    assert isinstance(extract_location(text), Location)


@pytest.mark.parametrize(
    "text",
    ["a" * 10_000, "air mati " * 2_000, "🙂" * 5_000, "'; DROP TABLE complaints; --", "\x00" * 50],
)
def test_hostile_reports(text: str) -> None:
    found = extract_report(text, WED)
    assert isinstance(found, Report)
    assert is_water_report(text) in (True, False)
