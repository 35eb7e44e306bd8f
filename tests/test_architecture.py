"""The import graph: no cycles, front ends on top, private names kept private.

``lint-imports`` (import-linter, run by CI) checks the contracts in pyproject.toml; these
tests check what those contracts cannot state for modules that do not exist yet (any new
front end) and the module-level cycles the contracts' package view would hide.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import grimp
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gittrack"
FRONT_ENDS = ("gittrack.cli", "gittrack.ui", "gittrack.server", "gittrack.web", "gittrack.__main__")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # Imports inside functions count; imports only for type checkers do not run.
    return grimp.build_graph("gittrack", cache_dir=None, exclude_type_checking_imports=True)


def _front_end(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FRONT_ENDS)


def test_no_import_cycles_between_modules(graph: grimp.ImportGraph) -> None:
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
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
                cycles.append(sorted(component))

    for module in modules:
        if module not in index:
            visit(module)
    assert cycles == []


def test_the_library_never_imports_a_front_end(graph: grimp.ImportGraph) -> None:
    fronts = sorted(m for m in graph.modules if _front_end(m))
    library = sorted(m for m in graph.modules if not _front_end(m) and m != "gittrack")
    found = [
        (lib, front)
        for lib in library
        for front in fronts
        if front in graph.find_modules_directly_imported_by(lib)
    ]
    assert found == []


ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"


def _documented_layers() -> list[tuple[str, list[str]]]:
    """The rows of docs/architecture.md's table, top first: (layer, module names)."""
    rows = []
    for line in ARCHITECTURE.read_text(encoding="utf-8").splitlines():
        cells = line.split("|")
        if len(cells) == 5 and cells[2].strip().startswith("`"):
            names = re.findall(r"`(gittrack[\w.]*)`", cells[2])
            rows.append((cells[1].strip(), names))
    return rows


def _row_of(module: str, rows: list[tuple[str, list[str]]]) -> int | None:
    """The row a module is in: the row naming it or its longest named package; a package
    named in two rows is in the upper one itself, and its submodules in the lower."""
    best: tuple[int, int] | None = None  # (length of the name, row)
    for i, (_, names) in enumerate(rows):
        for name in names:
            if module == name and (best is None or len(name) > best[0]):
                best = (len(name), i)  # exact: the upper row wins (first found)
            elif module.startswith(name + ".") and (best is None or len(name) >= best[0]):
                best = (len(name), i)  # below a package: the lower row wins
    return None if best is None else best[1]


def test_the_documented_layers_are_the_import_graph(graph: grimp.ImportGraph) -> None:
    """Every module is in docs/architecture.md's table and imports only modules of its
    row or of the rows below it (the facade, which loads its names lazily, aside)."""
    rows = _documented_layers()
    assert [layer for layer, _ in rows][:2] == ["front ends", "fluent"]
    modules = sorted(m for m in graph.modules if m != "gittrack")
    row = {m: _row_of(m, rows) for m in modules}
    assert [m for m, r in row.items() if r is None] == []
    upward = [
        (m, rows[row[m] or 0][0], d, rows[row[d] or 0][0])
        for m in modules
        for d in sorted(graph.find_modules_directly_imported_by(m))
        if d in row and (row[d] or 0) < (row[m] or 0)
    ]
    assert upward == []


def _python_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_modules_import_no_private_names_of_other_modules() -> None:
    found = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gittrack"):
                for alias in node.names:
                    private = alias.name.startswith("_") and not alias.name.startswith("__")
                    own = (node.module or "").replace(".", "/") in str(path)
                    if private and not own:
                        found.append(f"{path.relative_to(PACKAGE)}: {node.module}.{alias.name}")
    assert found == []


def test_importlib_only_where_a_module_name_is_data() -> None:
    # The facade loads public names lazily, the CLI loads the module of the command typed,
    # an MLmodel file names its loader module and a booster model its library's class, and
    # autologging loads a flavor's hooks only once its library is imported: nowhere else
    # may an import hide.
    allowed = {
        "__init__.py",
        "cli/app.py",
        "models/mlmodel.py",
        "models/boosters.py",
        "autologging/__init__.py",
    }
    users = {
        str(p.relative_to(PACKAGE)) for p in _python_files() if "import_module(" in p.read_text()
    }
    assert users <= allowed
