"""The tree shows the layers: imports point down (faces -> services -> infrastructure -> core),
hook.py and the stand-in agent stand alone, and no module imports itself round a cycle.

Read from the source with `ast`, so an import inside a function counts as much as one at the
top (both run); imports under `if TYPE_CHECKING:` are left out (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "ccr"

CORE = {"core"}
INFRASTRUCTURE = {"store", "remote", "reliability", "telemetry", "imaging"}
SERVICES = {"services"}
FACES = {"api", "cli", "console", "telegram"}
STANDALONE = {"ccr.hook", "ccr.demo.agent"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PKG.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(name: str, path: Path) -> set[str]:
    """The ccr modules `name` imports at run time."""
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()

    def resolve(node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = name.split(".") if is_pkg else name.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        return ".".join([*base, *([node.module] if node.module else [])])

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = resolve(child)
                for alias in child.names:
                    sub = f"{base}.{alias.name}"
                    found.add(sub if sub in MODULES else base)
            visit(child)

    visit(ast.parse(path.read_text()))
    return {m for m in found if m == "ccr" or m.startswith("ccr.")} - {name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _allowed(area: str) -> set[str] | None:
    """The areas a module of `area` may import; None when anything goes (hub, entry points)."""
    if area in CORE:
        return CORE
    if area in INFRASTRUCTURE:
        return CORE | INFRASTRUCTURE
    if area in SERVICES:
        return CORE | INFRASTRUCTURE | SERVICES
    return None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str) -> None:
    allowed = _allowed(_area(module))
    if module in STANDALONE:
        assert GRAPH[module] == set(), f"{module} must stay standard-library only"
        return
    if allowed is None:
        return
    wrong = sorted(m for m in GRAPH[module] if m != "ccr" and _area(m) not in allowed)
    assert not wrong, f"{module} ({_area(module)}) imports {wrong}: imports point down only"


FACE_EXCEPTIONS = {("ccr.cli.main", "ccr.console.app")}
"""`ccr console` starts the console: the CLI is the process entry, not a peer face."""


def test_no_face_imports_another_face() -> None:
    wrong = [
        (m, d) for m, deps in GRAPH.items() if _area(m) in FACES
        for d in deps if _area(d) in FACES and _area(d) != _area(m)
        and (m, d) not in FACE_EXCEPTIONS
    ]
    assert not wrong, f"faces import each other: {wrong}"


def test_no_import_cycles() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH.get(v, ()):
            if w not in GRAPH:
                continue
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            strongconnect(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_checker_sees_imports() -> None:
    """The graph is real: a known edge is found, so an empty graph cannot pass the tests above."""
    assert "ccr.core.models" in GRAPH["ccr.services.sessions"]
    assert "ccr.remote.ssh_errors" in GRAPH["ccr.remote.pool"]
