"""Every question type answers its own table of cases; a new type is one module."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from conversations import qtypes
from conversations.flow import Option, Step
from conversations.messages import Inbound, InboundKind
from conversations.parsing import InvalidAnswer
from conversations.qtypes import Answer, Case, QuestionType

# Saturday 28 November 2026, 10.00 WIB.
NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


class Sealer:
    def seal(self, kind: str, digits: str) -> dict[str, str]:
        return {}


def answer_for(qtype: QuestionType, case: Case) -> Answer:
    step = Step("q", qtype.name, "q.label", "q.title", **case.step)
    if isinstance(case.given, Inbound):
        inbound = case.given
        text = ""
    else:
        inbound = Inbound("console", "u", "m", kind=InboundKind.TEXT, text=case.given)
        text = case.given.strip()
    return Answer(step, inbound, text, NOW, words=lambda o: [o.label, *o.aliases],
                  sealer=Sealer())


def rows() -> list[Any]:
    return [pytest.param(t, c, id=f"{t.name}-{i}") for t in qtypes.REGISTRY.values()
            for i, c in enumerate(t.cases)]


@pytest.mark.parametrize(("qtype", "case"), rows())
def test_each_case_of_each_type(qtype: QuestionType, case: Case) -> None:
    answer = answer_for(qtype, case)
    if case.error is not None:
        with pytest.raises(InvalidAnswer) as err:
            qtype.parse(answer)
        assert err.value.reason == case.error, case.note
        return
    value, echo = qtype.parse(answer)
    if isinstance(case.expect, dict):
        assert {k: value.get(k) for k in case.expect} == case.expect, case.note
    else:
        assert value == case.expect, case.note
    assert [t.key for t in echo] == list(case.echo)


def test_every_type_that_is_asked_has_cases_with_a_refusal() -> None:
    """Like goflow's action registry: a type without its table does not get in."""
    for qtype in qtypes.REGISTRY.values():
        if not qtype.asked:
            continue
        assert len(qtype.cases) >= 3, f"{qtype.name}: at least three cases"
        assert any(c.error for c in qtype.cases), f"{qtype.name}: a refused answer"
        assert any(c.error is None for c in qtype.cases), f"{qtype.name}: an accepted one"


def test_buttons_of_choice_types_pick_their_option() -> None:
    choices = (Option("yes", "Ya"), Option("no", "Tidak"))
    for name in ("select_one", "yes_no"):
        qtype = qtypes.get(name)
        answer = answer_for(qtype, Case("", step={"choices": choices}))
        assert qtype.parse_button(replace(answer, choice="no"))[0] == "no"
        with pytest.raises(InvalidAnswer):
            qtype.parse_button(replace(answer, choice="maybe"))


def test_a_type_is_registered_once() -> None:
    class Clash(QuestionType):
        name = "text"

    with pytest.raises(ValueError, match="registered twice"):
        qtypes.register(Clash)
