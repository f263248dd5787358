"""Flows as data, with the XLSForm vocabulary (type, name, label, required, relevant,
constraint, choices), validated when they are loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
        return answers.get(self.name) == self.value

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


# --- steps and flows -------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    value: str
    label: str  # catalog key
    aliases: tuple[str, ...] = ()  # extra loose words people type ("kotor" for keruh)


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

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"flow {self.id!r}: no step {name!r}")

    def keys(self) -> set[str]:
        """Every catalog key the flow refers to."""
        out = {self.title, self.summary_intro}
        for s in self.steps:
            out |= {s.label, s.title}
            if s.hint:
                out.add(s.hint)
            if s.constraint.message:
                out.add(s.constraint.message)
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
        where = f"flow {flow.id!r} step {step.name!r}"
        if not step.name or not step.name.replace("_", "").isalnum():
            raise FlowError(f"{where}: step ids are short words of letters, digits and _")
        if step.name in seen:
            raise FlowError(f"{where}: duplicate step id")
        seen.add(step.name)
        is_choice = step.type in (StepType.SELECT_ONE, StepType.SELECT_MULTIPLE)
        if is_choice and not step.choices:
            raise FlowError(f"{where}: a choice step needs choices")
        if step.choices and not is_choice:
            raise FlowError(f"{where}: only choice steps have choices")
        values = [o.value for o in step.choices]
        if len(values) != len(set(values)):
            raise FlowError(f"{where}: duplicate choice values")
        for value in values:
            if len(f"{step.name}:{value}".encode()) > MAX_CHOICE_ID_BYTES:
                raise FlowError(f"{where}: choice {value!r} makes an id over 64 bytes")
        if step.relevant is not None:
            earlier = {s.name for s in flow.steps[:index]}
            for ref in step.relevant.refs():
                if not ref.startswith("_") and ref not in earlier:
                    raise FlowError(
                        f"{where}: relevant refers to {ref!r}, which is not an earlier step"
                    )
    if known_keys is not None:
        missing = sorted(flow.keys() - known_keys)
        if missing:
            raise FlowError(f"flow {flow.id!r}: catalog keys missing: {', '.join(missing)}")
    return flow


def mermaid(flow: Flow) -> str:
    """A Mermaid diagram of the flow, generated from its definition."""
    lines = ["flowchart TD", f"  start([{flow.id} v{flow.version}])"]
    previous = "start"
    for step in flow.steps:
        shape = f'{step.name}["{step.name}<br/><i>{step.type.value}</i>"]'
        edge = f" -- {step.relevant} -->" if step.relevant else " -->"
        if not step.required:
            edge = edge.replace("-->", "-. optional .->") if not step.relevant else edge
        edge = edge.replace("$", "").replace("{", "").replace("}", "")
        lines.append(f"  {previous}{edge} {shape}")
        previous = step.name
    lines.append(f"  {previous} --> summary{{{{summary + confirm}}}}")
    lines.append("  summary -- ya --> done([saved])")
    lines.append("  summary -- ubah --> summary")
    return "\n".join(lines) + "\n"
