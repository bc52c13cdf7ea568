"""The seam holds: only its parts talk to processes, docker, registries or Temporal.

process.py alone starts subprocesses, docker.py alone spells docker command lines,
registry.py alone speaks HTTP to registries; the smoke-test bed's container seam is
containers.py and temporal_api.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "build_tools"
# Modules that may reach the outside world (see their docstrings). runtime/probe.py is not
# run by the toolchain: it is piped into the runner's container and runs there.
SEAM = {
    "process.py",
    "docker.py",
    "registry.py",
    "testbed/containers.py",
    "testbed/temporal_api.py",
    "runtime/probe.py",
}
# Within the seam, by concern: who may import subprocess, and who may spell `docker ...`.
STARTS_PROCESSES = {"process.py", "runtime/probe.py"}
SPELLS_DOCKER = {"docker.py"}
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


@pytest.mark.parametrize("name", sorted(set(MODULES) - STARTS_PROCESSES))
def test_only_the_process_part_starts_processes(name: str) -> None:
    imported = {
        i for i in _imports(_tree(name)) if i in {"subprocess", "os"} or i.startswith("subprocess.")
    }
    calls = [
        node.lineno
        for node in ast.walk(_tree(name))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
        and node.attr in {"system", "popen", "execv", "execve", "spawnv", "posix_spawn", "fork"}
    ]
    assert "subprocess" not in imported, f"{name} imports subprocess: use build_tools.process"
    assert calls == [], f"{name}:{calls} starts a process: use build_tools.process"


def _docker_argvs(tree: ast.Module) -> list[int]:
    """Lines of list/tuple literals whose first item is the string "docker"."""
    return sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.List | ast.Tuple)
        and node.elts
        and isinstance(node.elts[0], ast.Constant)
        and node.elts[0].value == "docker"
    )


@pytest.mark.parametrize("name", sorted(set(MODULES) - SPELLS_DOCKER))
def test_only_the_docker_part_spells_docker_command_lines(name: str) -> None:
    lines = _docker_argvs(_tree(name))
    assert lines == [], f"{name}:{lines} builds a docker argv: add a method to build_tools.docker"


def test_the_docker_argv_check_can_fail() -> None:
    """The check sees argvs however they are spelled (list, tuple, nested in a call)."""
    source = 'run(["docker", "pull", ref])\nx = ("docker", "rm")\nf(*["docker"])\n'
    assert _docker_argvs(ast.parse(source)) == [1, 2, 3]


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
    from build_tools.errors import GitError
    from build_tools.git import RealGit
    from build_tools.process import CommandResult
    from tests.unit.fakes import FakeHost

    failing = FakeHost(
        commands={"git": CommandResult(("git", "commit"), 128, "", "fatal: a\nhint: b\n")}
    )
    with pytest.raises(GitError) as info:
        RealGit(failing.process).run(["commit", "-m", "Release 1.0.0\n\nnotes"], cwd=Path())
    assert "fatal: a | hint: b" in str(info.value)
    assert "notes" not in str(info.value)
    quiet = FakeHost(
        commands={"git": CommandResult(("git", "commit"), 1, "nothing to commit\n", "")}
    )
    with pytest.raises(GitError, match="nothing to commit"):
        RealGit(quiet.process).run(["commit"], cwd=Path())
