"""The assessment's option numbers are the official Regsosek 2022 codes.

Each coded list of the form is the list cited in docs/assessment_codes.csv (same codes,
same labels, same order), typing each paper code at each coded question records that
code, and no alias maps a word to a programme or card shared by several options.
"""

from __future__ import annotations

import csv
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from conversations.assessment import ASSESSMENT
from conversations.engine import Engine
from conversations.flow import Step
from conversations.forms import form_path
from conversations.matching import normalize
from conversations.messages import Inbound, InboundKind
from conversations.parsing import InvalidAnswer
from conversations.qtypes import Answer, get
from storage.crypto import IdentityCipher
from tests.harness import START, translator

CODES = Path(__file__).resolve().parents[1] / "docs" / "assessment_codes.csv"

# Lists the project defines itself (no official code exists); everything else is coded.
PROJECT_LISTS = frozenset({"ya_tidak", "kelurahan", "disabilitas", "kerentanan", "jumlah_kk"})

# docs/assessment.md, rule 5: words that name several options, a programme or a shared card.
FORBIDDEN_ALIASES = frozenset({
    "bpjs", "kis", "jkn", "kks", "blt", "buruh", "dagang", "pedagang", "jualan", "warung",
    "galon", "sopir", "cerai", "janda", "slta", "sltp", "madrasah", "tv", "hp", "shm",
    "bapak", "ibu", "art", "sumur gali",
})


def cited() -> dict[str, list[dict[str, str]]]:
    lists: dict[str, list[dict[str, str]]] = {}
    with CODES.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            lists.setdefault(row["list_name"], []).append(row)
    return lists


def list_names() -> dict[str, str]:
    """Question name -> choice list name, from the workbook's survey sheet."""
    wb = load_workbook(form_path("assessment"), read_only=True)
    try:
        rows = wb["survey"].iter_rows(min_row=2, max_col=2, values_only=True)
        return {str(n): str(t).split(" ", 1)[1] for t, n in rows
                if isinstance(t, str) and t.startswith(("select_one ", "select_multiple "))}
    finally:
        wb.close()


LISTS = list_names()


def steps() -> list[Step]:
    return ASSESSMENT.all_steps()


def coded_steps() -> list[Step]:
    return [s for s in steps() if s.name in LISTS and LISTS[s.name] not in PROJECT_LISTS]


TR = translator()


def label(key: str) -> str:
    return TR("id", key)


def typed(step: Step, text: str) -> Answer:
    inbound = Inbound(kind=InboundKind.TEXT, text=text, channel="console", user_id="r1",
                      message_id=uuid.uuid4().hex)
    return Answer(step, inbound, text, datetime(2026, 11, 28, tzinfo=UTC),
                  words=lambda o: [*TR.labels(o.label), *o.aliases])


def test_every_select_list_is_coded_or_a_declared_project_list() -> None:
    official = cited()
    for step in steps():
        if step.name in LISTS:
            assert LISTS[step.name] in official or LISTS[step.name] in PROJECT_LISTS, step.name


@pytest.mark.parametrize("step", coded_steps(), ids=lambda s: s.name)
def test_each_coded_list_equals_the_cited_list(step: Step) -> None:
    rows = cited()[LISTS[step.name]]
    assert [o.value for o in step.choices] == [r["name"] for r in rows]
    assert [label(o.label) for o in step.choices] == [r["label::Indonesian (id)"] for r in rows]
    assert step.params.get("numbers") == "code", f"{step.name}: a typed number is a position"


# Lists whose codes the paper prints with a leading zero (docs/assessment.md, rule 1).
ZERO_PADDED = frozenset({"ijazah", "jenjang_pendidikan", "lapangan_usaha", "kerja_utama",
                         "penyakit_kronis", "bahan_bakar"})


@pytest.mark.parametrize("step", coded_steps(), ids=lambda s: s.name)
def test_typing_each_paper_code_records_that_code(step: Step) -> None:
    qtype = get(step.type)
    for option in step.choices:
        if not option.value.isdigit():
            continue  # item numbers such as 502a are picked by button or word
        padded = LISTS[step.name] in ZERO_PADDED
        if step.type == "roster" and option.value == "1":
            # The roster lists the others: the head's own code is refused, not recorded.
            with pytest.raises(InvalidAnswer, match="roster_head"):
                qtype.parse(typed(step, option.value))
            continue
        for text in {option.value, option.value.zfill(2) if padded else option.value}:
            value, _ = qtype.parse(typed(step, text))
            assert value in (option.value, [option.value]), (step.name, text)


def test_a_number_that_is_no_code_is_refused_not_taken_as_a_position() -> None:
    atap = next(s for s in steps() if s.name == "atap")
    qtype = get(atap.type)
    with pytest.raises(InvalidAnswer):
        qtype.parse(typed(atap, "9"))


@pytest.mark.parametrize("step", [s for s in steps() if s.choices], ids=lambda s: s.name)
def test_no_alias_names_a_programme_or_several_options(step: Step) -> None:
    for option in step.choices:
        bad = {normalize(a) for a in option.aliases} & FORBIDDEN_ALIASES
        assert not bad, (step.name, option.value, bad)


def test_bpjs_at_the_aid_question_asks_instead_of_picking() -> None:
    bantuan = next(s for s in steps() if s.name == "bantuan")
    with pytest.raises(InvalidAnswer):
        get(bantuan.type).parse(typed(bantuan, "bpjs"))


def test_roof_2_typed_in_the_chat_is_genteng() -> None:
    engine = Engine(translator(), sealer=IdentityCipher("codes-tests-secret-key-0123456789"))
    turn = engine.start(ASSESSMENT, START)
    assert turn.state is not None
    state = {**turn.state, "step": "atap"}
    msg = Inbound(kind=InboundKind.TEXT, text="2", channel="console", user_id="r1",
                  message_id=uuid.uuid4().hex)
    turn = engine.resume(ASSESSMENT, state, msg, START)
    assert turn.state is not None and turn.state["answers"]["atap"] == "2"
    genteng = next(o for o in ASSESSMENT.step("atap").choices if o.value == "2")
    assert label(genteng.label) == "Genteng"
