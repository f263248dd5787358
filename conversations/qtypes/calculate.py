"""``calculate``: a value computed from other answers (a formula, or a named function
for what a formula cannot say); never asked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conversations.i18n import T
from conversations.qtypes import Display, QuestionType, register

if TYPE_CHECKING:
    from conversations.flow import Step


@register
class Calculate(QuestionType):
    name = "calculate"
    xlsform = ("calculate",)
    export_kind = "text"
    asked = False
    cases = ()

    def display(self, step: Step, value: Any) -> Display:
        if step.choices and isinstance(value, list):
            labels = [T(o.label) for v in value if (o := step.option(v))]
            return T("flow.list", items=labels) if labels else T("flow.none")
        if isinstance(value, bool | int):
            return value
        option = step.option(value) if isinstance(value, str) and step.choices else None
        if option is not None:
            # A derived code reads as on paper, with its label ("4 Perikanan").
            return (T("together.option", code=value, label=T(option.label))
                    if value.isdigit() else T(option.label))
        return super().display(step, value)
