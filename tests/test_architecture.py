"""The shape of the code: no import cycle in `cti`, no module reaching into another
module's private names, no module too long to read in one sitting, and the OpenAPI
document unchanged unless a change means it (then regenerate `tests/data/openapi.json`)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from cti.api.openapi import document

SRC = Path(__file__).resolve().parent.parent / "src"
MAX_LINES = 500
DECLARATIVE = {"cti.ami.models"}  # the typed AMI events: one class per event, no logic


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / "cti").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> list[tuple[str, str]]:
    """(module, name) for every `cti` import anywhere in the file: top level, inside
    functions and under `if TYPE_CHECKING:` alike (a cycle hidden there is still one)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "cti":
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    out.append((sub, "") if sub in modules else (node.module, alias.name))
        elif isinstance(node, ast.Import):
            out += [(a.name, "") for a in node.names if a.name.split(".")[0] == "cti"]
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {m for m, _ in _imports(path, modules) if m in modules and m != name}
        for name, path in modules.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
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
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_cti() -> None:
    assert _cycles(_graph()) == []


def test_no_module_imports_another_modules_private_names() -> None:
    modules = _modules()
    private = [
        f"{name} imports {module}.{what}"
        for name, path in modules.items()
        for module, what in _imports(path, modules)
        if what.startswith("_")
    ]
    assert private == []


def test_no_module_is_too_long_to_read_in_one_sitting() -> None:
    long = {
        name: n
        for name, path in _modules().items()
        if name not in DECLARATIVE
        and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_api_does_not_depend_on_the_wiring_module() -> None:
    graph = _graph()
    assert [m for m in graph if m.startswith("cti.api") and "cti.app" in graph[m]] == []


def test_the_openapi_document_is_unchanged() -> None:
    expected = json.loads((Path(__file__).parent / "data" / "openapi.json").read_text())
    assert json.loads(json.dumps(document())) == expected


def test_test_modules_have_names_of_their_own_across_folders() -> None:
    """pytest imports test files by their base name (no packages here): a tests/pbx
    module named as one in tests/ stops the whole run at collection."""
    tests = Path(__file__).resolve().parent
    seen: dict[str, Path] = {}
    for path in sorted(tests.rglob("test_*.py")):
        other = seen.setdefault(path.name, path)
        assert other == path, f"{path.relative_to(tests)} and {other.relative_to(tests)}"
