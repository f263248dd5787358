"""``roster``: who else is in the family, as relationship codes in one message
(``istri, anak, anak``, ``istri dan 2 anak``, ``2 3 3``); ``sendiri`` for nobody.

The answer is the list of codes in the order typed (``["2", "3", "3"]``), read like a
multi-choice list so that ``count-selected()`` and ``selected-at()`` work on it; a code
may come more than once. The head is not in it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from conversations import parsing
from conversations.flow import Option
from conversations.i18n import T
from conversations.matching import normalize
from conversations.parsing import InvalidAnswer
from conversations.prompt import Prompt
from conversations.qtypes import Answer, Case, Display, QuestionType, register
from conversations.qtypes.select_one import candidates

if TYPE_CHECKING:
    from conversations.flow import Step

# Nobody but the head: the whole message.
ALONE = frozenset({
    "sendiri", "sendirian", "tinggal sendiri", "hidup sendiri", "sendiri saja",
    "sendiri aja", "tidak ada", "ga ada", "gak ada", "nggak ada", "ngga ada", "enggak ada",
    "tidak ada lagi", "ga ada lagi", "gak ada lagi", "kepala saja", "kepala aja",
    "hanya kepala", "cuma kepala", "0", "-", "alone", "lives alone", "nobody", "none",
})
_PARTS = re.compile(r"\s*(?:[,;+&/\n]|\bdan\b|\bsama\b|\bdengan\b)\s*", re.IGNORECASE)
_ORANG = re.compile(r"\borang\b", re.IGNORECASE)
# "anak2", "anak-anak": children, but how many is not said.
_DOUBLED = re.compile(r"^([a-z]+)(?:2|[\s-]\1)$")
MAX_OTHERS = 29  # a household of at most 30

_HUBUNGAN = (Option("1", "Kepala keluarga", ("kepala",)), Option("2", "Istri/suami",
             ("istri", "suami")), Option("3", "Anak", ("anak",)), Option("4", "Menantu"),
             Option("8", "Lainnya", ("keponakan",)))


def _count_and_word(part: str) -> tuple[int, str]:
    """'2 anak', '2 orang anak', 'anak 2', 'dua anak' → (2, 'anak'); 'istri' → (1, …)."""
    tokens = _ORANG.sub(" ", part).split()
    if len(tokens) > 1:
        before = parsing.small_int(tokens[:1])
        if before is not None:
            return before, " ".join(tokens[1:])
        after = parsing.small_int(tokens[-1:])
        if after is not None:
            return after, " ".join(tokens[:-1])
    return 1, " ".join(tokens)


def _exact(answer: Answer, word: str) -> list[str]:
    """Options one of whose words is the typed word ("istri", "anaknya"): a loose match
    here would count a neighbour ("tetangga") as a member."""
    norm = normalize(word)
    typed = {norm, norm.removesuffix("nya").strip()}
    found = []
    for option in answer.step.choices:
        words = {normalize(piece) for w in answer.words(option)
                 for piece in re.split(r"[/,]", w) if piece.strip()}
        if typed & words:
            found.append(option.value)
    return found


@register
class RosterType(QuestionType):
    name = "roster"
    # In form tools a multi-choice of the relationships present (counts are the chat's).
    xlsform = ("select_multiple",)
    export_kind = "choices"
    expected = "answer.roster"
    has_choices = True
    cases = (
        Case("istri, anak, anak", ["2", "3", "3"], step={"choices": _HUBUNGAN}),
        Case("istri dan 2 anak", ["2", "3", "3"], step={"choices": _HUBUNGAN}),
        Case("suami, anak 3 orang", ["2", "3", "3", "3"], step={"choices": _HUBUNGAN}),
        Case("dua anak", ["3", "3"], step={"choices": _HUBUNGAN}),
        Case("2 3 3", ["2", "3", "3"], step={"choices": _HUBUNGAN,
                                              "params": {"numbers": "code"}},
             note="paper codes"),
        Case("sendiri", [], step={"choices": _HUBUNGAN}),
        Case("tidak ada", [], step={"choices": _HUBUNGAN}),
        Case("istri, kepala", error="answer.roster_head", step={"choices": _HUBUNGAN}),
        Case("istri, anak2", error="answer.roster_how_many", step={"choices": _HUBUNGAN}),
        Case("istri, anak-anak", error="answer.roster_how_many", step={"choices": _HUBUNGAN}),
        Case("istri, tetangga", error="answer.roster_unknown", step={"choices": _HUBUNGAN}),
        Case("40 anak", error="answer.roster_too_many", step={"choices": _HUBUNGAN}),
    )

    def claims(self, text: str) -> bool:
        return normalize(text) in ALONE

    def parse(self, answer: Answer) -> tuple[Any, list[T]]:
        text = self.need_text(answer)
        if normalize(text) in ALONE:
            return [], []
        tokens = text.split()
        if all(t.isdigit() and len(t) <= 2 for t in tokens):
            parts = tokens  # "2 3 3": one code each
        else:
            parts = [p for p in _PARTS.split(text) if p.strip()]
        codes: list[str] = []
        for part in parts:
            count, word = (1, part) if part.strip().isdigit() else _count_and_word(part)
            doubled = _DOUBLED.match(normalize(word))
            if doubled:
                raise InvalidAnswer("answer.roster_how_many", word=doubled[1])
            found = _exact(answer, word) if word and not word.isdigit() else (
                candidates(answer, word) if word else [])
            if len(found) != 1:
                raise InvalidAnswer("answer.roster_unknown", part=part.strip()[:40])
            if found[0] == "1":
                raise InvalidAnswer("answer.roster_head")
            codes += [found[0]] * count
            if len(codes) > MAX_OTHERS:
                raise InvalidAnswer("answer.roster_too_many", most=MAX_OTHERS + 1)
        if not codes:
            raise InvalidAnswer(self.expected)
        return codes, []

    def prompt(self, step: Step, prompt: Prompt) -> None:
        # The codes as on paper, for a volunteer who types them; nothing to tap.
        options: T | str = "-"
        for o in reversed([o for o in step.choices if o.value != "1"]):
            option = T("together.option", code=o.value, label=T(o.label))
            options = option if options == "-" else T("together.options", first=option,
                                                      rest=options)
        prompt.texts.append(T("roster.codes", options=options))

    def display(self, step: Step, value: Any) -> Display:
        if not isinstance(value, list):
            return str(value)
        if not value:
            return T("roster.alone")
        labels = [T(o.label) for v in value if (o := step.option(v))]
        return T("flow.list", items=labels)
