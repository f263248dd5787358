"""Flows as data: what a form workbook says, in the shape the engine walks.

A :class:`Flow` is made by :mod:`conversations.forms` from an XLSForm workbook (or, in
tests, written out in Python). Its vocabulary is XLSForm's — ``type``, ``name``, ``label``,
``required``, ``relevant``, ``constraint``, ``choices``, repeats — plus a few chat details
(a short title for the summary, aliases of an option, identity numbers read back).
Conditions and formulas are compiled expressions (:mod:`conversations.xpath`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class StepType(StrEnum):
    """The built-in question types (each a module of :mod:`conversations.qtypes`) and the
    two structures that are not questions: a repeat group and a calculation."""

    SELECT_ONE = "select_one"
    SELECT_MULTIPLE = "select_multiple"
    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    YES_NO = "yes_no"
    DATETIME = "datetime"
    DATE = "date"
    GEOPOINT = "geopoint"
    IMAGE = "image"
    NOTE = "note"
    NIK = "nik"
    KK = "kk"
    PHONE = "phone"
    RT_RW = "rt_rw"
    KELURAHAN = "kelurahan"
    # XLSForm ``begin_repeat``: the children are asked once per item (household members).
    REPEAT = "repeat"
    # XLSForm ``calculate``: a value computed from earlier answers, never asked.
    CALCULATE = "calculate"


class Expression(Protocol):
    """A compiled formula (``relevant``, ``constraint``, ``calculation``…)."""

    source: str

    def evaluate(self, env: Any) -> Any: ...

    def holds(self, env: Any) -> bool: ...

    def refs(self) -> frozenset[str]: ...


@dataclass(frozen=True)
class Option:
    value: str
    label: str  # catalog key
    aliases: tuple[str, ...] = ()  # extra loose words people type ("kotor" for keruh)
    # "None of these": may not be picked together with other options of a multi-choice.
    exclusive: bool = False
    # Other columns of the choices sheet (what a choice_filter reads).
    props: Mapping[str, str] = field(default_factory=dict)


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

    ``count`` is the XLSForm ``repeat_count``: how many items there should be (checked
    when the person says there are no more, and no "another?" once it is reached).
    ``seed`` fills the first item from earlier answers (``("nama", expr)``); seeded
    answers are edited where they came from. ``noun`` is the catalog key of what one item
    is called ("anggota"), ``item`` of one item's heading ("Anggota ke-{n}").
    """

    children: tuple[Step, ...]
    noun: str
    item: str
    count: Expression | None = None
    seed: tuple[tuple[str, Expression], ...] = ()
    # Child whose answer names an item in lists ("nama"); items without it are numbered.
    label_child: str | None = None

    def seeded(self) -> set[str]:
        return {c for c, _ in self.seed}

    @property
    def count_step(self) -> str | None:
        """The answer the count comes from, when it is one plain reference (``${n}``)."""
        return plain_ref(self.count) if self.count is not None else None


@dataclass(frozen=True)
class Step:
    name: str
    type: str  # a registered question type, "repeat" or "calculate"
    label: str  # catalog key of the question
    title: str  # catalog key of the short name in the summary
    required: bool = True
    relevant: Expression | None = None
    constraint: Expression | None = None
    constraint_message: str | None = None  # catalog key
    choices: tuple[Option, ...] = ()
    choice_filter: Expression | None = None
    hint: str | None = None  # catalog key shown under the question
    # NIK / No. KK: read the answer back (masked, with what it encodes) and ask "benar?".
    confirm: bool = False
    # Answers filled in from this one (they are not asked while this one is answered).
    derive: tuple[Derive, ...] = ()
    repeat: Repeat | None = None
    # CALCULATE: a formula, or a named function (what a formula cannot say), or a value the
    # caller supplies when the flow starts (``context``: the contact's known phone).
    calculation: Expression | None = None
    function: str | None = None
    context: str | None = None
    # Answering so that this holds ends the flow at once, without a summary (consent "no").
    finish_if: Expression | None = None
    # Data minimisation: the answer is dropped when its item/flow is complete unless this
    # holds (may refer to later answers, e.g. a child's NIK without consent for child data).
    retain: Expression | None = None
    # Keep the moment of the answer (proof of consent).
    timestamp: bool = False
    # Chat details a question type reads (``when``: past for "since when"; ``max_length``).
    params: Mapping[str, str] = field(default_factory=dict)
    # Answers the question's text shows (``${nama}`` in the label).
    label_refs: tuple[str, ...] = ()
    # XLSForm ``default``: read as if typed when the question is reached (in a repeat,
    # when the item begins, with ``position(..)``); a default that reads is not asked.
    default: Expression | None = None

    def option(self, value: str) -> Option | None:
        for opt in self.choices:
            if opt.value == value:
                return opt
        return None


@dataclass(frozen=True)
class Flow:
    id: str
    version: int
    title: str  # catalog key said when the flow starts
    steps: tuple[Step, ...]
    summary_intro: str  # catalog key shown above the summary
    # The user may say "nanti" to put the flow aside and continue later.
    pausable: bool = False
    # Completed answers carry "_meta": the flow context, answer times, start time.
    with_meta: bool = False
    # Sixteen-digit numbers (NIK, No. KK) typed into free text are masked before storing.
    mask_ids_in_text: bool = True
    # Catalog key said when the user cancels ("batal").
    cancelled: str = "flow.cancelled"
    # Where the flow came from (a workbook path), for messages about it.
    source: str | None = None

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
            out |= {key for key in (s.label, s.title) if key}
            for key in (s.hint, s.constraint_message):
                if key:
                    out.add(key)
            if s.repeat is not None:
                out |= {s.repeat.noun, s.repeat.item}
            out |= {o.label for o in s.choices}
        return out


class FlowError(ValueError):
    pass


def plain_ref(expr: Expression) -> str | None:
    """``x`` when the formula is just ``${x}``."""
    refs = expr.refs()
    if len(refs) == 1:
        (name,) = refs
        if expr.source.strip() == f"${{{name}}}":
            return name
    return None


def _cond(expr: Expression | None) -> str:
    if expr is None:
        return ""
    text = expr.source
    for old, new in (("${", ""), ("}", ""), ('"', "'")):
        text = text.replace(old, new)
    return text


def mermaid(flow: Flow) -> str:
    """A Mermaid diagram of the flow, generated from its definition."""
    lines = ["flowchart TD", f"  start([{flow.id} v{flow.version}])"]
    previous = "start"

    def node(step: Step) -> str:
        return f'{step.name}["{step.name}<br/><i>{step.type}</i>"]'

    def edge(step: Step) -> str:
        if step.relevant is not None:
            return f" -- {_cond(step.relevant)} -->"
        return " -. optional .->" if not step.required else " -->"

    for step in flow.steps:
        if step.type == StepType.CALCULATE and step.context is not None:
            continue
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
            lines.append(f"  {step.name} -- {_cond(step.finish_if)} --> end_{step.name}([end])")
        previous = step.name
    lines.append(f"  {previous} --> summary{{{{summary + confirm}}}}")
    lines.append("  summary -- ya --> done([saved])")
    lines.append("  summary -- ubah --> summary")
    return "\n".join(lines) + "\n"
