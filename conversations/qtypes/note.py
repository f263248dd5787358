"""``note``: a text shown on the way to the next question; nothing is asked or kept."""

from __future__ import annotations

from conversations.qtypes import QuestionType, register


@register
class Note(QuestionType):
    name = "note"
    xlsform = ("note",)
    export_kind = "none"
    asked = False
    # A note takes no answer: the engine shows it and moves on (tested with the engine).
    cases = ()
