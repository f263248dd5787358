"""Flows as data, with the XLSForm vocabulary (type, name, label, required, relevant,
constraint, choices), validated when they are loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any


class StepType(StrEnum):
    SELECT_ONE = "select_one"
    SELECT_MULTIPLE = "select_multiple"
    TEXT = "text"
    INTEGER = "integer"
    YES_NO = "yes_no"
    DATETIME = "datetime"
    DATE = "date"
    GEOPOINT = "geopoint"
    IMAGE = "image"
    NIK = "nik"
    KK = "kk"
    PHONE = "phone"
    RT_RW = "rt_rw"
    KELURAHAN = "kelurahan"
    # XLSForm ``begin_repeat``: the children are asked once per item (household members).
    REPEAT = "repeat"
    # XLSForm ``calculate``: a value computed from earlier answers, never asked.
    CALCULATE = "calculate"


# --- relevance conditions: small, serialisable, readable in a diagram ---------------------


class Cond:
    def holds(self, answers: Mapping[str, Any]) -> bool:
        raise NotImplementedError

    def refs(self) -> set[str]:
        return set()


@dataclass(frozen=True)
class Eq(Cond):
    """``${name} = value``; names starting with ``_`` read the flow's context."""

    name: str
    value: Any

    def holds(self, answers: Mapping[str, Any]) -> bool:
        return bool(answers.get(self.name) == self.value)

    def refs(self) -> set[str]:
        return {self.name}

    def __str__(self) -> str:
        return f"${{{self.name}}} = {self.value!r}"


@dataclass(frozen=True)
class In(Cond):
    name: str
    values: tuple[Any, ...]

    def holds(self, answers: Mapping[str, Any]) -> bool:
        return answers.get(self.name) in self.values

    def refs(self) -> set[str]:
        return {self.name}

    def __str__(self) -> str:
        return f"${{{self.name}}} in {list(self.values)!r}"


@dataclass(frozen=True)
class Answered(Cond):
    name: str

    def holds(self, answers: Mapping[str, Any]) -> bool:
        return answers.get(self.name) not in (None, "", [])

    def refs(self) -> set[str]:
        return {self.name}

    def __str__(self) -> str:
        return f"${{{self.name}}} != ''"


@dataclass(frozen=True)
class Not(Cond):
    cond: Cond

    def holds(self, answers: Mapping[str, Any]) -> bool:
        return not self.cond.holds(answers)

    def refs(self) -> set[str]:
        return self.cond.refs()

    def __str__(self) -> str:
        return f"not({self.cond})"


@dataclass(frozen=True)
class All(Cond):
    conds: tuple[Cond, ...]

    def holds(self, answers: Mapping[str, Any]) -> bool:
        return all(c.holds(answers) for c in self.conds)

    def refs(self) -> set[str]:
        return set().union(*(c.refs() for c in self.conds))

    def __str__(self) -> str:
        return " and ".join(f"({c})" for c in self.conds)


@dataclass(frozen=True)
class AnyOf(Cond):
    conds: tuple[Cond, ...]

    def holds(self, answers: Mapping[str, Any]) -> bool:
        return any(c.holds(answers) for c in self.conds)

    def refs(self) -> set[str]:
        return set().union(*(c.refs() for c in self.conds))

    def __str__(self) -> str:
        return " or ".join(f"({c})" for c in self.conds)


@dataclass(frozen=True)
class Range(Cond):
    """``${name} >= low and ${name} <= high`` for a number; an open end is None."""

    name: str
    low: int | None = None
    high: int | None = None

    def holds(self, answers: Mapping[str, Any]) -> bool:
        value = answers.get(self.name)
        if not isinstance(value, int) or isinstance(value, bool):
            return False
        return (self.low is None or value >= self.low) and (
            self.high is None or value <= self.high
        )

    def refs(self) -> set[str]:
        return {self.name}

    def __str__(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"${{{self.name}}} >= {self.low}")
        if self.high is not None:
            parts.append(f"${{{self.name}}} <= {self.high}")
        return " and ".join(parts) or "true"


# --- steps and flows -------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    value: str
    label: str  # catalog key
    aliases: tuple[str, ...] = ()  # extra loose words people type ("kotor" for keruh)
    # "None of these": may not be picked together with other options of a multi-choice.
    exclusive: bool = False


@dataclass(frozen=True)
class Derive:
    """An answer filled in from a field of another answer (sex and birth date from an NIK).

    ``mapping`` translates the field's value (``("L", "1")``: NIK sex L → code 1).
    """

    target: str
    field: str
    mapping: tuple[tuple[str, str], ...] = ()

    def value(self, source: Mapping[str, Any]) -> Any:
        raw = source.get(self.field)
        if self.mapping and raw is not None:
            return dict(self.mapping).get(str(raw), raw)
        return raw


@dataclass(frozen=True)
class Repeat:
    """A repeat group: ``children`` asked once per item; the answer is a list of dicts.

    ``count`` names an earlier integer answer the number of items should match (checked
    when the user says there are no more). ``seed`` fills the first item from earlier
    answers (``("nama", "kepala_nama")``) and ``seed_values`` with constants; seeded
    answers are edited where they came from. ``noun`` is the catalog key of what one
    item is called ("anggota"), ``item`` of one item's heading ("Anggota ke-{n}").
    """

    children: tuple[Step, ...]
    noun: str
    item: str
    count: str | None = None
    seed: tuple[tuple[str, str], ...] = ()
    seed_values: tuple[tuple[str, Any], ...] = ()
    # Child whose answer names an item in lists ("nama"); items without it are numbered.
    label_child: str | None = None

    def seeded(self) -> set[str]:
        return {c for c, _ in self.seed} | {c for c, _ in self.seed_values}


@dataclass(frozen=True)
class Constraint:
    """Limits on an answer; ``message`` is the catalog key shown when they are broken."""

    min_value: int | None = None
    max_value: int | None = None
    max_length: int | None = None
    min_length: int | None = None
    not_future: bool = False
    message: str | None = None


@dataclass(frozen=True)
class Step:
    name: str
    type: StepType
    label: str  # catalog key of the question
    title: str  # catalog key of the short name in the summary
    required: bool = True
    relevant: Cond | None = None
    constraint: Constraint = field(default_factory=Constraint)
    choices: tuple[Option, ...] = ()
    # Ask for a shared location / contact with the platform's own button.
    hint: str | None = None  # catalog key shown under the question
    # NIK / No. KK: read the answer back (masked, with what it encodes) and ask "benar?".
    confirm: bool = False
    # Answers filled in from this one (they are not asked while this one is answered).
    derive: tuple[Derive, ...] = ()
    repeat: Repeat | None = None
    # CALCULATE: (answers in scope, the day the flow started) -> value.
    calculate: Callable[[Mapping[str, Any], date], Any] | None = None
    # Answering so that this holds ends the flow at once, without a summary (consent "no").
    finish_if: Cond | None = None
    # Data minimisation: the answer is dropped when its item/flow is complete unless this
    # holds (may refer to later answers, e.g. a child's NIK without consent for child data).
    retain: Cond | None = None
    # Keep the moment of the answer (proof of consent).
    timestamp: bool = False

    def option(self, value: str) -> Option | None:
        for opt in self.choices:
            if opt.value == value:
                return opt
        return None


@dataclass(frozen=True)
class Flow:
    id: str
    version: int
    title: str  # catalog key
    steps: tuple[Step, ...]
    summary_intro: str  # catalog key shown above the summary
    # The user may say "nanti" to put the flow aside and continue later.
    pausable: bool = False
    # Completed answers carry "_meta": the flow context, answer times, start time.
    with_meta: bool = False
    # Sixteen-digit numbers (NIK, No. KK) typed into free text are masked before storing.
    mask_ids_in_text: bool = False
    # Catalog key said when the user cancels ("batal").
    cancelled: str = "flow.cancelled"

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"flow {self.id!r}: no step {name!r}")

    def find(self, name: str) -> tuple[Step, Step | None]:
        """A step by name, top-level or inside a repeat group: (step, group or None)."""
        for s in self.steps:
            if s.name == name:
                return s, None
            if s.repeat is not None:
                for child in s.repeat.children:
                    if child.name == name:
                        return child, s
        raise KeyError(f"flow {self.id!r}: no step {name!r}")

    def all_steps(self) -> list[Step]:
        """Top-level steps and the children of repeat groups, in order."""
        out: list[Step] = []
        for s in self.steps:
            out.append(s)
            if s.repeat is not None:
                out.extend(s.repeat.children)
        return out

    def keys(self) -> set[str]:
        """Every catalog key the flow refers to."""
        out = {self.title, self.summary_intro, self.cancelled}
        for s in self.all_steps():
            out |= {s.label, s.title}
            if s.hint:
                out.add(s.hint)
            if s.constraint.message:
                out.add(s.constraint.message)
            if s.repeat is not None:
                out |= {s.repeat.noun, s.repeat.item}
            out |= {o.label for o in s.choices}
        return out


class FlowError(ValueError):
    pass


# Telegram callback_data is at most 64 bytes; choice ids are "<step>:<value>".
MAX_CHOICE_ID_BYTES = 64


def validate(flow: Flow, known_keys: set[str] | None = None) -> Flow:
    """Check a flow when it is loaded; raise FlowError naming the step at fault."""
    seen: set[str] = set()
    for index, step in enumerate(flow.steps):
        earlier = {s.name for s in flow.steps[:index]}
        _check_step(flow, step, earlier, seen, in_repeat=False)
        if step.repeat is not None:
            where = f"flow {flow.id!r} step {step.name!r}"
            if step.type != StepType.REPEAT:
                raise FlowError(f"{where}: only repeat steps have children")
            rep = step.repeat
            if not rep.children:
                raise FlowError(f"{where}: a repeat group needs children")
            if rep.count is not None:
                counted = next((s for s in flow.steps[:index] if s.name == rep.count), None)
                if counted is None or counted.type != StepType.INTEGER:
                    raise FlowError(f"{where}: count {rep.count!r} is not an earlier integer step")
            names = [c.name for c in rep.children]
            for child_name, source in rep.seed:
                if child_name not in names or source not in earlier:
                    raise FlowError(f"{where}: seed {child_name!r} <- {source!r} is not valid")
            for child_name, _ in rep.seed_values:
                if child_name not in names:
                    raise FlowError(f"{where}: seed value for unknown child {child_name!r}")
            if rep.label_child is not None and rep.label_child not in names:
                raise FlowError(f"{where}: label_child {rep.label_child!r} is not a child")
            for child_index, child in enumerate(rep.children):
                visible = earlier | set(names[:child_index])
                _check_step(flow, child, visible, seen, in_repeat=True)
                _check_derive(flow, child, names[child_index + 1 :])
        else:
            _check_derive(flow, step, [s.name for s in flow.steps[index + 1 :]])
        if step.type == StepType.REPEAT and step.repeat is None:
            raise FlowError(f"flow {flow.id!r} step {step.name!r}: a repeat step needs children")
    if known_keys is not None:
        missing = sorted(flow.keys() - known_keys)
        if missing:
            raise FlowError(f"flow {flow.id!r}: catalog keys missing: {', '.join(missing)}")
    return flow


def _check_step(flow: Flow, step: Step, earlier: set[str], seen: set[str], *,
                in_repeat: bool) -> None:
    where = f"flow {flow.id!r} step {step.name!r}"
    if not step.name or not step.name.replace("_", "").isalnum():
        raise FlowError(f"{where}: step ids are short words of letters, digits and _")
    if step.name in seen:
        raise FlowError(f"{where}: duplicate step id")
    seen.add(step.name)
    is_choice = step.type in (StepType.SELECT_ONE, StepType.SELECT_MULTIPLE)
    if is_choice and not step.choices:
        raise FlowError(f"{where}: a choice step needs choices")
    if step.choices and not (is_choice or step.type == StepType.CALCULATE):
        raise FlowError(f"{where}: only choice steps have choices")
    values = [o.value for o in step.choices]
    if len(values) != len(set(values)):
        raise FlowError(f"{where}: duplicate choice values")
    for value in values:
        if len(f"{step.name}:{value}".encode()) > MAX_CHOICE_ID_BYTES:
            raise FlowError(f"{where}: choice {value!r} makes an id over 64 bytes")
    if (step.type == StepType.CALCULATE) != (step.calculate is not None):
        raise FlowError(f"{where}: calculate steps, and only they, have a calculation")
    if step.confirm and step.type not in (StepType.NIK, StepType.KK):
        raise FlowError(f"{where}: only NIK and No. KK answers are read back to confirm")
    if in_repeat and step.type == StepType.REPEAT:
        raise FlowError(f"{where}: repeat groups do not nest")
    if in_repeat and step.finish_if is not None:
        raise FlowError(f"{where}: finish_if works on top-level steps only")
    if step.relevant is not None:
        for ref in step.relevant.refs():
            if not ref.startswith("_") and ref not in earlier:
                raise FlowError(
                    f"{where}: relevant refers to {ref!r}, which is not an earlier step"
                )


def _check_derive(flow: Flow, step: Step, later: list[str]) -> None:
    for d in step.derive:
        if d.target not in later:
            raise FlowError(
                f"flow {flow.id!r} step {step.name!r}: derives {d.target!r}, "
                "which is not a later step beside it"
            )


def mermaid(flow: Flow) -> str:
    """A Mermaid diagram of the flow, generated from its definition."""
    lines = ["flowchart TD", f"  start([{flow.id} v{flow.version}])"]
    previous = "start"

    def node(step: Step) -> str:
        return f'{step.name}["{step.name}<br/><i>{step.type.value}</i>"]'

    def edge(step: Step) -> str:
        arrow = f" -- {step.relevant} -->" if step.relevant else " -->"
        if not step.required and not step.relevant:
            arrow = arrow.replace("-->", "-. optional .->")
        return arrow.replace("$", "").replace("{", "").replace("}", "").replace('"', "'")

    for step in flow.steps:
        if step.repeat is not None:
            lines.append(f"  {previous}{edge(step)} {step.name}_start(( ))")
            lines.append(f'  subgraph {step.name}["repeat: {step.name}"]')
            inner = f"{step.name}_start"
            for child in step.repeat.children:
                lines.append(f"    {inner}{edge(child)} {node(child)}")
                inner = child.name
            lines.append("  end")
            more = f"{step.name}_more"
            lines.append(f"  {inner} --> {more}{{{{tambah lagi?}}}}")
            lines.append(f"  {more} -- ya --> {step.name}_start")
            previous = more
            continue
        lines.append(f"  {previous}{edge(step)} {node(step)}")
        if step.finish_if is not None:
            cond = str(step.finish_if).replace("$", "").replace("{", "").replace("}", "")
            cond = cond.replace('"', "'")
            lines.append(f"  {step.name} -- {cond} --> end_{step.name}([end])")
        previous = step.name
    lines.append(f"  {previous} --> summary{{{{summary + confirm}}}}")
    lines.append("  summary -- ya --> done([saved])")
    lines.append("  summary -- ubah --> summary")
    return "\n".join(lines) + "\n"
