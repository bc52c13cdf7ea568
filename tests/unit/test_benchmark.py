"""The benchmark's pure half (settings, figures, targets, JSON and Markdown) and its seams:
the CPU-time parser, the fleet's CPU per execution, the execution timing over fake docker."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from build_tools.errors import ConfigError, RuntimeContainerError
from build_tools.image.size import LayerSize, PlatformSize
from build_tools.testbed import benchmark
from build_tools.testbed.benchmark import (
    BenchmarkResult,
    BenchmarkSettings,
    ExecutionTimes,
    IdleMemory,
    parse_args,
    targets,
    to_json,
    write_benchmark,
)
from build_tools.testbed.cold_start import ColdStart, StartupResult
from build_tools.testbed.docker_output import cpu_seconds_of
from build_tools.testbed.fleet import (
    ExecutionSample,
    FleetRun,
    FleetSettings,
    ReplicaSample,
    cpu_seconds_per_execution,
    median_round,
)
from build_tools.testbed.fleet import build_report as build_fleet_report
from build_tools.testbed.fleet import parse_args as fleet_args
from tests.support.benchmark_run import execution_seconds
from tests.support.fake_ollama import FakeOllama
from tests.support.fleet_bench import script_steps
from tests.unit.fakes import FakeHost

MB = 1_000_000


def _cold(seconds: float) -> ColdStart:
    return ColdStart(seconds * 0.2, seconds * 0.3, None, seconds, seconds, 90.0)


def _fleet(replicas: int, wall: float, completed: int, cpu: float | None = 1.5) -> FleetRun:
    done = [ExecutionSample(f"aex-{i}", 2.0, "EXECUTION_COMPLETED") for i in range(completed)]
    return FleetRun(
        replicas=replicas,
        wall_seconds=wall,
        executions=(*done, ExecutionSample("", 9.0, "WORKFLOW_FAILED")),
        containers=tuple(
            ReplicaSample(f"r{i}", completed // replicas, 90.0, 120.0, cpu) for i in range(replicas)
        ),
    )


def _size(platform: str, unpacked: int, compressed: int) -> PlatformSize:
    layer = LayerSize("sha256:aa", "gzip", compressed - 500, unpacked, "RUN x")
    return PlatformSize(platform, "sha256:bb", 500, (layer,))


def _result(
    *,
    cold: tuple[float, ...] = (2.0, 2.4, 2.2),
    floors: tuple[float, ...] = (1.0, 1.1, 0.9),
    first: float = 1.8,
    second: float = 1.0,
    after_settle: float = 150.0,
    unpacked: int = 250 * MB,
    fleet: tuple[FleetRun, ...] = (_fleet(1, 12.0, 12), _fleet(3, 4.0, 12)),
) -> BenchmarkResult:
    return BenchmarkResult(
        platform="linux/amd64",
        startup=StartupResult("linux/amd64", tuple(_cold(s) for s in cold), floors),
        executions=ExecutionTimes(first, second),
        idle_memory=IdleMemory(at_ready_mb=120.0, after_settle_mb=after_settle, warm_up_s=2.5),
        sizes=(_size("linux/amd64", unpacked, 90 * MB), _size("linux/arm64", 240 * MB, 80 * MB)),
        fleet=fleet,
        load_average=((1.5, 1.2, 0.8), (2.0, 1.4, 0.9149)),
    )


def _by_name(result: BenchmarkResult) -> dict[str, benchmark.Target]:
    return {t.name: t for t in targets(result)}


# -- settings -----------------------------------------------------------------------------


def test_defaults_are_the_issue_s_settings() -> None:
    settings = parse_args([])
    assert (settings.runs, settings.replicas, settings.settle_seconds) == (5, (1, 3), 10.0)
    assert (settings.model_delay_seconds, settings.calls_per_execution) == (0.5, 4)
    fleet = settings.fleet()
    assert (fleet.calls_per_execution, fleet.model_delay_seconds, fleet.image) == (
        4,
        0.5,
        settings.image,
    )


def test_every_option_reaches_the_settings(tmp_path: Path) -> None:
    settings = parse_args(
        [
            "--image=x:1",
            "--runs=2",
            "--replicas=3,1",
            "--executions=4",
            "--model-delay=0.1",
            "--calls-per-execution=5",
            "--settle=1.5",
            "--max-concurrency=2",
            f"--report-dir={tmp_path}",
            "--fleet-rounds=5",
        ]
    )
    assert settings == BenchmarkSettings("x:1", 2, (1, 3), 4, 0.1, 5, 1.5, 2, tmp_path, 5)
    assert settings.fleet().rounds == 5


@pytest.mark.parametrize(
    "argv",
    [
        ["--runs=0"],
        ["--executions=0"],
        ["--calls-per-execution=0"],
        ["--settle=-1"],
        ["--model-delay=-0.5"],
        ["--replicas=0"],
        ["--fleet-rounds=0"],
    ],
)
def test_out_of_range_options_are_config_errors(argv: list[str]) -> None:
    with pytest.raises(ConfigError):
        parse_args(argv)


def test_the_fleet_takes_calls_per_execution_too() -> None:
    assert fleet_args([]).calls_per_execution == 4
    assert fleet_args(["--calls-per-execution=6"]).calls_per_execution == 6
    with pytest.raises(ConfigError):
        fleet_args(["--calls-per-execution=0"])


def test_the_fleet_measures_three_rounds_unless_told() -> None:
    assert fleet_args([]).rounds == 3
    assert parse_args([]).fleet().rounds == 3
    assert fleet_args(["--rounds=1"]).rounds == 1
    with pytest.raises(ConfigError):
        fleet_args(["--rounds=0"])


def test_the_median_round_is_reported() -> None:
    walls = [3.2, 2.9, 3.0]
    assert median_round(walls, lambda w: w) == 3.0
    assert median_round([3.2, 2.9], lambda w: w) == 3.2  # the upper of two: not flattering
    assert median_round([7.1], lambda w: w) == 7.1
    with pytest.raises(ValueError):
        median_round([], lambda w: w)


def test_every_round_s_wall_is_in_the_report() -> None:
    run = replace(_fleet(3, 3.0, 12), round_walls=(3.2, 2.9, 3.0))
    data = to_json(_result(fleet=(_fleet(1, 12.0, 12), run)), BenchmarkSettings())
    assert data["fleet"]["replicas"]["3"]["round_walls_s"] == [3.2, 2.9, 3.0]
    assert data["settings"]["fleet_rounds"] == 3
    fleet_report = build_fleet_report([run], FleetSettings(), "linux/amd64")
    assert any("2.900" in note and "median" in note for note in fleet_report.notes)


def test_the_fleet_script_makes_that_many_delayed_model_calls() -> None:
    steps = script_steps(fleet_args(["--calls-per-execution=4", "--model-delay=0.5"]))
    assert len(steps) == 4
    assert all(step.tool_calls for step in steps[:-1])
    assert not steps[-1].tool_calls
    assert {step.delay for step in steps} == {0.5}


# -- figures and targets --------------------------------------------------------------------


def test_figures_and_ratios_come_from_the_same_run() -> None:
    data = to_json(_result(), BenchmarkSettings())
    assert data["cold_start"] == {"median_s": 2.2, "max_s": 2.4, "floor_s": 1.0, "ratio": 2.2}
    assert data["executions"] == {"first_s": 1.8, "second_s": 1.0, "difference_s": 0.8}
    assert data["idle_memory_mb"] == {"at_ready": 120.0, "after_settle": 150.0}
    assert data["warm_up_s"] == 2.5
    assert "warm-up (after ready, in the background)" in {row["metric"] for row in data["rows"]}
    assert data["size"]["linux/amd64"] == {"unpacked_mb": 250.0, "compressed_mb": 90.0}
    one, three = data["fleet"]["replicas"]["1"], data["fleet"]["replicas"]["3"]
    assert (one["throughput_per_s"], three["throughput_per_s"]) == (1.0, 3.0)
    # CPU: the replicas' sum over completed executions (1 x 1.5 s / 12; 3 x 1.5 s / 12).
    assert (one["cpu_seconds_per_execution"], three["cpu_seconds_per_execution"]) == (
        0.125,
        0.375,
    )
    assert (data["fleet"]["ratio"], data["fleet"]["ratio_of"]) == (3.0, "3/1")
    assert data["load_average"] == {"start": [1.5, 1.2, 0.8], "end": [2.0, 1.4, 0.91]}


def test_the_json_keys_are_stable() -> None:
    data = to_json(_result(), BenchmarkSettings())
    assert set(data) == {
        "image",
        "platform",
        "settings",
        "cold_start",
        "executions",
        "idle_memory_mb",
        "warm_up_s",
        "size",
        "fleet",
        "targets",
        "passed",
        "load_average",
        # the shared report shape, which `nox -s report` reads
        "title",
        "rows",
        "notes",
        "details",
    }
    assert data["passed"] is all(target["passed"] for target in data["targets"])
    assert {row["metric"] for row in data["rows"]} >= {"first execution", "second execution"}
    assert set(data["fleet"]) == {"replicas", "ratio", "ratio_of"}
    assert set(data["targets"][0]) == {"name", "value", "bound", "unit", "comparison", "passed"}
    json.dumps(data)  # plain JSON types only


def test_a_run_within_every_target_passes_them_all() -> None:
    found = _by_name(_result())
    assert all(t.passed for t in found.values()), found
    assert set(found) == {
        "first execution above the second",
        "cold start (median)",
        "cold start / floor",
        "idle memory after warm-up",
        "image size, unpacked (linux/amd64)",
        "image size, unpacked (linux/arm64)",
        "fleet throughput N=3 / N=1",
    }


@pytest.mark.parametrize(
    ("changes", "failing"),
    [
        ({"first": 2.01, "second": 1.0}, "first execution above the second"),
        ({"cold": (2.6, 2.6, 2.6), "floors": (1.0,)}, "cold start / floor"),
        ({"cold": (5.2, 5.1, 5.3), "floors": (3.0,)}, "cold start (median)"),
        ({"after_settle": 200.5}, "idle memory after warm-up"),
        ({"unpacked": 260 * MB + 1000}, "image size, unpacked (linux/amd64)"),
        (
            {"fleet": (_fleet(1, 12.0, 12), _fleet(3, 12 / 2.5, 12))},
            "fleet throughput N=3 / N=1",
        ),
    ],
)
def test_each_target_fails_just_past_its_bound(changes: dict[str, object], failing: str) -> None:
    found = _by_name(_result(**changes))  # type: ignore[arg-type]
    assert [name for name, t in found.items() if not t.passed] == [failing]


def test_bounds_themselves_pass() -> None:
    found = _by_name(_result(first=2.0, second=1.0, after_settle=200.0, unpacked=260 * MB))
    assert all(t.passed for t in found.values())
    ratio = _by_name(_result(fleet=(_fleet(1, 13.0, 13), _fleet(3, 5.0, 13))))
    assert ratio["fleet throughput N=3 / N=1"].value == 2.6
    assert ratio["fleet throughput N=3 / N=1"].passed


def test_no_fleet_ratio_without_n_1() -> None:
    data = to_json(_result(fleet=(_fleet(3, 4.0, 12),)), BenchmarkSettings())
    assert (data["fleet"]["ratio"], data["fleet"]["ratio_of"]) == (None, None)
    assert not any(t["name"].startswith("fleet") for t in data["targets"])


def test_cpu_per_execution_is_unknown_when_a_replica_s_is() -> None:
    assert cpu_seconds_per_execution(_fleet(3, 4.0, 12, cpu=None)) is None
    assert cpu_seconds_per_execution(_fleet(1, 4.0, 0)) is None


# -- writing --------------------------------------------------------------------------------


def test_it_writes_json_and_markdown_and_the_job_summary(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    result = _result(after_settle=250.0)
    json_path, md_path = write_benchmark(
        result, BenchmarkSettings(), tmp_path / "out", {"GITHUB_STEP_SUMMARY": str(summary)}
    )
    data = json.loads(json_path.read_text())
    assert data["passed"] is False
    markdown = md_path.read_text()
    assert markdown == summary.read_text().removesuffix("\n")
    assert "| idle memory after warm-up | linux/amd64 | 250 | MB | 200 | ❌ fail |" in markdown
    assert "| fleet throughput N=3 / N=1 (at least) | linux/amd64 | 3 | x | 2.6 | ✅ pass |" in (
        markdown
    )
    assert "Load average (1, 5, 15 min) at start 1.50 1.20 0.80" in markdown


# -- the seams the driver reads through ----------------------------------------------------


def test_cpu_seconds_come_from_the_cgroup_total() -> None:
    assert cpu_seconds_of({"cpu_stats": {"cpu_usage": {"total_usage": 2_500_000_000}}}) == 2.5
    with pytest.raises(RuntimeContainerError):
        cpu_seconds_of({"cpu_stats": {}})


def test_the_fake_model_records_when_each_request_arrived() -> None:
    fake = FakeOllama()
    assert fake.first_request_at("m1") is None
    fake.record({"messages": [{"role": "user", "content": "m1 please"}]})
    fake.record({"messages": [{"role": "user", "content": "m2"}]})
    first = fake.first_request_at("m1")
    assert first is not None
    assert first <= (fake.first_request_at("m2") or 0)


def _logs(host: FakeHost, lines: list[str]) -> None:
    host.containers["c1"] = {"Id": "c1", "Name": "/runner"}
    host.container_log_lines["c1"] = [line + "\n" for line in lines]  # as docker's


def test_an_execution_is_timed_from_its_started_line_to_the_first_request() -> None:
    host = FakeHost()
    started = (
        "2026-12-07T06:00:00.250000000Z 2026-12-07T06:00:00.250Z INFO "
        '{"logger":"agent_runner","msg":"execution started","execution_id":"aex-1"}'
    )
    other = started.replace("aex-1", "aex-0").replace("00.250", "00.100")
    _logs(host, [other, started])
    # 2026-12-07T06:00:00Z as POSIX seconds, + 0.25 s started, + 0.75 s first request
    at = 1796623200.0
    assert execution_seconds(host, "runner", "aex-1", at + 1.0) == 0.75
    with pytest.raises(RuntimeContainerError):
        execution_seconds(host, "runner", "aex-2", at + 1.0)
    with pytest.raises(RuntimeContainerError):
        execution_seconds(host, "runner", "aex-1", None)
