"""The flow engine: pure functions from (flow, session, input) to (session, what to say).

The caller persists the returned state — a JSON document with readable names — and
sends the reply. Nothing here does I/O, so golden transcripts are cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from conversations import parsing
from conversations.flow import Flow, Step, StepType
from conversations.i18n import JAKARTA, T, Translator
from conversations.matching import clean_text, has_words, match_command, match_option, normalize
from conversations.messages import Inbound, InboundKind
from conversations.places import KELURAHAN

# Words that work at every step (whole message, any case, with or without a leading /).
COMMANDS: dict[str, frozenset[str]] = {
    "cancel": frozenset(
        {"batal", "batalkan", "gak jadi", "ga jadi", "gajadi", "nggak jadi", "ngga jadi",
         "enggak jadi", "tidak jadi", "cancel", "stop laporan"}
    ),
    "back": frozenset({"kembali", "balik", "back", "mundur", "sebelumnya"}),
    "edit": frozenset({"ubah", "edit", "ganti", "koreksi"}),
    "skip": frozenset({"lewati", "lewat", "skip", "lewatin", "tidak ada", "gak ada", "ga ada"}),
    "help": frozenset({"bantuan", "tolong", "help", "bingung", "gimana", "caranya"}),
}

MAX_TEXT = 1000
MIN_TEXT_DEFAULT = 1


@dataclass
class Prompt:
    """What to say back in one message: texts, then the question's buttons."""

    texts: list[T] = field(default_factory=list)
    choices: list[tuple[str, T | str]] = field(default_factory=list)
    request_location: bool = False
    request_contact: bool = False


@dataclass
class Turn:
    state: dict[str, Any] | None  # None: the flow ended (saved or cancelled)
    prompt: Prompt
    completed: dict[str, Any] | None = None
    cancelled: bool = False
    changed: bool = True


class Engine:
    """Runs declarative flows; needs the catalogs only to match typed labels."""

    def __init__(self, translator: Translator, expiry_hours: float = 24.0) -> None:
        self.tr = translator
        self.expiry_hours = expiry_hours

    # -- public API ------------------------------------------------------------------------

    def start(self, flow: Flow, now: datetime, ctx: dict[str, Any] | None = None) -> Turn:
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
        prompt = Prompt(texts=[T(flow.title)])
        return self._advance(flow, state, prompt)

    def reask(self, flow: Flow, state: dict[str, Any], intro: list[T] | None = None) -> Turn:
        """Say the current question again (after a language switch or a resume)."""
        prompt = Prompt(texts=list(intro or []))
        if state["status"] == "confirm":
            return Turn(state, self._summary_prompt(flow, state, prompt), changed=False)
        if state["status"] == "edit_pick":
            return Turn(state, self._edit_pick_prompt(flow, state, prompt), changed=False)
        return Turn(state, self._ask(flow, state, prompt), changed=False)

    def recap(self, flow: Flow, state: dict[str, Any]) -> list[T]:
        """Lines 'Title: answer' for what has been answered so far."""
        lines = []
        for step in flow.steps:
            if step.name in state["answers"]:
                value: Any = self.display(step, state["answers"][step.name])
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
        if command is None and inbound.choice_id == f"{state.get('step')}:__skip":
            command = "skip"
        if command == "cancel":
            return Turn(None, Prompt(texts=[T("flow.cancelled")]), cancelled=True)
        if command == "help":
            return self._unchanged(flow, state, [T("flow.help")])
        status = state["status"]
        if status == "confirm":
            return self._on_confirm(flow, state, inbound, text, command)
        if status == "edit_pick":
            return self._on_edit_pick(flow, state, inbound, text, command)
        if command == "back":
            return self._back(flow, state)
        if command == "edit":
            return self._unchanged(flow, state, [T("flow.edit_later")])
        step = flow.step(state["step"])
        if command == "skip":
            if step.required:
                return self._unchanged(flow, state, [T("flow.required")])
            state["answers"].pop(step.name, None)
            state["skipped"] = sorted({*state["skipped"], step.name})
            state["history"].append(step.name)
            state.pop("editing", None)
            return self._advance(flow, state, Prompt())
        try:
            value, echo = self._parse(step, inbound, text, now)
        except parsing.InvalidAnswer as err:
            return self._unchanged(flow, state, [T(err.reason, **err.params)])
        state["answers"][step.name] = value
        state["skipped"] = [s for s in state["skipped"] if s != step.name]
        state["history"].append(step.name)
        state.pop("editing", None)
        return self._advance(flow, state, Prompt(texts=echo))

    def display(self, step: Step, value: Any) -> T | str | int | bool | date | datetime:
        """An answer as the user should read it back."""
        t = step.type
        if t == StepType.SELECT_ONE:
            opt = step.option(str(value))
            return T(opt.label) if opt else str(value)
        if t == StepType.SELECT_MULTIPLE:
            labels = [T(o.label) for v in value if (o := step.option(v))]
            return T("flow.list", items=labels) if labels else "-"
        if t == StepType.YES_NO:
            return bool(value)
        if t == StepType.DATE:
            return date.fromisoformat(value)
        if t == StepType.DATETIME:
            return datetime.fromisoformat(value)
        if t == StepType.GEOPOINT:
            return T("summary.location", lat=f"{value['latitude']:.5f}",
                     lon=f"{value['longitude']:.5f}")
        if t == StepType.IMAGE:
            return T("summary.photo")
        if t in (StepType.NIK, StepType.KK):
            return _mask(str(value))
        if t == StepType.RT_RW:
            return T("summary.rt_rw", rt=value["rt"], rw=value["rw"])
        if t == StepType.KELURAHAN:
            return str(value["name"])
        if t == StepType.INTEGER:
            return int(value)
        text = str(value)
        return text if len(text) <= 300 else text[:297] + "…"

    # -- states ----------------------------------------------------------------------------

    def _on_confirm(
        self, flow: Flow, state: dict[str, Any], inbound: Inbound, text: str, command: str | None
    ) -> Turn:
        choice = inbound.choice_id
        answer: bool | None = None
        if choice in ("confirm:yes", "confirm:no", "confirm:cancel"):
            if choice == "confirm:cancel":
                return Turn(None, Prompt(texts=[T("flow.cancelled")]), cancelled=True)
            answer = choice == "confirm:yes"
        elif text:
            answer = parsing.parse_yes_no(text)
            if answer is None and normalize(text) in {"kirim", "simpan", "send"}:
                answer = True
        if command in ("edit", "back") or answer is False:
            state["status"] = "edit_pick"
            return Turn(state, self._edit_pick_prompt(flow, state, Prompt()))
        if answer is True:
            return Turn(None, Prompt(), completed=dict(state["answers"]))
        return self._unchanged(flow, state, [T("flow.confirm_hint")])

    def _on_edit_pick(
        self, flow: Flow, state: dict[str, Any], inbound: Inbound, text: str, command: str | None
    ) -> Turn:
        answered = self._answered_steps(flow, state)
        if command == "back" or inbound.choice_id == "edit:__summary":
            state["status"] = "confirm"
            return Turn(state, self._summary_prompt(flow, state, Prompt()))
        picked: str | None = None
        if inbound.choice_id and inbound.choice_id.startswith("edit:"):
            picked = inbound.choice_id.removeprefix("edit:")
        elif text:
            picked = match_option(
                text, [(s.name, [*self.tr.labels(s.title), s.name]) for s in answered]
            )
        if picked not in {s.name for s in answered}:
            return self._unchanged(flow, state, [T("answer.choice_unknown", count=len(answered))])
        assert picked is not None
        state["editing"] = {"step": picked, "previous": state["answers"].pop(picked, None)}
        state["skipped"] = [s for s in state["skipped"] if s != picked]
        state["status"] = "asking"
        state["step"] = picked
        return Turn(state, self._ask(flow, state, Prompt()))

    def _back(self, flow: Flow, state: dict[str, Any]) -> Turn:
        editing = state.pop("editing", None)
        if editing:
            # Back out of an edit: restore the old answer and show the summary again.
            if editing["previous"] is None:
                state["skipped"] = sorted({*state["skipped"], editing["step"]})
            else:
                state["answers"][editing["step"]] = editing["previous"]
            return self._advance(flow, state, Prompt())
        history: list[str] = state["history"]
        while history:
            previous = history.pop()
            if previous in state["answers"] or previous in state["skipped"]:
                state["answers"].pop(previous, None)
                state["skipped"] = [s for s in state["skipped"] if s != previous]
                return self._advance(flow, state, Prompt())
        return self._unchanged(flow, state, [T("flow.first_step")])

    def _advance(self, flow: Flow, state: dict[str, Any], prompt: Prompt) -> Turn:
        """Ask the first relevant step without an answer; when none is left, the summary."""
        scope = self._scope(state)
        nxt: Step | None = None
        for step in flow.steps:
            relevant = step.relevant is None or step.relevant.holds(scope)
            if not relevant:
                # An earlier answer changed: answers to steps that no longer apply go.
                if step.name in state["answers"]:
                    del state["answers"][step.name]
                    scope.pop(step.name, None)
                if step.name in state["skipped"]:
                    state["skipped"] = [s for s in state["skipped"] if s != step.name]
                continue
            if nxt is None and step.name not in state["answers"] and (
                step.name not in state["skipped"]
            ):
                nxt = step
        if nxt is not None:
            state["status"] = "asking"
            state["step"] = nxt.name
            return Turn(state, self._ask(flow, state, prompt))
        state["status"] = "confirm"
        state["step"] = None
        return Turn(state, self._summary_prompt(flow, state, prompt))

    def _unchanged(self, flow: Flow, state: dict[str, Any], texts: list[T]) -> Turn:
        turn = self.reask(flow, state, texts)
        turn.changed = False
        return turn

    # -- prompts ---------------------------------------------------------------------------

    def _ask(self, flow: Flow, state: dict[str, Any], prompt: Prompt) -> Prompt:
        step = flow.step(state["step"])
        prompt.texts.append(T(step.label))
        if step.hint:
            prompt.texts.append(T(step.hint))
        if step.type in (StepType.SELECT_ONE, StepType.SELECT_MULTIPLE):
            prompt.choices = [(f"{step.name}:{o.value}", T(o.label)) for o in step.choices]
            if step.type == StepType.SELECT_MULTIPLE:
                prompt.texts.append(T("flow.multi_hint"))
        elif step.type == StepType.YES_NO:
            prompt.choices = [(f"{step.name}:yes", T("common.yes")),
                              (f"{step.name}:no", T("common.no"))]
        elif step.type == StepType.KELURAHAN:
            prompt.choices = [(f"{step.name}:{k.code[-4:]}", k.name) for k in KELURAHAN]
        elif step.type == StepType.GEOPOINT:
            prompt.request_location = True
        elif step.type == StepType.PHONE:
            prompt.request_contact = True
        if not step.required:
            prompt.texts.append(T("flow.optional_hint"))
            prompt.choices.append((f"{step.name}:__skip", T("flow.skip_button")))
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
        prompt.texts.append(T("flow.edit_which"))
        prompt.choices = [(f"edit:{s.name}", T(s.title)) for s in self._answered_steps(flow, state)]
        prompt.choices.append(("edit:__summary", T("flow.back_to_summary")))
        return prompt

    def _answered_steps(self, flow: Flow, state: dict[str, Any]) -> list[Step]:
        """Steps the user went through (answered or skipped), in flow order."""
        done = {*state["answers"], *state["skipped"]}
        return [s for s in flow.steps if s.name in done]

    @staticmethod
    def _scope(state: dict[str, Any]) -> dict[str, Any]:
        scope = dict(state["answers"])
        scope.update({f"_{k}": v for k, v in state.get("ctx", {}).items()})
        return scope

    # -- answers ---------------------------------------------------------------------------

    def _parse(self, step: Step, inbound: Inbound, text: str, now: datetime) -> tuple[Any, list[T]]:
        """Turn an inbound message into the step's answer, or raise InvalidAnswer."""
        t = step.type
        c = step.constraint
        if inbound.choice_id:
            prefix, _, value = inbound.choice_id.partition(":")
            if prefix != step.name:
                raise parsing.InvalidAnswer("flow.stale_button")
            if t in (StepType.SELECT_ONE, StepType.SELECT_MULTIPLE) and step.option(value):
                return (value if t == StepType.SELECT_ONE else [value]), []
            if t == StepType.YES_NO and value in ("yes", "no"):
                return value == "yes", []
            if t == StepType.KELURAHAN:
                kel = parsing.match_kelurahan(value)
                if kel:
                    return {"code": kel.code, "name": kel.name}, []
            raise parsing.InvalidAnswer("flow.stale_button")
        if t == StepType.GEOPOINT:
            if inbound.location is None:
                raise parsing.InvalidAnswer("answer.need_location")
            return inbound.location.as_dict(), []
        if t == StepType.IMAGE:
            if inbound.media is None or inbound.media.kind != "photo":
                raise parsing.InvalidAnswer("answer.need_photo")
            return inbound.media.as_dict(), []
        if t == StepType.PHONE and inbound.phone:
            phone = parsing.parse_phone(inbound.phone)
            if phone is None:
                raise parsing.InvalidAnswer("answer.phone")
            return phone, []
        if inbound.kind != InboundKind.TEXT:
            raise parsing.InvalidAnswer(_expected(t))
        if not text:
            raise parsing.InvalidAnswer("answer.empty")
        if len(text) > (c.max_length or MAX_TEXT) and t == StepType.TEXT:
            raise parsing.InvalidAnswer("answer.too_long", max=c.max_length or MAX_TEXT)
        if t == StepType.TEXT:
            if not has_words(text):
                raise parsing.InvalidAnswer("answer.no_words")
            if c.min_length and sum(ch.isalnum() for ch in text) < c.min_length:
                raise parsing.InvalidAnswer("answer.too_short", min=c.min_length)
            return text, []
        if len(text) > 200:
            raise parsing.InvalidAnswer(_expected(t))
        if t == StepType.SELECT_ONE:
            value = match_option(text, self._option_words(step))
            if value is None:
                raise parsing.InvalidAnswer("answer.choice_unknown", count=len(step.choices))
            return value, []
        if t == StepType.SELECT_MULTIPLE:
            values: list[str] = []
            for part in _split_multi(text):
                v = match_option(part, self._option_words(step))
                if v is None:
                    raise parsing.InvalidAnswer("answer.choice_unknown", count=len(step.choices))
                if v not in values:
                    values.append(v)
            if not values:
                raise parsing.InvalidAnswer("answer.choice_unknown", count=len(step.choices))
            return values, []
        if t == StepType.YES_NO:
            yn = parsing.parse_yes_no(text)
            if yn is None:
                raise parsing.InvalidAnswer("answer.yes_no")
            return yn, []
        if t == StepType.INTEGER:
            number = parsing.parse_number(text)
            if number is None or (isinstance(number, Decimal) and number != int(number)):
                raise parsing.InvalidAnswer("answer.number")
            n = int(number)
            if (c.min_value is not None and n < c.min_value) or (
                c.max_value is not None and n > c.max_value
            ):
                raise parsing.InvalidAnswer(
                    c.message or "answer.number_range", min=c.min_value, max=c.max_value
                )
            return n, []
        if t in (StepType.DATE, StepType.DATETIME):
            return self._parse_when(step, text, now)
        if t == StepType.NIK:
            return parsing.parse_nik(text, today=now.astimezone(JAKARTA).date()).value, []
        if t == StepType.KK:
            return parsing.parse_kk(text, today=now.astimezone(JAKARTA).date()).value, []
        if t == StepType.PHONE:
            phone = parsing.parse_phone(text)
            if phone is None:
                raise parsing.InvalidAnswer("answer.phone")
            return phone, []
        if t == StepType.RT_RW:
            rt_rw = parsing.parse_rt_rw(text)
            if rt_rw is None:
                raise parsing.InvalidAnswer("answer.rt_rw")
            return {"rt": rt_rw[0], "rw": rt_rw[1]}, []
        if t == StepType.KELURAHAN:
            kel = parsing.match_kelurahan(text)
            if kel is None:
                raise parsing.InvalidAnswer("answer.kelurahan")
            return {"code": kel.code, "name": kel.name}, []
        raise AssertionError(f"unhandled step type {t}")

    def _parse_when(self, step: Step, text: str, now: datetime) -> tuple[Any, list[T]]:
        local_now = now.astimezone(JAKARTA)
        when = parsing.parse_when(text, local_now)
        if when is None or when.date is None:
            raise parsing.InvalidAnswer("answer.date")
        if step.type == StepType.DATE:
            if step.constraint.not_future and when.date > local_now.date():
                raise parsing.InvalidAnswer("answer.date_future")
            return when.date.isoformat(), [T("answer.date_echo", when=when.date)]
        moment = datetime.combine(when.date, when.time or time(0, 0), tzinfo=JAKARTA)
        if when.time is None:
            raise parsing.InvalidAnswer("answer.time_missing", day=when.date)
        if step.constraint.not_future and moment > local_now:
            raise parsing.InvalidAnswer("answer.date_future")
        return moment.isoformat(), [T("answer.date_echo", when=moment)]

    def _option_words(self, step: Step) -> list[tuple[str, list[str]]]:
        return [(o.value, [*self.tr.labels(o.label), *o.aliases]) for o in step.choices]


def _split_multi(text: str) -> list[str]:
    parts = [p.strip() for p in text.replace(" dan ", ",").replace("&", ",").split(",")]
    if len(parts) == 1 and all(p.isdigit() for p in text.split()):
        parts = text.split()
    return [p for p in parts if p]


def _expected(step_type: StepType) -> str:
    return {
        StepType.INTEGER: "answer.number",
        StepType.DATE: "answer.date",
        StepType.DATETIME: "answer.date",
        StepType.YES_NO: "answer.yes_no",
        StepType.RT_RW: "answer.rt_rw",
        StepType.KELURAHAN: "answer.kelurahan",
        StepType.PHONE: "answer.phone",
    }.get(step_type, "answer.need_text")


def _mask(value: str) -> str:
    return value[:4] + "*" * max(0, len(value) - 8) + value[-4:] if len(value) > 8 else "****"


def _copy(state: dict[str, Any]) -> dict[str, Any]:
    import copy

    return copy.deepcopy(state)
