"""The message template (``locales/messages.pot``) with Babel: keys the code says with
``T("…")`` and the texts of the XLSForm workbooks, for translators' tools."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import write_po

from conversations.forms import extract_xlsform
from conversations.i18n import locales_dir

ROOT = Path(__file__).resolve().parent.parent
# The workbooks' method by its import path: no installed entry point is needed here
# (``pybabel`` with babel.cfg uses the ``xlsform`` entry point of pyproject.toml).
METHODS = [
    ("conversations/forms/**.xlsx", f"{extract_xlsform.__module__}:{extract_xlsform.__name__}"),
    ("bot/**.py", "python"),
    ("conversations/**.py", "python"),
    ("handlers/**.py", "python"),
]


def extract_template(out: Path | None = None) -> Path:
    catalog = Catalog(project="warga", fuzzy=False)
    # Keys built from data (f"status.{…}") are expected; Babel writes a warning for each.
    with contextlib.redirect_stderr(io.StringIO()):
        messages = list(extract_from_dir(
            str(ROOT), METHODS, keywords={"T": None, "InvalidAnswer": None},
            options_map={}, strip_comment_tags=True,
        ))
    for filename, lineno, message, comments, context in messages:
        catalog.add(message, locations=[(filename, lineno)], auto_comments=comments,
                    context=context)
    out = out or locales_dir() / "messages.pot"
    with out.open("wb") as fh:
        # No source locations: the template changes only when a message does.
        write_po(fh, catalog, width=100, no_location=True, omit_header=True,
                 sort_output=True)
    return out
