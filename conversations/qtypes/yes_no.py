"""``yes_no``: a two-option list read as yes or no (``iya``, ``gak``, ``boleh``, 👍).

The form writes it as ``select_one`` of a two-choice list (``yes``/``no``, or the register's
``1`` Ya / ``2`` Tidak) with ``chat::type`` = ``yes_no``; the answer kept is the choice's
name, so formulas read it as any form tool would (``${boleh} = 'yes'``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conversations import parsing
from conversations.flow import Option
from conversations.i18n import T
from conversations.parsing import InvalidAnswer
from conversations.prompt import Prompt
from conversations.qtypes import Answer, Case, Display, QuestionType, register

if TYPE_CHECKING:
    from conversations.flow import Step

YES_NAMES = frozenset({"yes", "ya", "y", "1", "true"})
NO_NAMES = frozenset({"no", "tidak", "n", "0", "2", "false"})

_YN = (Option("yes", "common.yes"), Option("no", "common.no"))
_CODED = (Option("1", "common.yes"), Option("2", "common.no"))


def yes_no_values(step: Step) -> tuple[str, str]:
    """(name of the yes choice, name of the no choice); the form loader checks they exist."""
    yes = next(o.value for o in step.choices if o.value.lower() in YES_NAMES)
    no = next(o.value for o in step.choices if o.value.lower() in NO_NAMES and o.value != yes)
    return yes, no


def is_yes(value: Any) -> bool:
    """A kept yes/no answer (a choice name; older sessions kept booleans) read as a bool."""
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.lower() in YES_NAMES


def _first_clause(text: str) -> bool | None:
    """"boleh, tadi udah saya kasih nomornya": a clear yes or no before a comma, with no
    "tapi" after it, answers the question (the rest is an aside)."""
    head, sep, rest = text.partition(",")
    if not sep or any(w in rest.lower().split() for w in ("tapi", "but", "kecuali")):
        return None
    return parsing.parse_yes_no(head)


@register
class YesNo(QuestionType):
    name = "yes_no"
    xlsform = ("select_one",)
    export_kind = "boolean"
    expected = "answer.yes_no"
    has_choices = True
    cases = (
        Case("iya", "yes", step={"choices": _YN}),
        Case("gak", "no", step={"choices": _YN}),
        Case("boleh", "1", step={"choices": _CODED}, note="register codes 1 Ya / 2 Tidak"),
        Case("tidak", "2", step={"choices": _CODED}),
        Case("yah", error="answer.yes_no", step={"choices": _YN}),
        Case("kirim besok ya", error="answer.yes_no", step={"choices": _YN}),
        Case("boleh, tadi udah saya kasih nomornya", "yes", step={"choices": _YN},
             note="a clear yes, then an aside"),
        Case("boleh, tapi jangan malam", error="answer.yes_no", step={"choices": _YN},
             note="a yes with a 'but' is not plain yes"),
    )

    def parse(self, answer: Answer) -> tuple[Any, list[T]]:
        text = self.need_text(answer)
        said = parsing.parse_yes_no(text)
        if said is None:
            said = _first_clause(text)
        if said is None:
            raise InvalidAnswer("answer.yes_no")
        yes, no = yes_no_values(answer.step)
        return (yes if said else no), []

    def parse_button(self, answer: Answer) -> tuple[Any, list[T]]:
        if answer.choice is not None and answer.step.option(answer.choice):
            return answer.choice, []
        raise InvalidAnswer("flow.stale_button")

    def prompt(self, step: Step, prompt: Prompt) -> None:
        yes, no = yes_no_values(step)
        prompt.choices = [(f"{step.name}:{o.value}", T(o.label)) for o in step.choices
                          if o.value in (yes, no)]

    def display(self, step: Step, value: Any) -> Display:
        opt = step.option(str(value))
        if opt is not None:
            return T(opt.label)
        return is_yes(value)
