"""The forms that ship with Warga, and a translator that knows their texts."""

from __future__ import annotations

from pathlib import Path

from conversations import activity, assessment, complaint, tickets_flow, volunteers
from conversations.forms import FORMS_DIR, Form, load_form
from conversations.i18n import Translator

# Importing the flow modules above registers the functions their forms name.
_MODULES = (activity, assessment, complaint, tickets_flow, volunteers)


def builtin_forms() -> list[Form]:
    """Every workbook under ``conversations/forms``, loaded and checked."""
    return [load_form(path) for path in sorted(FORMS_DIR.glob("*.xlsx"))]


def translator(directory: Path | None = None) -> Translator:
    """The message catalogs plus the texts of every shipped form."""
    tr = Translator(directory)
    for form in builtin_forms():
        tr.add_texts(form.texts, form.flow.source or form.flow.id)
    return tr
