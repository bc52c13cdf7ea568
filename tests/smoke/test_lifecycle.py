"""Stop, restart, hardening and both ways the CLI networks the container."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from build_tools.runtime.contract_loader import Contract
from tests.smoke.conftest import RunnerFactory
from tests.smoke.helpers import HOST_ALIAS, WRITTEN_FILE, run_execution, unique
from tests.support.fake_ollama import FakeOllama
from tests.support.stigmer_server import StigmerServer

# Well inside `docker stop`'s default 10 s (measured: ~0.1 s when idle).
STOP_LIMIT_SECONDS = 2.0


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
    done = run_execution(temporal_address, queue)
    assert done.phase == "EXECUTION_COMPLETED", done.status
    (workspace / WRITTEN_FILE).rename(workspace / "first-run.txt")

    # docker stop's own timeout is 10 s: a runner ignoring SIGTERM would take that long (137).
    seconds, code = first.stop_gracefully(timeout=10)
    assert code == 0, first.logs_text()[-2000:]
    assert seconds < STOP_LIMIT_SECONDS
    first.stop()  # removed: the name is free again, the workspace stays

    second = make_runner(base_env, workspace=workspace, name=name)
    assert second.get_wrapped_container().name == name
    again = run_execution(temporal_address, queue)
    assert again.phase == "EXECUTION_COMPLETED", again.status
    assert again.thread_id == done.thread_id  # same session, same thread
    assert (workspace / "first-run.txt").is_file()  # the first container's work is still there
    assert (workspace / WRITTEN_FILE).is_file()


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

    done = run_execution(temporal_address, base_env[_queue_var(contract)])

    assert done.phase == "EXECUTION_COMPLETED", done.status
    assert (workspace / WRITTEN_FILE).stat().st_uid == contract.runtime_uid


def test_root_without_capabilities_exits_with_one_line_naming_the_fix(
    make_runner: RunnerFactory, base_env: dict[str, str], contract_module: Any, workspace: Path
) -> None:
    """No --user but --cap-drop ALL: the runner cannot drop root, so it refuses to run."""
    runner = make_runner(
        base_env, workspace=workspace, hardened=True, start=False, wait_ready=False
    )
    runner.start()
    assert runner.wait_exit(60) == contract_module.EXIT_CONFIG_INVALID.code
    assert "--user" in runner.logs_text()


def test_bridge_network_reaches_host_services_through_host_gateway(
    make_runner: RunnerFactory,
    base_env: dict[str, str],
    contract: Contract,
    temporal_address: str,
    temporal_port: int,
    fake_ollama: FakeOllama,
    stigmer_server: StigmerServer,
    workspace: Path,
) -> None:
    """Docker Desktop style: no host network; host services through the host alias."""
    address_var = contract.env_var("TEMPORAL_SERVICE_ADDRESS").name
    ollama_var = contract.env_var("OLLAMA_BASE_URL").name
    backend_var = contract.env_var("STIGMER_BACKEND_ENDPOINT").name
    env = {
        **base_env,
        address_var: f"{HOST_ALIAS}:{temporal_port}",
        ollama_var: f"http://{HOST_ALIAS}:{fake_ollama.port}",
        backend_var: f"{HOST_ALIAS}:{stigmer_server.port}",
    }
    runner = make_runner(
        env, workspace=workspace, network_mode="bridge", extra_hosts={HOST_ALIAS: "host-gateway"}
    )
    assert runner.get_wrapped_container().attrs["HostConfig"]["NetworkMode"] == "bridge"

    done = run_execution(temporal_address, env[_queue_var(contract)])

    assert done.phase == "EXECUTION_COMPLETED", done.status
    assert (workspace / WRITTEN_FILE).is_file()
