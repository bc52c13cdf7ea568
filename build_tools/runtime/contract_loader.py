"""The runtime contract (`agent_runner/contract.py`), loaded without installing agent-runner.

The contract is stdlib-only, so the toolchain reads it by file path. This is the one place
that does so; everything else receives the module. Where it comes from, in order:
1. the checkout: `<project root>/agent-runner/src/agent_runner/contract.py` (the one the
   image is built from);
2. the copy a wheel of the toolchain carries (`pip install .` or `pipx install .`, not
   editable): `build_tools/_contract/`, put there by `[tool.hatch.build.targets.wheel
   .force-include]` in pyproject.toml, with agent-runner's pyproject.toml for its version.
"""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from build_tools.errors import ConfigError

if TYPE_CHECKING:
    # For types only: at run time the classes come from the module loaded by path.
    from agent_runner.contract import EnvVar

CONTRACT_RELATIVE_PATH = Path("agent-runner/src/agent_runner/contract.py")
RUNNER_PYPROJECT_RELATIVE_PATH = Path("agent-runner/pyproject.toml")
# Where a wheel of the toolchain keeps its copies (absent in a checkout).
PACKAGED_DIR = Path(__file__).resolve().parents[1] / "_contract"
PACKAGED_CONTRACT = PACKAGED_DIR / "contract.py"
PACKAGED_RUNNER_PYPROJECT = PACKAGED_DIR / "agent-runner-pyproject.toml"
CHECKOUT_FIX = "Run this from an agent-runner checkout"  # the sentence the fixes start with
# A private module name so a by-path load never shadows a real `agent_runner` install.
_MODULE_NAME = "_agent_runner_contract"


def contract_path(project_root: Path, packaged: Path = PACKAGED_CONTRACT) -> Path:
    """The contract file to read: the checkout's, else the wheel's copy."""
    for path in (project_root / CONTRACT_RELATIVE_PATH, packaged):
        if path.is_file():
            return path
    raise ConfigError(
        "Loading the runtime contract",
        f"{project_root / CONTRACT_RELATIVE_PATH} does not exist and this installation of "
        "the toolchain carries no copy of it",
        f"{CHECKOUT_FIX}, or reinstall the toolchain from one (pip install .).",
    )


def load_contract(project_root: Path, packaged: Path = PACKAGED_CONTRACT) -> ModuleType:
    """The contract module, by path, without installing agent-runner's dependencies."""
    path = contract_path(project_root, packaged)
    cached = sys.modules.get(_MODULE_NAME)
    if cached is not None and getattr(cached, "__file__", None) == str(path):
        return cached
    spec = importlib.util.spec_from_file_location(_MODULE_NAME, path)
    if spec is None or spec.loader is None:
        raise ConfigError("Loading the runtime contract", f"{path} is not loadable", "Fix it.")
    module = importlib.util.module_from_spec(spec)
    # Registered before exec: dataclasses resolve annotations through sys.modules.
    sys.modules[_MODULE_NAME] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[_MODULE_NAME]
        raise
    return module


def runner_version(project_root: Path, packaged: Path = PACKAGED_RUNNER_PYPROJECT) -> str:
    """agent-runner's version (the image tag a checkout builds): the checkout's
    pyproject.toml, else the copy a wheel of the toolchain carries."""
    checkout = project_root / RUNNER_PYPROJECT_RELATIVE_PATH
    path = next((p for p in (checkout, packaged) if p.is_file()), None)
    if path is None:
        raise ConfigError(
            "Reading agent-runner's version",
            f"{checkout} does not exist and this installation of the toolchain carries no copy",
            f"{CHECKOUT_FIX}, or name the image (--version X or --image REF).",
        )
    return read_project_version(path)


def read_project_version(pyproject: Path) -> str:
    """The `[project] version` of agent-runner's pyproject.toml at `pyproject`."""
    try:
        version = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"Reading agent-runner's version from {pyproject}",
            f"it has no readable [project] version ({exc})",
            "Set `version` in agent-runner/pyproject.toml.",
        ) from exc
    return str(version)


def is_checkout(path: Path) -> bool:
    return (path / CONTRACT_RELATIVE_PATH).is_file() and (path / "pyproject.toml").is_file()


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


@dataclass(frozen=True)
class Contract:
    """The parts of the contract the local lifecycle uses, typed."""

    env_vars: tuple[EnvVar, ...]
    container_name: str
    workspace_mount: str
    runtime_uid: int
    runtime_gid: int
    ready_event: str
    ready_file_default: str
    healthcheck_command: tuple[str, ...]
    exit_codes: dict[int, str]

    def env_var(self, name: str) -> EnvVar:
        for var in self.env_vars:
            if var.name == name:
                return var
        raise KeyError(name)

    @property
    def python(self) -> str:
        """The interpreter name the image's healthcheck uses (so it exists in the image)."""
        return self.healthcheck_command[0]


def read_contract(project_root: Path) -> Contract:
    module = load_contract(project_root)
    return Contract(
        env_vars=tuple(module.ENV_VARS),
        container_name=str(module.CONTAINER_NAME),
        workspace_mount=str(module.WORKSPACE_MOUNT),
        runtime_uid=int(module.RUNTIME_UID),
        runtime_gid=int(module.RUNTIME_GID),
        ready_event=str(module.READY_EVENT),
        ready_file_default=str(module.READY_FILE_DEFAULT),
        healthcheck_command=tuple(module.HEALTHCHECK_COMMAND),
        exit_codes={int(code.code): str(code.name) for code in module.EXIT_CODES},
    )
