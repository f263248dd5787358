"""Table-driven tests of conversations.xpath: the expressions form authors write in the
relevant, constraint, calculation, choice_filter and repeat_count columns.

Every case runs against one household's answers (``ANSWERS``) on Monday 23 November 2026,
10:00 in Jakarta, unless the row gives other answers or a current value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conversations.xpath import MAX_DEPTH, Env, ExprError, compile_expr

JAKARTA = timezone(timedelta(hours=7))
TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=JAKARTA)
NAN = math.nan

ANSWERS: dict[str, Any] = {
    "jenis": "air",
    "jenis_kelamin": "2",
    "umur": 12,
    "harga": Decimal("12.50"),
    "setuju": True,
    "n": "",
    "kosong": None,
    "bantuan": ["1", "3"],  # select_multiple
    "aset": [],  # select_multiple, nothing ticked
    "anggota": [{"nama": "Siti"}, {"nama": "Budi"}, {"nama": "Ani"}],  # repeat items
    "tanpa_anggota": [],
    "penghasilan": [1500000, 2000000.5, Decimal("500000")],  # a repeat column
    "umur_anggota": ["30", "5"],
    "tanggal_lahir": "2000-05-17",
    "tgl_kunjungan": "2026-11-20",
    "besok": "2026-11-24",
    "waktu": "2026-11-23T08:30:00+07:00",
    "lokasi": {"latitude": -6.1, "longitude": 106.95},
    "nik": {"masked": "3201********0123"},
    "rt": "003",
    "rw": "012",
}


def env(answers: Mapping[str, Any] | None = None, **fields: Any) -> Env:
    merged = {**ANSWERS, **(answers or {})}
    return Env(value=merged.get, **{"today": TODAY, "now": NOW, **fields})


def same(got: Any, expected: Any) -> bool:
    """Equal and of the same type (True == 1 in Python, not here), NaN equal to NaN."""
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(got, float) and math.isnan(got)
    return type(got) is type(expected) and got == expected


def case(source: str, expected: Any, answers: Mapping[str, Any] | None = None, **env: Any) -> Any:
    return pytest.param(source, expected, answers, env, id=f"{source} {answers or ''} {env or ''}")


EVALUATE = [
    # literals and arithmetic
    case("3", 3),
    case("3.5", 3.5),
    case("-2", -2),
    case(".5 + 1", 1.5),
    case("'teks'", "teks"),
    case('"it\'s"', "it's"),
    case("true()", True),
    case("false()", False),
    case("1 + 2 * 3", 7),
    case("(1 + 2) * 3", 9),
    case("10 - 2 - 3", 5),
    case("7 div 2", 3.5),
    case("7 mod 3", 1),
    case("-7 mod 3", -1),
    case("2 - -3", 5),
    case("- - 3", 3),
    case("1 div 0", math.inf),
    case("0 div 0", NAN),
    case("0.1 + 0.2 > 0.3", True),
    # precedence of the logical and comparison operators
    case("1 = 1 or 1 = 2 and 1 = 2", True),
    case("(1 = 1 or 1 = 2) and 1 = 2", False),
    case("1 < 2 = true()", True),
    case("3 > 2 > 1", False),
    # XPath comparison rules
    case("${jenis} = 'air'", True),
    case("${jenis} != 'air'", False),
    case("${jenis} = 'Air'", False),
    case("${umur} >= 10 and ${jenis_kelamin} = '2'", True),
    case("${umur} >= 10 and ${jenis_kelamin} = '2'", False, {"umur": 9}),
    case("${umur} = '12'", True),
    case("${jenis_kelamin} = 2", True),
    case("'abc' = 0", False),
    case("'abc' != 0", True),
    case("'10' < '9'", False),
    case("'b' > 'a'", False),
    case("true() = 'x'", True),
    case("false() = ''", True),
    case("${setuju} = true()", True),
    case("${setuju} and ${umur} > 5", True),
    # unanswered questions
    case("${n} > 3", False),
    case("${n} < 3", False),
    case("${n} = ''", True),
    case("${n} != ''", False),
    case("${n} = 0", False),
    case("${n} != 0", True),
    case("${kosong} = ''", True),
    case("${n} <= today()", False),
    case("not(${n})", True),
    case("${n} + 1", NAN),
    case("string-length(${kosong})", 0),
    case("${n} = '' or ${n} >= 18", True),
    # select_one and select_multiple
    case("selected(${bantuan}, '1')", True),
    case("selected(${bantuan}, '2')", False),
    case("selected(${bantuan}, 3)", True),
    case("selected(${jenis}, 'air')", True),
    case("not(selected(${bantuan}, '0'))", True),
    case("count-selected(${bantuan}) >= 1", True),
    case("count-selected(${aset}) >= 1", False),
    case("count-selected(${n})", 0),
    case("selected-at(${bantuan}, 0)", "1"),
    case("selected-at(${bantuan}, 5)", ""),
    case("${bantuan} = '1 3'", True),
    case("${aset} = ''", True),
    # repeat groups and their columns
    case("count(${anggota})", 3),
    case("count(${anggota}) >= 1", True),
    case("count(${tanpa_anggota})", 0),
    case("count(${kosong})", 0),
    case("sum(${penghasilan})", 4000000.5),
    case("sum(${umur_anggota})", 35),
    case("sum(${tanpa_anggota})", 0),
    case("sum(${penghasilan}) div count(${penghasilan}) > 1000000", True),
    case("max(${penghasilan})", 2000000.5),
    case("min(${penghasilan}, 100)", 100),
    case("min(3, ${n})", NAN),
    # other kinds of answer
    case("${harga} * 2", 25),
    case("${harga} = 12.5", True),
    case("${lokasi}", "-6.1 106.95 0 0"),
    case("${lokasi} != ''", True),
    case("${nik} != ''", True),
    case("${nik} = ''", True, {"nik": None}),
    case("contains(${nik}, '3201')", False),
    case("${setuju}", True),
    # numeric functions
    case("int(7.9)", 7),
    case("int(-7.9)", -7),
    case("round(2.5)", 3),
    case("round(-2.5)", -3),
    case("round(2.675, 2)", 2.68),
    case("round(1234.5, -2)", 1200),
    case("round(1234.5, -1000000000)", 0),
    case("round(1234.5, 1000000000)", 1234.5),
    case("floor(-1.5)", -2),
    case("ceiling(1.2)", 2),
    case("abs(-4)", 4),
    case("number('12') + 1", 13),
    case("number('dua belas')", NAN),
    case("string(3)", "3"),
    case("string(0.5)", "0.5"),
    case("string(1 div 0)", "Infinity"),
    case("string(0.0000001)", "0.0000001"),
    case("string(true())", "true"),
    # text functions
    case("concat('RT ', ${rt}, '/RW ', ${rw})", "RT 003/RW 012"),
    case("string-length(.) = 16", True, current="3201234567890123"),
    case("string-length(.) = 16", False, current="320123456789012"),
    case("string-length()", 3, current="abc"),
    case("regex(., '^[0-9]{16}$')", True, current="3201234567890123"),
    case("regex(., '^[0-9]{16}$')", False, current="3201-2345-6789-0123"),
    case("regex(., '[')", False, current="["),
    case("regex(${jenis}, 'ai')", True),
    case("contains(${jenis}, 'i')", True),
    case("starts-with(${rt}, '00')", True),
    case("ends-with(${rw}, '3')", False),
    case("substr(., 0, 2) = '32'", True, current="3201234567890123"),
    case("substr('Cilincing', 3)", "incing"),
    case("substring-before('RT 003', ' ')", "RT"),
    case("substring-after('RT 003', ' ')", "003"),
    case("substring-after('RT 003', '')", "RT 003"),
    case("substring-before('RT 003', '')", ""),
    case("substring-before('RT 003', '/')", ""),
    case("translate('budi', 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')", "BUDI"),
    case("normalize-space('  Jl.   Kenari  ')", "Jl. Kenari"),
    # choosing values
    case("coalesce(${n}, 'x')", "x"),
    case("coalesce(${jenis}, 'x')", "air"),
    case("if(${n} > 7, 'banyak', 'sedikit')", "sedikit"),
    case("if(${n} > 7, 'banyak', 'sedikit')", "banyak", {"n": 9}),
    case("boolean('0')", True),
    case("boolean(0)", False),
    case("once(${jenis})", "air"),
    case("position(..)", 2, position=2),
    case("position(..) = 1", True, position=1),
    # dates
    case("today()", TODAY),
    case("now()", NOW),
    case("${tanggal_lahir} <= today()", True),
    case("${besok} <= today()", False),
    case("int((today() - date(${tanggal_lahir})) div 365.25)", 26),
    case("int((today() - date(${tanggal_lahir})) div 365.25)", 25, {"tanggal_lahir": "2000-12-01"}),
    case("today() - date(${tgl_kunjungan})", 3),
    case("date('2026-11-23') = today()", True),
    case("today() > '2026-11-22'", True),
    case("${tgl_kunjungan} >= today() - 7", True),
    case(". >= ${tgl_kunjungan}", True, current="2026-11-21"),
    case(". >= ${tgl_kunjungan}", False, current="2026-11-19"),
    case("decimal-date-time('1970-01-02')", 1),
    case("round((decimal-date-time(${waktu}) - decimal-date-time(today())) * 24, 2)", 8.5),
    case("now() > ${waktu}", True),
    case("date('bukan tanggal') < today()", False),
    case("date('2026-02-30') = today()", False),
    case("date(${n})", ""),
    case("format-date(${tanggal_lahir}, '%e %b %Y')", "17 May 2000"),
    case("format-date(${tanggal_lahir}, '%d/%m/%Y')", "17/05/2000"),
    case("format-date(now(), '%H:%M')", "10:00"),
    case("format-date(${n}, '%Y')", ""),
    case("today()", TODAY, today=None),  # from now, when only now is given
]


@pytest.mark.parametrize(("source", "expected", "answers", "fields"), EVALUATE)
def test_evaluate(
    source: str, expected: Any, answers: Mapping[str, Any] | None, fields: dict[str, Any]
) -> None:
    got = compile_expr(source).evaluate(env(answers, **fields))
    assert same(got, expected), f"{source} gave {got!r}, wanted {expected!r}"


@pytest.mark.parametrize(
    ("current", "accepted"),
    [(3, True), (1, True), (5000, True), (0, False), (5001, False), ("", False), (None, False),
     ("4,5", False), ("250", True), (Decimal("12.5"), True)],
)  # fmt: skip
def test_range_constraint_on_current_answer(current: Any, accepted: bool) -> None:
    assert compile_expr(". >= 1 and . <= 5000").holds(env(current=current)) is accepted


@pytest.mark.parametrize(
    ("source", "truth"),
    [("${jenis}", True), ("${n}", False), ("count(${anggota})", True), ("0", False),
     ("${aset}", False), ("${bantuan}", True), ("'false'", True), ("0 div 0", False)],
)  # fmt: skip
def test_holds_reads_xpath_truth(source: str, truth: bool) -> None:
    assert compile_expr(source).holds(env()) is truth


CHOICES = [
    {"name": "kalibaru", "kecamatan": "cilincing", "urutan": 1},
    {"name": "marunda", "kecamatan": "cilincing", "urutan": 2},
    {"name": "sunter_jaya", "kecamatan": "tanjung_priok", "urutan": 3},
]


@pytest.mark.parametrize(
    ("choice_filter", "answers", "names"),
    [
        ("kecamatan = ${kec}", {"kec": "cilincing"}, ["kalibaru", "marunda"]),
        ("kecamatan = ${kec}", {"kec": None}, []),
        ("kecamatan = ${kec} and urutan > 1", {"kec": "cilincing"}, ["marunda"]),
        ("selected(${boleh}, name)", {"boleh": ["marunda", "kalibaru"]}, ["kalibaru", "marunda"]),
        ("starts-with(name, ${awal})", {"awal": "k"}, ["kalibaru"]),
        ("${kec} = '' or kecamatan = ${kec}", {"kec": ""}, ["kalibaru", "marunda", "sunter_jaya"]),
    ],
)  # fmt: skip
def test_choice_filter_reads_choice_columns(
    choice_filter: str, answers: dict[str, Any], names: list[str]
) -> None:
    expr = compile_expr(choice_filter)
    kept = [c["name"] for c in CHOICES if expr.holds(env(answers, prop=c.get))]
    assert kept == names


def test_one_compiled_expression_serves_many_answers() -> None:
    expr = compile_expr("${umur} >= 10 and ${jenis_kelamin} = '2'")
    results = [expr.holds(env({"umur": age})) for age in (9, 10, "", 40)]
    assert results == [False, True, False, True]
    assert compile_expr(expr.source) is expr  # compiled once


def test_evaluate_returns_lists_for_list_answers() -> None:
    assert compile_expr("${bantuan}").evaluate(env()) == ["1", "3"]


@pytest.mark.parametrize(
    ("source", "refs", "current", "functions"),
    [
        ("${jenis} = 'air'", {"jenis"}, False, set()),
        (". >= 1 and . <= ${batas}", {"batas"}, True, set()),
        ("string-length() = 16", set(), True, {"string-length"}),
        ("regex(., '^[0-9]{16}$') and not(selected(${x}, '0'))", {"x"}, True,
         {"regex", "not", "selected"}),
        ("if(${a} > ${b}, ${a}, ${b})", {"a", "b"}, False, {"if"}),
        ("'${not_a_ref}' = true()", set(), False, {"true"}),
        ("position(..) = count(${anggota})", {"anggota"}, False, {"position", "count"}),
        ("kecamatan = ${kec}", {"kec"}, False, set()),
    ],
)  # fmt: skip
def test_introspection(source: str, refs: set[str], current: bool, functions: set[str]) -> None:
    expr = compile_expr(source)
    assert expr.refs() == refs
    assert expr.uses_current() is current
    assert expr.functions() == functions


def test_bare_names_are_listed_as_choice_columns() -> None:
    assert compile_expr("kecamatan = ${kec} and urutan > 1").props() == {"kecamatan", "urutan"}


@pytest.mark.parametrize(
    ("source", "message", "position"),
    [
        ("${jenis} = 'air", "unterminated string", 11),
        ('concat("a, ${b})', "unterminated string", 7),
        ("${jenis = 'air'", "unterminated ${", 0),
        ("selected(${a})", "selected() takes 2 arguments, got 1", 0),
        ("round(1, 2, 3)", "round() takes 1 or 2 arguments, got 3", 0),
        ("${a} = 1 and if(${b}, 2)", "if() takes 3 arguments, got 2", 13),
        ("today(1)", "today() takes 0 arguments, got 1", 0),
        ("min()", "min() takes at least 1 argument, got 0", 0),
        ("foo(1)", "unknown function foo()", 0),
        ("selectd(${a}, '1')", "did you mean selected()?", 0),
        ("pulldata('harga', 'nilai', 'kode', ${kode})", "pulldata() is not supported", 0),
        ("instance('kec')/root/item[name = ${kec}]", "instance() is not supported", 0),
        ("jr:choice-name(${a}, '${a}')", "jr:choice-name() is not supported", 0),
        ("1 +", "expected a value, found the end", 3),
        ("(1 + 2", "expected ')' to close the '('", 6),
        ("count(${a}", "expected ')' to close count(", 10),
        ("1 + 2)", "unexpected ')'", 5),
        ("${a} = 1 AND ${b} = 2", "operators are lower case: 'and'", 9),
        ("${a} == 1", "expected a value, found '='", 6),
        ("", "empty", 0),
        ("   ", "empty", 0),
        ("/data/umur > 5", "paths are not supported", 0),
        ("${} = 1", "not a valid question name", 0),
        ("${1abc} = 1", "not a valid question name", 0),
        ("1 # 2", "unexpected character '#'", 2),
        ("concat('a',)", "expected a value, found ')'", 11),
    ],
)  # fmt: skip
def test_compile_errors(source: str, message: str, position: int) -> None:
    with pytest.raises(ExprError, match=re.escape(message)) as info:
        compile_expr(source)
    assert info.value.position == position
    assert f"at character {position + 1}" in str(info.value)


@pytest.mark.parametrize(
    ("source", "fields", "message"),
    [
        ("position(..) > 1", {}, "only works inside a repeat"),
        ("today() > ${besok}", {"today": None, "now": None}, "today() needs the date"),
        ("now()", {"now": None}, "now() needs the time"),
        ("kecamatan = 'cilincing'", {}, "only works in a choice_filter"),
    ],
)
def test_evaluation_errors_name_the_problem(
    source: str, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ExprError, match=re.escape(message)):
        compile_expr(source).evaluate(env(**fields))


def test_answer_of_unknown_kind_is_an_error_naming_it() -> None:
    with pytest.raises(ExprError, match=r"\$\{foto\} holds a object"):
        compile_expr("${foto} != ''").evaluate(env({"foto": object()}))


# --- hostile input: long, deep, nonsensical ------------------------------------------


def test_ten_thousand_character_chain_evaluates() -> None:
    source = " + ".join(["1"] * 2600)
    assert len(source) > 10_000
    assert compile_expr(source).evaluate(env()) == 2600


def test_long_or_chain_of_choices_evaluates() -> None:
    source = " or ".join(f"${{jenis}} = 'pilihan{i}'" for i in range(500)) + " or ${jenis} = 'air'"
    assert compile_expr(source).holds(env())
    assert not compile_expr(source).holds(env({"jenis": "sumur"}))


@pytest.mark.parametrize(
    "source",
    ["(" * 10_000 + "1" + ")" * 10_000, "not(" * 5_000 + "1" + ")" * 5_000,
     "if(1, " * 3_000 + "1" + ", 0)" * 3_000, "-(" * 5_000 + "1" + ")" * 5_000],
)  # fmt: skip
def test_deep_nesting_is_an_error_not_a_crash(source: str) -> None:
    with pytest.raises(ExprError, match="nests deeper"):
        compile_expr(source)


def test_nesting_within_the_limit_evaluates() -> None:
    source = "(" * (MAX_DEPTH - 1) + "${umur}" + ")" * (MAX_DEPTH - 1) + " + 1"
    assert compile_expr(source).evaluate(env()) == 13
    nested_ifs = "if(${n} = 1, 1, " * 15 + "'akhir'" + ")" * 15
    assert compile_expr(nested_ifs).evaluate(env()) == "akhir"


def test_many_unary_minuses_evaluate() -> None:
    assert compile_expr("-" * 10_001 + "1").evaluate(env()) == -1


def test_unterminated_long_string_is_an_error() -> None:
    with pytest.raises(ExprError, match="unterminated string"):
        compile_expr("'" + "a" * 10_000)


PIECES = ["${umur}", "${n}", "${bantuan}", ".", "1", "-", "+", "*", "div", "mod", "and", "or",
          "=", "!=", "<", ">=", "(", ")", ",", "'x'", "'", "${", "selected(", "if(", "date(",
          "today()", "regex(", "'['", "count(", "concat(", "round(", "substr(", "kec", "''",
          "substring-after(", "translate(", "format-date(", "'%'", "selected-at(", "1 div 0",
          "${tanggal_lahir}", "1000000000", "decimal-date-time(", "min(", "coalesce("]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30))
def test_any_input_gives_a_value_or_expr_error(pieces: list[str]) -> None:
    source = " ".join(pieces)
    try:
        expr = compile_expr(source)
        expr.evaluate(env(current="3201", prop={"kec": "cilincing"}.get))
    except ExprError:
        pass
