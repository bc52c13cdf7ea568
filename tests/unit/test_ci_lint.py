"""lint_ci's ShellCheck covers every shell script in the repository."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIPPED = {
    ".git",
    ".nox",
    ".venv",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "node_modules",
    "wheelhouse",
    "dist",
    "reports",
    "build",
    "__pycache__",
}
SHELL_SHEBANG = re.compile(rb"^#!\s*(/usr/bin/env\s+)?(/bin/|/usr/bin/)?(ba|da)?sh\b")


def _linted() -> set[str]:
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "SHELL_SCRIPTS" for target in node.targets
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, tuple)
            return {str(item) for item in value}
    raise AssertionError("noxfile.py defines no SHELL_SCRIPTS")


def _shell_scripts() -> set[str]:
    found: set[str] = set()
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [name for name in dirs if name not in SKIPPED]  # prune venvs, caches, git
        for name in files:
            path = Path(folder) / name
            if not path.is_file():  # a dangling link
                continue
            with path.open("rb") as stream:
                head = stream.read(64)
            if path.suffix in {".sh", ".bash"} or SHELL_SHEBANG.match(head):
                found.add(path.relative_to(ROOT).as_posix())
    return found


def test_shellcheck_covers_every_shell_script() -> None:
    assert _shell_scripts() == _linted()


def test_the_shebang_pattern_knows_a_shell_script_from_python() -> None:
    assert SHELL_SHEBANG.match(b"#!/usr/bin/env bash\nset -e")
    assert SHELL_SHEBANG.match(b"#!/bin/sh\n")
    assert not SHELL_SHEBANG.match(b"#!/usr/bin/env python3\n")
