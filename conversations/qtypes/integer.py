"""``integer``: a whole number, typed as people type it (``5``, ``lima``, ``20an``)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from conversations import parsing
from conversations.i18n import T
from conversations.parsing import InvalidAnswer
from conversations.qtypes import Answer, Case, Display, QuestionType, register

if TYPE_CHECKING:
    from conversations.flow import Step


@register
class Integer(QuestionType):
    name = "integer"
    xlsform = ("integer",)
    export_kind = "integer"
    expected = "answer.number"
    cases = (
        Case("5", 5),
        Case("lima", 5),
        Case("12 orang", 12),
        Case("2,5", error="answer.number", note="a whole number is asked"),
        Case("banyak", error="answer.number"),
    )

    def parse(self, answer: Answer) -> tuple[Any, list[T]]:
        number = parsing.parse_number(self.need_text(answer))
        if number is None or (isinstance(number, Decimal) and number != int(number)):
            raise InvalidAnswer("answer.number")
        return int(number), []

    def display(self, step: Step, value: Any) -> Display:
        return int(value)
