"""Cold start and idle memory of the agent-runner image: measured, reported, gated.

One cold start is `docker run` of the image against a running Temporal, split into phases
(seconds from the moment `docker run` is called):

  container started  - the engine's State.StartedAt
  first log line     - the first line the engine timestamped (the runner's banner)
  temporal connected - the runner's "temporal connected" log line, when it writes one
  poller visible     - DescribeTaskQueue first lists an activity poller on the queue

The floor is the same image running `python3 -c pass` (same user, same network), measured
in the same run, so the ratio says how much the runner adds to what any Python image pays.
Idle memory is the engine's figure for the container (`docker stats`) after it became ready
and settled. The medians are gated against `config.budgets`.

Argument lists are computed by pure functions; docker is driven through `Host.run` and the
poller check is a callable (see `build_tools.containers.TaskQueueProbe`).
"""

from __future__ import annotations

import json
import re
import statistics
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from build_tools.config import Budgets, ToolConfig
from build_tools.errors import BudgetExceededError, ConfigError, RuntimeContainerError
from build_tools.host import Host
from build_tools.options import StartupArguments
from build_tools.report import Report, Row, default_report_dir, write_report
from build_tools.runtime.runner_log import LogLineParser, parse_runner_line

DEFAULT_RUNS = 5
# After ready the runner preloads its agent code; docker stats then samples for ~1.5 s more.
SETTLE_SECONDS = 1.0
# One DescribeTaskQueue takes ~2.5 ms here; the poller is seen at most this much (plus one
# call) after it appeared, so the reported cold start is late by ~half of it on average.
POLL_INTERVAL_SECONDS = 0.01
STOP_TIMEOUT_SECONDS = 10  # docker's default: SIGKILL after this (exit 137)
LIVENESS_CHECK_SECONDS = 0.5  # docker inspect is slow next to the 10 ms poller check
READY_TIMEOUT_SECONDS = 60.0
RATIO_GOAL = 3.0
IDLE_MEMORY_GOAL_MB = 80.0
REPORT_STEM = "startup"
# Log messages (lower case, substring) that mean "connected to Temporal", if the runner has one.
CONNECTED_MARKERS = ("temporal connected", "connected to temporal")
_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
}
_SIZE = re.compile(r"^\s*([0-9.]+)\s*([a-zA-Z]+)\s*$")


@dataclass(frozen=True)
class StartupTarget:
    """What is started: the image, its environment (no task queue) and how it is run."""

    image: str
    env: tuple[tuple[str, str], ...]
    queue_variable: str  # the contract's task-queue variable; each run gets its own queue
    python: str = "python3"  # the floor's interpreter, on the image's PATH
    network: str = "host"
    user: str | None = None
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ColdStart:
    started: float
    first_log: float | None
    connected: float | None
    poller_visible: float
    ready_line: float | None
    idle_memory_mb: float | None
    stop_seconds: float | None = None  # `docker stop` (SIGTERM) until it returned
    stop_exit_code: int | None = None


@dataclass(frozen=True)
class StartupResult:
    platform: str
    runs: tuple[ColdStart, ...]
    floors: tuple[float, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)


# -- pure: argument lists and parsers -------------------------------------------------------


def _common_args(target: StartupTarget, name: str) -> list[str]:
    args = ["--name", name, "--network", target.network]
    if target.user:
        args += ["--user", target.user]
    for key, value in target.labels:
        args += ["--label", f"{key}={value}"]
    return args


def run_argv(target: StartupTarget, name: str, task_queue: str) -> list[str]:
    env = [*target.env, (target.queue_variable, task_queue)]
    args = ["docker", "run", "--detach", *_common_args(target, name)]
    for key, value in env:
        args += ["--env", f"{key}={value}"]
    return [*args, target.image]


def floor_argv(target: StartupTarget, name: str) -> list[str]:
    """Same image, user and network; the interpreter alone (attached: returns on exit)."""
    return [
        "docker",
        "run",
        *_common_args(target, name),
        "--entrypoint",
        target.python,
        target.image,
        "-c",
        "pass",
    ]


def parse_timestamp(text: str) -> float:
    """RFC 3339 with nanoseconds, as docker prints it -> POSIX seconds (microseconds kept)."""
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text.strip())
    if not match:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    whole, fraction, zone = match.groups()
    stamp = datetime.fromisoformat(whole + (fraction or "")[:7] + zone.replace("Z", "+00:00"))
    return stamp.timestamp()


def parse_log_lines(
    text: str, parse: LogLineParser | None = None
) -> list[tuple[float, dict[str, Any] | None]]:
    """`docker logs --timestamps` output -> (docker's time, the runner's record or None for
    a line not in the runner's format) per line, in order. `parse` defaults to the
    contract's `parse_log_line`."""
    lines = []
    for raw in text.splitlines():
        stamp, _, rest = raw.partition(" ")
        try:
            when = parse_timestamp(stamp)
        except ValueError:
            continue
        lines.append((when, parse_runner_line(rest, parse)))
    return sorted(lines, key=lambda line: line[0])


def memory_bytes(stats: Mapping[str, Any]) -> int:
    """`docker stats --format '{{json .}}'` -> the container's memory use in bytes."""
    used = str(stats.get("MemUsage", "")).split("/")[0]
    match = _SIZE.match(used)
    if not match or match.group(2).lower() not in _UNITS:
        raise RuntimeContainerError(
            "Reading the container's memory", f"docker stats said {used!r}", "Check the engine."
        )
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def cold_start_phases(
    t0: float,
    started_at: float,
    lines: Sequence[tuple[float, dict[str, Any] | None]],
    poller_at: float,
    *,
    ready_event: str,
    memory: int | None,
) -> ColdStart:
    """Pure: every phase in seconds after t0 (when `docker run` was called)."""

    def first(match: Callable[[dict[str, Any]], bool]) -> float | None:
        for when, event in lines:
            if event is not None and match(event):
                return round(when - t0, 4)
        return None

    def connected(event: dict[str, Any]) -> bool:
        message = str(event.get("msg", "")).lower()
        return any(marker in message for marker in CONNECTED_MARKERS)

    return ColdStart(
        started=round(started_at - t0, 4),
        first_log=round(lines[0][0] - t0, 4) if lines else None,
        connected=first(connected),
        poller_visible=round(poller_at - t0, 4),
        ready_line=first(lambda event: event.get("event") == ready_event),
        idle_memory_mb=None if memory is None else round(memory / 10**6, 2),
    )


# -- pure: summary, report, gate ------------------------------------------------------------


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def build_report(result: StartupResult, budgets: Budgets) -> Report:
    runs, scope = result.runs, result.platform
    cold = [run.poller_visible for run in runs]
    median_cold = statistics.median(cold)
    rows = [Row.gated("cold start (median)", scope, median_cold, "s", budgets.cold_start_seconds)]
    rows.append(Row("cold start (max)", scope, max(cold), "s"))
    for label, attribute in (
        ("phase: container started", "started"),
        ("phase: first log line", "first_log"),
        ("phase: temporal connected", "connected"),
        ("phase: poller visible", "poller_visible"),
        ("phase: ready line", "ready_line"),
    ):
        value = _median([getattr(run, attribute) for run in runs])
        if value is not None:
            rows.append(Row(f"{label} (median)", scope, value, "s"))
    notes = list(result.notes)
    if all(run.connected is None for run in runs):
        notes.append("The runner logs no 'temporal connected' line: that phase is not reported.")
    if result.floors:
        floor = statistics.median(result.floors)
        rows.append(Row("floor: python3 -c pass (median)", scope, floor, "s"))
        rows.append(Row("cold start / floor", scope, round(median_cold / floor, 2), "x"))
        notes.append(f"Goal: cold start at most {RATIO_GOAL:g}x the floor.")
    stops = [run.stop_seconds for run in runs if run.stop_seconds is not None]
    if stops:
        rows.append(Row("docker stop (max)", scope, max(stops), "s"))
    codes = sorted({run.stop_exit_code for run in runs if run.stop_exit_code is not None})
    if any(code != 0 for code in codes):
        notes.append(f"docker stop exit codes {codes}: 0 expected (137 means SIGKILL).")
    memory = [run.idle_memory_mb for run in runs if run.idle_memory_mb is not None]
    if memory:
        rows.append(
            Row.gated(
                "idle memory (median)",
                scope,
                statistics.median(memory),
                "MB",
                budgets.idle_memory_mb,
            )
        )
        rows.append(Row("idle memory (max)", scope, max(memory), "MB"))
        notes.append(f"Goal: idle memory at most {IDLE_MEMORY_GOAL_MB:g} MB (10^6 bytes).")
    return Report(
        title=f"agent-runner cold start and idle memory ({len(runs)} runs)",
        rows=tuple(rows),
        notes=tuple(notes),
        details={"runs": [asdict(run) for run in runs], "floors": list(result.floors)},
    )


def gate(report: Report) -> None:
    if report.failed:
        over = "; ".join(f"{r.metric} {r.value:g} {r.unit} > {r.budget:g}" for r in report.failed)
        raise BudgetExceededError(
            "The startup budget check",
            f"{over} ({report.title})",
            "Make startup leaner or, if justified, raise the budget in pyproject.toml.",
        )


# -- executor -------------------------------------------------------------------------------


def _inspect_state(host: Host, container: str) -> dict[str, Any]:
    result = host.run(["docker", "inspect", "--format", "{{json .State}}", container])
    state: dict[str, Any] = json.loads(result.stdout)
    return state


def measure_cold_start(
    host: Host,
    target: StartupTarget,
    pollers: Callable[[str], Sequence[str]],
    *,
    ready_event: str,
    settle_seconds: float = SETTLE_SECONDS,
    timeout: float = READY_TIMEOUT_SECONDS,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> ColdStart:
    """One cold start; the container is removed afterwards, whatever happens."""
    name = f"agent-runner-startup-{uuid.uuid4().hex[:10]}"
    queue = f"startup-{uuid.uuid4().hex[:10]}"
    t0 = clock()
    host.run(run_argv(target, name, queue))
    try:
        checked = t0
        while not pollers(queue):
            if clock() - checked < LIVENESS_CHECK_SECONDS:
                sleep(POLL_INTERVAL_SECONDS)
                continue
            checked = clock()
            state = _inspect_state(host, name)
            if not state.get("Running"):
                logs = host.run(["docker", "logs", name], check=False)
                raise RuntimeContainerError(
                    f"Cold start of {target.image}",
                    f"the container exited with {state.get('ExitCode')}: "
                    f"{(logs.stderr or logs.stdout).strip()[-400:]}",
                    "Run the image by hand with the same environment and read its log.",
                )
            if clock() - t0 > timeout:
                raise RuntimeContainerError(
                    f"Cold start of {target.image}",
                    f"no poller on {queue} after {timeout:.0f} s",
                    "Check that Temporal is reachable from the container.",
                )
            sleep(POLL_INTERVAL_SECONDS)
        poller_at = clock()
        sleep(settle_seconds)
        stats = host.run(["docker", "stats", "--no-stream", "--format", "{{json .}}", name])
        memory = memory_bytes(json.loads(stats.stdout))
        state = _inspect_state(host, name)
        logs = host.run(["docker", "logs", "--timestamps", name])
        lines = parse_log_lines(logs.stdout + "\n" + logs.stderr)
        started = parse_timestamp(str(state["StartedAt"]))
        phases = cold_start_phases(
            t0, started, lines, poller_at, ready_event=ready_event, memory=memory
        )
        stop_started = clock()
        host.run(["docker", "stop", "--time", str(STOP_TIMEOUT_SECONDS), name])
        stop_seconds = round(clock() - stop_started, 4)
        exit_code = int(_inspect_state(host, name).get("ExitCode", -1))
        return replace(phases, stop_seconds=stop_seconds, stop_exit_code=exit_code)
    finally:
        host.run(["docker", "rm", "--force", name], check=False)


def measure_floor(
    host: Host, target: StartupTarget, *, clock: Callable[[], float] = time.time
) -> float:
    name = f"agent-runner-floor-{uuid.uuid4().hex[:10]}"
    t0 = clock()
    try:
        host.run(floor_argv(target, name))
        return round(clock() - t0, 4)
    finally:
        host.run(["docker", "rm", "--force", name], check=False)


def measure_startup(
    host: Host,
    target: StartupTarget,
    pollers: Callable[[str], Sequence[str]],
    *,
    platform: str,
    ready_event: str,
    runs: int = DEFAULT_RUNS,
    settle_seconds: float = SETTLE_SECONDS,
) -> StartupResult:
    """Interleave floor and cold start so both see the same machine load."""
    floors, cold = [], []
    for _ in range(runs):
        floors.append(measure_floor(host, target))
        cold.append(
            measure_cold_start(
                host, target, pollers, ready_event=ready_event, settle_seconds=settle_seconds
            )
        )
    return StartupResult(platform, tuple(cold), tuple(floors))


def report_and_gate(
    result: StartupResult, budgets: Budgets, report_dir: Path, env: Mapping[str, str]
) -> Report:
    """Write build/reports/startup.{json,md}, then raise if a budget is exceeded."""
    report = build_report(result, budgets)
    write_report(report, report_dir, REPORT_STEM, env)
    gate(report)
    return report


def run_startup(args: StartupArguments, config: ToolConfig, host: Host) -> int:
    """CLI handler of `startup`: a Temporal container, N cold starts, report, gate."""
    from build_tools.containers import run_startup_measurement

    if args.runs < 1:
        raise ConfigError(
            f"Reading --runs {args.runs}", "it is not a positive number", "Use --runs 1 or more."
        )
    report_dir = args.report_dir or default_report_dir(config.project_root)
    report = run_startup_measurement(
        config, host, args.image, runs=args.runs, report_dir=report_dir
    )
    print(f"startup: all budgets met ({report.title}); report in {report_dir}")
    return 0
