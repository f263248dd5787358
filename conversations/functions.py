"""Named functions a form may call for what a formula cannot say (``chat::function``).

A module that provides one registers it with :func:`form_function` when imported; the
form loader looks names up here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

FormFunction = Callable[[Mapping[str, Any], date], Any]
FUNCTIONS: dict[str, FormFunction] = {}


def form_function(name: str) -> Callable[[FormFunction], FormFunction]:
    """Register a function under ``name``: (answers in scope, day of the flow) -> value."""

    def register(fn: FormFunction) -> FormFunction:
        if FUNCTIONS.get(name, fn) is not fn:
            raise ValueError(f"form function {name!r} is registered twice")
        FUNCTIONS[name] = fn
        return fn

    return register
