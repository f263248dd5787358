"""``select_multiple``: several options (``1, 3``, ``pkh dan bpnt``); a "none of these"
option stands alone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conversations.flow import Option
from conversations.i18n import T
from conversations.parsing import InvalidAnswer
from conversations.prompt import Prompt
from conversations.qtypes import Answer, Case, Display, QuestionType, register
from conversations.qtypes.select_one import pick

if TYPE_CHECKING:
    from conversations.flow import Step

_AID = (Option("1", "PKH"), Option("2", "BPNT / Sembako", ("bpnt", "sembako")),
        Option("3", "PBI-JK"), Option("0", "Tidak ada", ("gak ada",), exclusive=True))


def split_multi(text: str) -> list[str]:
    parts = [p.strip() for p in text.replace(" dan ", ",").replace("&", ",").split(",")]
    if len(parts) == 1 and all(p.isdigit() for p in text.split()):
        parts = text.split()
    return [p for p in parts if p]


@register
class SelectMultiple(QuestionType):
    name = "select_multiple"
    xlsform = ("select_multiple",)
    export_kind = "choices"
    has_choices = True
    cases = (
        Case("1, 2", ["1", "2"], step={"choices": _AID}),
        Case("pkh dan sembako", ["1", "2"], step={"choices": _AID}),
        Case("1 3", ["1", "3"], step={"choices": _AID}),
        Case("gak ada", ["0"], step={"choices": _AID}),
        Case("1, gak ada", error="answer.exclusive", step={"choices": _AID}),
        Case("1, bansos", error="answer.choice_unknown", step={"choices": _AID}),
    )

    def parse(self, answer: Answer) -> tuple[Any, list[T]]:
        step = answer.step
        values: list[str] = []
        for part in split_multi(self.need_text(answer)):
            value = pick(answer, part)
            if value is None:
                raise InvalidAnswer("answer.choice_unknown", count=len(step.choices))
            if value not in values:
                values.append(value)
        if not values:
            raise InvalidAnswer("answer.choice_unknown", count=len(step.choices))
        exclusive = [o for o in step.choices if o.exclusive and o.value in values]
        if exclusive and len(values) > 1:
            raise InvalidAnswer("answer.exclusive", option=T(exclusive[0].label))
        return values, []

    def parse_button(self, answer: Answer) -> tuple[Any, list[T]]:
        if answer.choice is not None and answer.step.option(answer.choice):
            return [answer.choice], []
        raise InvalidAnswer("flow.stale_button")

    def prompt(self, step: Step, prompt: Prompt) -> None:
        prompt.choices = [(f"{step.name}:{o.value}", T(o.label)) for o in step.choices]
        prompt.texts.append(T("flow.multi_hint"))

    def display(self, step: Step, value: Any) -> Display:
        if not isinstance(value, list):
            return str(value)
        labels = [T(o.label) for v in value if (o := step.option(v))]
        return T("flow.list", items=labels) if labels else T("flow.none")
