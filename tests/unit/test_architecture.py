"""The package's shape, read statically: no import cycles, and the test bed stays out of it.

Every module of build_tools is parsed with `ast`; its imports, at module level and inside
functions alike, are the edges of the graph (`from a import b` is an edge to `a.b` when
`b` is a module). The shipped toolchain must run without the testbed extra: only
build_tools/testbed imports testcontainers, and only cli.py's `startup` and
`temporal-image` handlers import build_tools.testbed (tests/integration/test_shipped.py
imports every module with testcontainers blocked).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from build_tools import testbed
from build_tools.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "build_tools"
TESTBED = f"{PACKAGE}.testbed"
# The handlers of build_tools/cli.py that may import the test bed (inside the function).
TESTBED_HANDLERS = {"_startup_handler", "_temporal_image_handler"}


@dataclass(frozen=True)
class Import:
    target: str  # the imported module (a name of `modules()` when it is one of ours)
    module_level: bool  # False: inside a function, so it runs when that is called
    function: str | None  # the outermost function around it


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted((ROOT / PACKAGE).rglob("*.py"))}


def _base(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _targets(module: str, path: Path, node: ast.AST, known: Mapping[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = _base(module, path, node)
        # `from build_tools import testbed` imports the submodule, not a name of the package.
        return [
            f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
            for alias in node.names
        ]
    return []


def imports_of(module: str, known: Mapping[str, Path]) -> Iterator[Import]:
    path = known[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))

    def visit(node: ast.AST, function: str | None) -> Iterator[Import]:
        for target in _targets(module, path, node, known):
            yield Import(target, function is None, function)
        inner = function
        if function is None and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            inner = node.name
        for child in ast.iter_child_nodes(node):
            yield from visit(child, inner)

    yield from visit(tree, None)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports, anywhere in its text."""
    known = modules()
    return {
        module: {found.target for found in imports_of(module, known) if found.target in known}
        for module in known
    }


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One cycle (a -> ... -> a) through each strongly connected group of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def connect(node: str) -> None:  # Tarjan's algorithm; the package is small
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                connect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = set()
            while (member := stack.pop()) != node:
                group.add(member)
            groups.append({*group, node})

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_path_around(group, graph) for group in groups if len(group) > 1]


def _path_around(group: set[str], graph: Mapping[str, set[str]]) -> list[str]:
    """A shortest cycle through the group's first module (breadth first, inside the group)."""
    start = min(group)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for successor in sorted(graph[node] & group):
                if successor == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if successor not in previous:
                    previous[successor] = node
                    following.append(successor)
        frontier = following
    raise AssertionError(f"{sorted(group)} is strongly connected but has no cycle")


def _in_testbed(module: str) -> bool:
    return module == TESTBED or module.startswith(TESTBED + ".")


def _imports_testbed(found: Import) -> bool:
    return _in_testbed(found.target)


def _imports_testcontainers(found: Import) -> bool:
    return found.target.split(".")[0] == "testcontainers"


# -- the checks themselves work -----------------------------------------------------------


def test_the_graph_sees_function_level_and_submodule_imports() -> None:
    graph = import_graph()
    assert "build_tools.runtime.cli" in graph
    assert "build_tools.image.build" in graph["build_tools.cli"]  # inside _build_handler
    assert "build_tools.testbed" in graph["build_tools.cli"]  # `from build_tools import testbed`
    assert "build_tools.testbed.containers" in graph["build_tools.testbed.cold_start"]


def test_a_cycle_is_found_and_printed_from_end_to_end() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e", "d"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


# -- the package ---------------------------------------------------------------------------


def test_build_tools_has_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert found == [], "import cycles (break each so the dependency goes one way):\n" + "\n".join(
        " -> ".join(cycle) for cycle in found
    )


def test_only_the_testbed_imports_testcontainers() -> None:
    known = modules()
    offending = sorted(
        f"{module} ({found.function or 'module level'})"
        for module in known
        if not _in_testbed(module)
        for found in imports_of(module, known)
        if _imports_testcontainers(found)
    )
    assert offending == [], f"{offending} import testcontainers: only build_tools/testbed may"


def test_nothing_shipped_imports_the_testbed_at_module_level() -> None:
    known = modules()
    offending = sorted(
        module
        for module in known
        if not _in_testbed(module)
        for found in imports_of(module, known)
        if _imports_testbed(found) and found.module_level
    )
    assert offending == [], f"{offending} import build_tools.testbed when they are imported"


def test_only_the_cli_handlers_of_startup_and_temporal_image_import_the_testbed() -> None:
    known = modules()
    importers = {
        (module, found.function)
        for module in known
        if not _in_testbed(module)
        for found in imports_of(module, known)
        if _imports_testbed(found)
    }
    assert importers == {("build_tools.cli", handler) for handler in TESTBED_HANDLERS}


def test_the_testbed_package_itself_imports_no_third_party_package() -> None:
    """`require_extra` runs from it before anything that needs the extra is imported."""
    known = modules()
    targets = {found.target.split(".")[0] for found in imports_of(TESTBED, known)}
    assert targets <= {"__future__", "importlib", PACKAGE}


def test_a_missing_testbed_package_is_a_config_error_naming_the_extra() -> None:
    with pytest.raises(ConfigError) as info:
        testbed.require_extra("Measuring cold start", ("no_such_package_of_this_test",))
    assert str(info.value).startswith(
        "Measuring cold start failed because the Python package "
        "'no_such_package_of_this_test' is not installed. Install the testbed extra: "
        "pip install -e .[testbed]"
    )
    assert info.value.exit_code == 2
    testbed.require_extra("Measuring cold start")  # the test extra includes the testbed's


LENGTH_GUIDELINE = 400
REASON = re.compile(r"[Oo]ver (the )?~?400")


def _python_files() -> list[Path]:
    return sorted(
        [*(ROOT / PACKAGE).rglob("*.py"), *(ROOT / "tests").rglob("*.py"), ROOT / "noxfile.py"]
    )


@pytest.mark.parametrize("path", _python_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_a_file_over_the_length_guideline_says_why_at_its_top(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) <= LENGTH_GUIDELINE:
        return
    top = "\n".join(lines[:30])
    assert REASON.search(top), (
        f"{path.relative_to(ROOT)} has {len(lines)} lines: split it, or say at its top why it is "
        f"over the ~{LENGTH_GUIDELINE}-line guideline"
    )
