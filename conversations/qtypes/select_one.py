"""``select_one``: one option, by button, by its number, or by its label typed loosely."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conversations.flow import Option
from conversations.i18n import T
from conversations.matching import normalize, resolve_choice
from conversations.parsing import InvalidAnswer
from conversations.prompt import Prompt
from conversations.qtypes import Answer, Case, Display, QuestionType, register

if TYPE_CHECKING:
    from conversations.flow import Step

_WATER = (Option("mati", "Air mati", ("gak ngalir",)), Option("keruh", "Air keruh", ("butek",)),
          Option("bau", "Air bau"))


def candidates(answer: Answer, text: str) -> list[str]:
    """The options a typed reply may mean; an alias typed exactly wins ("450" for
    "450 watt", though numbers are positions unless the list numbers by its codes)."""
    step = answer.step
    norm = normalize(text)
    exact = [o.value for o in step.choices if any(norm == normalize(a) for a in o.aliases)]
    if len(exact) == 1:
        return exact
    return resolve_choice(text, [(o.value, answer.words(o)) for o in step.choices],
                          numbers=step.params.get("numbers", "position"))


def pick(answer: Answer, text: str) -> str | None:
    found = candidates(answer, text)
    return found[0] if len(found) == 1 else None


@register
class SelectOne(QuestionType):
    name = "select_one"
    xlsform = ("select_one",)
    export_kind = "choice"
    has_choices = True
    cases = (
        Case("keruh", "keruh", step={"choices": _WATER}),
        Case("2", "keruh", step={"choices": _WATER}, note="the option number"),
        Case("butek", "keruh", step={"choices": _WATER}, note="an alias"),
        Case("kruh", "keruh", step={"choices": _WATER}, note="a near miss"),
        Case("listrik", error="answer.choice_unknown", step={"choices": _WATER}),
        Case("9", error="answer.choice_unknown", step={"choices": _WATER}),
        Case("air", error="answer.which_one", step={"choices": _WATER},
             note="fits all three: the reply is a question with those as buttons"),
        Case("2", "2", step={"choices": (Option("1", "Milik sendiri"),
                                         Option("2", "Kontrak"), Option("4", "Dinas")),
                               "params": {"numbers": "code"}},
             note="a list numbered by its own codes"),
        Case("3", error="answer.choice_unknown",
             step={"choices": (Option("1", "Milik sendiri"), Option("2", "Kontrak"),
                               Option("4", "Dinas")), "params": {"numbers": "code"}},
             note="3 is a position here, but no code"),
    )

    def parse(self, answer: Answer) -> tuple[Any, list[T]]:
        found = candidates(answer, self.need_text(answer))
        if len(found) > 1:
            # Fits two options: ask which, with only those as buttons.
            raise InvalidAnswer("answer.which_one", candidates=found)
        if not found:
            raise InvalidAnswer("answer.choice_unknown", count=len(answer.step.choices))
        return found[0], []

    def parse_button(self, answer: Answer) -> tuple[Any, list[T]]:
        if answer.choice is not None and answer.step.option(answer.choice):
            return answer.choice, []
        raise InvalidAnswer("flow.stale_button")

    def prompt(self, step: Step, prompt: Prompt) -> None:
        prompt.choices = [(f"{step.name}:{o.value}", T(o.label)) for o in step.choices]

    def display(self, step: Step, value: Any) -> Display:
        opt = step.option(str(value))
        return T(opt.label) if opt else str(value)
