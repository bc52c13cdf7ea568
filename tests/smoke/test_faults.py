"""Faults in a fleet of runner containers: every started execution reaches a recorded end.

Each test starts executions through the Go-workflow double, breaks one thing (a runner
killed or stopped, Temporal restarted, the backend away, the workspace full) and then
waits, always with a bound, for the outcome of every execution it started: the status the
Go workflow decoded, or the workflow's failure. What the runner could report reaches the
stigmer-server double; for a runner killed outright that is nothing, and upstream's Go
workflow records the failure itself (its `updateStatusOnFailure`, which the double leaves
out, see tests/support/stigmer_workflow.py). The durations printed are the figures quoted
in docs/fleet.md.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from build_tools.runtime.contract_loader import Contract
from build_tools.testbed.containers import contract_env
from tests.smoke.conftest import RunnerFactory
from tests.smoke.fault_fixtures import (
    RestartableTemporal,
    WorkflowHost,
    started_executions,
    wait_for,
)
from tests.smoke.helpers import unique
from tests.support.fake_ollama import FakeOllama, Step, final, tool
from tests.support.fixture_chain import chain_server
from tests.support.stigmer_server import StigmerServer
from tests.support.temporal_server import free_port

# Upstream's ExecuteGraphton heartbeat timeout (the double applies it; not shortened here).
HEARTBEAT_TIMEOUT_SECONDS = 30
IN_PROGRESS, COMPLETED, FAILED = 2, 3, 4  # ExecutionPhase numbers, as the double records
SHUTDOWN_GRACE_SECONDS = 6


def _queue(contract: Contract, env: dict[str, str]) -> str:
    return env[contract.env_var("TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE").name]


def _dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _updates(server: StigmerServer, execution_id: str) -> list[dict[str, Any]]:
    return [u for u in list(server.status_updates) if u["execution_id"] == execution_id]


def _report(name: str, **figures: float | str) -> None:
    shown = ", ".join(
        f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()
    )
    print(f"\nfault {name}: {shown}")


def test_a_killed_runner_fails_its_execution_and_the_others_keep_serving(
    make_runner: RunnerFactory,
    base_env: dict[str, str],
    contract: Contract,
    temporal_address: str,
    fake_ollama: FakeOllama,
    stigmer_server: StigmerServer,
    tmp_path: Path,
) -> None:
    env = {**base_env, **contract_env(contract, max_concurrency="1")}
    queue = _queue(contract, env)
    runners = [make_runner(env, workspace=_dir(tmp_path / f"ws-{i}")) for i in range(2)]
    slow = unique("kill-slow")
    fake_ollama.script(slow, [Step(content="too late", delay=HEARTBEAT_TIMEOUT_SECONDS + 10)])

    with WorkflowHost(temporal_address) as host:
        doomed = host.start(queue, message=f"{slow}: think for a long time")
        holder = wait_for(
            lambda: next(
                (r for r in runners if doomed.execution_id in started_executions(r)), None
            ),
            60,
            "a runner starting the execution",
        )
        wait_for(lambda: fake_ollama.requests_with(slow), 60, "the model call")
        killed_at = time.monotonic()
        holder.get_wrapped_container().kill(signal="SIGKILL")
        survivor = next(r for r in runners if r is not holder)

        following = host.start(queue, message="write hello.txt")
        served = following.outcome(120)
        assert served.phase == "EXECUTION_COMPLETED", served
        assert following.execution_id in started_executions(survivor)

        ended = doomed.outcome(HEARTBEAT_TIMEOUT_SECONDS + 60)
        recovery = time.monotonic() - killed_at

    assert ended.result is None, ended
    assert ended.failure is not None
    assert "activity 'ExecuteGraphton' failed" in ended.failure
    assert "heartbeat timeout" in ended.failure.lower(), ended.failure
    # 30 s after the last heartbeat the server saw (the SDK sends them at most every 24 s).
    assert recovery < HEARTBEAT_TIMEOUT_SECONDS + 30
    # The runner died before it could say more than "in progress"; the rest is the server's.
    assert [u["phase"] for u in _updates(stigmer_server, doomed.execution_id)] in (
        [],
        [IN_PROGRESS] * len(_updates(stigmer_server, doomed.execution_id)),
    )
    assert _updates(stigmer_server, following.execution_id)[-1]["phase"] == COMPLETED
    _report("kill", workflow_failed_after_s=recovery, failure=ended.failure[:160])


def test_sigterm_lets_in_flight_executions_finish_or_report_them_cancelled(
    make_runner: RunnerFactory,
    base_env: dict[str, str],
    contract: Contract,
    temporal_address: str,
    fake_ollama: FakeOllama,
    stigmer_server: StigmerServer,
    tmp_path: Path,
) -> None:
    env = {
        **base_env,
        **contract_env(
            contract, max_concurrency="2", shutdown_grace_seconds=str(SHUTDOWN_GRACE_SECONDS)
        ),
    }
    queue = _queue(contract, env)
    runner = make_runner(env, workspace=_dir(tmp_path / "ws-1"))
    quick, endless = unique("term-quick"), unique("term-endless")
    fake_ollama.script(quick, [final("finished within the grace period", delay=3)])
    fake_ollama.script(endless, [final("never seen", delay=60)])

    with WorkflowHost(temporal_address) as host:
        finishing = host.start(queue, message=f"{quick}: answer")
        cut_off = host.start(queue, message=f"{endless}: answer")
        wait_for(
            lambda: fake_ollama.requests_with(quick) and fake_ollama.requests_with(endless),
            90,
            "both model calls in flight",
        )
        signalled = time.monotonic()
        runner.get_wrapped_container().kill(signal="SIGTERM")
        after_signal = host.start(queue, message="write hello.txt")

        code = runner.wait_exit(SHUTDOWN_GRACE_SECONDS + 20)
        exit_seconds = time.monotonic() - signalled
        assert code == 0, runner.logs_text()[-2000:]
        done = finishing.outcome(30)
        cancelled = cut_off.outcome(HEARTBEAT_TIMEOUT_SECONDS + 30)
        assert after_signal.execution_id not in started_executions(runner)

        successor = make_runner(env, workspace=_dir(tmp_path / "ws-2"))
        later = after_signal.outcome(120)

    assert done.phase == "EXECUTION_COMPLETED", done
    assert _updates(stigmer_server, finishing.execution_id)[-1]["phase"] == COMPLETED
    assert exit_seconds < SHUTDOWN_GRACE_SECONDS + 5
    # Cut off at the end of the grace period: reported to the backend as cancelled.
    last = _updates(stigmer_server, cut_off.execution_id)[-1]
    assert last["phase"] == FAILED
    assert "cancelled" in last["error"]
    assert cancelled.phase in ("WORKFLOW_FAILED", "EXECUTION_FAILED"), cancelled
    # Not picked up by the stopping runner; its successor ran it.
    assert later.phase == "EXECUTION_COMPLETED", later
    assert after_signal.execution_id in started_executions(successor)
    _report(
        "sigterm",
        runner_exit_s=exit_seconds,
        cut_off_error=last["error"],
        workflow=cancelled.failure or cancelled.phase,
    )


def test_runners_poll_again_after_temporal_restarts(
    make_runner: RunnerFactory,
    base_env: dict[str, str],
    contract: Contract,
    fake_ollama: FakeOllama,
    stigmer_server: StigmerServer,
    tmp_path: Path,
) -> None:
    temporal = RestartableTemporal(_dir(tmp_path / "temporal"))
    temporal.start()
    try:
        env = {**base_env, **contract_env(contract, temporal_address=temporal.address)}
        queue = _queue(contract, env)
        runner = make_runner(
            env, workspace=_dir(tmp_path / "ws"), temporal_address=temporal.address
        )
        container_id = runner.get_wrapped_container().id
        slow = unique("restart-slow")
        fake_ollama.script(slow, [final("survived the restart", delay=8)])
        with WorkflowHost(temporal.address) as host:
            before = host.start(queue, message="write hello.txt").outcome(120)
            assert before.phase == "EXECUTION_COMPLETED", before
            in_flight = host.start(queue, message=f"{slow}: answer")
            wait_for(lambda: fake_ollama.requests_with(slow), 60, "the model call")

            stopped_at = time.monotonic()
            temporal.stop()
            back_at = temporal.start()
            wait_for(lambda: host.pollers(queue), 120, "the runner polling the restarted server")
            polling_at = time.monotonic()

            survived = in_flight.outcome(120)
            after = host.start(queue, message="write hello.txt").outcome(120)
        inspect = runner.get_wrapped_container()
        inspect.reload()
    finally:
        temporal.stop()

    assert inspect.id == container_id
    assert inspect.attrs["State"]["Running"], runner.logs_text()[-2000:]
    assert inspect.attrs["RestartCount"] == 0
    assert sum(1 for e in runner.events() if e.get("event") == contract.ready_event) == 1
    assert survived.phase == "EXECUTION_COMPLETED", survived
    assert after.phase == "EXECUTION_COMPLETED", after
    for outcome in (survived, after):
        assert _updates(stigmer_server, outcome.execution_id)[-1]["phase"] == COMPLETED
    _report(
        "temporal-restart",
        server_down_s=back_at - stopped_at,
        poller_visible_after_restart_s=polling_at - back_at,
    )


@pytest.fixture
def own_backend() -> Iterator[StigmerServer]:
    """A stigmer-server double of this test alone: it is stopped and started again."""
    server = chain_server(host="127.0.0.1", port=free_port())
    with server:
        yield server


def test_the_final_status_reaches_a_backend_that_was_down_for_a_while(
    make_runner: RunnerFactory,
    base_env: dict[str, str],
    contract: Contract,
    temporal_address: str,
    fake_ollama: FakeOllama,
    own_backend: StigmerServer,
    tmp_path: Path,
) -> None:
    env = {
        **base_env,
        **contract_env(
            contract, backend_endpoint=own_backend.endpoint, status_update_seconds="0.2"
        ),
    }
    queue = _queue(contract, env)
    make_runner(env, workspace=_dir(tmp_path / "ws"))
    marker = unique("backend-away")
    fake_ollama.script(
        marker,
        [
            Step(tool_calls=(("write_file", {"path": "away.txt", "content": "x\n"}),), delay=1),
            final("written while the backend was away", delay=4),
        ],
    )
    down_seconds = 8.0
    with WorkflowHost(temporal_address) as host:
        execution = host.start(queue, message=f"{marker}: write away.txt")
        own_backend.wait_for_status_updates(1, timeout=90)
        own_backend.stop()
        time.sleep(down_seconds)
        own_backend.start()
        back_at = time.monotonic()
        outcome = execution.outcome(90)
        final_update = wait_for(
            lambda: [u for u in _updates(own_backend, execution.execution_id) if u["phase"] == 3],
            30,
            "the final status at the backend",
        )
        arrived_after = time.monotonic() - back_at

    assert outcome.phase == "EXECUTION_COMPLETED", outcome
    assert final_update[-1]["messages"], final_update
    _report("backend-down", down_s=down_seconds, final_status_after_back_s=arrived_after)


def test_a_full_workspace_fails_the_execution_naming_the_path(
    make_runner: RunnerFactory,
    base_env: dict[str, str],
    contract: Contract,
    temporal_address: str,
    fake_ollama: FakeOllama,
    stigmer_server: StigmerServer,
) -> None:
    runner = make_runner(base_env, start=False)
    # Small, so the agent's file stays well below Temporal's payload limit (the status
    # carries the tool call's arguments).
    runner.with_tmpfs_mount(contract.workspace_mount, "size=128k")
    runner.start()
    queue = _queue(contract, base_env)
    marker = unique("disk-full")
    fake_ollama.script(
        marker, [tool("write_file", path="big.bin", content="x" * 200_000), final("wrote it")]
    )
    with WorkflowHost(temporal_address) as host:
        filling = host.start(queue, message=f"{marker}: write big.bin").outcome(120)
        next_one = host.start(queue, message="write hello.txt").outcome(120)

    for outcome, stage in ((filling, "after the agent ran"), (next_one, "is writable")):
        assert outcome.phase == "EXECUTION_FAILED", outcome
        assert outcome.result is not None
        assert stage in outcome.result.error
        assert f"workspace {contract.workspace_mount} " in outcome.result.error
        assert "No space left on device" in outcome.result.error
        last = _updates(stigmer_server, outcome.execution_id)[-1]
        assert (last["phase"], last["error"]) == (FAILED, outcome.result.error)
    _report("workspace-full", error=filling.result.error if filling.result else "")
