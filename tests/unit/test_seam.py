"""The seam holds: only the seam modules talk to processes, docker, registries or Temporal."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "build_tools"
# Modules that may reach the outside world (see their docstrings). runtime/probe.py is not
# run by the toolchain: it is piped into the runner's container and runs there.
SEAM = {"host.py", "testbed/containers.py", "testbed/temporal_api.py", "runtime/probe.py"}
OUTSIDE_WORLD = {
    "docker",
    "http",
    "python_on_whales",
    "requests",
    "socket",
    "subprocess",
    "temporalio",
    "testcontainers",
    "urllib.error",
    "urllib.request",
}
# The command-line entry points read the environment once and pass it down.
READS_ENVIRONMENT = {"cli.py", "runtime/cli.py", "runtime/probe.py"}
MODULES = sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py"))


def _tree(name: str) -> ast.Module:
    return ast.parse((PACKAGE / name).read_text(encoding="utf-8"))


def _imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _touches(imported: str) -> bool:
    return any(imported == bad or imported.startswith(bad + ".") for bad in OUTSIDE_WORLD)


def test_the_package_is_found() -> None:
    assert {"host.py", "cli.py", "runtime/cli.py"} <= set(MODULES)


@pytest.mark.parametrize("name", sorted(set(MODULES) - SEAM))
def test_only_the_seam_imports_the_outside_world(name: str) -> None:
    offending = sorted(filter(_touches, _imports(_tree(name))))
    assert offending == [], f"{name} imports {offending}: go through build_tools.host.Host"


@pytest.mark.parametrize("name", sorted(set(MODULES) - READS_ENVIRONMENT))
def test_only_the_entry_points_read_the_environment(name: str) -> None:
    reads = [
        node.lineno
        for node in ast.walk(_tree(name))
        if isinstance(node, ast.Attribute)
        and node.attr in {"environ", "getenv"}
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    ]
    assert reads == [], f"{name}:{reads} reads os.environ; take a Mapping argument instead"


def test_git_failures_carry_gits_own_words() -> None:
    """Every line git printed, stdout when stderr is empty; -m notes stay out of the name."""
    from collections.abc import Sequence
    from typing import Any

    from build_tools.errors import GitError
    from build_tools.host import CommandResult, RealHost

    class Scripted(RealHost):
        def __init__(self, result: CommandResult) -> None:
            super().__init__({})
            self.result = result

        def run(self, argv: Sequence[str], **_: Any) -> CommandResult:
            return self.result

    failing = Scripted(CommandResult(("git", "commit"), 128, "", "fatal: a\nhint: b\n"))
    with pytest.raises(GitError) as info:
        failing.git(["commit", "-m", "Release 1.0.0\n\nnotes"], cwd=Path())
    assert "fatal: a | hint: b" in str(info.value)
    assert "notes" not in str(info.value)
    quiet = Scripted(CommandResult(("git", "commit"), 1, "nothing to commit\n", ""))
    with pytest.raises(GitError, match="nothing to commit"):
        quiet.git(["commit"], cwd=Path())
