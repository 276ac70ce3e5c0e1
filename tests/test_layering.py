"""The package's import graph has no cycle, function-level imports included.

A module-level cycle breaks at import time; one hidden behind a function-level import
still ties two layers together, so both count. ``from pkg import name`` counts as an
import of ``pkg.name`` when that is a module (import-linter's convention), else of ``pkg``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "streamer"


def module_files(package: Path) -> dict[str, Path]:
    mods = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    def owner(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            else:
                continue
            for name in names:
                target = owner(name) if name.split(".")[0] == PACKAGE.name else None
                if target is not None and target != mod:
                    graph[mod].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
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
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_the_cycle_finder_finds_a_hidden_cycle(tmp_path):
    pkg = tmp_path / "streamer"
    (pkg / "io").mkdir(parents=True)
    (pkg / "soccer").mkdir()
    for init in (pkg, pkg / "io", pkg / "soccer"):
        (init / "__init__.py").write_text("")
    (pkg / "io" / "sink.py").write_text("def f():\n    from streamer.soccer import report\n")
    (pkg / "soccer" / "report.py").write_text("from streamer.io.sink import f\n")
    (pkg / "soccer" / "alone.py").write_text("from . import report\n")
    assert cycles(import_graph(module_files(pkg))) == [["streamer.io.sink", "streamer.soccer.report"]]


def test_no_import_cycles():
    found = cycles(import_graph(module_files(PACKAGE)))
    if found:
        pytest.fail("import cycles: " + "; ".join(" <-> ".join(c) for c in found))
