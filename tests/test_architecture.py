"""The parts import one way and no module imports itself round a circle.

``bot`` may import ``handlers``, ``conversations`` and ``storage``; ``handlers`` import
only the message types of ``conversations``; ``conversations`` and ``storage`` import none
of the others. Every import counts, also one written inside a function.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "handlers", "conversations", "storage")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue  # Alembic's scripts, run by Alembic
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imports(path: Path, name: str, known: set[str]) -> Iterator[str]:
    """The project modules a module imports (a package's name stands for its __init__)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            # "from conversations import parsing" imports the module conversations.parsing.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: set(imports(path, name, known)) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return out


def test_no_import_cycles() -> None:
    found = cycles(graph())
    assert found == [], "import cycles: " + "; ".join(" ↔ ".join(c) for c in found)


@pytest.mark.parametrize(
    ("package", "may_import"),
    [
        ("conversations", {"conversations"}),
        ("storage", {"storage"}),
        ("handlers", {"handlers", "conversations.messages"}),
    ],
)
def test_imports_run_one_way(package: str, may_import: set[str]) -> None:
    wrong = []
    for name, targets in graph().items():
        if name.split(".")[0] != package:
            continue
        for target in targets:
            if not any(target == allowed or target.startswith(allowed + ".")
                       for allowed in may_import):
                wrong.append(f"{name} imports {target}")
    assert wrong == []


def test_the_check_sees_imports_inside_functions() -> None:
    """The checker itself: a late import still counts (a cycle cannot hide in one)."""
    edges = graph()
    assert "bot.app" in edges["bot.cli"]  # imported inside cmd_serve
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_stored_vocabulary_is_the_one_of_the_rules() -> None:
    """Storage may not import the rules; where it names their values, they agree."""
    from conversations import roles, tickets_flow
    from storage import repos_tickets
    from storage import roles as stored_roles

    assert set(repos_tickets.CLOSED_STATUSES) == set(tickets_flow.CLOSED)
    assert stored_roles.COORDINATOR == roles.COORDINATOR
