"""The image gates: parsing the tools' real outputs, thresholds, the plan and the executor's
command lines (through FakeHost; the tools' report files are the saved real outputs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from build_tools.config import Gates, load_config
from build_tools.errors import ConfigError, ImageGateError
from build_tools.image.gate_results import (
    failure_summary,
    parse_dive,
    parse_dive_verdict,
    parse_structure,
    platform_rows,
)
from build_tools.image.gates import (
    OFFLINE_BASE_CONFIG,
    STRUCTURE_CONFIG,
    dive_ci_config,
    make_gate_plan,
    platform_manifests,
    repository_of,
    structure_configs,
)

DATA = Path(__file__).parent / "data" / "gates"
ROOT = Path(__file__).resolve().parents[2]
IMAGE = "127.0.0.1:5000/stigmer/agent-runner:dev"
AMD64 = "sha256:" + "a" * 64
ARM64 = "sha256:" + "b" * 64
OFFLINE_BASE = "127.0.0.1:5000/agent-runner-base/python:3.13-trixie"
INDEX = {
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [
        {"digest": AMD64, "platform": {"os": "linux", "architecture": "amd64"}},
        {"digest": ARM64, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {
            "digest": "sha256:" + "c" * 64,
            "platform": {"os": "unknown", "architecture": "unknown"},
            "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
        },
    ],
}


def _load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


# -- parsing the tools' real outputs ------------------------------------------------------------


def test_structure_report_of_the_real_image_passes() -> None:
    result = parse_structure(_load("structure-pass.json"))
    assert (result.passed, result.failed, result.failures) == (33, 0, ())


def test_structure_report_of_a_bad_image_names_the_failed_tests() -> None:
    result = parse_structure(_load("structure-fail.json"))
    assert result.failed >= 2
    names = [name for name, _ in result.failures]
    assert "File Existence Test: no bash" in names
    assert "File Existence Test: no pip in the image's site-packages" in names
    assert all(why for _, why in result.failures)


def test_dive_export_of_the_real_image() -> None:
    result = parse_dive(_load("dive-pass.json"))
    assert result.size_bytes == 307_968_644
    assert result.base_bytes == 64_096_971
    assert result.wasted_bytes == 2645
    assert result.efficiency == pytest.approx(0.999995545)
    # dive's userWastedPercent: wasted over the layers above the first (it printed 0.0011 %)
    assert result.user_wasted_ratio == pytest.approx(2645 / (307_968_644 - 64_096_971))
    assert [f.path for f in result.wasted] == ["/etc/passwd", "/etc/group"]


def test_dive_export_of_a_wasteful_image_names_the_file() -> None:
    result = parse_dive(_load("dive-fail.json"))
    assert result.wasted_bytes > 64_000_000
    assert result.wasted[0].path == "/opt/waste.bin"
    assert result.wasted[0].wasted_bytes >= 64_000_000


@pytest.mark.parametrize(
    ("output", "verdict"),
    [
        ("\x1b[32mResult:PASS [Total:3] [Passed:3] [Failed:0]\x1b[0m\n", True),
        ("  FAIL: highestWastedBytes: too many bytes wasted\nResult:FAIL [Total:3]\n", False),
        ("cannot fetch image\n", None),
    ],
)
def test_dive_verdict(output: str, verdict: bool | None) -> None:
    assert parse_dive_verdict(output) is verdict


# -- thresholds and rows ------------------------------------------------------------------------


def _rows(dive_name: str, thresholds: Gates, *, dive_passed: bool = True) -> dict[str, Any]:
    rows = platform_rows(
        "linux/amd64",
        structure=parse_structure(_load("structure-pass.json")),
        dive=parse_dive(_load(dive_name)),
        dive_passed=dive_passed,
        thresholds=thresholds,
        seconds=12.5,
    )
    return {row.metric: row for row in rows}


def test_the_real_image_passes_the_default_thresholds() -> None:
    rows = _rows("dive-pass.json", Gates())
    assert {name: row.status for name, row in rows.items()} == {
        "structure tests failed": "pass",
        "structure tests passed": "info",
        "layer efficiency": "pass",
        "wasted bytes": "pass",
        "user wasted ratio": "pass",
        "dive --ci rules failed": "pass",
        "gate runtime": "info",
    }
    assert rows["layer efficiency"].limit == "min"
    assert rows["layer efficiency"].budget == 0.95
    assert rows["wasted bytes"].budget == 20


def test_the_wasteful_image_fails_on_wasted_bytes_and_ratio() -> None:
    rows = _rows("dive-fail.json", Gates(), dive_passed=False)
    assert rows["wasted bytes"].status == "fail"
    assert rows["wasted bytes"].value > 64
    assert rows["user wasted ratio"].status == "fail"
    assert rows["dive --ci rules failed"].status == "fail"
    summary = failure_summary(tuple(rows.values()))
    assert "wasted bytes" in summary
    assert "> 20 MB on linux/amd64" in summary


def test_a_threshold_just_under_the_real_figure_fails_it() -> None:
    rows = _rows("dive-pass.json", Gates(layer_efficiency=1.0, wasted_mb=0.002))
    assert rows["layer efficiency"].status == "fail"
    assert rows["wasted bytes"].status == "fail"
    assert "layer efficiency 0.999996 < 1 ratio" in failure_summary(tuple(rows.values()))


def test_thresholds_layer_pyproject_environment_command_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.agent-runner-build.gates]\nlayer-efficiency = 0.9\nwasted-mb = 30\n",
        encoding="utf-8",
    )
    environ = {"AGENT_RUNNER_BUILD_WASTED_MB": "25", "AGENT_RUNNER_BUILD_USER_WASTED_RATIO": "0.1"}
    config = load_config(tmp_path, environ, {"user_wasted_ratio": 0.2})
    assert config.gates == Gates(layer_efficiency=0.9, wasted_mb=25, user_wasted_ratio=0.2)


def test_the_repository_defaults_are_the_documented_ones() -> None:
    assert load_config(ROOT, {}).gates == Gates(0.95, 20, 0.05)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("LAYER_EFFICIENCY", "0"), ("LAYER_EFFICIENCY", "1.5"), ("USER_WASTED_RATIO", "2"),
     ("WASTED_MB", "-1"), ("WASTED_MB", "lots")],
)  # fmt: skip
def test_bad_thresholds_are_config_errors(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"AGENT_RUNNER_BUILD_{variable}"):
        load_config(ROOT, {f"AGENT_RUNNER_BUILD_{variable}": value})


def test_unknown_gate_setting_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.agent-runner-build.gates]\nefficiency = 1\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="'efficiency' is not a known gate setting"):
        load_config(tmp_path, {})


def test_the_generated_dive_ci_carries_the_thresholds() -> None:
    assert dive_ci_config(Gates()) == (
        "rules:\n  lowestEfficiency: 0.95\n  highestWastedBytes: 20000000\n"
        "  highestUserWastedPercent: 0.05\n"
    )


# -- the plan -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "repository"),
    [
        ("127.0.0.1:5000/stigmer/agent-runner:dev", "127.0.0.1:5000/stigmer/agent-runner"),
        ("127.0.0.1:5000/a/b@" + AMD64, "127.0.0.1:5000/a/b"),
        ("localhost:5000/b:1@" + AMD64, "localhost:5000/b"),
        ("stigmer/agent-runner", "stigmer/agent-runner"),
    ],
)
def test_repository_of(ref: str, repository: str) -> None:
    assert repository_of(ref) == repository


def test_an_index_gives_each_runnable_platform_its_manifest() -> None:
    assert platform_manifests(INDEX, None, {}) == {"linux/amd64": AMD64, "linux/arm64": ARM64}


def test_a_single_manifest_is_its_configs_platform() -> None:
    raw = {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "layers": []}
    assert platform_manifests(raw, AMD64, {"linux/amd64": {}}) == {"linux/amd64": AMD64}


def test_the_offline_base_adds_its_structure_config() -> None:
    common = ROOT / "tests" / "structure" / STRUCTURE_CONFIG
    offline = ROOT / "tests" / "structure" / OFFLINE_BASE_CONFIG
    label = "org.opencontainers.image.base.name"
    assert structure_configs(ROOT, {label: OFFLINE_BASE}, OFFLINE_BASE) == (common, offline)
    assert structure_configs(ROOT, {label: "python:3.13-slim@sha256:1"}, OFFLINE_BASE) == (common,)
    assert structure_configs(ROOT, {}, OFFLINE_BASE) == (common,)
    assert common.is_file()
    assert offline.is_file()


def _plan(platforms: tuple[str, ...], tmp_path: Path) -> Any:
    labels = {"linux/amd64": {"org.opencontainers.image.base.name": OFFLINE_BASE}}
    return make_gate_plan(
        IMAGE,
        platforms=platforms,
        manifests={"linux/amd64": AMD64, "linux/arm64": ARM64},
        labels=labels,
        config=load_config(ROOT, {}),
        report_dir=tmp_path,
    )


def test_the_plan_pulls_each_platform_by_digest_and_tags_it_locally(tmp_path: Path) -> None:
    plan = _plan(("linux/amd64", "linux/arm64"), tmp_path)
    amd64, arm64 = plan.gates
    assert amd64.source == f"127.0.0.1:5000/stigmer/agent-runner@{AMD64}"
    assert amd64.local == "agent-runner-gates/amd64:aaaaaaaaaaaa"
    assert arm64.local == "agent-runner-gates/arm64:bbbbbbbbbbbb"
    assert len(amd64.configs) == 2  # offline base label
    assert len(arm64.configs) == 1
    assert arm64.structure_argv() == [
        "container-structure-test", "test", "--image", arm64.local, "--platform", "linux/arm64",
        "--config", str(ROOT / "tests/structure/agent-runner.yaml"),
        "--output", "json", "--test-report", str(tmp_path / "gates/arm64-structure.json"),
    ]  # fmt: skip
    assert arm64.dive_json_argv() == [
        "dive",
        arm64.local,
        "--source",
        "docker",
        "--json",
        str(tmp_path / "gates/arm64-dive.json"),
    ]
    assert arm64.dive_ci_argv()[-2:] == ["--ci-config", str(tmp_path / "gates/.dive-ci")]
    described = plan.describe()
    assert f"docker pull --platform linux/arm64 {arm64.source}" in described
    assert "CI=true dive agent-runner-gates/amd64" in described


def test_a_platform_the_image_lacks_is_a_gate_failure(tmp_path: Path) -> None:
    with pytest.raises(ImageGateError, match="it has no linux/arm64 image") as raised:
        make_gate_plan(
            IMAGE,
            platforms=("linux/amd64", "linux/arm64"),
            manifests={"linux/amd64": AMD64},
            labels={},
            config=load_config(ROOT, {}),
            report_dir=tmp_path,
        )
    assert raised.value.exit_code == 13
