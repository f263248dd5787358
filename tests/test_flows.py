"""Flows validate themselves when loaded, and their diagrams are generated, not drawn."""

from __future__ import annotations

from pathlib import Path

import pytest

from conversations.complaint import COMPLAINT
from conversations.flow import (
    Flow,
    FlowError,
    Option,
    Step,
    StepType,
    mermaid,
)
from conversations.forms import validate
from conversations.xpath import compile_expr
from tests.harness import translator

DOCS = Path(__file__).resolve().parents[1] / "docs" / "flows.md"


def flow(*steps: Step) -> Flow:
    return Flow("demo", 1, "flow.intro", steps, "flow.summary_intro")


def choice_step(name: str = "a", *values: str) -> Step:
    options = tuple(Option(v, "common.yes") for v in (values or ("x", "y")))
    return Step(name, StepType.SELECT_ONE, "complaint.jenis.label", "complaint.jenis.title",
                choices=options)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ((choice_step("a"), choice_step("a")), "step 'a': duplicate step id"),
        ((Step("b", StepType.SELECT_ONE, "complaint.jenis.label", "complaint.jenis.title"),),
         "step 'b': a choice step needs choices"),
        ((choice_step("c", "x", "x"),), "step 'c': duplicate choice values"),
        ((choice_step("d", "v" * 70),), "makes an id over 64 bytes"),
        ((Step("e", StepType.TEXT, "complaint.uraian.label", "complaint.uraian.title",
               relevant=compile_expr("${later} = 'x'")), choice_step("later")),
         "step 'e': relevant refers to 'later', which is not an earlier step"),
        ((Step("bad id", StepType.TEXT, "complaint.uraian.label", "complaint.uraian.title"),),
         "step ids are short words"),
    ],
)
def test_invalid_flows_fail_loudly_with_context(steps: tuple[Step, ...], message: str) -> None:
    with pytest.raises(FlowError, match=message):
        validate(flow(*steps))


def test_missing_catalog_keys_are_named() -> None:
    step = Step("a", StepType.TEXT, "no.such.key", "complaint.uraian.title")
    with pytest.raises(FlowError, match=r"catalog keys missing: no\.such\.key"):
        validate(flow(step), translator().keys["id"])


def test_the_complaint_flow_is_valid() -> None:
    assert validate(COMPLAINT, translator().keys["id"]) is COMPLAINT


def test_the_diagram_in_the_docs_is_the_generated_one() -> None:
    diagram = mermaid(COMPLAINT)
    assert "kategori" in diagram and "jenis = 'air'" in diagram
    assert f"```mermaid\n{diagram}```" in DOCS.read_text(encoding="utf-8"), (
        "docs/flows.md is out of date: regenerate it from conversations.flow.mermaid"
    )
