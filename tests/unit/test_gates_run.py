"""The image gates' executor through FakeHost: the tools' command lines per platform, the
report, exit 13, the docker part's tag and remove (the tools' report files are the saved
real outputs of tests/unit/data/gates/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from build_tools.cli import run
from build_tools.docker import RealDocker
from build_tools.errors import DockerDaemonError, RegistryError
from build_tools.process import CommandResult
from tests.unit.fakes import FakeHost
from tests.unit.test_gates import AMD64, ARM64, DATA, IMAGE, INDEX, ROOT

# -- the executor, through FakeHost ----------------------------------------------------------


def _host(tmp_path: Path, *, dive: str, structure: str, verdict: str) -> FakeHost:
    host = FakeHost(
        programs={"docker", "container-structure-test", "dive"},
        raw_manifests={IMAGE: INDEX},
        image_config_answers={
            IMAGE: {
                "linux/amd64": {"config": {"Labels": {}}},
                "linux/arm64": {"config": {"Labels": {}}},
            }
        },
        pullable={f"127.0.0.1:5000/stigmer/agent-runner@{d}" for d in (AMD64, ARM64)},
    )
    # The tools write their reports where the plan says; here, the saved real ones.
    host.writes.update(
        {
            "container-structure-test test": {"--test-report": (DATA / structure).read_bytes()},
            "dive agent-runner-gates": {"--json": (DATA / dive).read_bytes()},
        }
    )
    ok = CommandResult((), 0, "", "")
    host.commands.update(
        {
            "docker version --format {{.Server.Version}}": CommandResult((), 0, "26.1.5\n", ""),
            "container-structure-test test": ok,
            "dive agent-runner-gates": ok,
            "dive agent-runner-gates/amd64:aaaaaaaaaaaa --source docker --ci-config": CommandResult(
                (), 0, verdict, ""
            ),
            "dive agent-runner-gates/arm64:bbbbbbbbbbbb --source docker --ci-config": CommandResult(
                (), 0, verdict, ""
            ),
        }
    )
    return host


def _run_gates(host: FakeHost, tmp_path: Path, *extra: str) -> int:
    argv = ["gates", "--image", IMAGE, "--report-dir", str(tmp_path), *extra]
    return run(argv, {}, host_factory=lambda _: host, project_root=ROOT)


def test_gates_run_both_tools_per_platform_and_clean_up(tmp_path: Path) -> None:
    host = _host(tmp_path, dive="dive-pass.json", structure="structure-pass.json",
                 verdict="Result:PASS [Total:3]\n")  # fmt: skip

    assert _run_gates(host, tmp_path, "--platform", "linux/amd64", "--platform", "linux/arm64") == 0

    runs = [argv for kind, argv in host.calls if kind == "run" and argv[0] != "docker"]
    assert [argv[:2] for argv in runs] == [
        ("container-structure-test", "test"), ("dive", "agent-runner-gates/amd64:aaaaaaaaaaaa"),
        ("dive", "agent-runner-gates/amd64:aaaaaaaaaaaa"),
        ("container-structure-test", "test"), ("dive", "agent-runner-gates/arm64:bbbbbbbbbbbb"),
        ("dive", "agent-runner-gates/arm64:bbbbbbbbbbbb"),
    ]  # fmt: skip
    removed = [ref for kind, ref in host.calls if kind == "image_remove"]
    assert removed == [
        "agent-runner-gates/amd64:aaaaaaaaaaaa", f"127.0.0.1:5000/stigmer/agent-runner@{AMD64}",
        "agent-runner-gates/arm64:bbbbbbbbbbbb", f"127.0.0.1:5000/stigmer/agent-runner@{ARM64}",
    ]  # fmt: skip
    report = json.loads((tmp_path / "gates.json").read_text())
    assert report["passed"] is True
    assert {row["scope"] for row in report["rows"]} == {"linux/amd64", "linux/arm64"}
    assert "| layer efficiency | linux/arm64 |" in (tmp_path / "gates.md").read_text()
    assert "lowestEfficiency: 0.95" in (tmp_path / "gates" / ".dive-ci").read_text()


def test_a_failing_gate_exits_13_after_writing_its_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = _host(tmp_path, dive="dive-fail.json", structure="structure-fail.json",
                 verdict="Result:FAIL [Total:3]\n")  # fmt: skip

    assert _run_gates(host, tmp_path, "--platform", "linux/amd64") == 13

    said = capsys.readouterr().err
    assert "Image gates of 127.0.0.1:5000/stigmer/agent-runner:dev failed because" in said
    assert "structure tests failed" in said
    assert "wasted bytes" in said
    report = json.loads((tmp_path / "gates.json").read_text())
    assert report["passed"] is False
    assert any("no bash" in note for note in report["notes"])


def test_a_command_line_threshold_beats_pyproject(tmp_path: Path) -> None:
    host = _host(tmp_path, dive="dive-pass.json", structure="structure-pass.json",
                 verdict="Result:PASS\n")  # fmt: skip

    assert _run_gates(host, tmp_path, "--platform", "linux/amd64", "--wasted-mb", "0.001") == 13
    rows = json.loads((tmp_path / "gates.json").read_text())["rows"]
    assert next(r for r in rows if r["metric"] == "wasted bytes")["budget"] == 0.001


def test_dry_run_prints_the_plan_and_runs_no_tool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = _host(tmp_path, dive="dive-pass.json", structure="structure-pass.json", verdict="")

    assert _run_gates(host, tmp_path, "--dry-run", "--platform", "linux/amd64,linux/arm64") == 0

    assert (
        "container-structure-test test --image agent-runner-gates/arm64" in capsys.readouterr().out
    )
    assert not [c for c in host.calls if c[0] in {"image_pull", "image_tag"}]


def test_an_unpushed_image_is_a_registry_error(tmp_path: Path) -> None:
    host = _host(tmp_path, dive="dive-pass.json", structure="structure-pass.json", verdict="")
    host.raw_manifests.clear()
    assert _run_gates(host, tmp_path) == RegistryError.exit_code


def test_missing_tools_say_to_install_the_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = _host(tmp_path, dive="dive-pass.json", structure="structure-pass.json", verdict="")
    host.programs.discard("dive")
    assert _run_gates(host, tmp_path) == 12
    assert "gates extra" in capsys.readouterr().err


def test_the_docker_part_tags_and_removes_with_absent_as_fine() -> None:
    world = FakeHost()
    world.commands.update(
        {
            "docker image tag a b": CommandResult((), 0, "", ""),
            "docker image rm gone": CommandResult((), 1, "", "Error: No such image: gone"),
            "docker image rm busy": CommandResult((), 1, "", "image is in use by a container"),
        }
    )
    docker = RealDocker(world.process)

    docker.image_tag("a", "b")
    docker.image_remove("gone")  # absent: nothing to do
    with pytest.raises(DockerDaemonError, match="docker image rm busy"):
        docker.image_remove("busy")
    assert next(argv for kind, argv in world.calls if kind == "run") == (
        "docker", "image", "tag", "a", "b",
    )  # fmt: skip
