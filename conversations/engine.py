"""The flow engine: pure functions from (flow, session, input) to (session, what to say).

The caller persists the returned state — a JSON document with readable names — and
sends the reply. Nothing here does I/O, so golden transcripts are cheap.

State document (top level): ``flow``, ``version``, ``status`` (``asking``, ``check`` — an
NIK/KK read back for confirmation —, ``repeat_more`` — "add another?" —, ``confirm``,
``edit_pick``), ``step``, ``answers``, ``skipped``, ``history``, ``ctx``, ``started_at``.
A repeat group's answer is a list of dicts (``answers["anggota"] = [{...}, {...}]``); the
item being filled in lives in ``repeat`` (``group``, ``index``, and its own ``answers``,
``skipped`` and ``history``, and ``defaulted``: children its defaults answered) until it
is complete. ``defaulted`` (top level) names the questions whose default was looked at:
an edit asks them; *kembali* passes over one that was filled in and looks again after the
answer before it. NIK and No. KK answers are dicts with
the masked number and a ciphertext (``sealed``) from the caller's sealer: the number
itself is never in the state.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from conversations import parsing, qtypes
from conversations.flow import Expression, Flow, Option, Step, StepType, plain_ref
from conversations.functions import FUNCTIONS
from conversations.i18n import JAKARTA, T, Translator
from conversations.matching import clean_text, match_command, match_option, normalize
from conversations.messages import Inbound, InboundKind
from conversations.privacy import mask_ids
from conversations.prompt import Prompt
from conversations.qtypes import Answer, IdentitySealer
from conversations.xpath import Env, ExprError

__all__ = ["COMMANDS", "Engine", "IdentitySealer", "Prompt", "Turn", "mask_ids"]

# Words that work at every step (whole message, any case, with or without a leading /).
COMMANDS: dict[str, Iterable[str]] = {
    "cancel": frozenset(
        {"batal", "batalkan", "gak jadi", "ga jadi", "gajadi", "nggak jadi", "ngga jadi",
         "enggak jadi", "tidak jadi", "cancel", "stop laporan"}
    ),
    "back": frozenset({"kembali", "balik", "back", "mundur", "sebelumnya"}),
    "edit": frozenset({"ubah", "edit", "ganti", "koreksi"}),
    "skip": frozenset({"lewati", "lewat", "skip", "lewatin", "tidak ada", "gak ada", "ga ada"}),
    "help": frozenset({"bantuan", "tolong", "help", "bingung", "gimana", "caranya"}),
    # Only in flows marked pausable (a volunteer's assessment); elsewhere an ordinary answer.
    "pause": frozenset({"nanti", "nanti saja", "nanti aja", "nanti dulu", "nanti lagi",
                        "lanjut nanti", "jeda", "pause", "later", "simpan dulu"}),
}

# Refusals that mean "I could not read a date / number / place in that".
UNREADABLE = frozenset({"answer.number", "answer.date", "answer.rt_rw", "answer.kelurahan"})
# "That is all" at a repeat group: after an item, or instead of the next one.
DONE_WORDS = frozenset({"sudah", "udah", "selesai", "cukup", "done", "sudah semua",
                        "tidak ada lagi", "ga ada lagi", "gak ada lagi"})


@dataclass
class Turn:
    state: dict[str, Any] | None  # None: the flow ended (saved or cancelled)
    prompt: Prompt
    completed: dict[str, Any] | None = None
    cancelled: bool = False
    changed: bool = True
    # The user said "nanti": keep ``state`` aside and continue later.
    paused: bool = False


class Engine:
    """Runs declarative flows; needs the catalogs only to match typed labels."""

    def __init__(self, translator: Translator, expiry_hours: float = 24.0,
                 sealer: IdentitySealer | None = None) -> None:
        self.tr = translator
        self.expiry_hours = expiry_hours
        # Without a sealer only the masked form of an NIK/KK is kept.
        self.sealer = sealer

    # -- public API ------------------------------------------------------------------------

    def start(self, flow: Flow, now: datetime, ctx: dict[str, Any] | None = None, *,
              answers: dict[str, Any] | None = None, intro: list[T] | None = None,
              narrow: dict[str, list[str]] | None = None) -> Turn:
        """Begin a flow; ``answers`` already given (a one-message report) are not asked,
        and are read back at once so the person can see what was understood; ``narrow``
        offers only some options of a question first (the report fitted two)."""
        state: dict[str, Any] = {
            "flow": flow.id,
            "version": flow.version,
            "status": "asking",
            "step": None,
            "answers": {},
            "skipped": [],
            "history": [],
            "ctx": dict(ctx or {}),
            "started_at": now.isoformat(),
        }
        if narrow:
            state["narrow"] = {k: list(v) for k, v in narrow.items()}
        prompt = Prompt(texts=[*(intro or []), T(flow.title)])
        given = {k: v for k, v in (answers or {}).items() if v is not None}
        if given:
            known = {s.name for s in flow.steps}
            state["answers"] = {k: v for k, v in given.items() if k in known}
            state["history"] = [s.name for s in flow.steps if s.name in state["answers"]]
            prompt.texts.append(T("flow.understood"))
            prompt.texts.extend(self.recap(flow, state))
        return self._advance(flow, state, prompt)

    def reask(self, flow: Flow, state: dict[str, Any], intro: list[T] | None = None) -> Turn:
        """Say the current question again (after a language switch or a resume)."""
        prompt = Prompt(texts=list(intro or []))
        status = state["status"]
        if status == "confirm":
            return Turn(state, self._summary_prompt(flow, state, prompt), changed=False)
        if status == "edit_pick":
            return Turn(state, self._edit_pick_prompt(flow, state, prompt), changed=False)
        if status == "check":
            step = flow.find(state["step"])[0]
            return Turn(state, self._check_prompt(step, state["pending"], prompt), changed=False)
        if status == "repeat_more":
            group = flow.step(state["step"])
            return Turn(state, self._more_prompt(group, state, prompt), changed=False)
        return Turn(state, self._ask(flow, state, prompt), changed=False)

    def refresh(self, flow: Flow, state: dict[str, Any], intro: list[T] | None = None) -> Turn:
        """Work out the next question again after the caller changed ``ctx`` (a duplicate
        found in the database makes a question relevant) or loaded an older draft."""
        state = _copy(state)
        state["version"] = flow.version
        if state["status"] == "check":
            return self.reask(flow, state, intro)
        state.pop("edit_scope", None)
        return self._advance(flow, state, Prompt(texts=list(intro or [])))

    def recap(self, flow: Flow, state: dict[str, Any]) -> list[T]:
        """Lines 'Title: answer' for what has been answered so far."""
        lines = []
        for step in flow.steps:
            if step.name in state["answers"]:
                answer = state["answers"][step.name]
                if step.type == StepType.REPEAT:
                    assert step.repeat is not None
                    if answer and step.repeat.count_step is None:
                        # With a count step the number is already in the summary.
                        lines.append(T("flow.summary_line", title=T(step.title),
                                       value=len(answer)))
                    lines.extend(self._item_lines(step, answer))
                    continue
                if step.type != StepType.CALCULATE and not qtypes.get(step.type).in_summary:
                    continue
                value: Any = self.display(step, answer)
            elif step.name in state["skipped"]:
                value = T("flow.skipped")
            else:
                continue
            lines.append(T("flow.summary_line", title=T(step.title), value=value))
        return lines

    def resume(self, flow: Flow, state: dict[str, Any], inbound: Inbound, now: datetime) -> Turn:
        state = _copy(state)
        text = clean_text(inbound.text or "") if inbound.kind == InboundKind.TEXT else ""
        command = match_command(text, COMMANDS) if text else None
        status = state["status"]
        if command is None and inbound.choice_id == f"{state.get('step')}:__skip":
            command = "skip"
        if command == "pause" and not flow.pausable:
            command = None
        if command == "skip" and status == "asking" and self._is_option_word(flow, state, text):
            # "tidak ada" is also the label of a "none of these" option: the answer wins.
            command = None
        if command == "cancel":
            return Turn(None, Prompt(texts=[T(flow.cancelled)]), cancelled=True)
        if command == "help":
            return self._unchanged(flow, state, [T("flow.help")])
        if command == "pause":
            return Turn(state, Prompt(texts=[T("flow.paused")]), paused=True)
        if status == "confirm":
            return self._on_confirm(flow, state, inbound, text, command)
        if status == "edit_pick":
            return self._on_edit_pick(flow, state, inbound, text, command)
        if status == "repeat_more":
            return self._on_more(flow, state, inbound, text, command)
        if status == "check":
            if command != "skip":
                return self._on_check(flow, state, inbound, text, command, now)
            # "lewati" while a number is read back skips the (optional) question itself.
            state.pop("pending", None)
            state["status"] = "asking"
        if command == "back":
            return self._back(flow, state)
        if command == "edit":
            return self._unchanged(flow, state, [T("flow.edit_later")])
        if command is None and text:
            fewer = self._fewer_items(flow, state, text)
            if fewer is not None:
                return fewer
        step, group = flow.find(state["step"])
        box = _box(state, group)
        if command is None and text and not step.required and self._means_skip(step, text):
            command = "skip"
        if command is None and inbound.media is not None and inbound.media.kind == "photo" \
                and step.type != StepType.IMAGE:
            photo_step = self._open_photo_step(flow, state)
            if photo_step is not None:
                # A photo sent while another question is open belongs to the report's photo.
                state["answers"][photo_step.name] = inbound.media.as_dict()
                state["skipped"] = [s for s in state["skipped"] if s != photo_step.name]
                return Turn(state, self._ask(flow, state, Prompt(texts=[T("flow.photo_kept")])))
        if command == "skip":
            if step.required:
                return self._unchanged(flow, state, [T("flow.required")])
            _drop(step, box)
            box["skipped"] = sorted({*box["skipped"], step.name})
            box["history"].append(step.name)
            state.pop("editing", None)
            return self._advance(flow, state, Prompt())
        if step.params.get("with") and text and not inbound.choice_id:
            both = self._accept_with(flow, state, step, group, inbound, text, now)
            if both is not None:
                return both
        together = step.params.get("together")
        if together and group is None and text and not inbound.choice_id \
                and state.get("together") == together:
            parts = _parts(text)
            if len(parts) > 1:
                turn = self._accept_together(flow, state, inbound, parts, now)
                if turn is not None:
                    return turn
        try:
            value, echo = self._parse(flow, state, step, inbound, text, now)
        except parsing.InvalidAnswer as err:
            if err.reason == "answer.which_one":
                return self._which_one(state, step, list(err.params["candidates"]))
            if not step.required and err.reason in UNREADABLE and text:
                # An optional question answered in words that say no date or number
                # ("semua warga RW sini"): passed over kindly, not asked again.
                _drop(step, box)
                box["skipped"] = sorted({*box["skipped"], step.name})
                box["history"].append(step.name)
                return self._advance(flow, state, Prompt(texts=[T("flow.skipped_unclear")]))
            return self._unchanged(flow, state, [T(err.reason, **err.params)])
        return self._take(flow, state, step, group, value, echo, now)

    def _take(self, flow: Flow, state: dict[str, Any], step: Step, group: Step | None,
              value: Any, echo: list[T], now: datetime) -> Turn:
        """Accept a parsed answer; an identity number is read back with the next question,
        not as a question of its own: a wrong number shows in the sex or birth date read
        from it, and "kembali" retypes it."""
        line = qtypes.get(step.type).readback(step, value) if step.confirm else None
        turn = self._accept(flow, state, step, group, value,
                            [*echo, *([line] if line is not None else [])], now)
        if line is not None:
            turn.prompt.ephemeral = True
        return turn

    def _accept_with(self, flow: Flow, state: dict[str, Any], step: Step, group: Step | None,
                     inbound: Inbound, text: str, now: datetime) -> Turn | None:
        """Two answers in one message, for a question with ``chat::with`` (a name and its
        NIK, an RT/RW and the landmark). None when the message holds only one."""
        other, other_group = flow.find(step.params["with"])
        if other_group is not group:
            return None
        split = qtypes.get(other.type).find(text)
        if split is not None:
            theirs, mine = split
        else:
            split = qtypes.get(step.type).find(text)
            if split is None:
                return None
            mine, theirs = split
        if not mine or not theirs:
            return None
        try:
            value, echo = self._parse(flow, state, step, inbound, mine, now)
        except parsing.InvalidAnswer as err:
            # Not the whole message as this answer: it would keep the number inside it.
            return self._unchanged(flow, state, [T(err.reason, **err.params)])
        turn = self._take(flow, state, step, group, value, echo, now)
        if turn.state is None or turn.state.get("status") != "asking" \
                or turn.state.get("step") != other.name:
            return turn
        try:
            value, echo = self._parse(flow, turn.state, other, inbound, theirs, now)
        except parsing.InvalidAnswer as err:
            # The second answer is asked on its own, saying why it did not fit.
            turn.prompt.texts.insert(0, T(err.reason, **err.params))
            return turn
        return self._take(flow, turn.state, other, group, value, echo, now)

    def _accept_together(self, flow: Flow, state: dict[str, Any], inbound: Inbound,
                         parts: list[str], now: datetime) -> Turn | None:
        """Answers typed in order to a field-list prompt ("keramik, tembok, seng"): each
        part answers the next question of the group; the first that does not fit is asked
        again on its own. None when even the first part fits nothing."""
        together = flow.step(state["step"]).params["together"]
        got: list[T] = []
        turn: Turn | None = None
        left: list[str] = []
        for n, part in enumerate(parts):
            step = flow.step(state["step"]) if state.get("step") else None
            if step is None or state["status"] != "asking" \
                    or step.params.get("together") != together:
                left = parts[n:]
                break
            try:
                value, _ = self._parse(flow, state, step, inbound, part, now)
            except parsing.InvalidAnswer as err:
                if turn is None:
                    return None
                if err.reason == "answer.which_one":
                    turn = self._which_one(state, step, list(err.params["candidates"]))
                    turn.changed = True
                else:
                    turn.prompt.texts.insert(0, T(err.reason, **err.params))
                break
            got.append(T("flow.pair", title=T(step.title), value=self.display(step, value)))
            turn = self._accept(flow, state, step, None, value, [], now)
            if turn.state is None:
                return turn
            state = turn.state
        assert turn is not None
        answers: T | str = "-"
        for pair in reversed(got):
            answers = pair if answers == "-" else T("together.options", first=pair, rest=answers)
        turn.prompt.texts.insert(0, T("together.recorded", answers=answers))
        if left:
            # More answers than questions: said, not taken for the next question.
            turn.prompt.texts.insert(1, T("together.left", extra=", ".join(left)[:200]))
        return turn

    def _fewer_items(self, flow: Flow, state: dict[str, Any], text: str) -> Turn | None:
        """"sudah" (or "tidak") at the first, typed question of an item begun because a size
        was stated: there are fewer than said, and the count check offers to correct it."""
        rep = state.get("repeat")
        if rep is None or not rep.get("index") or rep["history"] or rep.get("edit"):
            return None
        group = flow.step(rep["group"])
        if self._expected_count(group, state) is None or (
            flow.find(state["step"])[0].type != StepType.TEXT
        ):
            return None
        done = normalize(text) in DONE_WORDS
        yes = parsing.parse_yes_no(text)
        if yes is True and not done:
            # The habit of "add another? ya": this item has begun already; not a name.
            assert group.repeat is not None
            return self._unchanged(flow, state, [T("repeat.started", noun=T(group.repeat.noun))])
        if not done and yes is not False:
            return None
        state["repeat"] = {"group": group.name, "index": None, "mismatch": True}
        state["status"] = "repeat_more"
        state["step"] = group.name
        return Turn(state, self._more_prompt(group, state, Prompt()))

    def _means_skip(self, step: Step, text: str) -> bool:
        """An optional question passed over in words people use ("ga ada", "skip", "-",
        "ga tau"), or with the number of the skip button when it is the only one shown."""
        if parsing.is_skip(text) or parsing.is_dont_know(text):
            return not self._is_option_word_of(step, text)
        qtype = qtypes.get(step.type)
        if not qtype.has_choices and parsing.parse_yes_no(text) is False:
            return True  # "tidak usah" to an optional number or text: nothing to give
        numeric = step.type in (StepType.INTEGER, StepType.DECIMAL)
        return not qtype.has_choices and not numeric and text.strip() == "1"

    def _open_photo_step(self, flow: Flow, state: dict[str, Any]) -> Step | None:
        scope = self._scope(state)
        day = _flow_day(state)
        for step in flow.steps:
            if step.type == StepType.IMAGE and step.name not in state["answers"] and (
                step.relevant is None or _holds(step.relevant, scope, day)
            ):
                return step
        return None

    @staticmethod
    def _which_one(state: dict[str, Any], step: Step, values: list[str]) -> Turn:
        """The reply fits several options: ask which, with only those as buttons."""
        choices: list[tuple[str, T | str]] = [
            (f"{step.name}:{v}", T(opt.label)) for v in values if (opt := step.option(v))]
        return Turn(state, Prompt(texts=[T("answer.which_one")], choices=choices),
                    changed=False)

    def display(self, step: Step, value: Any) -> qtypes.Display:
        """An answer as the user should read it back."""
        if step.type == StepType.REPEAT:
            return len(value)
        return qtypes.get(step.type).display(step, value)

    # -- states ----------------------------------------------------------------------------

    def _accept(self, flow: Flow, state: dict[str, Any], step: Step, group: Step | None,
                value: Any, echo: list[T], now: datetime) -> Turn:
        """Store an answer (and what it derives), then move on."""
        box = _box(state, group)
        box["answers"][step.name] = value
        (state.get("narrow") or {}).pop(step.name, None)
        _derive(step, box["answers"])
        box["skipped"] = [s for s in box["skipped"] if s != step.name]
        box["history"].append(step.name)
        state.pop("editing", None)
        if step.timestamp:
            state.setdefault("times", {})[step.name] = now.isoformat()
        if group is None and step.finish_if is not None and _holds(
            step.finish_if, self._scope(state), _flow_day(state)
        ):
            return Turn(None, Prompt(texts=echo), completed=self._completed(flow, state))
        return self._advance(flow, state, Prompt(texts=echo))

    def _on_confirm(
        self, flow: Flow, state: dict[str, Any], inbound: Inbound, text: str, command: str | None
    ) -> Turn:
        choice = inbound.choice_id
        answer: bool | None = None
        if choice in ("confirm:yes", "confirm:no", "confirm:cancel"):
            if choice == "confirm:cancel":
                return Turn(None, Prompt(texts=[T(flow.cancelled)]), cancelled=True)
            answer = choice == "confirm:yes"
        elif text:
            answer = parsing.parse_yes_no(text)
            if answer is None and normalize(text) in {"kirim", "simpan", "send"}:
                answer = True
        if command in ("edit", "back") or answer is False:
            state["status"] = "edit_pick"
            state.pop("edit_scope", None)
            return Turn(state, self._edit_pick_prompt(flow, state, Prompt()))
        if answer is True:
            return Turn(None, Prompt(), completed=self._completed(flow, state))
        return self._unchanged(flow, state, [T("flow.confirm_hint")])

    def _on_check(self, flow: Flow, state: dict[str, Any], inbound: Inbound, text: str,
                  command: str | None, now: datetime) -> Turn:
        """An NIK/KK was read back: 'ya' keeps it, 'tidak' asks again, a new number is read."""
        step, group = flow.find(state["step"])
        answer: bool | None = None
        if inbound.choice_id:
            answer = {f"{step.name}:__ok": True, f"{step.name}:__retry": False}.get(
                inbound.choice_id)
            if answer is None:
                return self._unchanged(flow, state, [T("flow.stale_button")])
        elif command == "back":
            answer = False
        elif text:
            answer = parsing.parse_yes_no(text)
            if answer is None and any(ch.isdigit() for ch in text):
                try:
                    value, echo = self._parse(flow, state, step, inbound, text, now)
                except parsing.InvalidAnswer as err:
                    return self._unchanged(flow, state, [T(err.reason, **err.params)])
                state["pending"] = value
                return Turn(state, self._check_prompt(step, value, Prompt(texts=echo)))
        if answer is None:
            return self._unchanged(flow, state, [T("flow.check_hint")])
        value = state.pop("pending")
        state["status"] = "asking"
        if answer:
            return self._accept(flow, state, step, group, value, [], now)
        return Turn(state, self._ask(flow, state, Prompt(texts=[T("flow.check_retype")])))

    def _on_more(
        self, flow: Flow, state: dict[str, Any], inbound: Inbound, text: str, command: str | None
    ) -> Turn:
        """After an item: add another, or close the group (checking the stated count)."""
        group = flow.step(state["step"])
        assert group.repeat is not None
        action: str | None = None
        if inbound.choice_id:
            prefix, _, value = inbound.choice_id.partition(":")
            if prefix != group.name or value not in ("__add", "__done", "__fix", "__drop"):
                return self._unchanged(flow, state, [T("flow.stale_button")])
            action = value[2:]
        elif command == "back":
            return self._more_back(flow, state)
        elif command == "skip":
            action = "done"
        elif text:
            yes = parsing.parse_yes_no(text)
            if yes is not None:
                action = "add" if yes else "done"
            elif normalize(text) in {"tambah", "tambah lagi", "add", "lagi"}:
                action = "add"
            elif normalize(text) in DONE_WORDS:
                action = "done"
        if action is None:
            return self._unchanged(flow, state, [T("repeat.hint")])
        items: list[dict[str, Any]] = state["answers"][group.name]
        if action == "add":
            state["repeat"] = self._new_item(flow, group, state, len(items))
            return self._advance(flow, state, Prompt())
        if action == "drop" and items:
            items.pop()
            state["repeat"] = {"group": group.name, "index": None,
                               "mismatch": self._count_mismatch(group, state)}
            return self._advance(flow, state, Prompt())
        if action == "fix" and group.repeat.count_step is not None:
            state["answers"][group.repeat.count_step] = len(items)
        elif self._count_mismatch(group, state):
            state["repeat"]["mismatch"] = True
            return Turn(state, self._more_prompt(group, state, Prompt()))
        state.pop("repeat", None)
        state["history"].append(group.name)
        return self._advance(flow, state, Prompt())

    def _on_edit_pick(
        self, flow: Flow, state: dict[str, Any], inbound: Inbound, text: str, command: str | None
    ) -> Turn:
        path = state.get("edit_scope")
        if inbound.choice_id == "edit:__summary" or (command == "back" and path is None):
            state.pop("edit_scope", None)
            state["status"] = "confirm"
            return Turn(state, self._summary_prompt(flow, state, Prompt()))
        if command == "back":
            # One level up: a member's answers → the list of members → every answer.
            assert path is not None
            up = path.rsplit(".", 1)[0] if "." in path else None
            state["edit_scope"] = up
            if up is None:
                state.pop("edit_scope")
            return Turn(state, self._edit_pick_prompt(flow, state, Prompt()))
        options = self._edit_options(flow, state)
        picked: str | None = None
        if inbound.choice_id and inbound.choice_id.startswith("edit:"):
            picked = inbound.choice_id.removeprefix("edit:")
        elif text:
            picked = match_option(text, [(p, words) for p, _, words in options])
        if picked not in {p for p, _, _ in options}:
            return self._unchanged(flow, state, [T("answer.choice_unknown", count=len(options))])
        assert picked is not None
        return self._edit_go(flow, state, picked)

    def _edit_go(self, flow: Flow, state: dict[str, Any], picked: str) -> Turn:
        parts = picked.split(".")
        state.pop("edit_scope", None)
        if len(parts) == 1:
            step = flow.step(picked)
            if step.type == StepType.REPEAT:
                state["edit_scope"] = picked
                return Turn(state, self._edit_pick_prompt(flow, state, Prompt()))
            state["editing"] = {"step": picked, "previous": state["answers"].pop(picked, None)}
            state["skipped"] = [s for s in state["skipped"] if s != picked]
            state["status"] = "asking"
            state["step"] = picked
            return Turn(state, self._ask(flow, state, Prompt()))
        group = flow.step(parts[0])
        items: list[dict[str, Any]] = state["answers"][group.name]
        if parts[1] == "+":
            state["repeat"] = self._new_item(flow, group, state, len(items))
            return self._advance(flow, state, Prompt())
        index = int(parts[1]) - 1
        if len(parts) == 2:
            state["edit_scope"] = picked
            return Turn(state, self._edit_pick_prompt(flow, state, Prompt()))
        if parts[2] == "-":
            del items[index]
            return self._advance(flow, state, Prompt())
        rep = self._reopen(group, index, items[index], edit=True)
        child = parts[2]
        previous = rep["answers"].pop(child, None)
        rep["skipped"] = [s for s in rep["skipped"] if s != child]
        state["repeat"] = rep
        state["editing"] = {"step": child, "previous": previous, "group": group.name,
                            "index": index}
        state["status"] = "asking"
        state["step"] = child
        return Turn(state, self._ask(flow, state, Prompt()))

    def _back(self, flow: Flow, state: dict[str, Any]) -> Turn:
        editing = state.pop("editing", None)
        if editing:
            if editing.get("group") is not None:
                # Back out of a member's edit: the list still holds the member as it was.
                state.pop("repeat", None)
                return self._advance(flow, state, Prompt())
            # Back out of an edit: restore the old answer and show the summary again.
            if editing["previous"] is None:
                state["skipped"] = sorted({*state["skipped"], editing["step"]})
            else:
                state["answers"][editing["step"]] = editing["previous"]
            return self._advance(flow, state, Prompt())
        rep = state.get("repeat")
        if rep is not None and rep.get("index") is not None:
            return self._back_in_item(flow, state)
        history: list[str] = state["history"]
        while history:
            previous = history.pop()
            step = flow.step(previous)
            if step.type == StepType.REPEAT and previous in state["answers"]:
                state["repeat"] = {"group": previous, "index": None}
                state["step"] = previous
                if self._expected_count(step, state) is not None \
                        and state["answers"][previous]:
                    # Its size was stated: back to the last item's last answer.
                    return self._more_back(flow, state)
                # Back into a finished group: "add another?" again, nothing is lost.
                state["status"] = "repeat_more"
                return Turn(state, self._more_prompt(step, state, Prompt()))
            if previous in state["answers"] or previous in state["skipped"]:
                _drop(step, state)
                state["skipped"] = [s for s in state["skipped"] if s != previous]
                if previous in state.get("defaulted", []):
                    # Filled in, not asked: back goes on to the question before it, and
                    # the default follows that answer again.
                    state["defaulted"].remove(previous)
                    continue
                return self._advance(flow, state, Prompt())
        return self._unchanged(flow, state, [T("flow.first_step")])

    def _back_in_item(self, flow: Flow, state: dict[str, Any]) -> Turn:
        rep = state["repeat"]
        group = flow.step(rep["group"])
        while rep["history"]:
            previous = rep["history"].pop()
            if previous in rep["answers"] or previous in rep["skipped"]:
                _drop(flow.find(previous)[0], rep)
                rep["skipped"] = [s for s in rep["skipped"] if s != previous]
                return self._advance(flow, state, Prompt())
        items = state["answers"].get(group.name) or []
        if rep.get("edit") or (rep["index"] == 0 and not items):
            # Before the group's first question: leave the group and go back further.
            state.pop("repeat")
            if not items:
                state["answers"].pop(group.name, None)
            return self._back(flow, state)
        if self._expected_count(group, state) is not None and items:
            # No "add another?" was asked: back goes to the previous item's last answer.
            state["repeat"] = {"group": group.name, "index": None}
            state["step"] = group.name
            return self._more_back(flow, state)
        state["repeat"] = {"group": group.name, "index": None}
        return self._advance(flow, state, Prompt())

    def _more_back(self, flow: Flow, state: dict[str, Any]) -> Turn:
        group = flow.step(state["step"])
        rep = state["repeat"]
        if rep.pop("mismatch", False):
            return Turn(state, self._more_prompt(group, state, Prompt()))
        items: list[dict[str, Any]] = state["answers"][group.name]
        if not items:
            state.pop("repeat")
            state["answers"].pop(group.name)
            return self._back(flow, state)
        # Back into the last item: its last question is asked again.
        last = items.pop()
        state["repeat"] = self._reopen(group, len(items), last, edit=False)
        return self._back_in_item(flow, state)

    def _advance(self, flow: Flow, state: dict[str, Any], prompt: Prompt) -> Turn:
        """Ask the first relevant step without an answer; when none is left, the summary."""
        day = _flow_day(state)
        rep = state.get("repeat")
        if rep is not None and rep.get("index") is not None:
            group = flow.step(rep["group"])
            child = self._next_in_item(group, state, day)
            if child is not None:
                state["status"] = "asking"
                state["step"] = child.name
                return Turn(state, self._ask(flow, state, prompt))
            self._close_item(flow, group, state)
        scope = self._scope(state)
        nxt: Step | None = None
        mode: str | None = None
        for step in flow.steps:
            relevant = step.relevant is None or _holds(step.relevant, scope, day)
            if not relevant:
                # An earlier answer changed: answers to steps that no longer apply go.
                if step.name in state["answers"]:
                    _drop(step, state)
                    scope.pop(step.name, None)
                if step.name in state["skipped"]:
                    state["skipped"] = [s for s in state["skipped"] if s != step.name]
                if (state.get("repeat") or {}).get("group") == step.name:
                    state.pop("repeat")
                continue
            if step.type == StepType.CALCULATE:
                if step.context is not None:
                    continue  # what the caller knows is in scope as ``_<context>``
                _set_or_drop(state["answers"], step.name, self._calculate(step, scope, day))
                scope[step.name] = state["answers"].get(step.name)
                continue
            if step.type == StepType.NOTE:
                if nxt is None and step.name not in state.get("notes", []):
                    # A note is said on the way to the next question, once.
                    state.setdefault("notes", []).append(step.name)
                    prompt.texts.append(T(step.label, **self._label_params(step, state)))
                continue
            if step.type == StepType.REPEAT:
                if step.name in state["answers"]:
                    self._refresh_items(step, state, scope, day)
                if nxt is None:
                    mode = self._repeat_pending(step, state, scope, day)
                    if mode is not None:
                        nxt = step
                continue
            if nxt is None and step.name not in state["answers"] and (
                step.name not in state["skipped"]
            ) and self._to_ask(flow, step, state):
                if self._take_default(flow, state, step, scope, day, prompt):
                    continue
                nxt = step
        if nxt is not None and nxt.type == StepType.REPEAT:
            return self._enter_repeat(flow, nxt, state, scope, prompt, mode, day)
        if nxt is not None:
            state["status"] = "asking"
            state["step"] = nxt.name
            return Turn(state, self._ask(flow, state, prompt))
        state["status"] = "confirm"
        state["step"] = None
        return Turn(state, self._summary_prompt(flow, state, prompt))

    def _take_default(self, flow: Flow, state: dict[str, Any], step: Step,
                      scope: dict[str, Any], day: date, prompt: Prompt) -> bool:
        """A question whose default reads is answered with it, once (an edit from the
        summary asks it). The answer is said with the next question."""
        if step.default is None or step.name in state.get("defaulted", []):
            return False
        state.setdefault("defaulted", []).append(step.name)
        value = self._read_default(flow, state, step, scope, day)
        if value is None:
            return False
        state["answers"][step.name] = value
        _derive(step, state["answers"])
        state["history"].append(step.name)
        scope[step.name] = value
        prompt.texts.append(T("flow.defaulted", title=T(step.title),
                              value=self.display(step, value)))
        return True

    def _read_default(self, flow: Flow, state: dict[str, Any], step: Step,
                      scope: dict[str, Any], day: date, position: int | None = None) -> Any:
        """A default read as if typed (a code, a kelurahan code, a number); None when it
        is empty or does not fit the question."""
        assert step.default is not None
        try:
            raw = _plain(step.default.evaluate(_env(scope, day, position=position)))
        except ExprError:
            return None
        if raw in (None, "") or isinstance(raw, bool):
            return None
        text = str(raw)
        inbound = Inbound(channel="form", user_id="", message_id="", text=text)
        offered = self._offered(step, scope, day)
        answer = Answer(offered, inbound, text, datetime.fromisoformat(state["started_at"]),
                        words=self._words, sealer=self.sealer,
                        mask_text=flow.mask_ids_in_text)
        try:
            value, _ = qtypes.get(step.type).parse(answer)
        except parsing.InvalidAnswer:
            return None
        if step.constraint is not None and not _holds(step.constraint, scope, day,
                                                      current=value):
            return None
        return value

    @staticmethod
    def _to_ask(flow: Flow, step: Step, state: dict[str, Any]) -> bool:
        """Whether an unanswered question is asked at all: not one that is only accepted
        when sent (``chat::ask`` = no: a photo), nor one that only fills answers already
        known (a one-message report gave the kelurahan its place question would)."""
        if step.params.get("ask") == "no":
            return False
        if step.derive:
            targets = [flow.find(d.target)[0] for d in step.derive]
            needed = [t.name for t in targets if t.required] or [t.name for t in targets]
            if all(name in state["answers"] for name in needed):
                return False
        return True

    def _unchanged(self, flow: Flow, state: dict[str, Any], texts: list[T]) -> Turn:
        turn = self.reask(flow, state, texts)
        turn.changed = False
        return turn

    # -- repeat groups ---------------------------------------------------------------------

    def _enter_repeat(self, flow: Flow, group: Step, state: dict[str, Any],
                      scope: dict[str, Any], prompt: Prompt, mode: str | None,
                      day: date) -> Turn:
        if mode == "start":
            state["answers"][group.name] = []
            state["repeat"] = self._new_item(flow, group, state, 0)
            return self._advance(flow, state, prompt)
        if mode == "reopen":
            items = state["answers"][group.name]
            index = self._incomplete_item(group, items, scope, day)
            assert index is not None
            state["repeat"] = self._reopen(group, index, items[index], edit=True)
            return self._advance(flow, state, prompt)
        if mode == "item":
            return self._advance(flow, state, prompt)
        if mode == "mismatch":
            state["repeat"] = {"group": group.name, "index": None, "mismatch": True}
        state["status"] = "repeat_more"
        state["step"] = group.name
        return Turn(state, self._more_prompt(group, state, prompt))

    def _repeat_pending(self, group: Step, state: dict[str, Any], scope: dict[str, Any],
                        day: date) -> str | None:
        """Why a relevant repeat group needs the user now, or None when it is done."""
        rep = state.get("repeat")
        if rep is not None and rep["group"] == group.name:
            return "more" if rep.get("index") is None else "item"
        items = state["answers"].get(group.name)
        if items is None:
            return None if group.name in state["skipped"] else "start"
        if self._incomplete_item(group, items, scope, day) is not None:
            return "reopen"
        if self._count_mismatch(group, state):
            return "mismatch"
        return None

    def _new_item(self, flow: Flow, group: Step, state: dict[str, Any],
                  index: int) -> dict[str, Any]:
        item: dict[str, Any] = {}
        if index == 0:
            self._seed(group, state, item)
        rep: dict[str, Any] = {"group": group.name, "index": index, "answers": item,
                               "skipped": [], "history": [], "edit": False}
        defaulted = self._item_defaults(flow, group, state, item, index)
        if defaulted:
            rep["defaulted"] = defaulted
        return rep

    def _item_defaults(self, flow: Flow, group: Step, state: dict[str, Any],
                       item: dict[str, Any], index: int) -> list[str]:
        """Defaults of a new item, as form tools evaluate them when an item is added
        (``position(..)`` is its number): each that reads is an answer not asked."""
        assert group.repeat is not None
        day = _flow_day(state)
        taken = []
        for child in group.repeat.children:
            if child.default is None or child.name in item:
                continue
            scope = {**self._scope(state), **item}
            value = self._read_default(flow, state, child, scope, day, position=index + 1)
            if value is not None:
                item[child.name] = value
                _derive(child, item)
                taken.append(child.name)
        return taken

    def _reopen(self, group: Step, index: int, item: dict[str, Any], *,
                edit: bool) -> dict[str, Any]:
        """A finished item made current again; its history is rebuilt in flow order."""
        assert group.repeat is not None
        item = _copy(item)
        fixed = _derived(group.repeat.children, item) | (
            group.repeat.seeded() if index == 0 else set())
        children = group.repeat.children
        return {
            "group": group.name,
            "index": index,
            "answers": item,
            "skipped": [c.name for c in children if not c.required and c.name not in item],
            "history": [c.name for c in children if c.name in item and c.name not in fixed
                        and c.type != StepType.CALCULATE],
            "edit": edit,
        }

    def _seed(self, group: Step, state: dict[str, Any], item: dict[str, Any]) -> None:
        """Fill the first item from earlier answers (the head of household is member 1)."""
        assert group.repeat is not None
        scope = self._scope(state)
        for child_name, source in group.repeat.seed:
            child = next(c for c in group.repeat.children if c.name == child_name)
            ref = plain_ref(source)
            # A plain reference copies the answer whole (an identity number stays sealed).
            value = scope.get(ref) if ref is not None else _plain(
                source.evaluate(_env(scope, _flow_day(state))))
            if value in (None, ""):
                _drop(child, {"answers": item})
                continue
            item[child_name] = _copy(value) if isinstance(value, dict | list) else value
            _derive(child, item)

    def _walk_item(self, group: Step, state: dict[str, Any], item: dict[str, Any],
                   skipped: list[str], day: date) -> Step | None:
        """Prune answers that no longer apply, compute calculations, find the next child."""
        assert group.repeat is not None
        scope = {**self._scope(state), **item}
        nxt: Step | None = None
        for child in group.repeat.children:
            if child.relevant is not None and not _holds(child.relevant, scope, day):
                if child.name in item:
                    _drop(child, {"answers": item})
                    scope.pop(child.name, None)
                if child.name in skipped:
                    skipped.remove(child.name)
                continue
            if child.type == StepType.CALCULATE and child.context is None:
                _set_or_drop(item, child.name, self._calculate(child, scope, day))
                scope[child.name] = item.get(child.name)
                continue
            if child.type == StepType.NOTE:
                continue
            if nxt is None and child.name not in item and child.name not in skipped and (
                not _retain_refused(child, scope, day)
            ):
                nxt = child
        return nxt

    def _next_in_item(self, group: Step, state: dict[str, Any], day: date) -> Step | None:
        rep = state["repeat"]
        if rep["index"] == 0:
            self._seed(group, state, rep["answers"])
        return self._walk_item(group, state, rep["answers"], rep["skipped"], day)

    def _close_item(self, flow: Flow, group: Step, state: dict[str, Any]) -> None:
        """The current item is complete: into the list; then "add another?" (or done)."""
        rep = state["repeat"]
        item = rep["answers"]
        self._retain(group, state, item)
        items = state["answers"].setdefault(group.name, [])
        if rep["index"] < len(items):
            items[rep["index"]] = item
        else:
            items.append(item)
        if rep.get("edit"):
            state.pop("repeat")
            return
        expected = self._expected_count(group, state)
        if expected is not None and len(items) < expected:
            # The size was stated: the next item starts without "add another?".
            state["repeat"] = self._new_item(flow, group, state, len(items))
        elif expected is not None and len(items) == expected:
            state.pop("repeat")
            state["history"].append(group.name)
        else:
            state["repeat"] = {"group": group.name, "index": None}

    def _retain(self, group: Step, state: dict[str, Any], item: dict[str, Any]) -> None:
        assert group.repeat is not None
        scope = {**self._scope(state), **item}
        day = _flow_day(state)
        for child in group.repeat.children:
            if child.retain is not None and child.name in item and not _holds(
                child.retain, scope, day
            ):
                # Data minimisation: what it derived (a birth date) stays, the answer goes.
                del item[child.name]

    def _refresh_items(self, group: Step, state: dict[str, Any], scope: dict[str, Any],
                       day: date) -> None:
        """Finished items follow changes elsewhere (the head's NIK, consent withdrawn)."""
        for index, item in enumerate(state["answers"][group.name]):
            if index == 0:
                self._seed(group, state, item)
            self._walk_item(group, state, item, [], day)
            self._retain(group, state, item)

    def _incomplete_item(self, group: Step, items: list[dict[str, Any]],
                         scope: dict[str, Any], day: date) -> int | None:
        assert group.repeat is not None
        for index, item in enumerate(items):
            item_scope = {**scope, **item}
            for child in group.repeat.children:
                if (child.required and child.type not in (StepType.CALCULATE, StepType.NOTE)
                        and child.name not in item
                        and (child.relevant is None or _holds(child.relevant, item_scope, day))
                        and not _retain_refused(child, item_scope, day)):
                    return index
        return None

    def _expected_count(self, group: Step, state: dict[str, Any]) -> int | None:
        """How many items the repeat's count says (None when it says nothing usable)."""
        assert group.repeat is not None
        if group.repeat.count is None:
            return None
        value = _plain(group.repeat.count.evaluate(_env(self._scope(state), _flow_day(state))))
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def _count_mismatch(self, group: Step, state: dict[str, Any]) -> bool:
        expected = self._expected_count(group, state)
        items = state["answers"].get(group.name) or []
        return expected is not None and len(items) != expected

    # -- prompts ---------------------------------------------------------------------------

    def _ask(self, flow: Flow, state: dict[str, Any], prompt: Prompt) -> Prompt:
        step, group = flow.find(state["step"])
        state.pop("together", None)
        together = step.params.get("together")
        if together and group is None and "editing" not in state \
                and not (state.get("narrow") or {}).get(step.name):
            combined = self._ask_together(flow, state, step, together, prompt)
            if combined is not None:
                return combined
        if group is not None:
            assert group.repeat is not None
            rep = state["repeat"]
            item = rep["answers"]
            name = item.get(group.repeat.label_child) if group.repeat.label_child else None
            given = [c for c in rep.get("defaulted", []) if c in item]
            if not isinstance(name, str) and given:
                # Who this item is, as far as known (the relationship from the roster).
                name = self.display(flow.find(given[0])[0], item[given[0]])
            if not rep["history"] and not rep.get("edit") and "editing" not in state:
                # The first question of a new item says whose turn it is.
                heading: T = T(group.repeat.item, n=rep["index"] + 1)
                total = self._expected_count(group, state)
                if total is not None and total > 1:
                    heading = T("repeat.item_of", item=heading, total=total)
                prompt.texts.append(T("repeat.item_heading", label=heading, name=name)
                                    if isinstance(name, str | T)
                                    else T("repeat.item_heading_new", label=heading))
        prompt.texts.append(T(step.label, **self._label_params(step, state)))
        if step.hint:
            prompt.texts.append(T(step.hint))
        offered = self._offered(step, self._item_scope(state), _flow_day(state))
        narrow = (state.get("narrow") or {}).get(step.name)
        if narrow:
            # What the person said fits some options: offer those first, the rest by typing.
            offered = replace(offered, choices=tuple(o for o in offered.choices
                                                     if o.value in narrow))
            prompt.texts.append(T("answer.which_one"))
        qtypes.get(step.type).prompt(offered, prompt)
        prompt.coded = step.params.get("numbers") == "code" and bool(prompt.choices)
        if not step.required:
            prompt.texts.append(T("flow.optional_hint"))
            prompt.choices.append((f"{step.name}:__skip", T("flow.skip_button")))
        return prompt

    def _ask_together(self, flow: Flow, state: dict[str, Any], first: Step, together: str,
                      prompt: Prompt) -> Prompt | None:
        """A field-list group not begun yet: every list in one message, and the first
        question's buttons for answering one at a time."""
        members = [s for s in flow.steps if s.params.get("together") == together]
        if any(s.name in state["answers"] or s.name in state["skipped"] for s in members):
            return None
        scope, day = self._scope(state), _flow_day(state)
        inside = {s.name for s in members}
        # A question that depends on an earlier one of the group is shown: it may apply.
        shown = [s for s in members if s.relevant is None or s.relevant.refs() & inside
                 or _holds(s.relevant, scope, day)]
        if len(shown) < 2 or shown[0] is not first:
            return None
        state["together"] = together
        prompt.texts.append(T(f"{flow.id}.{together}.label"))
        for n, step in enumerate(shown, 1):
            offered = self._offered(step, scope, day)
            options: T | str = "-"
            for o in reversed(offered.choices):
                option = T("together.option", code=o.value, label=T(o.label))
                options = option if options == "-" else T("together.options", first=option,
                                                          rest=options)
            prompt.texts.append(T("together.line", n=n, title=T(step.title), options=options))
        prompt.texts.append(T("together.hint", first=T(first.title)))
        qtypes.get(first.type).prompt(self._offered(first, scope, day), prompt)
        prompt.coded = first.params.get("numbers") == "code"
        return prompt

    def _label_params(self, step: Step, state: dict[str, Any]) -> dict[str, Any]:
        """The answers a question's text shows (``${nama}``), as the person reads them."""
        if not step.label_refs:
            return {}
        flow_scope = self._item_scope(state)
        in_item = (state.get("repeat") or {}).get("index") is not None
        params: dict[str, Any] = {}
        for ref in step.label_refs:
            value = flow_scope.get(ref)
            if value in (None, "", []):
                params[ref] = T("repeat.this_one") if in_item else "…"
            elif isinstance(value, str | int):
                params[ref] = value
            else:
                params[ref] = str(value)
        return params

    def _check_prompt(self, step: Step, value: dict[str, Any], prompt: Prompt) -> Prompt:
        line = qtypes.get(step.type).readback(step, value)
        if line is not None:
            prompt.texts.append(line)
            prompt.ephemeral = True
        prompt.choices = [(f"{step.name}:__ok", T("flow.check_yes")),
                          (f"{step.name}:__retry", T("flow.check_no"))]
        return prompt

    def _more_prompt(self, group: Step, state: dict[str, Any], prompt: Prompt) -> Prompt:
        assert group.repeat is not None
        rep = group.repeat
        n = len(state["answers"].get(group.name) or [])
        expected = self._expected_count(group, state)
        noun = T(rep.noun)
        add = (f"{group.name}:__add", T("repeat.add", noun=noun))
        if (state.get("repeat") or {}).get("mismatch") and isinstance(expected, int):
            prompt.texts.append(T("repeat.mismatch", n=n, total=expected, noun=noun))
            prompt.choices = [add] if n < expected else [
                (f"{group.name}:__drop", T("repeat.drop_last", noun=noun))]
            prompt.choices.append((f"{group.name}:__fix", T("repeat.fix", n=n)))
            return prompt
        if isinstance(expected, int):
            prompt.texts.append(T("repeat.more", n=n, total=expected, noun=noun))
        else:
            prompt.texts.append(T("repeat.more_nocount", n=n, noun=noun))
        prompt.choices = [add, (f"{group.name}:__done", T("repeat.done"))]
        return prompt

    def _summary_prompt(self, flow: Flow, state: dict[str, Any], prompt: Prompt) -> Prompt:
        prompt.texts.append(T(flow.summary_intro))
        prompt.texts.extend(self.recap(flow, state))
        prompt.texts.append(T("flow.confirm_question"))
        prompt.choices = [
            ("confirm:yes", T("flow.confirm_button")),
            ("confirm:no", T("flow.edit_button")),
            ("confirm:cancel", T("flow.cancel_button")),
        ]
        return prompt

    def _edit_pick_prompt(self, flow: Flow, state: dict[str, Any], prompt: Prompt) -> Prompt:
        path = state.get("edit_scope")
        if path is None:
            prompt.texts.append(T("flow.edit_which"))
        elif "." not in path:
            group = flow.step(path)
            assert group.repeat is not None
            prompt.texts.append(T("repeat.edit_which_item", noun=T(group.repeat.noun)))
        else:
            group_name, number = path.split(".")
            group = flow.step(group_name)
            item = state["answers"][group_name][int(number) - 1]
            prompt.texts.append(T("repeat.edit_which_answer",
                                  item=self._item_label(group, int(number) - 1, item)))
        prompt.choices = [(f"edit:{p}", label) for p, label, _ in self._edit_options(flow, state)]
        prompt.choices.append(("edit:__summary", T("flow.back_to_summary")))
        return prompt

    def _edit_options(self, flow: Flow, state: dict[str, Any]) -> list[tuple[str, T, list[str]]]:
        """(path, label, words to match typed text) at the current level of the edit menu."""
        path = state.get("edit_scope")
        if path is None:
            return [(s.name, T(s.title), [*self.tr.labels(s.title), s.name])
                    for s in self._answered_steps(flow, state)]
        if "." not in path:
            group = flow.step(path)
            assert group.repeat is not None
            out = []
            for index, item in enumerate(state["answers"][path]):
                label = self._item_label(group, index, item)
                name = item.get(group.repeat.label_child or "")
                out.append((f"{path}.{index + 1}", label,
                            [str(name)] if isinstance(name, str) else []))
            add = T("repeat.add", noun=T(group.repeat.noun))
            out.append((f"{path}.+", add, [*self.tr.labels("repeat.add_word")]))
            return out
        group_name, number = path.split(".")
        group = flow.step(group_name)
        assert group.repeat is not None
        index = int(number) - 1
        item = state["answers"][group_name][index]
        fixed = _derived(group.repeat.children, item) | (
            group.repeat.seeded() if index == 0 else set())
        out = [(f"{path}.{c.name}", T(c.title), [*self.tr.labels(c.title), c.name])
               for c in group.repeat.children
               if c.type != StepType.CALCULATE and c.name not in fixed
               and (c.name in item or not c.required)
               and (c.relevant is None or _holds(c.relevant, {**self._scope(state), **item},
                                                 _flow_day(state)))]
        if not (index == 0 and group.repeat.seeded()):
            out.append((f"{path}.-", T("repeat.remove", noun=T(group.repeat.noun)),
                        [*self.tr.labels("repeat.remove_word")]))
        return out

    def _item_label(self, group: Step, index: int, item: dict[str, Any]) -> T:
        assert group.repeat is not None
        name = item.get(group.repeat.label_child) if group.repeat.label_child else None
        if isinstance(name, str):
            return T("repeat.item_named", n=index + 1, name=name)
        return T(group.repeat.item, n=index + 1)

    def _item_lines(self, group: Step, items: list[dict[str, Any]]) -> list[T]:
        """One line per item: 'Anggota ke-1: Nama: Budi; Hubungan: Kepala…'."""
        assert group.repeat is not None
        lines = []
        for index, item in enumerate(items):
            pairs = [T("flow.pair", title=T(c.title), value=self.display(c, item[c.name]))
                     for c in group.repeat.children if c.name in item]
            joined: T | str = "-"
            for pair in reversed(pairs):
                joined = pair if joined == "-" else T("flow.pairs", first=pair, rest=joined)
            lines.append(T("flow.item_line", label=T(group.repeat.item, n=index + 1),
                           fields=joined))
        return lines

    def _answered_steps(self, flow: Flow, state: dict[str, Any]) -> list[Step]:
        """Steps the user went through (answered or skipped), in flow order."""
        done = {*state["answers"], *state["skipped"]}
        fixed = _derived(flow.steps, state["answers"])
        return [s for s in flow.steps if s.name in done and s.name not in fixed
                and s.type != StepType.CALCULATE
                and not (s.type == StepType.REPEAT and not state["answers"].get(s.name))]

    @staticmethod
    def _scope(state: dict[str, Any]) -> dict[str, Any]:
        scope = dict(state["answers"])
        scope.update({f"_{k}": v for k, v in state.get("ctx", {}).items()})
        return scope

    def _completed(self, flow: Flow, state: dict[str, Any]) -> dict[str, Any]:
        answers = _copy(state["answers"])
        scope = self._scope(state)
        day = _flow_day(state)
        for step in flow.steps:
            if step.retain is not None and step.name in answers and not _holds(
                step.retain, scope, day
            ):
                del answers[step.name]
        if flow.with_meta:
            answers["_meta"] = {"ctx": _copy(state.get("ctx", {})),
                                "times": dict(state.get("times", {})),
                                "started_at": state["started_at"]}
        return answers

    # -- answers ---------------------------------------------------------------------------

    def _is_option_word(self, flow: Flow, state: dict[str, Any], text: str) -> bool:
        if not text or not state.get("step"):
            return False
        return self._is_option_word_of(flow.find(state["step"])[0], text)

    def _is_option_word_of(self, step: Step, text: str) -> bool:
        """The text is an option of this question ("tidak ada" may be one)."""
        if not step.choices or not qtypes.get(step.type).has_choices:
            return False
        if qtypes.get(step.type).claims(text):
            return True
        norm = normalize(text)
        return any(norm == normalize(word) for _, words in self._option_words(step)
                   for word in words)

    def _parse(self, flow: Flow, state: dict[str, Any], step: Step, inbound: Inbound,
               text: str, now: datetime) -> tuple[Any, list[T]]:
        """Turn an inbound message into the step's answer, or raise InvalidAnswer."""
        qtype = qtypes.get(step.type)
        scope = self._item_scope(state)
        day = _flow_day(state)
        step = self._offered(step, scope, day)
        answer = Answer(step, inbound, text, now, words=self._words, sealer=self.sealer,
                        mask_text=flow.mask_ids_in_text)
        if inbound.choice_id:
            prefix, _, value = inbound.choice_id.partition(":")
            if prefix != step.name:
                raise parsing.InvalidAnswer("flow.stale_button")
            parsed, echo = qtype.parse_button(replace(answer, choice=value))
        else:
            parsed, echo = qtype.parse(answer)
        if step.constraint is not None and not _holds(step.constraint, scope, day,
                                                      current=parsed):
            raise parsing.InvalidAnswer(step.constraint_message or "answer.constraint")
        if step.params.get("unique") == "yes":
            self._check_unique(flow, state, step, parsed)
        return parsed, echo

    def _check_unique(self, flow: Flow, state: dict[str, Any], step: Step, value: Any) -> None:
        """Refuse an answer another item of the repeat has (a sealed number by its hash)."""
        rep = state.get("repeat")
        if rep is None or rep.get("index") is None:
            return
        group = flow.step(rep["group"])
        assert group.repeat is not None

        def key(answer: Any) -> Any:
            return answer.get("hash") if isinstance(answer, dict) else answer

        mine = key(value)
        items = state["answers"].get(group.name) or []
        for index, item in enumerate(items):
            if index != rep["index"] and step.name in item and key(item[step.name]) == mine:
                name = item.get(group.repeat.label_child) if group.repeat.label_child else None
                label = name if isinstance(name, str) else T(group.repeat.item, n=index + 1)
                raise parsing.InvalidAnswer("answer.unique", title=T(step.title), name=label)

    def _offered(self, step: Step, scope: dict[str, Any], day: date) -> Step:
        """The step with only the options its choice filter lets through."""
        if step.choice_filter is None or not step.choices:
            return step
        expr = step.choice_filter
        kept = tuple(o for o in step.choices if _holds(expr, scope, day, props=o.props))
        return replace(step, choices=kept)

    def _words(self, option: Option) -> list[str]:
        return [*self.tr.labels(option.label), *option.aliases]

    def _option_words(self, step: Step) -> list[tuple[str, list[str]]]:
        return [(o.value, self._words(o)) for o in step.choices]

    def _calculate(self, step: Step, scope: dict[str, Any], day: date) -> Any:
        if step.function is not None:
            return FUNCTIONS[step.function](scope, day)
        assert step.calculation is not None
        return _plain(step.calculation.evaluate(_env(scope, day)))

    def _item_scope(self, state: dict[str, Any]) -> dict[str, Any]:
        scope = self._scope(state)
        rep = state.get("repeat")
        if rep is not None and rep.get("index") is not None:
            scope.update(rep["answers"])
        return scope


_PARTS = re.compile(r"\s*(?:[,;·\n]|\s-\s|\bdan\b)\s*", re.IGNORECASE)
_NUMBERS = re.compile(r"\d+(?:\s+\d+)+")


def _parts(text: str) -> list[str]:
    """'keramik, tembok dan seng' or '2 1 3': one part per question of a field-list."""
    if _NUMBERS.fullmatch(text.strip()):
        return text.split()
    return [part for part in _PARTS.split(text) if part.strip()]


def _box(state: dict[str, Any], group: Step | None) -> dict[str, Any]:
    """Where a step's answer lives: the state itself, or the repeat item being filled in."""
    return state if group is None else state["repeat"]


def _drop(step: Step, box: dict[str, Any]) -> None:
    """Remove an answer and what was derived from it."""
    box["answers"].pop(step.name, None)
    for d in step.derive:
        box["answers"].pop(d.target, None)


def _derive(step: Step, answers: dict[str, Any]) -> None:
    value = answers.get(step.name)
    for d in step.derive:
        derived = d.value(value) if isinstance(value, dict) else None
        _set_or_drop(answers, d.target, derived)


def _derived(steps: tuple[Step, ...] | list[Step], answers: dict[str, Any]) -> set[str]:
    """Answers that were filled in from another answer (edit that one instead)."""
    return {d.target for s in steps if s.name in answers for d in s.derive}


def _retain_refused(step: Step, scope: dict[str, Any], day: date) -> bool:
    """The answer would be dropped anyway: what ``retain`` looks at is known and says no."""
    if step.retain is None:
        return False
    return all(ref in scope for ref in step.retain.refs()) and not _holds(step.retain, scope, day)


def _env(scope: dict[str, Any], day: date, *, current: Any = None,
         props: Any = None, position: int | None = None) -> Env:
    return Env(value=scope.get, current=current,
               prop=(props.get if props is not None else None), today=day,
               position=position)


def _holds(expr: Expression, scope: dict[str, Any], day: date, *, current: Any = None,
           props: Any = None) -> bool:
    return expr.holds(_env(scope, day, current=current, props=props))


def _plain(value: Any) -> Any:
    """A formula's result as a JSON answer: whole numbers as int, empty as None."""
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return int(value) if value.is_integer() else value
    if isinstance(value, date | datetime):
        return value.isoformat()
    return None if value == "" else value


def _set_or_drop(answers: dict[str, Any], name: str, value: Any) -> None:
    if value is None:
        answers.pop(name, None)
    else:
        answers[name] = value


def _flow_day(state: dict[str, Any]) -> date:
    """The day the flow started, in Jakarta (ages are counted on it)."""
    return datetime.fromisoformat(state["started_at"]).astimezone(JAKARTA).date()


def _copy(state: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a session document.

    Sessions are JSON documents (dicts, lists, strings, numbers): copying those directly
    avoids ``copy.deepcopy``'s memo bookkeeping on every message (see docs/performance.md).
    Anything else still goes to deepcopy.
    """
    return _copy_json(state)  # type: ignore[no-any-return]


_IMMUTABLE = (str, int, float, bool, type(None))


def _copy_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: item if isinstance(item, _IMMUTABLE) else _copy_json(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [item if isinstance(item, _IMMUTABLE) else _copy_json(item) for item in value]
    if isinstance(value, _IMMUTABLE):
        return value
    return copy.deepcopy(value)
