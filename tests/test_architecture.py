"""The house rules of the code base, checked on the code itself.

- no import cycle between modules (lazy and ``TYPE_CHECKING`` imports count too: they are how a
  cycle hides), the core never imports the service, and ``import tercet`` stays light;
- no module reaches into another's private names, and none imports the package root;
- the name of a descriptor file is spelled in one module only;
- a file over 400 lines says why on its first line.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "tercet"
HEAVY = ("torch", "duckdb", "fastapi", "starlette", "uvicorn", "sklearn", "PIL")
SERVICE_USERS = ("tercet.service", "tercet.cli", "tercet.testing")
MAX_LINES = 400
LONG_FILE_REASON = "Over 400 lines:"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("tercet", exclude_type_checking_imports=False)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_planted_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_modules(graph: grimp.ImportGraph) -> None:
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert cycles(edges) == []


def test_the_core_never_imports_the_service(graph: grimp.ImportGraph) -> None:
    # grimp's "downstream" modules of a package are those that import it, directly or not.
    users = graph.find_downstream_modules("tercet.service", as_package=True)
    assert sorted(m for m in users if not m.startswith(SERVICE_USERS)) == []


def test_no_module_imports_the_package_root(graph: grimp.ImportGraph) -> None:
    # The root is the face (``tercet.__init__``); modules import what they need from its rooms.
    assert graph.find_modules_that_directly_import("tercet") == set()


def test_importing_tercet_loads_no_heavy_dependency() -> None:
    code = f"import sys, tercet; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split() == []


def _python_files() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "static" not in p.parts)


def _names_defined_in(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def private_reaches(source: str) -> list[str]:
    """Uses of another module's ``_private`` names in ``source``: imported by name, or read as
    an attribute that this module does not define itself."""
    tree = ast.parse(source)
    own = _names_defined_in(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tercet"):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"line {node.lineno}: from {node.module} import {alias.name}")
        elif isinstance(node, ast.Attribute):
            private = node.attr.startswith("_") and not node.attr.startswith("__")
            mine = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            if private and not mine and node.attr not in own:
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_the_private_name_check_sees_both_ways_in() -> None:
    assert private_reaches("from tercet.storage.errors import _hint\n")
    assert private_reaches("def f(table):\n    return table._d['created']\n")
    assert not private_reaches("class T:\n    def __init__(self):\n        self._d = 1\n"
                               "def f(t):\n    return t._d\n")  # fmt: skip


def test_no_module_reaches_into_another_modules_private_names() -> None:
    found = {
        str(path.relative_to(SRC)): hits
        for path in _python_files()
        if (hits := private_reaches(path.read_text(encoding="utf-8")))
    }
    assert found == {}


def test_the_descriptor_file_is_named_by_the_format_module_only() -> None:
    """``"object.json"`` as a value (a path piece, not prose in a message) is spelled once."""
    found = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
                continue
            if node.value.split("/")[-1] == "object.json":
                found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert [f.split(":")[0] for f in found] == ["format.py"], found


def _source_files() -> list[Path]:
    roots = [
        REPO / "src",
        REPO / "tests",
        REPO / "bench",
        REPO / "examples",
        REPO / "dashboard/src",
    ]
    out = []
    for root in roots:
        for path in root.rglob("*"):
            generated = path.name == "schema.d.ts" or "static" in path.parts
            if path.suffix in (".py", ".ts", ".svelte") and not generated:
                out.append(path)
    return sorted(out)


def test_a_long_file_says_why_on_its_first_line() -> None:
    unexplained = []
    for path in _source_files():
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > MAX_LINES and not (lines and LONG_FILE_REASON in lines[0]):
            unexplained.append(f"{path.relative_to(REPO)} ({len(lines)} lines)")
    assert unexplained == []
