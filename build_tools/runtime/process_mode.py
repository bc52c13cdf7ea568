"""`--no-docker`: the same lifecycle with agent-runner run from source as a host process.

Same environment contract (`spec.runner_env`), same readiness signal (the contract's ready
file), same commands. State lives in the data dir: a JSON state file, the log file, the
ready file and the workspace.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from build_tools.errors import RuntimeContainerError
from build_tools.host import Host
from build_tools.runtime.contract_loader import Contract
from build_tools.runtime.docker_mode import POLL_SECONDS, Clock, poller_summary, probe_runner
from build_tools.runtime.spec import runner_env, stop_timeout, workspace_dir

STATE_FILE_NAME = "agent-runner-process.json"
LOG_FILE_NAME = "agent-runner.log"
READY_FILE_NAME = "agent-runner.ready"


def state_file(data_dir: Path) -> Path:
    return data_dir / STATE_FILE_NAME


def log_file(data_dir: Path) -> Path:
    return data_dir / "logs" / LOG_FILE_NAME


def ready_file(data_dir: Path) -> Path:
    return data_dir / READY_FILE_NAME


@dataclass(frozen=True)
class ProcessPlan:
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]  # the contract's variables only
    secret_names: frozenset[str]
    cwd: Path
    log_file: Path
    stop_timeout_seconds: int


def make_process_plan(
    contract: Contract,
    *,
    python: str,
    data_dir: Path,
    environ: Mapping[str, str],
    overrides: Mapping[str, str],
) -> ProcessPlan:
    env = runner_env(
        contract,
        environ,
        overrides,
        workspace=str(workspace_dir(data_dir)),
        rewrite_loopback_to_host=False,
        fixed={"AGENT_RUNNER_READY_FILE": str(ready_file(data_dir))},
    )
    return ProcessPlan(
        argv=(python, "-m", "agent_runner"),
        env=env,
        secret_names=frozenset(var.name for var in contract.env_vars if var.secret),
        cwd=data_dir,
        log_file=log_file(data_dir),
        stop_timeout_seconds=stop_timeout(contract, env),
    )


def process_env(
    contract: Contract, plan: ProcessPlan, environ: Mapping[str, str]
) -> dict[str, str]:
    """The caller's environment without any contract variable, plus the plan's: nothing the
    shell happens to export can override what the lifecycle decided."""
    contract_names = {name for var in contract.env_vars for name in var.all_names}
    return {k: v for k, v in environ.items() if k not in contract_names} | dict(plan.env)


def read_state(data_dir: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(state_file(data_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and isinstance(state.get("pid"), int) else None


def _read_ready(path: Path) -> dict[str, Any] | None:
    try:
        ready = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return ready if isinstance(ready, dict) else None


@dataclass(frozen=True)
class ProcessStart:
    pid: int
    already_running: bool
    cold_start_seconds: float | None
    ready: dict[str, Any] | None


def start(
    host: Host,
    contract: Contract,
    plan: ProcessPlan,
    *,
    environ: Mapping[str, str],
    replace: bool,
    timeout: float,
    clock: Clock,
) -> ProcessStart:
    data_dir = plan.cwd
    state = read_state(data_dir)
    if state is not None and host.process.process_alive(state["pid"]):
        if not replace:
            return ProcessStart(state["pid"], True, None, None)
        stop(host, data_dir, clock)
    workspace_dir(data_dir).mkdir(parents=True, exist_ok=True)
    plan.log_file.parent.mkdir(parents=True, exist_ok=True)
    ready_path = ready_file(data_dir)
    ready_path.unlink(missing_ok=True)  # a leftover from a killed run is not readiness
    started = clock.monotonic()
    pid = host.process.spawn_detached(
        plan.argv, env=process_env(contract, plan, environ), log_path=plan.log_file, cwd=data_dir
    )
    public_env = {k: v for k, v in plan.env if k not in plan.secret_names}
    state_file(data_dir).write_text(
        json.dumps(
            {
                "pid": pid,
                "argv": list(plan.argv),
                "env": public_env,
                "started_at": clock.now().isoformat(),
                "stop_timeout_seconds": plan.stop_timeout_seconds,
            }
        ),
        encoding="utf-8",
    )
    deadline = started + timeout
    while True:
        ready = _read_ready(ready_path)
        if ready is not None and ready.get("pid") == pid:
            return ProcessStart(pid, False, clock.monotonic() - started, ready)
        if not host.process.process_alive(pid):
            state_file(data_dir).unlink(missing_ok=True)
            raise RuntimeContainerError(
                "Starting agent-runner from source",
                f"the process exited before it was ready (log: {plan.log_file})",
                "Fix the cause in the log, then start again.",
            )
        if clock.monotonic() > deadline:
            raise RuntimeContainerError(
                "Starting agent-runner from source",
                f"it did not report ready within {timeout:g} s (is Temporal reachable?)",
                "It is still running and retrying: read `agent-runner-local --no-docker logs`, "
                "or stop it.",
            )
        clock.sleep(POLL_SECONDS)


def stop(host: Host, data_dir: Path, clock: Clock) -> int | None:
    """SIGTERM, wait for the runner's graceful shutdown, SIGKILL after the stop timeout."""
    state = read_state(data_dir)
    pid = state["pid"] if state is not None else None
    stopped = None
    if pid is not None and host.process.process_alive(pid):
        host.process.signal_process(pid, signal.SIGTERM)
        deadline = clock.monotonic() + float(state.get("stop_timeout_seconds", 35) if state else 35)
        while host.process.process_alive(pid) and clock.monotonic() < deadline:
            clock.sleep(POLL_SECONDS)
        if host.process.process_alive(pid):
            host.process.signal_process(pid, signal.SIGKILL)
        stopped = pid
    state_file(data_dir).unlink(missing_ok=True)
    return stopped


def status(host: Host, data_dir: Path, clock: Clock) -> dict[str, Any]:
    state = read_state(data_dir)
    report: dict[str, Any] = {"mode": "no-docker", "state_file": str(state_file(data_dir))}
    if state is None:
        return report | {"state": "absent"}
    pid = state["pid"]
    if not host.process.process_alive(pid):
        return report | {"state": "stopped", "pid": pid, "state_file_state": "stale"}
    started_at = str(state.get("started_at", ""))
    try:
        uptime = round((clock.now() - datetime.fromisoformat(started_at)).total_seconds(), 1)
    except ValueError:
        uptime = None
    report |= {
        "state": "running",
        "pid": pid,
        "python": state["argv"][0],
        "started_at": started_at,
        "uptime_seconds": uptime,
        "log_file": str(log_file(data_dir)),
    }
    # The runner's own environment, as recorded when it was spawned (not this process's).
    prefix = ["env", *(f"{k}={v}" for k, v in state.get("env", {}).items())]
    answer = probe_runner(
        lambda argv: host.process.run([*prefix, *argv], check=False), state["argv"][0]
    )
    return report | poller_summary(answer)
