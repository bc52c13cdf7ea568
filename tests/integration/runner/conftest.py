"""Fixtures: a real Temporal dev server, the fake Ollama, runner subprocesses."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from tests.support.fake_ollama import FakeOllama
from tests.support.pollers import wait_for_poller
from tests.support.runner_process import RunnerProcess
from tests.support.temporal_server import TemporalDevServer

# Runner variables from the developer's shell must not leak into tests.
_RUNNER_VARS = [
    "MODE",
    "TEMPORAL_SERVICE_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE",
    "TASK_QUEUE",
    "TEMPORAL_MAX_CONCURRENCY",
    "STIGMER_BACKEND_ENDPOINT",
    "STIGMER_BACKEND_URL",
    "SANDBOX_TYPE",
    "SANDBOX_ROOT_DIR",
    "WORKSPACE_ROOT",
    "LOG_LEVEL",
    "STIGMER_LLM_PROVIDER",
    "STIGMER_LLM_MODEL",
    "OLLAMA_BASE_URL",
    "STIGMER_LLM_API_KEY",
    "ANTHROPIC_API_KEY",
]


def clean_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if k not in _RUNNER_VARS and not k.startswith("AGENT_RUNNER_")
    }


@pytest.fixture(scope="session")
def temporal() -> Iterator[TemporalDevServer]:
    with TemporalDevServer() as server:
        yield server


@pytest.fixture(scope="session")
def fake_ollama() -> Iterator[FakeOllama]:
    with FakeOllama() as fake:
        yield fake


RunnerFactory = Callable[..., RunnerProcess]


@pytest.fixture
def runner_env(
    tmp_path: Path, temporal: TemporalDevServer, fake_ollama: FakeOllama
) -> dict[str, str]:
    return {
        **clean_env(),
        "TEMPORAL_SERVICE_ADDRESS": temporal.address,
        "TASK_QUEUE": f"runner-{uuid.uuid4().hex[:12]}",
        "SANDBOX_ROOT_DIR": str(tmp_path / "workspace"),
        "AGENT_RUNNER_READY_FILE": str(tmp_path / "ready" / "ready"),
        "OLLAMA_BASE_URL": fake_ollama.base_url,
        "STIGMER_LLM_MODEL": "fake-model",
        "AGENT_RUNNER_SHUTDOWN_GRACE_SECONDS": "20",
    }


@pytest.fixture
def make_runner() -> Iterator[RunnerFactory]:
    started: list[RunnerProcess] = []

    def factory(env: dict[str, str]) -> RunnerProcess:
        runner = RunnerProcess(env, inherit_env=False).start()
        started.append(runner)
        return runner

    yield factory
    for runner in started:
        runner.stop()


def wait_registered(address: str, task_queue: str, timeout: float = 30.0) -> str:
    async def go() -> str:
        client = await Client.connect(address)
        identity, _ = await wait_for_poller(client, task_queue, timeout=timeout)
        return identity

    return asyncio.run(go())


@pytest.fixture
def ready_runner(
    runner_env: dict[str, str], make_runner: RunnerFactory
) -> tuple[RunnerProcess, dict[str, str]]:
    runner = make_runner(runner_env)
    wait_registered(runner_env["TEMPORAL_SERVICE_ADDRESS"], runner_env["TASK_QUEUE"])
    return runner, runner_env
