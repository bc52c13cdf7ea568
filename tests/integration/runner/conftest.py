"""Fixtures: a Temporal dev server, the fake Ollama, the Stigmer server and workflow doubles,
and the real runner (``python -m agent_runner``) as a subprocess."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from tests.support import stigmer_workflow as go_workflow
from tests.support.fake_ollama import FakeOllama
from tests.support.fixture_chain import (
    chain_server,
)
from tests.support.pollers import wait_for_poller
from tests.support.runner_process import RunnerProcess
from tests.support.stigmer_server import StigmerServer
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
    "STIGMER_API_KEY",
    "SANDBOX_TYPE",
    "SANDBOX_ROOT_DIR",
    "WORKSPACE_ROOT",
    "LOG_LEVEL",
    "STIGMER_LLM_PROVIDER",
    "STIGMER_LLM_MODEL",
    "STIGMER_LLM_BASE_URL",
    "STIGMER_LLM_MAX_TOKENS",
    "STIGMER_LLM_TEMPERATURE",
    "OLLAMA_BASE_URL",
    "STIGMER_LLM_API_KEY",
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
]
QUEUE_VAR = "TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE"
DEFAULT_MODEL = "fake-model"


# The agent must not run as root, in tests either: a root test session starts the runner the
# way `docker run --user` would, as an unprivileged uid, keeping only the right to read and
# search files (not to write them) for the interpreter installed under /root.
RUNNER_UID = 10001


def runner_argv_prefix() -> tuple[str, ...]:
    if os.getuid() != 0:
        return ()
    return (
        "setpriv",
        f"--reuid={RUNNER_UID}",
        f"--regid={RUNNER_UID}",
        "--clear-groups",
        "--inh-caps=+dac_read_search",
        "--ambient-caps=+dac_read_search",
    )


def runner_dir(path: Path) -> Path:
    """A directory the runner may write to, whichever uid it runs as."""
    path.mkdir(parents=True, exist_ok=True)
    if os.getuid() == 0:
        os.chown(path, RUNNER_UID, RUNNER_UID)
    return path


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


@pytest.fixture
def stigmer_server() -> Iterator[StigmerServer]:
    """stigmer-server's gRPC API, knowing the fixtures' session -> instance -> agent chain."""
    server = chain_server()
    with server:
        yield server


RunnerFactory = Callable[..., RunnerProcess]


@pytest.fixture
def runner_env(
    tmp_path: Path,
    temporal: TemporalDevServer,
    fake_ollama: FakeOllama,
    stigmer_server: StigmerServer,
) -> dict[str, str]:
    return {
        **clean_env(),
        "HOME": str(runner_dir(tmp_path / "home")),
        "MODE": "local",
        "TEMPORAL_SERVICE_ADDRESS": temporal.address,
        QUEUE_VAR: f"runner-{uuid.uuid4().hex[:12]}",
        "STIGMER_BACKEND_ENDPOINT": stigmer_server.endpoint,
        "SANDBOX_ROOT_DIR": str(runner_dir(tmp_path / "workspace")),
        "AGENT_RUNNER_READY_FILE": str(runner_dir(tmp_path / "ready") / "ready"),
        # No STIGMER_LLM_PROVIDER: ollama is local mode's default (tests of cloud mode rely
        # on that default changing with MODE).
        "OLLAMA_BASE_URL": fake_ollama.base_url,
        "STIGMER_LLM_MODEL": DEFAULT_MODEL,
        # Every agent event may report progress: short runs still show one before the end.
        "AGENT_RUNNER_STATUS_UPDATE_SECONDS": "0",
        "AGENT_RUNNER_SHUTDOWN_GRACE_SECONDS": "20",
    }


@pytest.fixture
def make_runner() -> Iterator[RunnerFactory]:
    started: list[RunnerProcess] = []

    def factory(env: dict[str, str]) -> RunnerProcess:
        runner = RunnerProcess(env, inherit_env=False, argv_prefix=runner_argv_prefix()).start()
        started.append(runner)
        return runner

    yield factory
    for runner in started:
        runner.stop()


def wait_registered(
    address: str, task_queue: str, timeout: float = 30.0, runner: RunnerProcess | None = None
) -> str:
    """The poller's identity once Temporal shows one; fails early if ``runner`` exits."""

    async def go() -> str:
        client = await Client.connect(address)
        deadline = time.monotonic() + timeout
        while True:
            if runner is not None and runner.process is not None:
                assert runner.process.poll() is None, f"runner exited:\n{runner.output()}"
            try:
                identity, _ = await wait_for_poller(client, task_queue, timeout=0.5)
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise
            else:
                return identity

    return asyncio.run(go())


@pytest.fixture
def ready_runner(
    runner_env: dict[str, str], make_runner: RunnerFactory
) -> tuple[RunnerProcess, dict[str, str]]:
    return start_runner(make_runner, runner_env), runner_env


def start_runner(make_runner: RunnerFactory, env: dict[str, str]) -> RunnerProcess:
    """A runner on ``env`` that polls its queue already."""
    runner = make_runner(env)
    wait_registered(env["TEMPORAL_SERVICE_ADDRESS"], env[QUEUE_VAR], runner=runner)
    return runner


def run_execution(
    env: dict[str, str], fixture: str = "execution_with_session", **overrides: Any
) -> go_workflow.DecodedResult:
    """Run upstream's workflow (the Go double, hosted here) against the runner of ``env``."""

    async def go() -> go_workflow.DecodedResult:
        client = await Client.connect(env["TEMPORAL_SERVICE_ADDRESS"])
        async with go_workflow.start_worker(client):
            return await go_workflow.run_execution(
                client, fixture, activity_task_queue=env[QUEUE_VAR], **overrides
            )

    return asyncio.run(go())


def run_cleanup(env: dict[str, str], sandbox_id: str) -> str | None:
    async def go() -> str | None:
        client = await Client.connect(env["TEMPORAL_SERVICE_ADDRESS"])
        async with go_workflow.start_worker(client):
            return await go_workflow.run_cleanup(
                client, sandbox_id, activity_task_queue=env[QUEUE_VAR]
            )

    return asyncio.run(go())


def marker() -> str:
    """A unique word for a prompt, so the fake model picks the test's script."""
    return f"marker-{uuid.uuid4().hex}"


def workspace_file(env: dict[str, str], name: str) -> Path:
    """The one file called ``name`` under the sandbox root (wherever the runner puts threads)."""
    found = sorted(Path(env["SANDBOX_ROOT_DIR"]).rglob(name))
    assert len(found) == 1, f"{name!r} under {env['SANDBOX_ROOT_DIR']}: {found}"
    return found[0]
