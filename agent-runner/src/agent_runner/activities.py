"""Temporal activities registered on the runner's task queue."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
from types import ModuleType
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agent_runner import contract
from agent_runner.config import Config
from agent_runner.models import (
    CleanupSandboxInput,
    CleanupSandboxResult,
    EnsureThreadInput,
    EnsureThreadResult,
    ExecuteGraphtonInput,
    ExecuteGraphtonResult,
)
from agent_runner.sandbox import Sandbox, SandboxViolation, ThreadFiles

log = logging.getLogger("agent_runner.activities")

AGENT_MODULE = "agent_runner.agent"


def load_agent_module() -> ModuleType:
    return importlib.import_module(AGENT_MODULE)


def _violation(exc: SandboxViolation) -> ApplicationError:
    return ApplicationError(str(exc), type="SandboxViolation", non_retryable=True)


class RunnerActivities:
    """Activities bound to one resolved Config (no globals: easy to test)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.sandbox = Sandbox(config.sandbox_root)

    def all(self) -> list[Any]:
        return [self.ensure_thread, self.execute_graphton, self.cleanup_sandbox]

    @activity.defn(name=contract.ACTIVITY_ENSURE_THREAD)
    async def ensure_thread(self, req: EnsureThreadInput) -> EnsureThreadResult:
        try:
            thread_id, created = self.sandbox.ensure_thread(req.thread_id)
        except SandboxViolation as exc:
            raise _violation(exc) from exc
        log.info("thread ready", extra={"thread_id": thread_id, "new_thread": created})
        return EnsureThreadResult(thread_id=thread_id, created=created)

    @activity.defn(name=contract.ACTIVITY_CLEANUP_SANDBOX)
    async def cleanup_sandbox(self, req: CleanupSandboxInput) -> CleanupSandboxResult:
        try:
            removed = self.sandbox.cleanup(req.thread_id)
        except SandboxViolation as exc:
            raise _violation(exc) from exc
        log.info("thread cleaned", extra={"thread_id": req.thread_id, "removed": removed})
        return CleanupSandboxResult(thread_id=req.thread_id, removed=removed)

    @activity.defn(name=contract.ACTIVITY_EXECUTE_GRAPHTON)
    async def execute_graphton(self, req: ExecuteGraphtonInput) -> ExecuteGraphtonResult:
        try:
            thread_dir = self.sandbox.thread_dir(req.thread_id)
            if not thread_dir.is_dir():
                raise ApplicationError(
                    f"thread {req.thread_id!r} does not exist; call EnsureThread first",
                    type="ThreadNotFound",
                    non_retryable=True,
                )
            files = ThreadFiles(thread_dir)
        except SandboxViolation as exc:
            raise _violation(exc) from exc

        started = time.monotonic()
        heartbeat = asyncio.create_task(self._heartbeat_loop())
        try:
            # Heavy imports off the event loop so polling and heartbeats keep going.
            agent = await asyncio.to_thread(load_agent_module)
            settings = agent.ModelSettings(
                provider=self.config.llm_provider,
                model=req.model or self.config.llm_model,
                ollama_base_url=self.config.ollama_base_url,
                api_key=self.config.llm_api_key,
                timeout_seconds=self.config.llm_timeout_seconds,
            )

            async def on_step(step: int) -> None:
                activity.heartbeat({"step": step})

            try:
                outcome = await agent.run_agent(
                    agent.build_model(settings),
                    files,
                    req.prompt,
                    system_prompt=req.system_prompt,
                    max_steps=req.max_steps or self.config.max_steps,
                    on_step=on_step,
                )
            except SandboxViolation as exc:
                raise _violation(exc) from exc
            except agent.LLMError as exc:
                raise ApplicationError(
                    str(exc), type=exc.kind, non_retryable=not exc.retryable
                ) from exc
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        log.info(
            "agent run finished",
            extra={
                "thread_id": req.thread_id,
                "status": outcome.status,
                "steps": outcome.steps,
                "files_written": outcome.files_written,
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        return ExecuteGraphtonResult(
            thread_id=req.thread_id,
            status=outcome.status,
            final_message=outcome.final_message,
            files_written=outcome.files_written,
            steps=outcome.steps,
            tool_calls=outcome.tool_calls,
        )

    async def _heartbeat_loop(self) -> None:
        timeout = activity.info().heartbeat_timeout
        interval = min(timeout.total_seconds() / 3, 5.0) if timeout else 5.0
        while True:
            activity.heartbeat()
            await asyncio.sleep(interval)
