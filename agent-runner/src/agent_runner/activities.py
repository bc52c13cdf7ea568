"""The three activities, with upstream's names, positional arguments and results.

The Go workflow (`stigmer/agent-execution/invoke`) calls them with the Go SDK's default
data converter: strings as `json/plain`, protobuf messages as `json/protobuf` with a
`messageType`; temporalio's default converter speaks both, keyed on these type hints.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

from temporalio import activity

from agent_runner import contract
from agent_runner.config import Config
from agent_runner.execution import ExecutionDeps, execute
from agent_runner.wire.agentexecution_pb2 import AgentExecution, AgentExecutionStatus

log = logging.getLogger("agent_runner.activities")


def thread_id_for(session_id: str, agent_id: str) -> str:
    """Upstream's thread naming: per session, or ephemeral per agent without one."""
    if session_id:
        return f"thread-{session_id}"
    return f"ephemeral-{agent_id}-{uuid.uuid4().hex[:8]}"


class RunnerActivities:
    """Activities bound to one resolved Config and the execution's outside world."""

    def __init__(self, config: Config, deps: ExecutionDeps) -> None:
        self.config = config
        self.deps = deps

    def all(self) -> list[Any]:
        return [self.ensure_thread, self.execute_graphton, self.cleanup_sandbox]

    @activity.defn(name=contract.ACTIVITY_ENSURE_THREAD)
    async def ensure_thread(self, session_id: str, agent_id: str) -> str:
        thread_id = thread_id_for(session_id, agent_id)
        log.info(
            "thread ready",
            extra={"session_id": session_id, "agent_id": agent_id, "thread_id": thread_id},
        )
        return thread_id

    @activity.defn(name=contract.ACTIVITY_CLEANUP_SANDBOX)
    async def cleanup_sandbox(self, sandbox_id: str) -> None:
        # Upstream deletes a Daytona sandbox here; this image's sandbox is its own container
        # and workspace, which outlive one session, so there is nothing to delete.
        log.info("sandbox cleanup: nothing to remove", extra={"sandbox_id": sandbox_id})

    @activity.defn(name=contract.ACTIVITY_EXECUTE_GRAPHTON)
    async def execute_graphton(
        self, execution: AgentExecution, thread_id: str
    ) -> AgentExecutionStatus:
        started = time.monotonic()
        log.info(
            "execution started",
            extra={"execution_id": execution.metadata.id, "thread_id": thread_id},
        )
        heartbeat = asyncio.create_task(self._heartbeat_loop())
        try:
            status = await execute(execution, thread_id, self.config, self.deps)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        log.info(
            "execution returned",
            extra={
                "execution_id": execution.metadata.id,
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        return status

    async def _heartbeat_loop(self) -> None:
        """Heartbeats on a timer, so one long model call cannot starve them (timeout 30 s)."""
        timeout = activity.info().heartbeat_timeout
        interval = self.config.heartbeat_seconds
        if timeout:
            interval = min(interval, timeout.total_seconds() / 3)
        while True:
            activity.heartbeat()
            await asyncio.sleep(max(interval, 0.05))
