"""``decimal``: a number that may have a fraction (``2,5``, ``setengah``)."""

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
class DecimalType(QuestionType):
    name = "decimal"
    xlsform = ("decimal",)
    export_kind = "decimal"
    expected = "answer.number"
    cases = (
        Case("2,5", 2.5),
        Case("7", 7),
        Case("banyak", error="answer.number"),
    )

    def parse(self, answer: Answer) -> tuple[Any, list[T]]:
        number = parsing.parse_number(self.need_text(answer))
        if number is None:
            raise InvalidAnswer("answer.number")
        # Sessions are JSON: whole numbers stay int, others become float.
        if isinstance(number, Decimal):
            return (int(number) if number == int(number) else float(number)), []
        return number, []

    def display(self, step: Step, value: Any) -> Display:
        return str(value).replace(".", ",")
