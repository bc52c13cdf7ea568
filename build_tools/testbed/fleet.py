"""Fleet benchmark: N runner replicas on one task queue, M executions at once (`nox -s fleet`).

What one run measures, for each replica count N (default 1 and 3, same run, same host), in
the median of `--rounds` batches by wall time (these hosts are noisy: one batch's ratio
varied 2.27-2.55x between runs): executions per second over the batch, p50/p95 latency of
one execution (start of the workflow to its result), idle and peak memory of each container
(`docker stats`), and how the executions spread over the replicas (each runner logs
"execution started" with the execution id). The ratio of the largest N's throughput to
N=1's says how far replicas scale on this host.

This module is the pure half: settings, statistics and the report. The measuring half
(`tests/support/fleet_bench.py`) drives the Go-workflow double, the stigmer-server double and
the fake Ollama, which are test code, so it lives with them; it hands a `FleetRun` per N
to `build_report` and `write_fleet_report` here.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

from build_tools.errors import ConfigError
from build_tools.report import Report, Row, write_report

_T = TypeVar("_T")

REPORT_STEM = "fleet"
DEFAULT_REPLICAS = (1, 3)
DEFAULT_EXECUTIONS = 12
DEFAULT_MODEL_DELAY_SECONDS = 0.5
# Per runner: with 4 slots one replica runs 12 executions in three waves, three replicas
# in one; the runner's own default (10) would hide the replicas behind one runner's slots.
DEFAULT_MAX_CONCURRENCY = 4
# The script: tool calls (`ls`), then the answer; each call waits the model delay.
DEFAULT_CALLS_PER_EXECUTION = 4
# Measured batches per N, on the same containers; the median one is reported.
DEFAULT_ROUNDS = 3


@dataclass(frozen=True)
class FleetSettings:
    replicas: tuple[int, ...] = DEFAULT_REPLICAS
    executions: int = DEFAULT_EXECUTIONS
    model_delay_seconds: float = DEFAULT_MODEL_DELAY_SECONDS
    calls_per_execution: int = DEFAULT_CALLS_PER_EXECUTION
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    image: str = "stigmer/agent-runner:dev"
    report_dir: Path | None = None
    rounds: int = DEFAULT_ROUNDS


@dataclass(frozen=True)
class ExecutionSample:
    execution_id: str
    seconds: float  # workflow start -> result
    phase: str  # what the Go workflow decoded, or WORKFLOW_FAILED


@dataclass(frozen=True)
class ReplicaSample:
    name: str
    executions: int  # "execution started" lines for the measured batch
    idle_mb: float  # after ready, before any execution
    peak_mb: float  # highest docker stats sample during the batch
    cpu_seconds: float | None = None  # cgroup CPU time used during the batch; None: unknown


@dataclass(frozen=True)
class FleetRun:
    replicas: int
    wall_seconds: float  # first start -> last result of the measured (median) batch
    executions: tuple[ExecutionSample, ...]
    containers: tuple[ReplicaSample, ...]
    round_walls: tuple[float, ...] = ()  # every measured batch's wall time, in order

    @property
    def completed(self) -> int:
        return sum(1 for e in self.executions if e.phase == "EXECUTION_COMPLETED")

    @property
    def per_second(self) -> float:
        return self.completed / self.wall_seconds if self.wall_seconds > 0 else 0.0


def positive_ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise ConfigError(
            f"Reading --replicas {text!r}",
            "it is not a comma-separated list of positive integers",
            "Use e.g. --replicas 1,3.",
        )
    return tuple(sorted(set(values)))


def parse_args(argv: Sequence[str]) -> FleetSettings:
    parser = argparse.ArgumentParser(prog="fleet", description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", default=",".join(map(str, DEFAULT_REPLICAS)))
    parser.add_argument("--executions", type=int, default=DEFAULT_EXECUTIONS)
    parser.add_argument("--model-delay", type=float, default=DEFAULT_MODEL_DELAY_SECONDS)
    parser.add_argument("--calls-per-execution", type=int, default=DEFAULT_CALLS_PER_EXECUTION)
    parser.add_argument("--max-concurrency", type=int, default=DEFAULT_MAX_CONCURRENCY)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="batches per N")
    parser.add_argument("--image", default=FleetSettings.image)
    parser.add_argument("--report-dir", type=Path)
    args = parser.parse_args(list(argv))
    for flag, value in (
        ("--executions", args.executions),
        ("--calls-per-execution", args.calls_per_execution),
        ("--max-concurrency", args.max_concurrency),
        ("--rounds", args.rounds),
    ):
        if value < 1:
            raise ConfigError(f"Reading {flag}", "it is below 1", "Use 1 or more.")
    if not args.model_delay >= 0:
        raise ConfigError("Reading --model-delay", "it is negative", "Use 0 or more seconds.")
    return FleetSettings(
        replicas=positive_ints(args.replicas),
        executions=args.executions,
        model_delay_seconds=args.model_delay,
        calls_per_execution=args.calls_per_execution,
        max_concurrency=args.max_concurrency,
        image=args.image,
        report_dir=args.report_dir,
        rounds=args.rounds,
    )


def median_round(rounds: Sequence[_T], wall: Callable[[_T], float]) -> _T:
    """The round with the median wall time (the upper one of an even count)."""
    if not rounds:
        raise ValueError("no rounds measured")
    return sorted(rounds, key=wall)[len(rounds) // 2]


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p95 of 12 samples is the 12th): no interpolation."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def spread(run: FleetRun) -> float:
    """Fewest executions on one replica over the even share (1.0: perfectly even)."""
    counts = [c.executions for c in run.containers]
    total = sum(counts)
    if not counts or total == 0:
        return 0.0
    return min(counts) / (total / len(counts))


def cpu_seconds_per_execution(run: FleetRun) -> float | None:
    """The replicas' CPU time over the batch per completed execution; None when unknown."""
    cpu = [c.cpu_seconds for c in run.containers]
    if not cpu or run.completed == 0 or any(seconds is None for seconds in cpu):
        return None
    return sum(seconds or 0.0 for seconds in cpu) / run.completed


def _scope(run: FleetRun) -> str:
    return f"N={run.replicas}"


def build_report(runs: Sequence[FleetRun], settings: FleetSettings, platform: str) -> Report:
    rows: list[Row] = []
    for run in runs:
        latencies = [e.seconds for e in run.executions if e.phase == "EXECUTION_COMPLETED"]
        scope = _scope(run)
        rows += [
            Row("executions per second", scope, round(run.per_second, 3), "1/s"),
            Row("p50 execution latency", scope, round(percentile(latencies, 0.5), 3), "s"),
            Row("p95 execution latency", scope, round(percentile(latencies, 0.95), 3), "s"),
            Row("executions completed", scope, run.completed, f"of {len(run.executions)}"),
            Row("spread (min / even share)", scope, round(spread(run), 3), "ratio"),
        ]
        cpu = cpu_seconds_per_execution(run)
        if cpu is not None:
            rows.append(Row("CPU seconds per execution", scope, round(cpu, 3), "s"))
        for index, container in enumerate(run.containers, start=1):
            where = f"{scope} replica {index}"
            rows += [
                Row("executions on replica", where, container.executions, "executions"),
                Row("idle memory", where, round(container.idle_mb, 1), "MB"),
                Row("peak memory", where, round(container.peak_mb, 1), "MB"),
            ]
    by_n = {run.replicas: run for run in runs}
    notes = [
        f"{settings.executions} concurrent executions per N through the Go-workflow double; "
        f"TEMPORAL_MAX_CONCURRENCY={settings.max_concurrency} per replica; the fake model "
        f"answers each of its {settings.calls_per_execution} calls after "
        f"{settings.model_delay_seconds:g} s; {platform}.",
        "Memory is docker stats' figure (sampled about every 1-2 s, so peaks are a floor).",
    ]
    for run in runs:
        if len(run.round_walls) > 1:
            walls = ", ".join(f"{w:.3f}" for w in run.round_walls)
            notes.append(
                f"{_scope(run)}: batch wall times {walls} s; the median batch is reported."
            )
    largest = max(by_n)
    if 1 in by_n and largest != 1 and by_n[1].per_second > 0:
        ratio = by_n[largest].per_second / by_n[1].per_second
        rows.append(Row(f"throughput ratio N={largest} / N=1", "all", round(ratio, 3), "x"))
    details: Mapping[str, object] = {
        "settings": {
            "replicas": list(settings.replicas),
            "executions": settings.executions,
            "model_delay_seconds": settings.model_delay_seconds,
            "calls_per_execution": settings.calls_per_execution,
            "max_concurrency": settings.max_concurrency,
            "rounds": settings.rounds,
            "image": settings.image,
        },
        "runs": [asdict(run) for run in runs],
        "mean_latency_seconds": {
            _scope(run): round(statistics.fmean(e.seconds for e in run.executions), 3)
            for run in runs
            if run.executions
        },
    }
    return Report(
        f"Fleet: replicas {', '.join(map(str, settings.replicas))} on one queue ({platform})",
        tuple(rows),
        tuple(notes),
        details,
    )


def write_fleet_report(report: Report, out_dir: Path, env: Mapping[str, str]) -> tuple[Path, Path]:
    return write_report(report, out_dir, REPORT_STEM, env)
