"""A form that is a feature by itself: a workbook with a command, a menu entry and a
reference number, its answers kept as submissions. Adding one is one line:
``FormFeature(path)`` (or a workbook in ``WARGA_FORMS_DIR``)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from bot.feature import Command, Context, FeatureContext, FeatureSpec, FormUse, MenuItem
from conversations.forms import Form, load_form
from conversations.i18n import T
from conversations.tickets import ALPHABET
from storage.repos_forms import FormRepo


class FormFeature:
    """Runs one workbook: ``chat::command`` words start it, ``chat::menu`` names its menu
    entry, ``chat::roles`` limits who may, ``chat::done`` is said with the reference."""

    def __init__(self, form: Form | Path | str) -> None:
        self.form = form if isinstance(form, Form) else load_form(form)
        self.name = f"form:{self.form.flow.id}"
        self._app: FeatureContext | None = None

    @property
    def flow_id(self) -> str:
        return self.form.flow.id

    def spec(self) -> FeatureSpec:
        words = self.form.words("command")
        roles = frozenset(self.form.words("roles")) or None
        menu_key = self.form.setting_text("menu")
        return FeatureSpec(
            name=self.name,
            forms=(FormUse(self.form, self._save),),
            commands=(Command(words, self._start, roles=roles),) if words else (),
            menu=(MenuItem(self.flow_id, T(menu_key), self._start_from_menu, roles),)
            if menu_key else (),
        )

    def bind(self, app: FeatureContext) -> None:
        self._app = app

    async def _start(self, ctx: Context, args: str) -> None:
        await ctx.start_or_offer(self.flow_id)

    async def _start_from_menu(self, ctx: Context) -> None:
        await ctx.start_or_offer(self.flow_id)

    def _new_ref(self) -> str:
        prefix = str(self.form.settings.get("ref_prefix") or self.flow_id[:3]).upper()
        return f"{prefix}-" + "".join(secrets.choice(ALPHABET) for _ in range(5))

    async def _save(self, ctx: Context, answers: dict[str, Any]) -> list[T]:
        flow = self.form.flow
        row = await FormRepo(ctx.tx.session).add(
            form_id=flow.id, form_version=flow.version, contact_id=ctx.contact.id,
            answers=answers, now=ctx.now, new_ref=self._new_ref)
        await ctx.tx.audit.add(f"{ctx.contact.channel}:{ctx.contact.id}", "form.submitted",
                               ctx.now, subject=row.ref, details={"form": flow.id})
        done = self.form.setting_text("done") or "form.saved"
        return [T(done, ref=row.ref)]


def forms_in(folder: Path | None) -> list[FormFeature]:
    """A feature for every workbook in the operator's forms folder."""
    if folder is None or not folder.is_dir():
        return []
    return [FormFeature(path) for path in sorted(folder.glob("*.xlsx"))]
