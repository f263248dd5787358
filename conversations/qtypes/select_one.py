"""``select_one``: one option, by button, by its number, or by its label typed loosely."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conversations.flow import Option
from conversations.i18n import T
from conversations.matching import match_option, normalize
from conversations.parsing import InvalidAnswer
from conversations.prompt import Prompt
from conversations.qtypes import Answer, Case, Display, QuestionType, register

if TYPE_CHECKING:
    from conversations.flow import Step

_WATER = (Option("mati", "Air mati", ("gak ngalir",)), Option("keruh", "Air keruh", ("butek",)),
          Option("bau", "Air bau"))


def pick(answer: Answer, text: str) -> str | None:
    """An alias typed exactly wins ("450" for "450 watt", though numbers are positions)."""
    step = answer.step
    norm = normalize(text)
    exact = {o.value for o in step.choices if any(norm == normalize(a) for a in o.aliases)}
    if len(exact) == 1:
        return exact.pop()
    return match_option(text, [(o.value, answer.words(o)) for o in step.choices])


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
    )

    def parse(self, answer: Answer) -> tuple[Any, list[T]]:
        picked = pick(answer, self.need_text(answer))
        if picked is None:
            raise InvalidAnswer("answer.choice_unknown", count=len(answer.step.choices))
        return picked, []

    def parse_button(self, answer: Answer) -> tuple[Any, list[T]]:
        if answer.choice is not None and answer.step.option(answer.choice):
            return answer.choice, []
        raise InvalidAnswer("flow.stale_button")

    def prompt(self, step: Step, prompt: Prompt) -> None:
        prompt.choices = [(f"{step.name}:{o.value}", T(o.label)) for o in step.choices]

    def display(self, step: Step, value: Any) -> Display:
        opt = step.option(str(value))
        return T(opt.label) if opt else str(value)
