"""One benchmark run, every figure from it (`nox -s benchmark`): the pure half.

Measured in one run on one host, so the ratios compare like with like:

- cold start (docker run -> poller visible): median and max over `--runs`, against the
  floor (the same image running `python3 -c pass`), interleaved as `cold_start` does;
- first and second execution of one runner: ExecuteGraphton's "execution started" log
  line -> the fake model's first request, the first one `--settle` seconds after the
  runner's background warm-up ended (its "warm-up finished" line; after ready without one);
- idle memory of that runner at ready and `--settle` seconds after the warm-up, and the
  warm-up's duration;
- image size per platform, unpacked and compressed (`build_tools.image.size`);
- fleet throughput at N=1 and N=3 replicas (`build_tools.testbed.fleet`), I/O-bound by a
  model delay on each of `--calls-per-execution` calls, with CPU seconds per execution
  from the containers' cgroup usage, and the N=3 / N=1 ratio.

The measuring half (`tests/support/benchmark_run.py`) drives the test doubles and hands a
`BenchmarkResult` here; this module computes the targets and writes
build/reports/benchmark.json (stable keys, see `to_json`) and benchmark.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build_tools.errors import ConfigError
from build_tools.image.size import MB, PlatformSize
from build_tools.report import SUMMARY_VARIABLE, Report, Row, Status, to_markdown
from build_tools.report import to_json as report_json
from build_tools.testbed.cold_start import StartupResult
from build_tools.testbed.fleet import (
    DEFAULT_EXECUTIONS,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MODEL_DELAY_SECONDS,
    DEFAULT_ROUNDS,
    FleetRun,
    FleetSettings,
    cpu_seconds_per_execution,
    positive_ints,
)

REPORT_STEM = "benchmark"
DEFAULT_RUNS = 5
DEFAULT_SETTLE_SECONDS = 10.0
DEFAULT_CALLS_PER_EXECUTION = 4
DEFAULT_REPLICAS = (1, 3)
# The targets (issue 20): what one run is marked against; reported, never a gate.
FIRST_OVER_SECOND_SECONDS = 1.0
COLD_START_RATIO = 2.5
COLD_START_SECONDS = 5.0
IDLE_MEMORY_MB = 200.0
IMAGE_UNPACKED_MB = 260.0
FLEET_RATIO = 2.6
NOISE_NOTE = (
    "Timings come from one run on a shared host: compare them with the load average, "
    "not across hosts."
)


@dataclass(frozen=True)
class BenchmarkSettings:
    image: str = "stigmer/agent-runner:dev"
    runs: int = DEFAULT_RUNS
    replicas: tuple[int, ...] = DEFAULT_REPLICAS
    executions: int = DEFAULT_EXECUTIONS
    model_delay_seconds: float = DEFAULT_MODEL_DELAY_SECONDS
    calls_per_execution: int = DEFAULT_CALLS_PER_EXECUTION
    settle_seconds: float = DEFAULT_SETTLE_SECONDS
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    report_dir: Path | None = None
    fleet_rounds: int = DEFAULT_ROUNDS

    def fleet(self) -> FleetSettings:
        return FleetSettings(
            replicas=self.replicas,
            executions=self.executions,
            model_delay_seconds=self.model_delay_seconds,
            calls_per_execution=self.calls_per_execution,
            max_concurrency=self.max_concurrency,
            image=self.image,
            report_dir=self.report_dir,
            rounds=self.fleet_rounds,
        )


def parse_args(argv: Sequence[str]) -> BenchmarkSettings:
    parser = argparse.ArgumentParser(prog="benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=BenchmarkSettings.image)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="cold starts")
    parser.add_argument("--replicas", default=",".join(map(str, DEFAULT_REPLICAS)))
    parser.add_argument("--executions", type=int, default=DEFAULT_EXECUTIONS, help="per N")
    parser.add_argument("--model-delay", type=float, default=DEFAULT_MODEL_DELAY_SECONDS)
    parser.add_argument("--calls-per-execution", type=int, default=DEFAULT_CALLS_PER_EXECUTION)
    parser.add_argument("--settle", type=float, default=DEFAULT_SETTLE_SECONDS)
    parser.add_argument("--max-concurrency", type=int, default=DEFAULT_MAX_CONCURRENCY)
    parser.add_argument("--fleet-rounds", type=int, default=DEFAULT_ROUNDS, help="batches per N")
    parser.add_argument("--report-dir", type=Path)
    args = parser.parse_args(list(argv))
    for flag, value in (
        ("--runs", args.runs),
        ("--fleet-rounds", args.fleet_rounds),
        ("--executions", args.executions),
        ("--calls-per-execution", args.calls_per_execution),
        ("--max-concurrency", args.max_concurrency),
    ):
        if value < 1:
            raise ConfigError(f"Reading {flag} {value}", "it is below 1", "Use 1 or more.")
    for flag, seconds in (("--model-delay", args.model_delay), ("--settle", args.settle)):
        if not seconds >= 0:
            raise ConfigError(f"Reading {flag} {seconds}", "it is negative", "Use 0 or more.")
    return BenchmarkSettings(
        image=args.image,
        runs=args.runs,
        replicas=positive_ints(args.replicas),
        executions=args.executions,
        model_delay_seconds=args.model_delay,
        calls_per_execution=args.calls_per_execution,
        settle_seconds=args.settle,
        max_concurrency=args.max_concurrency,
        report_dir=args.report_dir,
        fleet_rounds=args.fleet_rounds,
    )


# -- what one run measured ----------------------------------------------------------------


@dataclass(frozen=True)
class ExecutionTimes:
    """ExecuteGraphton started -> first model request, for one runner's 1st and 2nd run."""

    first_s: float
    second_s: float


@dataclass(frozen=True)
class IdleMemory:
    at_ready_mb: float
    after_settle_mb: float  # `--settle` s after the warm-up ended (or after ready without one)
    # The runner's own "warm-up finished" figure; None: it logged none (off, or failed).
    warm_up_s: float | None = None


@dataclass(frozen=True)
class BenchmarkResult:
    platform: str
    startup: StartupResult
    executions: ExecutionTimes
    idle_memory: IdleMemory
    sizes: tuple[PlatformSize, ...]
    fleet: tuple[FleetRun, ...]
    load_average: tuple[tuple[float, float, float], tuple[float, float, float]]  # start, end


@dataclass(frozen=True)
class Target:
    name: str
    value: float
    bound: float
    unit: str
    at_least: bool = False  # False: passes when value <= bound

    @property
    def passed(self) -> bool:
        return self.value >= self.bound if self.at_least else self.value <= self.bound


# -- pure: figures, targets -----------------------------------------------------------------


def _round(value: float, places: int = 3) -> float:
    return round(value, places)


def cold_start_figures(startup: StartupResult) -> dict[str, float | None]:
    cold = [run.poller_visible for run in startup.runs]
    median = statistics.median(cold)
    floor = statistics.median(startup.floors) if startup.floors else None
    return {
        "median_s": _round(median),
        "max_s": _round(max(cold)),
        "floor_s": None if floor is None else _round(floor),
        "ratio": None if not floor else _round(median / floor, 2),
    }


def fleet_ratio(runs: Sequence[FleetRun]) -> tuple[int, float] | None:
    """(largest N, its throughput over N=1's), or None without N=1 and a larger N."""
    by_n = {run.replicas: run for run in runs}
    largest = max(by_n, default=1)
    if 1 not in by_n or largest == 1 or by_n[1].per_second <= 0:
        return None
    return largest, _round(by_n[largest].per_second / by_n[1].per_second)


def targets(result: BenchmarkResult) -> list[Target]:
    cold = cold_start_figures(result.startup)
    times = result.executions
    found = [
        Target(
            "first execution above the second",
            _round(times.first_s - times.second_s),
            FIRST_OVER_SECOND_SECONDS,
            "s",
        ),
        Target("cold start (median)", float(cold["median_s"] or 0), COLD_START_SECONDS, "s"),
    ]
    if cold["ratio"] is not None:
        found.append(Target("cold start / floor", cold["ratio"], COLD_START_RATIO, "x"))
    found.append(
        Target(
            "idle memory after warm-up", result.idle_memory.after_settle_mb, IDLE_MEMORY_MB, "MB"
        )
    )
    found += [
        Target(
            f"image size, unpacked ({size.platform})",
            _round(size.unpacked_bytes / MB),
            IMAGE_UNPACKED_MB,
            "MB",
        )
        for size in result.sizes
    ]
    ratio = fleet_ratio(result.fleet)
    if ratio is not None:
        largest, value = ratio
        found.append(
            Target(f"fleet throughput N={largest} / N=1", value, FLEET_RATIO, "x", at_least=True)
        )
    return found


# -- pure: JSON and Markdown ------------------------------------------------------------------


def to_json(result: BenchmarkResult, settings: BenchmarkSettings) -> dict[str, Any]:
    """The report's JSON: the shared report shape (title, rows, notes, details: what
    `nox -s report` reads, as it does every other report) plus the figures by name, whose
    keys are a contract for scripts."""
    return {**report_json(build_report(result, settings)), **figures_json(result, settings)}


def figures_json(result: BenchmarkResult, settings: BenchmarkSettings) -> dict[str, Any]:
    """The figures by name (stable keys)."""
    ratio = fleet_ratio(result.fleet)
    found = targets(result)
    return {
        "image": settings.image,
        "platform": result.platform,
        "settings": {
            "runs": settings.runs,
            "replicas": list(settings.replicas),
            "executions": settings.executions,
            "model_delay_s": settings.model_delay_seconds,
            "calls_per_execution": settings.calls_per_execution,
            "settle_s": settings.settle_seconds,
            "max_concurrency": settings.max_concurrency,
            "fleet_rounds": settings.fleet_rounds,
        },
        "cold_start": cold_start_figures(result.startup),
        "executions": {
            "first_s": _round(result.executions.first_s),
            "second_s": _round(result.executions.second_s),
            "difference_s": _round(result.executions.first_s - result.executions.second_s),
        },
        "idle_memory_mb": {
            "at_ready": _round(result.idle_memory.at_ready_mb, 1),
            "after_settle": _round(result.idle_memory.after_settle_mb, 1),
        },
        "warm_up_s": _round_or_none(result.idle_memory.warm_up_s),
        "size": {
            size.platform: {
                "unpacked_mb": _round(size.unpacked_bytes / MB),
                "compressed_mb": _round(size.compressed_bytes / MB),
            }
            for size in result.sizes
        },
        "fleet": {
            "replicas": {
                str(run.replicas): {
                    "throughput_per_s": _round(run.per_second),
                    "cpu_seconds_per_execution": _round_or_none(cpu_seconds_per_execution(run)),
                    "completed": run.completed,
                    "executions": len(run.executions),
                    "wall_s": _round(run.wall_seconds),
                    "round_walls_s": [_round(w) for w in run.round_walls],
                }
                for run in result.fleet
            },
            "ratio": None if ratio is None else ratio[1],
            "ratio_of": None if ratio is None else f"{ratio[0]}/1",
        },
        "targets": [
            {
                "name": t.name,
                "value": t.value,
                "bound": t.bound,
                "unit": t.unit,
                "comparison": ">=" if t.at_least else "<=",
                "passed": t.passed,
            }
            for t in found
        ],
        "passed": all(t.passed for t in found),
        "load_average": {
            "start": [_round(value, 2) for value in result.load_average[0]],
            "end": [_round(value, 2) for value in result.load_average[1]],
        },
    }


def _round_or_none(value: float | None) -> float | None:
    return None if value is None else _round(value)


def build_report(result: BenchmarkResult, settings: BenchmarkSettings) -> Report:
    """The Markdown side: every figure as an info row, then each target with its status."""
    data = figures_json(result, settings)
    scope = result.platform
    cold = data["cold_start"]
    rows = [
        Row("cold start (max)", scope, cold["max_s"], "s"),
        Row("floor: python3 -c pass (median)", scope, cold["floor_s"] or 0.0, "s"),
        Row("first execution", scope, data["executions"]["first_s"], "s"),
        Row("second execution", scope, data["executions"]["second_s"], "s"),
        Row("idle memory at ready", scope, data["idle_memory_mb"]["at_ready"], "MB"),
    ]
    if data["warm_up_s"] is not None:
        rows.append(Row("warm-up (after ready, in the background)", scope, data["warm_up_s"], "s"))
    for platform, size in data["size"].items():
        rows.append(Row("image size, compressed", platform, size["compressed_mb"], "MB"))
    for n, figures in data["fleet"]["replicas"].items():
        rows.append(Row("fleet throughput", f"N={n}", figures["throughput_per_s"], "1/s"))
        cpu = figures["cpu_seconds_per_execution"]
        if cpu is not None:
            rows.append(Row("CPU per execution", f"N={n}", cpu, "s"))
    for target in targets(result):
        metric = f"{target.name} (at least)" if target.at_least else target.name
        status: Status = "pass" if target.passed else "fail"
        rows.append(Row(metric, scope, target.value, target.unit, target.bound, status))
    start, end = result.load_average
    notes = (
        f"Image {settings.image}; {settings.runs} cold starts; idle memory and the first "
        f"execution {settings.settle_seconds:g} s after the warm-up ended; fleet: "
        f"{settings.executions} executions per N, {settings.calls_per_execution} model calls "
        f"each answered after {settings.model_delay_seconds:g} s, "
        f"{settings.max_concurrency} slots per replica.",
        "Execution = ExecuteGraphton's 'execution started' log line -> the model's first "
        "request; CPU = the replicas' cgroup CPU time over the measured batch / completed.",
        f"Load average (1, 5, 15 min) at start {_triple(start)}, at end {_triple(end)}. "
        + NOISE_NOTE,
    )
    return Report(f"agent-runner benchmark ({scope})", tuple(rows), notes)


def _triple(values: Sequence[float]) -> str:
    return " ".join(f"{value:.2f}" for value in values)


def write_benchmark(
    result: BenchmarkResult, settings: BenchmarkSettings, out_dir: Path, env: Mapping[str, str]
) -> tuple[Path, Path]:
    """Write `<out_dir>/benchmark.json` and `.md`; append the Markdown to the job summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{REPORT_STEM}.json", out_dir / f"{REPORT_STEM}.md"
    markdown = to_markdown(build_report(result, settings))
    json_path.write_text(json.dumps(to_json(result, settings), indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown, encoding="utf-8")
    summary = env.get(SUMMARY_VARIABLE, "")
    if summary:
        with Path(summary).open("a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    return json_path, md_path
