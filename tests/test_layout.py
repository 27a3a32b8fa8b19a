"""The package's shape, as the code says it: no import cycle (counting the
imports inside functions, under TYPE_CHECKING and by module name), and no
module below Store reaching into it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "treeship_store"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules `name` imports anywhere in its text: import
    statements at any depth, and the modules it loads by name (the values of
    a dict of names, in a module that calls importlib)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    text = path.read_text()
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict) and "import_module" in text:
            found.update(f"{package}.{value.value}" for value in node.values
                         if isinstance(value, ast.Constant) and isinstance(value.value, str))
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module or ""
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {target for target in found if target in known and target != name}


def test_no_module_imports_itself_back_through_others():
    known = modules()
    graph = {name: imported(name, path, known) for name, path in known.items()}
    # The top package's lazy names (PEP 562) load modules that import the
    # package's errors; every submodule runs the top __init__ first anyway.
    graph["treeship_store"] = set()
    cycles, state = [], {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                cycles.append(trail[trail.index(target):] + [target])
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = "done"
    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_no_module_below_store_calls_its_private_methods():
    """Store hands what a lower module needs as arguments or public objects."""
    private = {node.name for node in ast.walk(ast.parse((PACKAGE / "store.py").read_text()))
               if isinstance(node, ast.FunctionDef) and node.name.startswith("_") and not node.name.startswith("__")}
    reaching = [f"{path.relative_to(PACKAGE)}: store.{node.attr}" for path in PACKAGE.rglob("*.py")
                if path.name != "store.py" for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.Attribute) and node.attr in private]
    assert private and not reaching, reaching
