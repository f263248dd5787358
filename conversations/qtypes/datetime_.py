"""``dateTime``: a day and a time (``Sabtu jam 7 pagi``, ``besok jam 8 malem``)."""

from __future__ import annotations

from datetime import datetime, time
from typing import TYPE_CHECKING, Any

from conversations.i18n import JAKARTA, T
from conversations.parsing import InvalidAnswer
from conversations.qtypes import Answer, Case, Display, QuestionType, register
from conversations.qtypes.date_ import read_when

if TYPE_CHECKING:
    from conversations.flow import Step


@register
class DateTime(QuestionType):
    name = "datetime"
    xlsform = ("dateTime",)
    export_kind = "datetime"
    expected = "answer.date"
    cases = (
        Case("Sabtu depan jam 7 pagi", "2026-12-05T07:00:00+07:00",
             echo=("answer.date_echo",)),
        Case("besok jam setengah 8", "2026-11-29T07:30:00+07:00",
             echo=("answer.date_echo",)),
        Case("besok", error="answer.time_missing", note="a day without a time asks the time"),
        Case("nanti aja", error="answer.date"),
    )

    def parse(self, answer: Answer) -> tuple[Any, list[T]]:
        when = read_when(answer, self.need_text(answer))
        if when is None or when.date is None:
            raise InvalidAnswer("answer.date")
        if when.time is None:
            raise InvalidAnswer("answer.time_missing", day=when.date)
        moment = datetime.combine(when.date, when.time or time(0, 0), tzinfo=JAKARTA)
        return moment.isoformat(), [T("answer.date_echo", when=moment)]

    def display(self, step: Step, value: Any) -> Display:
        return datetime.fromisoformat(value)
