"""The package's shape, checked: no import cycle between modules, no class or function too big to read.

The floors themselves (no package importing one above it, no loop between packages) are the
import-linter contract in pyproject.toml, run by ``make test`` (``lint-imports``); this module adds what
that contract cannot say: cycles between single modules, and the size limits of docs/ARCHITECTURE.md
("How to keep it readable"). Complexity (mccabe, at most 15) is ruff's C901, configured in pyproject.toml.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

PACKAGE = Path(__file__).resolve().parents[2] / "uni_wizard"
MAX_CLASS_LINES = 250
MAX_FUNCTION_LINES = 60


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
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


def test_no_two_modules_import_each_other_even_through_others() -> None:
    graph = grimp.build_graph("uni_wizard")
    assert _cycles(graph) == []


def _sizes() -> tuple[list[str], list[str]]:
    classes, functions = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE.parent)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1 if hasattr(node, "lineno") else 0
            if isinstance(node, ast.ClassDef) and lines > MAX_CLASS_LINES:
                classes.append(f"{where}:{node.name} ({lines} lines)")
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and lines > MAX_FUNCTION_LINES:
                functions.append(f"{where}:{node.name} ({lines} lines)")
    return classes, functions


def test_no_class_over_250_lines_and_no_function_over_60() -> None:
    classes, functions = _sizes()
    assert classes == [], f"classes over {MAX_CLASS_LINES} lines: split them by responsibility"
    assert functions == [], f"functions over {MAX_FUNCTION_LINES} lines: name their steps"


def test_the_checks_can_fail() -> None:
    """A cycle and an oversized function are found (so an empty result above means something)."""
    graph = grimp.ImportGraph()
    for module in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(module)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.c")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    assert _cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
    tree = ast.parse("def f():\n" + "    x = 1\n" * 70)
    function = tree.body[0]
    assert (function.end_lineno or 0) - function.lineno + 1 > MAX_FUNCTION_LINES


def test_every_package_says_what_lives_there_and_what_it_may_import() -> None:
    missing = []
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        if not doc or "Floor:" not in doc or "import" not in doc.split("Floor:", 1)[1].lower():
            missing.append(init.parent.name)
    assert missing == [], "each package's __init__ docstring ends with a 'Floor: ... May import: ...' line"
