"""`--no-docker`: same environment contract, readiness file, graceful stop, stale state."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from build_tools.errors import RuntimeContainerError
from build_tools.process import CommandResult
from build_tools.runtime import process_mode
from build_tools.runtime.contract_loader import Contract
from tests.unit.fakes import FakeHost
from tests.unit.runtime.conftest import FakeTime


def plan_for(
    contract: Contract, data_dir: Path, environ: dict[str, str] | None = None
) -> process_mode.ProcessPlan:
    return process_mode.make_process_plan(
        contract, python="/venv/bin/python", data_dir=data_dir, environ=environ or {},
        overrides={"LOG_LEVEL": "DEBUG"},
    )  # fmt: skip


def test_plan_uses_host_paths_for_workspace_and_ready_file(
    contract: Contract, tmp_path: Path
) -> None:
    plan = plan_for(contract, tmp_path, {"TEMPORAL_SERVICE_ADDRESS": "localhost:7233"})
    assert plan.argv == ("/venv/bin/python", "-m", "agent_runner")
    assert dict(plan.env) == {
        "TEMPORAL_SERVICE_ADDRESS": "localhost:7233",  # never rewritten: same host
        "SANDBOX_ROOT_DIR": str(tmp_path / "workspace"),
        "LOG_LEVEL": "DEBUG",
        "AGENT_RUNNER_READY_FILE": str(tmp_path / "agent-runner.ready"),
    }


def test_shell_contract_variables_cannot_override_the_plan(
    contract: Contract, tmp_path: Path
) -> None:
    plan = plan_for(contract, tmp_path)
    shell = {"PATH": "/bin", "WORKSPACE_ROOT": "/elsewhere", "TASK_QUEUE": "stale"}
    env = process_mode.process_env(contract, plan, shell)
    assert env["PATH"] == "/bin"
    assert "WORKSPACE_ROOT" not in env
    assert "TASK_QUEUE" not in env  # an alias would beat the image default silently
    assert env["SANDBOX_ROOT_DIR"] == str(tmp_path / "workspace")


def start(host: FakeHost, contract: Contract, tmp_path: Path, fake_time: FakeTime,
          replace: bool = False) -> process_mode.ProcessStart:  # fmt: skip
    return process_mode.start(
        host, contract, plan_for(contract, tmp_path), environ={}, replace=replace,
        timeout=5.0, clock=fake_time.clock(),
    )  # fmt: skip


def ready_on_sleep(host: FakeHost, tmp_path: Path, fake_time: FakeTime) -> None:
    def hook() -> None:
        pid = max(host.processes)
        ready = {"event": "ready", "pid": pid, "identity": f"agent-runner-{pid}@h"}
        process_mode.ready_file(tmp_path).write_text(json.dumps(ready))

    fake_time.on_sleep.append(hook)


def test_start_waits_for_its_own_ready_file_and_records_state(
    host: FakeHost, contract: Contract, tmp_path: Path, fake_time: FakeTime
) -> None:
    # A ready file left by an earlier, killed run must not count.
    process_mode.ready_file(tmp_path).write_text(json.dumps({"pid": 1}))
    ready_on_sleep(host, tmp_path, fake_time)
    result = start(host, contract, tmp_path, fake_time)
    assert result.pid in host.processes
    assert result.cold_start_seconds == pytest.approx(0.1)
    state = process_mode.read_state(tmp_path)
    assert state is not None
    assert state["pid"] == result.pid
    assert (tmp_path / "workspace").is_dir()
    again = start(host, contract, tmp_path, fake_time)
    assert again.already_running
    assert again.pid == result.pid


def test_start_reports_an_early_exit_with_the_log_path(
    host: FakeHost, contract: Contract, tmp_path: Path, fake_time: FakeTime
) -> None:
    fake_time.on_sleep.append(lambda: host.processes.update(dict.fromkeys(host.processes, False)))
    with pytest.raises(RuntimeContainerError, match=r"agent-runner\.log"):
        start(host, contract, tmp_path, fake_time)
    assert process_mode.read_state(tmp_path) is None


def test_stop_sends_sigterm_and_removes_state(
    host: FakeHost, contract: Contract, tmp_path: Path, fake_time: FakeTime
) -> None:
    ready_on_sleep(host, tmp_path, fake_time)
    pid = start(host, contract, tmp_path, fake_time).pid
    assert process_mode.stop(host, tmp_path, fake_time.clock()) == pid
    assert ("signal_process", (pid, signal.SIGTERM)) in host.calls
    assert process_mode.read_state(tmp_path) is None
    assert process_mode.stop(host, tmp_path, fake_time.clock()) is None


def test_stale_state_file_of_a_dead_process(
    host: FakeHost, contract: Contract, tmp_path: Path, fake_time: FakeTime
) -> None:
    process_mode.state_file(tmp_path).write_text(json.dumps({"pid": 999, "argv": ["p"]}))
    report = process_mode.status(host, tmp_path, fake_time.clock())
    assert report["state"] == "stopped"
    assert report["state_file_state"] == "stale"
    assert process_mode.stop(host, tmp_path, fake_time.clock()) is None
    assert not process_mode.state_file(tmp_path).exists()


def test_status_of_a_running_process_asks_the_runner_environment(
    host: FakeHost, contract: Contract, tmp_path: Path, fake_time: FakeTime
) -> None:
    ready_on_sleep(host, tmp_path, fake_time)
    pid = start(host, contract, tmp_path, fake_time).pid
    probe = {
        "healthy": True,
        "ready": {"identity": "me"},
        "pollers": ["me"],
        "temporal": "reachable",
    }
    host.commands["env "] = CommandResult((), 0, json.dumps(probe), "")
    report = process_mode.status(host, tmp_path, fake_time.clock())
    assert report["state"] == "running"
    assert report["pid"] == pid
    assert report["poller_registered"] is True
    argv = next(c[1] for c in host.calls if c[0] == "run")
    assert "LOG_LEVEL=DEBUG" in argv
    assert argv[argv.index("-c") - 1] == "/venv/bin/python"
