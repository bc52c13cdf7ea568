"""Facts about the project the toolchain works on: where agent-runner's files live, which
directory is the checkout, and agent-runner's version.

Paths are relative to the project root (the checkout). A wheel of the toolchain (`pip
install .`, not editable) has no checkout beside it: it carries copies of agent-runner's
contract and pyproject in `build_tools/_contract/`, put there by `[tool.hatch.build.targets
.wheel.force-include]` in pyproject.toml, and the readers fall back to those.
TOML is read with tomllib; tomlkit is only for the edit that must keep the layout (release).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from build_tools.errors import ConfigError

TOOL_PYPROJECT = Path("pyproject.toml")  # the toolchain's own, with its settings
RUNNER_DIR = Path("agent-runner")
RUNNER_PYPROJECT = RUNNER_DIR / "pyproject.toml"
RUNNER_LOCK = RUNNER_DIR / "requirements.lock"
RUNNER_SOURCES = RUNNER_DIR / "src"
RUNNER_PACKAGE_INIT = RUNNER_SOURCES / "agent_runner" / "__init__.py"
CONTRACT_FILE = RUNNER_SOURCES / "agent_runner" / "contract.py"
# Where a wheel of the toolchain keeps its copies (absent in a checkout).
PACKAGED_DIR = Path(__file__).resolve().parent / "_contract"
PACKAGED_CONTRACT = PACKAGED_DIR / "contract.py"
PACKAGED_RUNNER_PYPROJECT = PACKAGED_DIR / "agent-runner-pyproject.toml"
CHECKOUT_FIX = "Run this from an agent-runner checkout"  # the sentence the fixes start with


def read_exact(path: Path) -> str:
    # Bytes, not read_text: universal newlines would make a rollback differ from the original.
    return path.read_bytes().decode("utf-8")


def read_project_version(pyproject: Path) -> str:
    """The `[project] version` of agent-runner's pyproject.toml at `pyproject`."""
    try:
        version = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"Reading agent-runner's version from {pyproject}",
            f"it has no readable [project] version ({exc})",
            f"Set `version` in {RUNNER_PYPROJECT}.",
        ) from exc
    return str(version)


def runner_version(project_root: Path, packaged: Path = PACKAGED_RUNNER_PYPROJECT) -> str:
    """agent-runner's version (the image tag a checkout builds): the checkout's
    pyproject.toml, else the copy a wheel of the toolchain carries."""
    checkout = project_root / RUNNER_PYPROJECT
    path = next((p for p in (checkout, packaged) if p.is_file()), None)
    if path is None:
        raise ConfigError(
            "Reading agent-runner's version",
            f"{checkout} does not exist and this installation of the toolchain carries no copy",
            f"{CHECKOUT_FIX}, or name the image (--version X or --image REF).",
        )
    return read_project_version(path)


def is_checkout(path: Path) -> bool:
    return (path / CONTRACT_FILE).is_file() and (path / TOOL_PYPROJECT).is_file()


def find_project_root(package_parent: Path, cwd: Path) -> Path:
    """The checkout the toolchain works on: the one it runs from (an editable install),
    else the working directory or its nearest parent that is one, else `package_parent`
    (no checkout at all: the wheel's copies serve the commands that need no checkout)."""
    for candidate in (package_parent, cwd, *cwd.parents):
        if is_checkout(candidate):
            return candidate
    return package_parent


def require_checkout(project_root: Path, what: str) -> None:
    """For commands that build from or write into the checkout itself (not a wheel's copy)."""
    if not is_checkout(project_root):
        raise ConfigError(
            what, f"{project_root} is not an agent-runner checkout", f"{CHECKOUT_FIX}."
        )
