"""Helpers shared by the smoke tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Any

from build_tools.runtime.contract_loader import Contract, load_contract
from build_tools.testbed.containers import AgentRunnerContainer
from tests.support import stigmer_workflow as go_workflow

# A second namespace, registered at server start, proves TEMPORAL_NAMESPACE is honoured.
EXTRA_NAMESPACE = "smoke-extra"
FAKE_MODEL = "fake-model"
HOST_ALIAS = "host.docker.internal"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# What the fake model's default script makes the agent write, at the workspace root.
WRITTEN_FILE = "hello.txt"
WRITTEN_TEXT = "hello from fake ollama\n"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def host_user() -> str:
    """This process's uid:gid (root 0:0 in CI)."""
    return f"{os.getuid()}:{os.getgid()}"


def run_execution(
    address: str,
    activity_queue: str,
    namespace: str = "default",
    fixture: str = "execution_with_session",
    **overrides: Any,
) -> go_workflow.DecodedResult:
    """Host the Go-workflow double in this process and run one execution to its end.

    Its own queue is the Stigmer workflow's (`agent_execution_stigmer`), made unique per run.
    """
    from temporalio.client import Client

    queue = unique(str(load_contract(PROJECT_ROOT).STIGMER_WORKFLOW_TASK_QUEUE))

    async def go() -> go_workflow.DecodedResult:
        client = await Client.connect(address, namespace=namespace)
        async with go_workflow.start_worker(client, task_queue=queue):
            return await go_workflow.run_execution(
                client,
                fixture,
                activity_task_queue=activity_queue,
                workflow_task_queue=queue,
                **overrides,
            )

    return asyncio.run(go())


def banner(container: AgentRunnerContainer) -> dict[str, Any]:
    """The startup banner: the first log event carrying the resolved configuration."""
    for event in container.events():
        if isinstance(event.get("config"), dict):
            config: dict[str, Any] = event["config"]
            return config
    raise AssertionError(f"no banner in the runner's output:\n{container.logs_text()}")


def ready_line(container: AgentRunnerContainer, contract: Contract, timeout: float = 10) -> Any:
    """The machine-readable ready event (the runner prints it just after its own check)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in container.events():
            if event.get("event") == contract.ready_event:
                return event
        time.sleep(0.05)
    raise AssertionError(f"no ready line in the runner's output:\n{container.logs_text()}")
