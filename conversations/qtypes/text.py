"""``text``: free words (a description, a name, a landmark)."""

from __future__ import annotations

from typing import Any

from conversations.i18n import T
from conversations.matching import has_words
from conversations.parsing import InvalidAnswer
from conversations.privacy import mask_ids
from conversations.qtypes import Answer, Case, QuestionType, register

# Longest free text kept; a constraint may ask for less.
MAX_TEXT = 1000


@register
class Text(QuestionType):
    name = "text"
    export_kind = "text"
    cases = (
        Case("Air bau kaporit menyengat", "Air bau kaporit menyengat"),
        Case("NIK saya 3172011203810001 ya", "NIK saya [nomor disembunyikan] ya",
             note="identity numbers in free text are masked before they are kept"),
        Case("🙏🙏", error="answer.no_words"),
        Case("x" * (MAX_TEXT + 1), error="answer.too_long"),
        Case("", error="answer.empty"),
    )

    def parse(self, answer: Answer) -> tuple[Any, list[T]]:
        text = self.need_text(answer, limit=10 * MAX_TEXT)
        if len(text) > MAX_TEXT:
            raise InvalidAnswer("answer.too_long", max=MAX_TEXT)
        if not has_words(text):
            raise InvalidAnswer("answer.no_words")
        return (mask_ids(text) if answer.mask_text else text), []
