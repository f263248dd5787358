"""``kk``: a family card number (No. KK); its date part is when the card was issued."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conversations import parsing
from conversations.i18n import JAKARTA, PlainDay, T
from conversations.qtypes import Answer, Case, Display, QuestionType, register
from conversations.qtypes.nik import masked, sealed

if TYPE_CHECKING:
    from conversations.flow import Step


@register
class KkType(QuestionType):
    name = "kk"
    export_kind = "identity"
    confirmable = True
    cases = (
        Case("3172041508120003", {"masked": "3172********0003", "issued": "2012-08-15"}),
        Case("3172 0415 0812 000", error="kk.length"),
        Case("3172041508120000", error="kk.serial"),
        Case("3172043213120003", error="kk.date"),
    )

    def parse(self, answer: Answer) -> tuple[Any, list[T]]:
        kk = parsing.parse_kk(self.need_text(answer), today=answer.now.astimezone(JAKARTA).date())
        return {"masked": kk.masked, **sealed(answer, "kk", kk.value),
                "issued": kk.issued_date.isoformat()}, []

    def display(self, step: Step, value: Any) -> Display:
        return masked(value)

    def readback(self, step: Step, value: Any) -> T | None:
        return T("kk.readback", masked=value["masked"],
                 issued=PlainDay.fromisoformat(value["issued"]))
