"""``nik``: a resident's identity number, checked for format and read back to confirm.

Only a masked form and a ciphertext from the caller's sealer are kept, never the digits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conversations import parsing
from conversations.i18n import JAKARTA, PlainDay, T
from conversations.privacy import ID_PLACEHOLDER, identity_label
from conversations.qtypes import Answer, Case, Display, QuestionType, register

if TYPE_CHECKING:
    from conversations.flow import Step


def sealed(answer: Answer, kind: str, digits: str) -> dict[str, str]:
    return dict(answer.sealer.seal(kind, digits)) if answer.sealer is not None else {}


def masked(value: Any) -> str:
    """How an identity answer shows in summaries and lists, under its question's label:
    its keyed reference ('#KQXM-PRTA'), which links records without giving away a digit.
    Only the read-back right after typing (an ephemeral message) shows part of the
    number."""
    return identity_label(value) or ID_PLACEHOLDER


@register
class NikType(QuestionType):
    name = "nik"
    export_kind = "identity"
    confirmable = True
    cases = (
        Case("3172011203810001", {"masked": "3172********0001", "sex": "L",
                                  "birth_date": "1981-03-12"}),
        Case("3172 0152 0385 0002", {"masked": "3172********0002", "sex": "P",
                                     "birth_date": "1985-03-12"},
             note="women add 40 to the day"),
        Case("317201120381", error="nik.length"),
        Case("3172011203810000", error="nik.serial"),
        Case("9972011203810001", error="nik.province"),
        Case("nik saya lupa", error="nik.digits"),
    )

    def parse(self, answer: Answer) -> tuple[Any, list[T]]:
        nik = parsing.parse_nik(self.need_text(answer),
                                today=answer.now.astimezone(JAKARTA).date())
        return {"masked": nik.masked, **sealed(answer, "nik", nik.value), "sex": nik.sex,
                "birth_date": nik.birth_date.isoformat()}, []

    def display(self, step: Step, value: Any) -> Display:
        return masked(value)

    def find(self, text: str) -> tuple[str, str] | None:
        return parsing.find_id_number(text)

    def readback(self, step: Step, value: Any) -> T | None:
        return T("nik.readback", masked=value["masked"], sex=T(f"nik.sex.{value['sex']}"),
                 birth=PlainDay.fromisoformat(value["birth_date"]))
