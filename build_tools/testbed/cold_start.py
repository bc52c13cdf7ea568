"""Cold start and idle memory of the agent-runner image: measured, reported, gated.

One cold start is `docker run` of the image against a running Temporal, split into phases
(seconds from the moment `docker run` is called):

  container started  - the engine's State.StartedAt
  first log line     - the first line the engine timestamped (the runner's banner)
  temporal connected - the runner's "temporal connected" log line, when it writes one
  poller visible     - DescribeTaskQueue first lists an activity poller on the queue

The floor is the same image running `python3 -c pass` (same user, same network), measured
in the same run, so the ratio says how much the runner adds to what any Python image pays.
Idle memory is the engine's figure for the container (`docker stats`) after it became
ready, finished its warm-up (when its banner says it does one) and settled. The medians are
gated against `config.budgets`. (Over ~400 lines: the measurement, its pure parts and its
report stay together; each part is short.)

Argument lists are computed by pure functions; docker is driven through the docker part
(`build_tools.docker`) and the poller check is a callable (see
`build_tools.testbed.temporal_api.TaskQueueProbe`). The containers come from
`build_tools.testbed.containers`, which never imports this module.
"""

from __future__ import annotations

import contextlib
import statistics
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from build_tools.config import Budgets, ToolConfig
from build_tools.docker import require_local_image
from build_tools.errors import BudgetExceededError, ConfigError, RuntimeContainerError
from build_tools.host import Host
from build_tools.image.build import engine_platform
from build_tools.options import StartupArguments
from build_tools.report import Report, Row, default_report_dir, write_report
from build_tools.runtime.contract_loader import Contract, read_contract
from build_tools.runtime.upstream import supervisor_env
from build_tools.testbed.containers import SMOKE_LABEL, TemporalContainer, check_env_names
from build_tools.testbed.docker_output import memory_bytes, parse_log_lines, parse_timestamp
from build_tools.testbed.temporal_api import TaskQueueProbe
from build_tools.testbed.temporal_image import ensure_temporal_image

DEFAULT_RUNS = 5
# After ready (and the runner's warm-up, if it does one) docker stats samples for ~1.5 s more.
SETTLE_SECONDS = 1.0
# The runner's background warm-up after ready (agent_runner.warmup): idle memory is sampled
# once it ended, when memory is highest. Images without one log no such lines.
WARM_UP_VARIABLE = "AGENT_RUNNER_WARMUP"
BANNER = "agent-runner starting"
WARM_UP_FINISHED = "warm-up finished"
WARM_UP_FAILED = "warm-up failed"
WARM_UP_TIMEOUT_SECONDS = 60.0
WARM_UP_POLL_SECONDS = 0.2
# One DescribeTaskQueue takes ~2.5 ms here; the poller is seen at most this much (plus one
# call) after it appeared, so the reported cold start is late by ~half of it on average.
POLL_INTERVAL_SECONDS = 0.01
STOP_TIMEOUT_SECONDS = 10  # docker's default: SIGKILL after this (exit 137)
LIVENESS_CHECK_SECONDS = 0.5  # docker inspect is slow next to the 10 ms poller check
READY_TIMEOUT_SECONDS = 60.0
RATIO_GOAL = 3.0
IDLE_MEMORY_GOAL_MB = 200.0  # after the warm-up (issue 20)
REPORT_STEM = "startup"
# Log messages (lower case, substring) that mean "connected to Temporal", if the runner has one.
CONNECTED_MARKERS = ("temporal connected", "connected to temporal")


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


def run_args(target: StartupTarget, name: str, task_queue: str) -> list[str]:
    """`docker run` arguments of one cold start (detached)."""
    env = [*target.env, (target.queue_variable, task_queue)]
    args = ["--detach", *_common_args(target, name)]
    for key, value in env:
        args += ["--env", f"{key}={value}"]
    return [*args, target.image]


def floor_args(target: StartupTarget, name: str) -> list[str]:
    """Same image, user and network; the interpreter alone (attached: returns on exit)."""
    return [
        *_common_args(target, name),
        "--entrypoint",
        target.python,
        target.image,
        "-c",
        "pass",
    ]


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
        notes.append(
            f"Goal: idle memory at most {IDLE_MEMORY_GOAL_MB:g} MB (10^6 bytes), sampled after "
            "the runner's warm-up."
        )
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


def startup_target(
    contract: Contract, image: str, temporal_address: str, *, session: str
) -> StartupTarget:
    """The image as stigmer-server's supervisor starts it on Linux: host network, no --user,
    its environment (upstream b070f18 `startAgentRunner`) but for Temporal's address and the
    task queue (`TASK_QUEUE`, the alias it passes), which each run sets to its own."""
    queue = "TASK_QUEUE"
    upstream = supervisor_env({"TEMPORAL_SERVICE_ADDRESS": temporal_address}, linux=True)
    env = {key: value for key, value in upstream if key != queue}
    check_env_names(contract, env)
    return StartupTarget(
        image=image,
        env=tuple(env.items()),
        queue_variable=queue,
        network="host",
        labels=((SMOKE_LABEL, session),),
    )


def run_startup_measurement(
    config: ToolConfig,
    host: Host,
    image: str,
    *,
    runs: int,
    report_dir: Path,
    temporal_address: str | None = None,
    session: str | None = None,
) -> Report:
    """Measure against `temporal_address` (else a Temporal container of its own); gate."""
    host.docker.ensure()
    require_local_image(host.docker, image)
    contract = read_contract(config.project_root)
    label = session or f"startup-{uuid.uuid4().hex[:10]}"
    with contextlib.ExitStack() as stack:
        if temporal_address is None:
            temporal_image = ensure_temporal_image(config, host)
            server = stack.enter_context(TemporalContainer(temporal_image, session=label))
            temporal_address = server.address
        probe = stack.enter_context(TaskQueueProbe(temporal_address))
        result = measure_startup(
            host,
            startup_target(contract, image, temporal_address, session=label),
            probe.pollers,
            platform=engine_platform(host),
            ready_event=contract.ready_event,
            runs=runs,
        )
    return report_and_gate(result, config.budgets, report_dir, host.process.environment())


def _inspect_state(host: Host, container: str) -> dict[str, Any]:
    state: dict[str, Any] = (host.docker.container_inspect(container) or {}).get("State") or {}
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
    host.docker.container_run(run_args(target, name, queue), env={})
    try:
        checked = t0
        while not pollers(queue):
            if clock() - checked < LIVENESS_CHECK_SECONDS:
                sleep(POLL_INTERVAL_SECONDS)
                continue
            checked = clock()
            state = _inspect_state(host, name)
            if not state.get("Running"):
                said = "".join(host.docker.container_logs(name, ()))
                raise RuntimeContainerError(
                    f"Cold start of {target.image}",
                    f"the container exited with {state.get('ExitCode')}: {said.strip()[-400:]}",
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
        wait_for_warm_up(
            lambda: _log_records(host, name), WARM_UP_TIMEOUT_SECONDS, clock=clock, sleep=sleep
        )
        sleep(settle_seconds)
        memory = memory_bytes(host.docker.container_stats(name))
        state = _inspect_state(host, name)
        lines = parse_log_lines("".join(host.docker.container_logs(name, ("--timestamps",))))
        started = parse_timestamp(str(state["StartedAt"]))
        phases = cold_start_phases(
            t0, started, lines, poller_at, ready_event=ready_event, memory=memory
        )
        stop_started = clock()
        host.docker.container_stop(name, timeout_seconds=STOP_TIMEOUT_SECONDS)
        stop_seconds = round(clock() - stop_started, 4)
        exit_code = int(_inspect_state(host, name).get("ExitCode", -1))
        return replace(phases, stop_seconds=stop_seconds, stop_exit_code=exit_code)
    finally:
        host.docker.container_remove(name)


@dataclass(frozen=True)
class WarmUp:
    """What the runner's log says of its background warm-up so far."""

    open: bool  # its banner turns it on and no line says it ended yet
    seconds: float | None  # its "warm-up finished" figure; None while open, failed or off


def warm_up_state(records: Sequence[Mapping[str, Any] | None]) -> WarmUp:
    """Pure: the warm-up as the runner's log records (in order) tell it."""
    found = [r for r in records if r is not None]
    banner = next((r for r in found if r.get("msg") == BANNER), None)
    if banner is None or banner.get("config", {}).get(WARM_UP_VARIABLE) != "1":
        return WarmUp(open=False, seconds=None)
    for record in found:
        message = str(record.get("msg", ""))
        if message.startswith(WARM_UP_FINISHED):
            return WarmUp(open=False, seconds=float(record["seconds"]))
        if message.startswith(WARM_UP_FAILED):
            return WarmUp(open=False, seconds=None)
    return WarmUp(open=True, seconds=None)


def wait_for_warm_up(
    records: Callable[[], Sequence[Mapping[str, Any] | None]],
    timeout: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> WarmUp:
    """Read the runner's log records until its warm-up is no longer open, or ``timeout``
    seconds passed (then the last state read, still open, or open unread)."""
    deadline = clock() + timeout
    state = WarmUp(open=True, seconds=None)
    while clock() < deadline:
        state = warm_up_state(records())
        if not state.open:
            break
        sleep(WARM_UP_POLL_SECONDS)
    return state


def _log_records(host: Host, name: str) -> list[Mapping[str, Any] | None]:
    logs = "".join(host.docker.container_logs(name, ("--timestamps",)))
    return [record for _, record in parse_log_lines(logs)]


def measure_floor(
    host: Host, target: StartupTarget, *, clock: Callable[[], float] = time.time
) -> float:
    name = f"agent-runner-floor-{uuid.uuid4().hex[:10]}"
    t0 = clock()
    try:
        host.docker.container_run(floor_args(target, name), env={})
        return round(clock() - t0, 4)
    finally:
        host.docker.container_remove(name)


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
