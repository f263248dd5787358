"""Question types as a registry: each type is one module that says how an answer is read
(``parse``), how the question is offered (``prompt``), how an answer reads back
(``display``) and what kind of column it makes in an export.

A type registers itself with :func:`register`; a form names it in its ``type`` column
(``integer``, ``select_one list``) or, for what XLSForm has no word for, in the
``chat::type`` column (``nik``, ``rt_rw``). Every type carries its own table of
:class:`Case` rows, and a test walks the registry and runs them all.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from conversations.i18n import T
from conversations.messages import Inbound, InboundKind
from conversations.parsing import InvalidAnswer
from conversations.prompt import Prompt

if TYPE_CHECKING:
    from conversations.flow import Option, Step

# Longest typed answer a non-text question reads (an address, a date, a number).
MAX_SHORT_ANSWER = 200

Display = T | str | int | bool | date | datetime


class IdentitySealer(Protocol):
    """Encrypts an identity number for the session: ``{"sealed": …, "hash": …}``."""

    def seal(self, kind: str, digits: str) -> dict[str, str]: ...


@dataclass(frozen=True)
class Answer:
    """What a person sent for one question, with what a type needs to read it."""

    step: Step
    inbound: Inbound
    text: str  # cleaned; empty for a button, a pin or a photo
    now: datetime
    # The value part of a button pressed for this question ("keruh" of "kategori:keruh").
    choice: str | None = None
    # Labels of an option in every language, and its aliases (to match typed words).
    words: Callable[[Option], list[str]] = lambda option: [option.value]
    sealer: IdentitySealer | None = None
    # Sixteen-digit numbers in free text are masked before they are kept.
    mask_text: bool = True


@dataclass(frozen=True)
class Case:
    """One row of a type's table: what arrives, and what is kept — or the refusal."""

    given: str | Inbound
    expect: Any = None
    error: str | None = None  # the reason key of the refusal
    # Step fields for this row (choices, constraint, required…), over the type's defaults.
    step: dict[str, Any] = field(default_factory=dict)
    # Echo lines expected (catalog keys), when the type says something back.
    echo: tuple[str, ...] = ()
    note: str = ""


class QuestionType:
    """Base of every question type; subclasses override what differs."""

    name: ClassVar[str]
    # XLSForm base types this chat type may sit on (the first is what a form should use).
    xlsform: ClassVar[tuple[str, ...]] = ("text",)
    # What an export makes of it: text, integer, decimal, date, datetime, choice, choices,
    # boolean, geopoint, media, identity, phone, place, none.
    export_kind: ClassVar[str] = "text"
    # Reason shown when something of the wrong kind arrives (a photo for a number).
    expected: ClassVar[str] = "answer.need_text"
    has_choices: ClassVar[bool] = False
    # The answer is read back and confirmed before it is kept (identity numbers).
    confirmable: ClassVar[bool] = False
    # Asked of no one (notes are shown, calculations computed).
    asked: ClassVar[bool] = True
    # Its own line in the summary (a question whose parts fill other answers has none).
    in_summary: ClassVar[bool] = True
    cases: ClassVar[Sequence[Case]] = ()

    def parse(self, answer: Answer) -> tuple[Any, list[T]]:
        """The answer to keep and what to say about it; raise InvalidAnswer to refuse."""
        raise InvalidAnswer(self.expected)

    def parse_button(self, answer: Answer) -> tuple[Any, list[T]]:
        """A button of this question was pressed (``answer.choice``)."""
        raise InvalidAnswer("flow.stale_button")

    def prompt(self, step: Step, prompt: Prompt) -> None:
        """Add buttons or a location/contact request to the question."""

    def display(self, step: Step, value: Any) -> Display:
        """The answer as the person should read it back."""
        text = str(value)
        return text if len(text) <= 300 else text[:297] + "…"

    def readback(self, step: Step, value: Any) -> T | None:
        """For confirmable types: the line that reads the answer back."""
        return None

    def claims(self, text: str) -> bool:
        """The text is an answer of this type though it reads as a command ("tidak ada"
        to a roster: nobody else)."""
        return False

    def find(self, text: str) -> tuple[str, str] | None:
        """An answer of this type inside a longer message, and the rest of the message
        (a question with ``chat::with`` takes two answers in one message)."""
        return None

    # -- helpers for subclasses ------------------------------------------------------------

    def need_text(self, answer: Answer, *, limit: int = MAX_SHORT_ANSWER) -> str:
        if answer.inbound.kind != InboundKind.TEXT:
            raise InvalidAnswer(self.expected)
        if not answer.text:
            raise InvalidAnswer("answer.empty")
        if len(answer.text) > limit:
            raise InvalidAnswer(self.expected)
        return answer.text


REGISTRY: dict[str, QuestionType] = {}


def register(cls: type[QuestionType]) -> type[QuestionType]:
    """Class decorator: make a type known by its ``name`` (a second one is an error)."""
    if cls.name in REGISTRY and type(REGISTRY[cls.name]) is not cls:
        raise ValueError(f"question type {cls.name!r} is registered twice")
    REGISTRY[cls.name] = cls()
    return cls


def get(name: str) -> QuestionType:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown question type {name!r}; known: {', '.join(sorted(REGISTRY))}")\
            from None


BUILTIN = ("text", "integer", "decimal", "date_", "datetime_", "select_one", "select_multiple",
           "yes_no", "geopoint", "image", "note", "calculate", "nik", "kk", "phone", "rt_rw",
           "kelurahan", "place", "roster")


def _load_builtins() -> None:
    # Each module registers its type when imported.
    for module in BUILTIN:
        importlib.import_module(f"conversations.qtypes.{module}")


_load_builtins()
