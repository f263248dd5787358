"""``kelurahan``: one of Cilincing's kelurahan, kept as its Kemendagri code and name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conversations import parsing
from conversations.i18n import T
from conversations.parsing import InvalidAnswer
from conversations.places import KELURAHAN
from conversations.prompt import Prompt
from conversations.qtypes import Answer, Case, Display, QuestionType, register

if TYPE_CHECKING:
    from conversations.flow import Step


@register
class KelurahanType(QuestionType):
    name = "kelurahan"
    # A list in form tools; the chat reads names loosely and offers its own buttons.
    xlsform = ("select_one", "text")
    export_kind = "place"
    expected = "answer.kelurahan"
    cases = (
        Case("kalibaru", {"code": "31.72.04.1004", "name": "Kalibaru"}),
        Case("Kali Baru", {"code": "31.72.04.1004", "name": "Kalibaru"}),
        Case("marunda", {"code": "31.72.04.1003", "name": "Marunda"}),
        Case("bekasi", error="answer.kelurahan"),
    )

    def parse(self, answer: Answer) -> tuple[Any, list[T]]:
        kel = parsing.match_kelurahan(self.need_text(answer))
        if kel is None:
            raise InvalidAnswer("answer.kelurahan")
        return {"code": kel.code, "name": kel.name}, []

    def parse_button(self, answer: Answer) -> tuple[Any, list[T]]:
        kel = parsing.match_kelurahan(answer.choice or "")
        if kel is None:
            raise InvalidAnswer("flow.stale_button")
        return {"code": kel.code, "name": kel.name}, []

    def prompt(self, step: Step, prompt: Prompt) -> None:
        prompt.choices = [(f"{step.name}:{k.code[-4:]}", k.name) for k in KELURAHAN]

    def display(self, step: Step, value: Any) -> Display:
        return str(value["name"])
