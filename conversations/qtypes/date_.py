"""``date``: a day as people say it (``kemarin``, ``Senin``, ``tgl 20``, ``12/05/85``).

``chat::when`` = ``past`` reads a bare weekday or day of the month as the most recent one
("since when", birth dates); the default reads it as the next one.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from conversations import parsing
from conversations.i18n import JAKARTA, T
from conversations.parsing import InvalidAnswer
from conversations.qtypes import Answer, Case, Display, QuestionType, register

if TYPE_CHECKING:
    from conversations.flow import Step


def read_when(answer: Answer, text: str) -> parsing.When | None:
    prefer = answer.step.params.get("when", "future")
    return parsing.parse_when(text, answer.now.astimezone(JAKARTA), prefer=prefer)


@register
class Date(QuestionType):
    name = "date"
    xlsform = ("date",)
    export_kind = "date"
    expected = "answer.date"
    # The harness's "now" is Saturday 28 November 2026, 10.00 WIB.
    cases = (
        Case("kemarin", "2026-11-27", echo=("answer.date_echo",)),
        Case("hari ini", "2026-11-28", echo=("answer.date_echo",)),
        Case("3 hari lalu", "2026-11-25", echo=("answer.date_echo",)),
        Case("senin", "2026-11-23", step={"params": {"when": "past"}},
             echo=("answer.date_echo",), note="a weekday in the past for 'since when'"),
        Case("kapan ya", error="answer.date"),
    )

    def parse(self, answer: Answer) -> tuple[Any, list[T]]:
        when = read_when(answer, self.need_text(answer))
        if when is None or when.date is None:
            raise InvalidAnswer("answer.date")
        return when.date.isoformat(), [T("answer.date_echo", when=when.date)]

    def display(self, step: Step, value: Any) -> Display:
        return date.fromisoformat(value)
