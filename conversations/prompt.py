"""What the bot says back in one turn: texts, then the question's buttons."""

from __future__ import annotations

from dataclasses import dataclass, field

from conversations.i18n import T


@dataclass
class Prompt:
    """What to say back in one message: texts, then the question's buttons."""

    texts: list[T] = field(default_factory=list)
    choices: list[tuple[str, T | str]] = field(default_factory=list)
    request_location: bool = False
    request_contact: bool = False
    # Says something that must not stay readable once delivered (a login link, a read-back
    # of an identity number): the outbox blanks the message's body after delivery.
    ephemeral: bool = False
    # The question numbers its options by their codes, as on paper: a typed "4" is code 4,
    # and where a channel numbers the options it shows the codes.
    coded: bool = False
