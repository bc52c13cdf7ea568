"""The docs name only commands, sessions, settings and exit codes that exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from build_tools import errors
from build_tools.cli import make_parser as build_parser
from build_tools.config import env_variable_names
from build_tools.runtime.cli import make_parser as runtime_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "docs/installation.md", "docs/development.md", "_changelog/README.md")


def _read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def _subcommands(parser: object) -> set[str]:
    actions = getattr(parser, "_subparsers")._group_actions  # noqa: B009 (argparse internals)
    return set(actions[0].choices)


def _nox_sessions() -> set[str]:
    tree = ast.parse(_read("noxfile.py"))
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any("session" in ast.unparse(decorator) for decorator in node.decorator_list)
    }


@pytest.mark.parametrize("name", DOCS)
def test_every_nox_session_named_in_the_docs_exists(name: str) -> None:
    named = {
        session
        for match in re.finditer(r"nox -s ([\w| ]+)", _read(name))
        for session in re.split(r"[| ]", match.group(1))
        if session
    }
    assert named <= _nox_sessions(), f"{name} names sessions that noxfile.py lacks"


@pytest.mark.parametrize("name", DOCS)
def test_every_toolchain_command_named_in_the_docs_exists(name: str) -> None:
    text = _read(name)
    built = set(re.findall(r"python -m build_tools ([a-z][\w-]*)", text))
    local = set(re.findall(r"(?:agent-runner-local|python -m build_tools\.runtime) ([a-z]+)", text))
    assert built <= _subcommands(build_parser()), name
    assert local <= _subcommands(runtime_parser()), name


def test_readme_lists_every_exit_code_of_the_toolchain() -> None:
    section = _read("README.md").split("## Exit codes", 1)[1]
    toolchain = section.split("agent-runner itself", 1)[0]
    listed = {int(code) for code in re.findall(r"\b(\d+) [a-zA-Z]", toolchain)}
    assert listed == set(errors.exit_code_table().values())


def test_readme_lists_every_setting_variable() -> None:
    readme = _read("README.md")
    assert [name for name in env_variable_names() if f"`{name}`" not in readme] == []


def test_the_readme_test_command_is_the_one_ci_runs() -> None:
    ci = re.search(r"^TEST_COMMAND='([^']+)'$", _read(".ci/run"), re.MULTILINE)
    assert ci is not None
    assert f"bash -c '{ci.group(1)}'" in _read("README.md")
