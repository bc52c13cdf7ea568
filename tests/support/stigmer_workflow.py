"""A stand-in for the Stigmer workflow that drives agent-runner's activities.

Deliberately independent of the ``agent_runner`` package: the dataclasses below
mirror the runner's wire format (JSON), so tests prove wire compatibility and
the container smoke tests can use this without installing the runner.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

WORKFLOW_TASK_QUEUE = "agent_execution_stigmer_test"


@dataclass
class EnsureThreadInput:
    thread_id: str | None = None


@dataclass
class EnsureThreadResult:
    thread_id: str
    created: bool


@dataclass
class ExecuteGraphtonInput:
    thread_id: str
    prompt: str
    system_prompt: str | None = None
    model: str | None = None
    max_steps: int | None = None


@dataclass
class ExecuteGraphtonResult:
    thread_id: str
    status: str
    final_message: str
    files_written: list[str] = field(default_factory=list)
    steps: int = 0
    tool_calls: int = 0


@dataclass
class CleanupSandboxInput:
    thread_id: str


@dataclass
class CleanupSandboxResult:
    thread_id: str
    removed: bool


@dataclass
class StigmerRunInput:
    runner_task_queue: str
    prompt: str = ""
    thread_id: str | None = None
    execute: bool = True
    cleanup: bool = False
    # 1 = fail fast; tests that exercise retries raise it.
    max_attempts: int = 1
    timeout_seconds: float = 60.0


@dataclass
class StigmerRunResult:
    thread: EnsureThreadResult
    execution: ExecuteGraphtonResult | None = None
    cleanup: CleanupSandboxResult | None = None


@workflow.defn(name="StigmerTestAgentExecution")
class StigmerTestWorkflow:
    @workflow.run
    async def run(self, req: StigmerRunInput) -> StigmerRunResult:
        timeout = timedelta(seconds=req.timeout_seconds)
        retry = RetryPolicy(
            maximum_attempts=req.max_attempts, initial_interval=timedelta(seconds=0.2)
        )
        thread = await workflow.execute_activity(
            "EnsureThread",
            EnsureThreadInput(thread_id=req.thread_id),
            task_queue=req.runner_task_queue,
            start_to_close_timeout=timeout,
            retry_policy=retry,
            result_type=EnsureThreadResult,
        )
        result = StigmerRunResult(thread=thread)
        if req.execute:
            result.execution = await workflow.execute_activity(
                "ExecuteGraphton",
                ExecuteGraphtonInput(thread_id=thread.thread_id, prompt=req.prompt),
                task_queue=req.runner_task_queue,
                start_to_close_timeout=timeout,
                heartbeat_timeout=timedelta(seconds=10),
                retry_policy=retry,
                result_type=ExecuteGraphtonResult,
            )
        if req.cleanup:
            result.cleanup = await workflow.execute_activity(
                "CleanupSandbox",
                CleanupSandboxInput(thread_id=thread.thread_id),
                task_queue=req.runner_task_queue,
                start_to_close_timeout=timeout,
                retry_policy=retry,
                result_type=CleanupSandboxResult,
            )
        return result


async def run_stigmer_workflow(
    client: Client,
    req: StigmerRunInput,
    *,
    workflow_task_queue: str = WORKFLOW_TASK_QUEUE,
) -> StigmerRunResult:
    """Host the workflow on its own queue in this process and run it to completion."""
    async with Worker(client, task_queue=workflow_task_queue, workflows=[StigmerTestWorkflow]):
        return await client.execute_workflow(
            StigmerTestWorkflow.run,
            req,
            id=f"stigmer-test-{uuid.uuid4().hex}",
            task_queue=workflow_task_queue,
            execution_timeout=timedelta(seconds=req.timeout_seconds * 3),
        )


def run_stigmer_workflow_sync(
    address: str, req: StigmerRunInput, namespace: str = "default"
) -> StigmerRunResult:
    """Synchronous convenience for tests without an event loop."""

    async def _go() -> StigmerRunResult:
        client = await Client.connect(address, namespace=namespace)
        return await run_stigmer_workflow(client, req)

    return asyncio.run(_go())
