"""Process-level behaviour of the real runner: readiness, startup, shutdown, errors."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from temporalio.client import Client

from build_tools.runtime.runner_log import runner_records
from tests.integration.runner.conftest import (
    QUEUE_VAR,
    RunnerFactory,
    clean_env,
    marker,
    runner_argv_prefix,
    wait_registered,
)
from tests.support import stigmer_workflow as go_workflow
from tests.support.fake_ollama import FakeOllama, final, tool
from tests.support.pollers import activity_pollers
from tests.support.runner_process import RunnerProcess
from tests.support.temporal_server import TemporalDevServer, free_port

pytestmark = pytest.mark.integration


def healthcheck(ready_file: str) -> int:
    env = {**clean_env(), "AGENT_RUNNER_READY_FILE": ready_file}
    return subprocess.run(
        [sys.executable, "-m", "agent_runner.healthcheck"],
        env=env,
        capture_output=True,
        check=False,
    ).returncode


def test_ready_file_only_after_poller_visible(
    runner_env: dict[str, str], make_runner: RunnerFactory
) -> None:
    ready_file = Path(runner_env["AGENT_RUNNER_READY_FILE"])
    assert healthcheck(str(ready_file)) == 1

    async def watch() -> tuple[float, float]:
        client = await Client.connect(runner_env["TEMPORAL_SERVICE_ADDRESS"])
        runner = make_runner(runner_env)
        poller_seen = file_seen = 0.0
        deadline = time.monotonic() + 30
        while not file_seen and time.monotonic() < deadline:
            # File first, then pollers: if the file existed, the poller must already show.
            exists = ready_file.exists()
            pollers = await activity_pollers(client, runner_env[QUEUE_VAR])
            now = time.monotonic()
            if pollers and not poller_seen:
                poller_seen = now
            if exists:
                assert pollers, "ready file written before the poller was visible"
                file_seen = now
            await asyncio.sleep(0.01)
        assert runner.process is not None
        assert runner.process.poll() is None, runner.output()
        return poller_seen, file_seen

    poller_seen, file_seen = asyncio.run(watch())
    assert poller_seen
    assert file_seen
    assert poller_seen <= file_seen
    content = json.loads(ready_file.read_text())
    assert content["event"] == "ready"
    assert content["task_queue"] == runner_env[QUEUE_VAR]
    assert healthcheck(str(ready_file)) == 0


def test_ready_log_line_and_healthcheck_follow_lifecycle(
    ready_runner: tuple[RunnerProcess, dict[str, str]],
) -> None:
    runner, env = ready_runner
    runner.wait_for_output('"event":"ready"')
    event = runner.find_event(event="ready")
    assert event is not None
    # "<UTC timestamp> <LEVEL> <JSON>": the timestamp first, for the CLI's `logs --all`.
    (line,) = [line for line in runner.output().splitlines() if '"event":"ready"' in line]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO \{\"event\":\"ready\",", line)
    assert (event["ts"], event["level"]) == (line[:24], "INFO")
    assert event["task_queue"] == env[QUEUE_VAR]
    assert event["namespace"] == "default"
    assert event["pid"] == runner.pid
    assert str(runner.pid) in event["identity"]
    identities = asyncio.run(_pollers(env))
    assert event["identity"] in identities
    banner = [e for e in runner.events() if e.get("msg") == "agent-runner starting"]
    assert len(banner) == 1
    assert banner[0]["config"]["TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE"] == env[QUEUE_VAR]

    ready_file = env["AGENT_RUNNER_READY_FILE"]
    assert healthcheck(ready_file) == 0
    runner.signal()
    assert runner.wait(10) == 0
    assert not Path(ready_file).exists()
    assert healthcheck(ready_file) == 1


async def _pollers(env: dict[str, str]) -> list[str]:
    client = await Client.connect(env["TEMPORAL_SERVICE_ADDRESS"])
    return await activity_pollers(client, env[QUEUE_VAR])


def test_idle_sigterm_exits_fast(ready_runner: tuple[RunnerProcess, dict[str, str]]) -> None:
    runner, _ = ready_runner
    runner.wait_for_output('"event":"ready"')
    sent = runner.signal()
    code = runner.wait(10)
    elapsed = time.monotonic() - sent
    assert code == 0, runner.output()
    assert elapsed < 1.0, f"idle shutdown took {elapsed:.3f}s"


def test_sigint_also_exits_zero(ready_runner: tuple[RunnerProcess, dict[str, str]]) -> None:
    runner, _ = ready_runner
    runner.signal(signal.SIGINT)
    assert runner.wait(10) == 0, runner.output()


def test_sigterm_lets_in_flight_activity_finish(
    ready_runner: tuple[RunnerProcess, dict[str, str]], fake_ollama: FakeOllama
) -> None:
    runner, env = ready_runner
    word = marker()
    fake_ollama.script(
        word,
        [tool("write_file", path="slow.txt", content="finished\n"), final("slow done", delay=3.0)],
    )

    async def go() -> tuple[go_workflow.DecodedResult, float]:
        client = await Client.connect(env["TEMPORAL_SERVICE_ADDRESS"])
        async with go_workflow.start_worker(client):
            run = asyncio.create_task(
                go_workflow.run_execution(
                    client,
                    "execution_with_session",
                    activity_task_queue=env[QUEUE_VAR],
                    message=f"Take your time. {word}",
                )
            )
            # Wait until the agent is in its (slow) second model call, then SIGTERM.
            deadline = time.monotonic() + 30
            while len(fake_ollama.requests_with(word)) < 2:
                assert time.monotonic() < deadline, runner.output()
                assert not run.done(), run.result()
                await asyncio.sleep(0.05)
            sent = runner.signal()
            return await run, sent

    result, sent = asyncio.run(go())
    assert result.phase == "EXECUTION_COMPLETED", result.status
    assert any(m.get("content") == "slow done" for m in result.messages), result.messages
    assert runner.wait(30) == 0, runner.output()
    assert time.monotonic() - sent >= 2.0  # it waited for the activity
    events = runner.events()
    stop_at = [i for i, e in enumerate(events) if e.get("msg") == "stop requested"]
    finish_at = [i for i, e in enumerate(events) if e.get("msg") == "agent run finished"]
    assert stop_at, runner.output()
    assert finish_at, runner.output()
    assert stop_at[0] < finish_at[0]


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")
def test_runs_as_pid1_and_stops_on_sigterm(runner_env: dict[str, str]) -> None:
    """As in a container: PID 1 has no default signal actions, so handlers must exist."""
    runner = RunnerProcess(
        runner_env,
        inherit_env=False,
        argv_prefix=("unshare", "--pid", "--fork", "--mount-proc", *runner_argv_prefix()),
    ).start()
    try:
        wait_registered(runner_env["TEMPORAL_SERVICE_ADDRESS"], runner_env[QUEUE_VAR])
        runner.wait_for_output('"event":"ready"')
        event = runner.find_event(event="ready")
        assert event is not None
        assert event["pid"] == 1
        children = Path(f"/proc/{runner.pid}/task/{runner.pid}/children").read_text().split()
        assert len(children) == 1
        sent = time.monotonic()
        os.kill(int(children[0]), signal.SIGTERM)
        assert runner.wait(10) == 0, runner.output()
        assert time.monotonic() - sent < 1.0
    finally:
        runner.stop()


def test_temporal_starting_late(runner_env: dict[str, str], make_runner: RunnerFactory) -> None:
    server = TemporalDevServer()
    env = {**runner_env, "TEMPORAL_SERVICE_ADDRESS": server.address}
    runner = make_runner(env)
    runner.wait_for_output("temporal unreachable, retrying")
    time.sleep(3)
    assert runner.process is not None
    assert runner.process.poll() is None
    attempts = [e for e in runner.events() if e.get("msg") == "temporal unreachable, retrying"]
    assert len(attempts) >= 3
    assert attempts[-1]["retry_in_seconds"] <= 2.0
    with server:
        up = time.monotonic()
        wait_registered(server.address, env[QUEUE_VAR])
        assert time.monotonic() - up < 15
        runner.wait_for_output('"event":"ready"')
        runner.signal()
        assert runner.wait(10) == 0, runner.output()


def test_temporal_give_up_exit_code(runner_env: dict[str, str], make_runner: RunnerFactory) -> None:
    env = {
        **runner_env,
        "TEMPORAL_SERVICE_ADDRESS": f"127.0.0.1:{free_port()}",
        "AGENT_RUNNER_CONNECT_GIVE_UP_SECONDS": "1.5",
    }
    runner = make_runner(env)
    assert runner.wait(20) == 69, runner.output()
    assert runner.find_event(msg="temporal unreachable, giving up") is not None


def test_sigterm_while_waiting_for_temporal(
    runner_env: dict[str, str], make_runner: RunnerFactory
) -> None:
    env = {**runner_env, "TEMPORAL_SERVICE_ADDRESS": f"127.0.0.1:{free_port()}"}
    runner = make_runner(env)
    runner.wait_for_output("temporal unreachable, retrying")
    sent = runner.signal()
    assert runner.wait(10) == 0
    assert time.monotonic() - sent < 1.0


@pytest.mark.parametrize(
    ("overrides", "var", "code"),
    [
        ({"MODE": "hybrid"}, "MODE", 78),
        ({"TEMPORAL_SERVICE_ADDRESS": "no-port-here"}, "TEMPORAL_SERVICE_ADDRESS", 78),
        ({"TEMPORAL_MAX_CONCURRENCY": "ten"}, "TEMPORAL_MAX_CONCURRENCY", 78),
        ({"MODE": "cloud"}, "STIGMER_API_KEY", 78),
        ({"MODE": "cloud", "STIGMER_API_KEY": "k"}, "STIGMER_LLM_API_KEY", 78),
        ({"SANDBOX_ROOT_DIR": "/dev/null/workspace"}, "SANDBOX_ROOT_DIR", 73),
    ],
    ids=["mode", "address", "concurrency", "cloud-api-key", "cloud-llm-key", "sandbox"],
)
def test_config_errors(
    runner_env: dict[str, str],
    make_runner: RunnerFactory,
    overrides: dict[str, str],
    var: str,
    code: int,
) -> None:
    runner = make_runner({**runner_env, **overrides})
    assert runner.wait(20) == code
    lines = runner.output().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"agent-runner: {var}")
    assert " is invalid because " in lines[0]
    assert f"Set {var}" in lines[0]


def test_unknown_namespace_is_a_config_error(
    runner_env: dict[str, str], make_runner: RunnerFactory
) -> None:
    runner = make_runner({**runner_env, "TEMPORAL_NAMESPACE": "no-such-namespace"})
    assert runner.wait(20) == 78, runner.output()
    plain = [line for line in runner.output().splitlines() if line.startswith("agent-runner:")]
    assert plain == [
        "agent-runner: TEMPORAL_NAMESPACE='no-such-namespace' is invalid because the Temporal "
        "server has no such namespace. Set TEMPORAL_NAMESPACE to an existing namespace."
    ]
    # Everything else, including the Rust core's logs, is in the runner's line format.
    others = [line for line in runner.output().splitlines() if line not in plain]
    assert len(runner_records(others)) == len(others), others


def test_contract_file_loads_without_dependencies(tmp_path: Path) -> None:
    import agent_runner.contract as contract

    # -S -I: no site-packages, so any third-party import would fail.
    code = (
        "import importlib.util, sys;"
        f"s = importlib.util.spec_from_file_location('c', {contract.__file__!r});"
        "m = importlib.util.module_from_spec(s); sys.modules['c'] = m; s.loader.exec_module(m);"
        "print(m.CONTAINER_NAME)"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-I", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "stigmer-agent-runner"
