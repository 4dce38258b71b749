"""The package's shape: imports run one way, and no module reaches into another's private names.

Read from the source with ``ast`` (nothing is imported), so a violation is caught before it
can hide behind a lazy import. Module-level imports make the graph; imports inside functions
and under ``if TYPE_CHECKING:`` are deferred and may point anywhere except at private names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "composer"

BELOW_ALL = ("composer.errors",)  # the error classes, which import nothing
# Lower layers never import upper ones at module level (ARCHITECTURE.md).
NEVER = {
    "composer.score": ("composer.",),  # the bottom: numpy only
    "composer.theory": ("composer.io", "composer.tokens", "composer.render", "composer.formats", "composer.generate", "composer.cli"),
    "composer.harmony": ("composer.io", "composer.tokens", "composer.render", "composer.formats", "composer.generate", "composer.dataset", "composer.cli"),
    "composer.form": ("composer.io", "composer.tokens", "composer.render", "composer.formats", "composer.generate", "composer.cli"),
    "composer.io": ("composer.render", "composer.formats", "composer.tokens", "composer.generate", "composer.cli"),
    "composer.tokens": ("composer.render", "composer.formats", "composer.generate", "composer.modelfile", "composer.cli", "composer.nn"),
    "composer.render": ("composer.formats", "composer.tokens", "composer.generate", "composer.modelfile", "composer.cli"),
    "composer.generate": ("composer.render", "composer.formats", "composer.training", "composer.cli"),
    "composer.nn": ("composer.io", "composer.render", "composer.formats", "composer.tokens", "composer.cli"),
}


def module_name(path: Path) -> str:
    parts = path.with_suffix("").relative_to(PACKAGE.parent).parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str) -> list[tuple[str, str, bool]]:
    """(module imported, name taken from it or '', at module level?) for every composer import."""
    path = MODULES[module]
    found: list[tuple[str, str, bool]] = []

    def visit(body: list[ast.stmt], top: bool) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(node.body, False)
            elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.body, False)
                visit(node.orelse, top)
            elif isinstance(node, ast.Import):
                found.extend((a.name, "", top) for a in node.names if a.name.startswith("composer"))
            elif isinstance(node, ast.ImportFrom):
                source = absolute(module, path, node)
                if source.startswith("composer"):
                    found.extend((source, a.name, top) for a in node.names)
            else:
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(node, field, None) or [], top)
                for handler in getattr(node, "handlers", None) or []:
                    visit(handler.body, top)

    visit(ast.parse(path.read_text(encoding="utf-8")).body, True)
    return found


def target(source: str, name: str) -> str:
    """The module an import lands on: ``from composer import io`` lands on composer.io."""
    return f"{source}.{name}" if f"{source}.{name}" in MODULES else source


def is_private(source: str, name: str) -> bool:
    private_module = any(p.startswith("_") and not p.startswith("__") for p in source.split(".")[1:])
    private_name = name.startswith("_") and not (name.startswith("__") and name.endswith("__"))
    return private_module or private_name


def test_no_module_imports_a_private_name_of_another() -> None:
    crossing = [
        f"{module} imports {source}:{name}" for module in MODULES for source, name, _ in imports(module) if target(source, name) != module and is_private(source, name)
    ]
    assert crossing == []


def test_the_module_level_import_graph_has_no_cycle() -> None:
    graph = {m: {target(s, n) for s, n, top in imports(m) if top} - {m} for m in MODULES}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def walk(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt in MODULES and nxt not in state:
                walk(nxt, [*stack, nxt])
        state[node] = 2

    for m in MODULES:
        if m not in state:
            walk(m, [m])
    assert cycles == []


@pytest.mark.parametrize("lower", sorted(NEVER))
def test_lower_layers_never_import_upper_ones(lower: str) -> None:
    members = [m for m in MODULES if m == lower or m.startswith(lower + ".")]
    upward = [
        f"{m} imports {target(s, n)}"
        for m in members
        for s, n, top in imports(m)
        if top and target(s, n).startswith(NEVER[lower]) and not target(s, n).startswith((lower, *BELOW_ALL))
    ]
    assert upward == []
