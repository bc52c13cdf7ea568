"""The shipped toolchain runs without the test bed: every module outside build_tools/testbed
imports, and both command lines answer, in an interpreter where testcontainers cannot be
imported (a `sys.meta_path` finder refuses it, as if the testbed extra were not installed).

The static half (who imports what) is tests/unit/test_architecture.py; this is the real
import, in a fresh interpreter so nothing this session imported hides a missing package.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Runs first in every child: testcontainers is missing there, whatever this venv has.
BLOCK_TESTCONTAINERS = """
import importlib.abc, sys

class BlockTestcontainers(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "testcontainers":
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None

sys.meta_path.insert(0, BlockTestcontainers())
"""
IMPORT_ALL = """
import importlib, json, pkgutil
import build_tools

def shipped(name):
    last = name.rpartition(".")[2]
    # __main__ modules run their command line when imported (the help test runs those).
    return not name.startswith("build_tools.testbed") and last != "__main__"

names = sorted(
    info.name
    for info in pkgutil.walk_packages(build_tools.__path__, "build_tools.")
    if shipped(info.name)
)
for name in names:
    importlib.import_module(name)
loaded = sorted(name for name in sys.modules if name.startswith("build_tools.testbed."))
print(json.dumps({"imported": names, "testbed_loaded": loaded}))
"""


def _run_module(module: str, *args: str) -> str:
    """Code that runs `python -m module args` in the child and exits with its code."""
    return f"""
import runpy
sys.argv = [{module!r}, *{list(args)!r}]
try:
    runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
except SystemExit as done:
    sys.exit(done.code)
"""


def _blocked(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_TESTCONTAINERS + code],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_block_works() -> None:
    result = _blocked("import testcontainers")
    assert result.returncode == 1
    assert "No module named 'testcontainers' (blocked)" in result.stderr


def test_every_shipped_module_imports_without_testcontainers() -> None:
    result = _blocked(IMPORT_ALL)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert {"build_tools.cli", "build_tools.runtime.cli", "build_tools.config"} <= set(
        report["imported"]
    )
    assert report["testbed_loaded"] == []


def test_both_command_lines_answer_without_testcontainers() -> None:
    for module, usage in (
        ("build_tools", "usage: agent-runner-build"),
        ("build_tools.runtime", "usage: agent-runner-local"),
    ):
        result = _blocked(_run_module(module, "--help"))
        assert result.returncode == 0, result.stderr[-3000:]
        assert usage in result.stdout


def test_startup_without_the_testbed_says_to_install_its_extra() -> None:
    result = _blocked(_run_module("build_tools", "startup", "--image", "img:1"))
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line == (
        "agent-runner-build: Measuring cold start failed because the Python package "
        "'testcontainers' is not installed. Install the testbed extra: pip install -e "
        ".[testbed], or run it through `nox -s smoke`."
    )
