"""The build benchmark's plan, timing and report, with a fake clock and FakeHost."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pytest

from build_tools.config import ToolConfig
from build_tools.docker import BuildxRequest
from build_tools.errors import BuildError
from build_tools.image.bench import (
    BenchTiming,
    bench_cases,
    bench_report,
    copy_context,
    in_context,
    plan_request_maker,
    run_bench,
    time_cases,
)
from build_tools.image.plan import SourceInfo
from build_tools.options import BenchArguments
from build_tools.runtime.contract_loader import read_contract
from tests.unit.fakes import FakeDocker, FakeHost

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MODULE = Path("agent-runner/src/agent_runner/__init__.py")


def _project(root: Path) -> Path:
    (root / MODULE).parent.mkdir(parents=True)
    (root / MODULE).write_text('"""agent runner."""\n')
    (root / "agent-runner/src/agent_runner/worker.py").write_text("x = 1\n")
    (root / "Dockerfile").write_text("FROM scratch\n")
    (root / "build/wheelhouse/amd64/wheels").mkdir(parents=True)
    (root / "build/wheelhouse/amd64/wheels/a.whl").write_bytes(b"wheel")
    (root / "build/reports").mkdir()
    (root / "build/reports/old.json").write_text("{}")
    (root / ".git").mkdir()
    (root / ".git/HEAD").write_text("ref")
    (root / "agent-runner/src/agent_runner/__pycache__").mkdir()
    return root


def _maker(config: ToolConfig, platform: str, tag: str, no_cache: bool) -> BuildxRequest:
    root = config.project_root
    return BuildxRequest(
        context=root,
        dockerfile=root / "Dockerfile",
        platforms=(platform,),
        tags=(tag,),
        load=True,
        no_cache=no_cache,
    )


def _clock(*readings: float) -> Iterator[float]:
    return iter(readings)


def test_cases_are_cold_amd64_then_warm_amd64_then_cold_arm64(tmp_path: Path) -> None:
    cases = bench_cases(ToolConfig(project_root=tmp_path), _maker)

    assert [(c.name, c.platform, c.request.no_cache, c.change_code) for c in cases] == [
        ("cold", "linux/amd64", True, False),
        ("warm", "linux/amd64", False, True),
        ("cold", "linux/arm64", True, False),
    ]
    assert [c.request.tags for c in cases] == [
        ("127.0.0.1:5000/bench/agent-runner:cold-amd64",),
        ("127.0.0.1:5000/bench/agent-runner:warm-amd64",),
        ("127.0.0.1:5000/bench/agent-runner:cold-arm64",),
    ]
    assert all(c.request.push and not c.request.load for c in cases)


def test_no_arm64_case_when_arm64_is_not_configured(tmp_path: Path) -> None:
    config = ToolConfig(project_root=tmp_path, platforms=("linux/amd64",))

    assert [c.platform for c in bench_cases(config, _maker)] == ["linux/amd64"] * 2


def test_in_context_moves_context_and_dockerfile(tmp_path: Path) -> None:
    cases = bench_cases(ToolConfig(project_root=tmp_path / "src"), _maker)

    moved = in_context(cases, tmp_path / "copy")

    assert {c.request.context for c in moved} == {tmp_path / "copy"}
    assert {c.request.dockerfile for c in moved} == {tmp_path / "copy/Dockerfile"}


def test_in_context_refuses_cases_with_different_contexts(tmp_path: Path) -> None:
    cases = bench_cases(ToolConfig(project_root=tmp_path), _maker)
    odd = replace(cases[1], request=replace(cases[1].request, context=tmp_path / "elsewhere"))

    with pytest.raises(BuildError, match="share one build context"):
        in_context((cases[0], odd), tmp_path / "copy")


def test_copy_context_keeps_sources_and_wheelhouse_only(tmp_path: Path) -> None:
    source = _project(tmp_path / "project")

    copy = copy_context(source, tmp_path / "copy")

    files = sorted(str(p.relative_to(copy)) for p in copy.rglob("*") if p.is_file())
    assert files == [
        "Dockerfile",
        "agent-runner/src/agent_runner/__init__.py",
        "agent-runner/src/agent_runner/worker.py",
        "build/wheelhouse/amd64/wheels/a.whl",
    ]


def test_time_cases_changes_code_before_the_warm_build_only(tmp_path: Path) -> None:
    project = _project(tmp_path / "project")
    cases = bench_cases(ToolConfig(project_root=project), _maker)
    host = FakeHost()
    module = project / MODULE
    readings = _clock(0.0, 100.0, 200.0, 204.0, 300.0, 450.0)
    contents_at_build: list[str] = []

    def build(request: BuildxRequest, *, log: IO[str]) -> None:
        contents_at_build.append(module.read_text())
        FakeDocker.buildx_build(host.docker, request, log=log)

    host.docker.buildx_build = build  # type: ignore[method-assign]
    timings = time_cases(cases, host, clock=readings.__next__, log=io.StringIO(), marker="m1")

    assert timings == [
        BenchTiming("cold", "linux/amd64", 100.0),
        BenchTiming("warm", "linux/amd64", 4.0),
        BenchTiming("cold", "linux/arm64", 150.0),
    ]
    assert "code-only change m1" not in contents_at_build[0]
    assert contents_at_build[1].endswith("# build benchmark: code-only change m1\n")
    assert [request.no_cache for request in host.builds] == [True, False, True]


def test_report_ratios_against_goals() -> None:
    timings = [
        BenchTiming("cold", "linux/amd64", 100.0),
        BenchTiming("warm", "linux/amd64", 5.0),
        BenchTiming("cold", "linux/arm64", 180.0),
    ]

    rows = {row.metric: row for row in bench_report(timings).rows}

    warm = rows["warm/cold build time"]
    assert (warm.value, warm.budget, warm.status) == (0.05, 0.1, "pass")
    cross = rows["arm64/amd64 cold build time"]
    assert (cross.value, cross.budget, cross.status) == (1.8, 1.5, "fail")
    assert rows["warm rebuild (code change)"].value == 5.0


def test_report_without_arm64_says_so() -> None:
    timings = [BenchTiming("cold", "linux/amd64", 10.0), BenchTiming("warm", "linux/amd64", 2.0)]

    report = bench_report(timings)

    assert [row.metric for row in report.rows if row.unit == "ratio"] == ["warm/cold build time"]
    assert report.failed[0].value == 0.2
    assert any("No arm64 build" in note for note in report.notes)


def test_run_bench_builds_from_a_copy_and_writes_reports(tmp_path: Path) -> None:
    project = _project(tmp_path / "project")
    original = (project / MODULE).read_text()
    summary = tmp_path / "summary.md"
    host = FakeHost(environ={"GITHUB_STEP_SUMMARY": str(summary)})
    prepared: list[tuple[str, ...]] = []
    readings = _clock(0.0, 3.0, 10.0, 70.0, 80.0, 85.0, 90.0, 150.0)
    args = BenchArguments(report_dir=tmp_path / "reports")

    code = run_bench(
        args,
        ToolConfig(project_root=project),
        host,
        clock=readings.__next__,
        make_request=_maker,
        prepare=lambda _config, platforms, _host, _log: prepared.append(tuple(platforms)),
        log=io.StringIO(),
    )

    assert code == 0
    assert prepared == [("linux/amd64", "linux/arm64")]
    assert (project / MODULE).read_text() == original  # only the copy was changed
    assert all(request.context != project for request in host.builds)
    assert ("ensure_docker", None) in host.calls
    saved = json.loads((tmp_path / "reports/bench.json").read_text())
    values = {(row["metric"], row["scope"]): row["value"] for row in saved["rows"]}
    assert values[("wheelhouse preparation", "linux/amd64, linux/arm64")] == 3.0
    assert values[("cold build", "linux/amd64")] == 60.0
    assert values[("warm rebuild (code change)", "linux/amd64")] == 5.0
    assert values[("cold build", "linux/arm64")] == 60.0
    assert values[("arm64/amd64 cold build time", "cold builds")] == 1.0
    assert saved["details"]["changed_file"] == str(MODULE)
    assert "### Build benchmark" in summary.read_text()


def test_a_failed_build_fails_the_benchmark(tmp_path: Path) -> None:
    project = _project(tmp_path / "project")
    host = FakeHost(build_error=BuildError("docker buildx build", "it exited with 1", "Fix it."))

    with pytest.raises(BuildError):
        run_bench(
            BenchArguments(report_dir=tmp_path / "reports"),
            ToolConfig(project_root=project),
            host,
            clock=_clock(*range(10)).__next__,
            make_request=_maker,
            prepare=lambda _config, _platforms, _host, _log: None,
            log=io.StringIO(),
        )
    assert not (tmp_path / "reports").exists()


def test_plan_requests_carry_only_the_bench_tag_and_one_set_of_facts(tmp_path: Path) -> None:
    config = ToolConfig(project_root=tmp_path, offline=True)
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    runtime = read_contract(PROJECT_ROOT)
    make = plan_request_maker(SourceInfo("abc123", "1.2.3", "", runtime), now)

    cases = bench_cases(config, make)

    cold, warm, arm = (case.request for case in cases)
    assert cold.tags == ("127.0.0.1:5000/bench/agent-runner:cold-amd64",)
    assert (cold.platforms, cold.no_cache, cold.push, cold.load) == (
        ("linux/amd64",),
        True,
        True,
        False,
    )
    assert (warm.no_cache, arm.platforms) == (False, ("linux/arm64",))
    assert cold.context == tmp_path
    assert cold.dockerfile == tmp_path / "Dockerfile"
    assert cold.build_args["BASE_IMAGE"] == config.offline_base_image
    assert cold.build_args["CREATED"] == "2026-01-02T03:04:05Z"
    assert cold.build_args["SOURCE_DATE_EPOCH"] == "1767323045"  # the same second
    # identical inputs apart from the cache switch: the warm build differs only by the code
    assert dict(cold.build_args) == dict(warm.build_args) == dict(arm.build_args)
