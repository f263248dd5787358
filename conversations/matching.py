"""Loose matching of what people type against option labels and command words."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACES = re.compile(r"\s+")
MAX_MATCH_INPUT = 200


def clean_text(text: str) -> str:
    """Drop control characters (keep newlines) and surrounding space."""
    return "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C"
    ).strip()


def normalize(text: str) -> str:
    """Lower-case, accents and punctuation removed, single spaces: 'Air  Keruh!' → 'air keruh'."""
    text = unicodedata.normalize("NFKD", text[:MAX_MATCH_INPUT].lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _PUNCT.sub(" ", text.replace("'", "").replace("’", ""))
    return _SPACES.sub(" ", text).strip()


def has_words(text: str) -> bool:
    """True when the text has at least one letter or digit (not only emoji or symbols)."""
    return any(ch.isalnum() for ch in text)


def match_command(text: str, table: dict[str, Iterable[str]]) -> str | None:
    """Whole-message command match: 'Gak jadi!' → 'cancel'."""
    norm = normalize(text.lstrip("/"))
    for command, words in table.items():
        if norm in words:
            return command
    return None


def match_option(text: str, options: Sequence[tuple[str, Sequence[str]]], *,
                 numbers: str = "position") -> str | None:
    """Pick one option from a typed answer, or None (nothing fits, or more than one)."""
    found = resolve_choice(text, options, numbers=numbers)
    return found[0] if len(found) == 1 else None


def resolve_choice(text: str, options: Sequence[tuple[str, Sequence[str]]], *,
                   numbers: str = "position") -> list[str]:
    """The options a typed answer may mean, best first: one, several (ask which), or none.

    ``options`` is (value, words) in the order shown; words are labels in every language
    and aliases. Accepts the option number ("2" — its position on screen, or with
    ``numbers="code"`` the option's own code, as on a paper questionnaire), a label or
    alias typed loosely ("keruh" for "Air keruh / kotor"), or a near miss ("kruh").
    """
    norm = normalize(text)
    if not norm:
        return []
    stripped = norm.removeprefix("no ").removeprefix("nomor ").removeprefix("pilihan ")
    if stripped.isdigit():
        if numbers == "code":
            return [value for value, _ in options if value == stripped.lstrip("0") or
                    value == stripped]
        index = int(stripped)
        return [options[index - 1][0]] if 1 <= index <= len(options) else []
    normalized = [(value, [normalize(w) for w in words if w]) for value, words in options]
    # 1. exact label, value or alias
    exact = [value for value, words in normalized if norm in words or norm == normalize(value)]
    if exact:
        return exact
    # 2. every typed word appears in the label ("keruh" ⊂ "air keruh kotor")
    typed = set(norm.split())
    partial = [
        value
        for value, words in normalized
        if any(typed <= set(w.split()) for w in words)
        or any(len(norm) >= 4 and norm in w for w in words)
    ]
    if partial:
        return partial
    # 2b. every typed word is a word of the option's labels and aliases ("air pam")
    pooled = [value for value, words in normalized
              if len(typed) > 1 and typed <= {part for w in words for part in w.split()}]
    if pooled:
        return pooled
    # 3. the reply contains an option's phrase ("ngalir cuma tengah malem" ⊃ "tengah malem")
    padded = f" {norm} "
    inside = [value for value, words in normalized
              if any((" " in w or len(w) >= 5) and f" {w} " in padded for w in words)]
    if inside:
        return inside
    # 4. a near miss on a label or on one of its words
    best: list[tuple[float, str]] = []
    for value, words in normalized:
        candidates = [*words, *(part for w in words for part in w.split() if len(part) >= 4)]
        score = max((SequenceMatcher(None, norm, w).ratio() for w in candidates), default=0.0)
        best.append((score, value))
    best.sort(reverse=True)
    if best and best[0][0] >= 0.8 and (len(best) == 1 or best[1][0] < best[0][0] - 0.05):
        return [best[0][1]]
    return []
