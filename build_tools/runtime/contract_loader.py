"""The runtime contract (`agent_runner/contract.py`), loaded without installing agent-runner.

The contract is stdlib-only, so the toolchain reads it by file path when agent-runner is not
importable. This is the one place that does so; everything else receives the module.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from build_tools.errors import ConfigError

if TYPE_CHECKING:
    # For types only: at run time the classes come from the module loaded by path.
    from agent_runner.contract import EnvVar

CONTRACT_RELATIVE_PATH = Path("agent-runner/src/agent_runner/contract.py")
# A private module name so a by-path load never shadows a real `agent_runner` install.
_MODULE_NAME = "_agent_runner_contract"


def load_contract(project_root: Path) -> ModuleType:
    """The checkout's contract module, by path: the one the image is built from, and no
    need to install agent-runner's dependencies to read it."""
    cached = sys.modules.get(_MODULE_NAME)
    path = project_root / CONTRACT_RELATIVE_PATH
    if cached is not None and getattr(cached, "__file__", None) == str(path):
        return cached
    if not path.is_file():
        # Outside a checkout (the toolchain installed as a wheel): the installed runner's.
        if importlib.util.find_spec("agent_runner") is not None:
            return importlib.import_module("agent_runner.contract")
        raise ConfigError(
            "Loading the runtime contract",
            f"{path} does not exist and agent-runner is not installed",
            "Run from a checkout of the project, or install agent-runner.",
        )
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
