"""Stop, restart, hardening and both ways the CLI networks the container."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from build_tools.runtime.contract_loader import Contract
from tests.smoke.conftest import RunnerFactory
from tests.smoke.helpers import HOST_ALIAS, run_workflow, unique
from tests.support.fake_ollama import DEFAULT_SCRIPT, FakeOllama
from tests.support.stigmer_workflow import StigmerRunInput

# The requirement: `docker stop` returns within 2 s, exit 0 (measured: ~0.1 s).
STOP_LIMIT_SECONDS = 2.0
WRITTEN_PATH = str(DEFAULT_SCRIPT[0].tool_calls[0][1]["path"])


def _queue_var(contract: Contract) -> str:
    return contract.env_var("TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE").name


def test_stop_is_graceful_and_a_restart_keeps_the_workspace(
    make_runner: RunnerFactory,
    base_env: dict[str, str],
    contract: Contract,
    temporal_address: str,
    workspace: Path,
) -> None:
    queue = base_env[_queue_var(contract)]
    # The CLI's fixed name; the suffix keeps parallel sessions apart.
    name = f"{contract.container_name}-{unique('smoke')}"
    first = make_runner(base_env, workspace=workspace, name=name)
    done = run_workflow(temporal_address, StigmerRunInput(runner_task_queue=queue))
    assert done.execution is not None
    thread = done.thread.thread_id

    # docker stop's own timeout is 10 s: a runner ignoring SIGTERM would take that long (137).
    seconds, code = first.stop_gracefully(timeout=10)
    assert code == 0, first.logs_text()[-2000:]
    assert seconds < STOP_LIMIT_SECONDS
    first.stop()  # removed: the name is free again, the workspace stays

    second = make_runner(base_env, workspace=workspace, name=name)
    assert second.get_wrapped_container().name == name
    again = run_workflow(
        temporal_address, StigmerRunInput(runner_task_queue=queue, thread_id=thread, execute=False)
    )
    assert not again.thread.created  # the thread of the first container is still there
    assert (workspace / thread / WRITTEN_PATH).is_file()


def test_hardened_container_still_runs_an_agent(
    make_runner: RunnerFactory,
    base_env: dict[str, str],
    contract: Contract,
    temporal_address: str,
    workspace: Path,
) -> None:
    """Read-only root, no capabilities, no-new-privileges, the image's non-root user."""
    if os.getuid() != 0:
        pytest.skip("chowning the workspace to the runtime uid needs root (CI runs as root)")
    os.chown(workspace, contract.runtime_uid, contract.runtime_gid)
    runner = make_runner(
        base_env,
        workspace=workspace,
        user=f"{contract.runtime_uid}:{contract.runtime_gid}",
        hardened=True,
    )
    host_config = runner.get_wrapped_container().attrs["HostConfig"]
    assert host_config["ReadonlyRootfs"] is True
    assert host_config["CapDrop"] == ["ALL"]
    assert host_config["SecurityOpt"] == ["no-new-privileges"]

    done = run_workflow(
        temporal_address, StigmerRunInput(runner_task_queue=base_env[_queue_var(contract)])
    )

    assert done.execution is not None
    assert done.execution.status == "completed"
    written = workspace / done.thread.thread_id / WRITTEN_PATH
    assert written.stat().st_uid == contract.runtime_uid


def test_bridge_network_reaches_host_services_through_host_gateway(
    make_runner: RunnerFactory,
    base_env: dict[str, str],
    contract: Contract,
    temporal_address: str,
    temporal_port: int,
    fake_ollama: FakeOllama,
    workspace: Path,
) -> None:
    """Docker Desktop style: no host network; Temporal's published port via the host alias."""
    address_var = contract.env_var("TEMPORAL_SERVICE_ADDRESS").name
    ollama_var = contract.env_var("OLLAMA_BASE_URL").name
    env = {
        **base_env,
        address_var: f"{HOST_ALIAS}:{temporal_port}",
        ollama_var: f"http://{HOST_ALIAS}:{fake_ollama.port}",
    }
    runner = make_runner(
        env, workspace=workspace, network_mode="bridge", extra_hosts={HOST_ALIAS: "host-gateway"}
    )
    assert runner.get_wrapped_container().attrs["HostConfig"]["NetworkMode"] == "bridge"

    done = run_workflow(
        temporal_address, StigmerRunInput(runner_task_queue=env[_queue_var(contract)])
    )

    assert done.execution is not None
    assert done.execution.status == "completed"
    assert (workspace / done.thread.thread_id / WRITTEN_PATH).is_file()
