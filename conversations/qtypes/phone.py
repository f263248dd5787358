"""``phone``: an Indonesian mobile number (typed, or shared with the contact button),
kept in E.164."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conversations import parsing
from conversations.i18n import T
from conversations.messages import Inbound, InboundKind
from conversations.parsing import InvalidAnswer
from conversations.prompt import Prompt
from conversations.qtypes import Answer, Case, QuestionType, register

if TYPE_CHECKING:
    from conversations.flow import Step

_SHARED = Inbound("console", "u", "m", kind=InboundKind.CONTACT, phone="+6281234567890")


@register
class Phone(QuestionType):
    name = "phone"
    export_kind = "phone"
    expected = "answer.phone"
    cases = (
        Case("0812-3456-7890", "+6281234567890"),
        Case("+62 812 3456 7890", "+6281234567890"),
        Case(_SHARED, "+6281234567890", note="the platform's share-contact button"),
        Case("021 4401234", error="answer.phone", note="a landline cannot get WhatsApp"),
        Case("nomor saya", error="answer.phone"),
    )

    def parse(self, answer: Answer) -> tuple[Any, list[T]]:
        raw = answer.inbound.phone or self.need_text(answer)
        phone = parsing.parse_phone(raw)
        if phone is None:
            raise InvalidAnswer("answer.phone")
        return phone, []

    def prompt(self, step: Step, prompt: Prompt) -> None:
        prompt.request_contact = True
