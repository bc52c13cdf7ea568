"""The runtime contract (`agent_runner/contract.py`), loaded without installing agent-runner.

The contract is stdlib-only, so the toolchain reads it by file path. This is the one place
that does so; everything else receives the module. Where it comes from, in order:
1. the checkout: `<project root>/agent-runner/src/agent_runner/contract.py` (the one the
   image is built from);
2. the copy a wheel of the toolchain carries (`pip install .` or `pipx install .`, not
   editable): `build_tools/_contract/` (see `build_tools.project`, which also reads
   agent-runner's version and says which directory is the checkout).
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from build_tools.errors import ConfigError
from build_tools.project import CHECKOUT_FIX, CONTRACT_FILE, PACKAGED_CONTRACT

if TYPE_CHECKING:
    # For types only: at run time the classes come from the module loaded by path.
    from agent_runner.contract import EnvVar

# A private module name so a by-path load never shadows a real `agent_runner` install.
_MODULE_NAME = "_agent_runner_contract"


def contract_path(project_root: Path, packaged: Path = PACKAGED_CONTRACT) -> Path:
    """The contract file to read: the checkout's, else the wheel's copy."""
    for path in (project_root / CONTRACT_FILE, packaged):
        if path.is_file():
            return path
    raise ConfigError(
        "Loading the runtime contract",
        f"{project_root / CONTRACT_FILE} does not exist and this installation of "
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


@dataclass(frozen=True)
class Contract:
    """The parts of the contract the toolchain uses (the image build and the local
    lifecycle), typed."""

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
