"""The library's module-level imports form no circle (a circle makes import order matter and hides layering)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "classifier"


def module_name(path: Path) -> str:
    """The dotted name of a module file of `classifier`."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path, known: set[str]) -> set[str]:
    """The `classifier` modules a module imports when it is imported (statements at its top level)."""
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in known)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of `classifier` it imports at import time."""
    files = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: top_level_imports(path, set(files)) - {name} for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every circle found by a depth-first walk (each reported once, from where the walk entered it)."""
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        stack.append(node)
        for child in sorted(graph[node]):
            if state.get(child) == "open":
                found.append([*stack[stack.index(child) :], child])
            elif child not in state:
                visit(child, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def test_the_graph_sees_the_modules_and_their_imports():
    graph = import_graph()
    assert "classifier.artifacts" in graph and "classifier.versions" in graph
    assert "classifier.artifacts" in graph["classifier.versions"]


def test_cycles_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b", "a"]]


def test_classifier_has_no_import_circle():
    assert cycles(import_graph()) == []


def test_classifier_imports_neither_training_nor_the_service():
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                assert node.module.split(".")[0] not in {"training", "service", "flask"}, f"{path}: {node.module}"


def test_the_service_imports_only_the_public_api_of_training():
    """`service/` uses `training` through the names its `__init__` exports (every import, lazy ones too)."""
    import training

    service = PACKAGE.parent / "service"
    for path in service.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                assert not any(alias.name.startswith("training") for alias in node.names), f"{path}: import"
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "training":
                assert node.module == "training", f"{path}: from {node.module} import ..."
                assert {alias.name for alias in node.names} <= set(training.__all__), path
