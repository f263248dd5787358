"""``integer``: a whole number, typed as people type it (``5``, ``lima``, ``20an``)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from conversations import parsing
from conversations.i18n import T
from conversations.parsing import InvalidAnswer
from conversations.qtypes import Answer, Case, Display, QuestionType, register

if TYPE_CHECKING:
    from conversations.flow import Step


# A rough count said in words: "ratusan" is at least a hundred.
_ROUGH = {"puluhan": 10, "ratusan": 100, "ribuan": 1000}
# Units that make a lone number something else than a count of households or people.
_OTHER_UNITS = frozenset({"hari", "minggu", "bulan", "tahun", "jam", "menit", "rp", "ribu",
                          "rb", "liter", "jerigen", "kali", "day", "days", "week", "weeks"})


def _count_in_words(text: str) -> int | None:
    """A count inside a vague answer: the one number in it ("se rt kyknya 25"), or a
    rough word ("semua warga RW sini, ratusan"); None when that is unclear."""
    # "kira2" is "kira-kira": a 2 stuck to a word repeats the word, it is not a number.
    low = re.sub(r"(?<=[a-z])2\b", "", text.lower())
    words = re.findall(r"[a-z]+|\d+", low)
    if _OTHER_UNITS & set(words):
        return None
    # Only a number standing on its own as a word ("alert(1)" holds none).
    numbers = [int(t) for t in (w.strip(".,!?;:") for w in low.split()) if t.isdigit()]
    if len(numbers) == 1 and len(re.findall(r"\d+", low)) == 1:
        return numbers[0]
    rough = [n for w, n in _ROUGH.items() if w in words]
    return rough[0] if len(rough) == 1 and not numbers else None


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
        Case("satu gang kira2 12 rumah", 12, step={"params": {"of": "households"}},
             note="a count of households inside a sentence"),
        Case("3 hari", error="answer.number", step={"params": {"of": "households"}},
             note="three days are not three households"),
        Case("se rt kyknya 25", 25, step={"params": {"of": "households"}}),
        Case("se gang kira2 10", 10, step={"params": {"of": "households"}},
             note="kira2 is kira-kira, not the number 2"),
        Case("semua warga rw sini, ratusan", 100, step={"params": {"of": "households"}},
             note="a rough count: at least a hundred"),
        Case("2,5", error="answer.number", note="a whole number is asked"),
        Case("banyak", error="answer.number"),
    )

    def parse(self, answer: Answer) -> tuple[Any, list[T]]:
        # ``chat::of`` = households / people: only a count of those ("3 hari" is not one).
        of = answer.step.params.get("of")
        text = self.need_text(answer)
        number = parsing.parse_number(text, of=of if of in ("households", "people") else None)
        if number is None and of is not None:
            number = _count_in_words(text)
        if number is None or (isinstance(number, Decimal) and number != int(number)):
            raise InvalidAnswer("answer.number")
        return int(number), []

    def display(self, step: Step, value: Any) -> Display:
        return int(value)
