"""The image started exactly as the real Stigmer clients start it, driven as they drive it.

Each upstream `docker run` (the server supervisor's and the migration-era CLI's, on Linux) is
replayed verbatim from literal test data: fixed ports (Temporal 7233, stigmer-server 7234,
Ollama 11434 on the host network), container name `stigmer-agent-runner`, no `--user`, and a
workspace owned by a host user with mode 0755. Behind those ports: a Temporal dev server,
the stigmer-server double (gRPC, upstream's field numbers) and the fake Ollama; the Go
workflow double sends upstream's payloads and decodes the results as Go does.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from build_tools.host import Host, real_host
from build_tools.runtime.contract_loader import Contract
from tests.support import stigmer_workflow as go_workflow
from tests.support.fake_ollama import FakeOllama, Step
from tests.support.fixture_chain import chain_server
from tests.support.stigmer_server import StigmerServer
from tests.support.temporal_server import TemporalDevServer, port_open
from tests.support.upstream_argv import CLI_MIGRATION_LINUX, SUPERVISOR_LINUX

NAME = "stigmer-agent-runner"
TEMPORAL_PORT, BACKEND_PORT, OLLAMA_PORT = 7233, 7234, 11434
# Registration budget of the issue: `docker run` -> the worker polls, with margin for CI noise.
READY_WITHIN_SECONDS = 5.0
DOCKER_STOP_DEFAULT_SECONDS = 10
MODEL_DOWN_MARKER = "smoke-model-down"
# Upstream's numbers for ExecutionPhase (enum.proto).
IN_PROGRESS, COMPLETED, FAILED = 2, 3, 4


@pytest.fixture(scope="module")
def fixed_ports() -> Iterator[tuple[TemporalDevServer, StigmerServer, FakeOllama]]:
    busy = [p for p in (TEMPORAL_PORT, BACKEND_PORT, OLLAMA_PORT) if port_open("127.0.0.1", p)]
    assert not busy, f"ports {busy} are taken; the upstream argv needs them free on this host"
    with (
        TemporalDevServer(port=TEMPORAL_PORT) as temporal,
        chain_server(port=BACKEND_PORT) as server,
        FakeOllama(port=OLLAMA_PORT) as fake,
    ):
        fake.script(MODEL_DOWN_MARKER, [Step(status=503, content="model is loading")])
        yield temporal, server, fake


def _argv(template: list[str], image: str, workspace: Path, logs: Path) -> list[str]:
    values = {"{image}": image, "{workspace}": str(workspace), "{logs}": str(logs)}
    out = []
    for template_arg in template:
        arg = template_arg
        for key, value in values.items():
            arg = arg.replace(key, value)
        out.append(arg)
    assert out[0] == "run"
    return out[1:]


def _ready_seconds(host: Host, started: float, timeout: float = 30.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = (host.docker.container_inspect(NAME) or {}).get("State", {})
        assert state.get("Running") or state.get("Status") == "created", state
        for line in host.docker.container_logs(NAME, ()):
            if '"event":"ready"' in line:
                return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError("the runner never announced readiness")


def _run(address: str, **overrides: Any) -> go_workflow.DecodedResult:
    async def go() -> go_workflow.DecodedResult:
        client = await Client.connect(address)
        queue = f"agent_execution_stigmer-{os.getpid()}"
        async with go_workflow.start_worker(client, task_queue=queue):
            return await go_workflow.run_execution(
                client, "execution_with_session", workflow_task_queue=queue, **overrides
            )

    return asyncio.run(go())


@pytest.mark.parametrize("uid", [1000, 1234])
@pytest.mark.parametrize(
    "client_argv", [SUPERVISOR_LINUX, CLI_MIGRATION_LINUX], ids=["supervisor", "cli-migration"]
)
def test_the_real_clients_argv_runs_executions_as_the_host_user(
    client_argv: list[str],
    uid: int,
    runner_image: str,
    contract: Contract,
    tmp_path: Path,
    fixed_ports: tuple[TemporalDevServer, StigmerServer, FakeOllama],
) -> None:
    if os.getuid() != 0:
        pytest.skip("a workspace owned by another uid needs root (CI runs as root)")
    temporal, server, fake = fixed_ports
    workspace, logs = tmp_path / "workspace", tmp_path / "logs"
    for directory in (workspace, logs):
        directory.mkdir()
        os.chown(directory, uid, uid)
        directory.chmod(0o755)
    host = real_host(os.environ)
    host.docker.container_remove(NAME)
    started = time.monotonic()
    host.docker.container_run(_argv(client_argv, runner_image, workspace, logs), env=os.environ)
    try:
        ready = _ready_seconds(host, started)
        assert ready < READY_WITHIN_SECONDS, f"ready after {ready:.2f} s"

        updates_before = len(server.status_updates)
        done = _run(temporal.address)
        assert done.phase == "EXECUTION_COMPLETED", done.status
        written = workspace / "hello.txt"
        assert written.read_text() == "hello from fake ollama\n"
        assert (written.stat().st_uid, written.stat().st_gid) == (uid, uid)
        methods = [c.method.rsplit(".", 1)[-1] for c in server.calls]
        for lookup in (
            "SessionQueryController/get",
            "AgentInstanceQueryController/get",
            "AgentQueryController/get",
        ):
            assert lookup in methods
        updates = server.status_updates[updates_before:]
        assert updates[0]["phase"] == IN_PROGRESS
        assert updates[-1]["phase"] == COMPLETED
        assert all(u["unknown_fields"] == [] for u in updates)

        failed = _run(temporal.address, message=f"{MODEL_DOWN_MARKER}: write it")
        assert failed.phase == "EXECUTION_FAILED"
        assert failed.error
        assert server.status_updates[-1]["phase"] == FAILED
        assert server.status_updates[-1]["error"] == failed.error
        assert fake.requests_with(MODEL_DOWN_MARKER)

        state = (host.docker.container_inspect(NAME) or {})["State"]
        assert state["Running"]
        assert (host.docker.container_inspect(NAME) or {})["RestartCount"] == 0
        stop_started = time.monotonic()
        host.docker.container_stop(NAME, timeout_seconds=DOCKER_STOP_DEFAULT_SECONDS)
        stopped = time.monotonic() - stop_started
        state = (host.docker.container_inspect(NAME) or {})["State"]
        assert state["ExitCode"] == 0, state
        assert stopped < DOCKER_STOP_DEFAULT_SECONDS
    finally:
        host.docker.container_remove(NAME)
