"""``rt_rw``: the neighbourhood (RT) and its ward (RW), kept zero-padded (``005``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conversations import parsing
from conversations.i18n import T
from conversations.parsing import InvalidAnswer
from conversations.qtypes import Answer, Case, Display, QuestionType, register

if TYPE_CHECKING:
    from conversations.flow import Step


@register
class RtRw(QuestionType):
    name = "rt_rw"
    export_kind = "place"
    expected = "answer.rt_rw"
    cases = (
        Case("5/3", {"rt": "005", "rw": "003"}),
        Case("RT 05 RW 03", {"rt": "005", "rw": "003"}),
        Case("rt 12 rw 4", {"rt": "012", "rw": "004"}),
        Case("dekat masjid", error="answer.rt_rw"),
    )

    def parse(self, answer: Answer) -> tuple[Any, list[T]]:
        found = parsing.parse_rt_rw(self.need_text(answer))
        if found is None:
            raise InvalidAnswer("answer.rt_rw")
        return {"rt": found[0], "rw": found[1]}, []

    def find(self, text: str) -> tuple[str, str] | None:
        return parsing.find_rt_rw(text)

    def display(self, step: Step, value: Any) -> Display:
        return T("summary.rt_rw", rt=value["rt"], rw=value["rw"])
