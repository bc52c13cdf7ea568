"""ExecuteGraphton: resolve the agent from the backend, run it, report and return its status.

As upstream's runner: session -> agent instance -> agent over gRPC, skills into the
workspace and the prompt, environments merged under the execution's runtime_env, a graphton
deep agent streamed through `astream_events`, progress sent with `updateStatus` while it
runs and once at the end. Unlike a raising activity, every failure (backend, model, agent)
becomes an EXECUTION_FAILED status with `error` set, reported and returned: the Go workflow
records it instead of seeing an activity error.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from agent_runner.config import Config
from agent_runner.status import StatusBuilder
from agent_runner.wire.agentexecution_pb2 import AgentExecution, AgentExecutionStatus

if TYPE_CHECKING:
    # Only an execution needs these (zipfile, the Skill descriptors): not the poller.
    from agent_runner import skills
    from agent_runner.wire.skill_pb2 import Skill

log = logging.getLogger("agent_runner.execution")

AGENT_MODULE = "agent_runner.agent"
DEFAULT_INSTRUCTIONS = "You are a helpful AI assistant."
MIN_PROMPT_CHARS = 10
# Waiting for the final updateStatus; the client's own retries run inside it, and a
# transient failure (backend restarting) is tried again until this much time has passed.
FINAL_REPORT_TIMEOUT_SECONDS = 20.0
FINAL_REPORT_RETRY_SECONDS = 1.0
# The bound in real time, whatever clock is passed in: the window and a last call under way.
FINAL_REPORT_WALL_SECONDS = 2 * FINAL_REPORT_TIMEOUT_SECONDS
# A workspace probe writes this many bytes: on a full tmpfs an empty file still fits.
WORKSPACE_PROBE_BYTES = 4096


def probe_workspace(root: Path) -> None:
    """Write, flush and remove a small file in ``root``; OSError (naming it) if that fails.

    The agent's file tools turn a full or read-only workspace into a message to the model,
    so without this an execution would end COMPLETED with its writes lost.
    """
    fd, name = tempfile.mkstemp(dir=root, prefix=".agent-runner-probe-")
    try:
        with os.fdopen(fd, "wb") as probe:
            probe.write(b"\0" * WORKSPACE_PROBE_BYTES)
            probe.flush()
            os.fsync(probe.fileno())
    finally:
        with contextlib.suppress(OSError):
            Path(name).unlink()


class Backend(Protocol):
    async def update_status(self, execution_id: str, status: AgentExecutionStatus) -> Any: ...


class ResolvedSkill(Protocol):
    @property
    def skill(self) -> Skill: ...
    @property
    def artifact(self) -> bytes | None: ...


class ResolvedAgent(Protocol):
    """What `backend.resolve_chain` returns, as far as the execution uses it."""

    @property
    def instructions(self) -> str: ...
    @property
    def skills(self) -> Sequence[ResolvedSkill]: ...
    @property
    def env(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class ExecutionDeps:
    """The outside world of one execution, passed in (tests give doubles of each)."""

    open_backend: Callable[[], AbstractAsyncContextManager[Any]]
    resolve: Callable[[Any, AgentExecution], Awaitable[ResolvedAgent]]
    load_agent: Callable[[], ModuleType]
    monotonic: Callable[[], float]
    check_workspace: Callable[[Path], None] = field(default=probe_workspace)


def load_agent_module() -> ModuleType:
    return importlib.import_module(AGENT_MODULE)


def model_settings(agent: ModuleType, config: Config, model_name: str) -> Any:
    """The agent module's ModelSettings for ``model_name`` on the configured provider."""
    return agent.ModelSettings(
        provider=config.llm_provider,
        model=model_name,
        ollama_base_url=config.ollama_base_url,
        api_key=config.llm_api_key,
        max_tokens=config.llm_max_tokens,
        temperature=config.llm_temperature,
        timeout_seconds=config.llm_timeout_seconds,
    )


def build_graph(
    agent: ModuleType, settings: Any, prompt: str, workspace: Path, env: Mapping[str, str]
) -> Any:
    """The agent's graph on a new chat model (what an execution runs, and what the warm-up
    builds once); the model is built here too, as building it may import the provider's SDK."""
    return agent.build_agent(agent.build_model(settings), prompt, workspace, dict(env))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")[:500]


class ProgressReporter:
    """Progress updates at most every ``interval`` seconds, never blocking the agent."""

    def __init__(
        self,
        backend: Backend,
        execution_id: str,
        interval: float,
        monotonic: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.backend = backend
        self.execution_id = execution_id
        self.interval = interval
        self.monotonic = monotonic
        self.sleep = sleep
        self.last = -float("inf")
        self.sent = 0
        self._inflight: asyncio.Task[None] | None = None

    def maybe_send(self, status: AgentExecutionStatus) -> None:
        if self._inflight is not None and not self._inflight.done():
            return
        if self.monotonic() - self.last < self.interval:
            return
        self.last = self.monotonic()
        snapshot = AgentExecutionStatus()
        snapshot.CopyFrom(status)
        self._inflight = asyncio.create_task(self._send(snapshot, final=False))

    async def _send(self, status: AgentExecutionStatus, *, final: bool) -> None:
        try:
            await self.backend.update_status(self.execution_id, status)
            self.sent += 1
        except Exception as exc:
            level = logging.ERROR if final else logging.WARNING
            log.log(
                level,
                "status update failed",
                extra={"execution_id": self.execution_id, "final": final, "error": _one_line(exc)},
            )
            if final:
                raise

    async def _send_final(self, status: AgentExecutionStatus) -> None:
        """Until it arrives: a backend that is restarting must still get the last word."""
        deadline = self.monotonic() + FINAL_REPORT_TIMEOUT_SECONDS
        while True:
            try:
                await self._send(status, final=True)
            except Exception as exc:
                # Only failures the backend may recover from (BackendError.transient).
                left = deadline - self.monotonic()
                if not getattr(exc, "transient", False) or left <= 0:
                    raise
                await self.sleep(min(FINAL_REPORT_RETRY_SECONDS, left))
            else:
                return

    async def final(self, status: AgentExecutionStatus) -> bool:
        if self._inflight is not None:
            with contextlib.suppress(Exception):
                await self._inflight
        try:
            await asyncio.wait_for(self._send_final(status), timeout=FINAL_REPORT_WALL_SECONDS)
        except Exception:
            return False
        return True


def _system_prompt(instructions: str, written: list[skills.WrittenSkill]) -> str:
    from agent_runner import skills

    text = instructions.strip()
    # graphton refuses prompts under 10 characters; a terse agent keeps its words.
    if len(text) < MIN_PROMPT_CHARS:
        text = f"{DEFAULT_INSTRUCTIONS}\n\n{text}".strip()
    return text + skills.prompt_section(written)


def _user_message(execution: AgentExecution) -> str:
    # Upstream tells the agent which organization it works for.
    org = execution.metadata.org
    return execution.spec.message + (f"\n\n---\nContext:\n- Organization: {org}" if org else "")


class _Run:
    """One execution's steps; ``stage`` names the one under way, for the error message."""

    def __init__(
        self,
        execution: AgentExecution,
        thread_id: str,
        *,
        config: Config,
        deps: ExecutionDeps,
        builder: StatusBuilder,
        reporter: ProgressReporter,
    ) -> None:
        self.execution = execution
        self.thread_id = thread_id
        self.config = config
        self.deps = deps
        self.builder = builder
        self.reporter = reporter
        self.stage = "checking the execution"

    async def __call__(self, backend: Any) -> None:
        execution, config = self.execution, self.config
        if not execution.spec.session_id:
            raise ValueError("the execution has no session_id; Stigmer executions need one")
        workspace = config.sandbox_root.resolve()
        self.stage = f"checking that the workspace {workspace} is writable"
        await asyncio.to_thread(self.deps.check_workspace, workspace)
        self.stage = f"resolving the agent from the Stigmer backend at {config.backend_endpoint}"
        resolved = await self.deps.resolve(backend, execution)
        self.stage = "writing the agent's skills to the workspace"
        written = self._write_skills(resolved)
        self.stage = "loading the agent framework"
        # Heavy imports off the event loop so polling and heartbeats keep going.
        # A warm-up under way holds the module's import lock: this waits only for the rest.
        agent = await asyncio.to_thread(self.deps.load_agent)
        model_name = execution.spec.execution_config.model_name or config.llm_model
        settings = model_settings(agent, config, model_name)
        prompt = _system_prompt(resolved.instructions, written)
        graph = await asyncio.to_thread(
            build_graph, agent, settings, prompt, workspace, resolved.env
        )
        self.stage = f"running the agent on {config.llm_provider} model {model_name}"
        log.info(
            "agent run started",
            extra={
                "execution_id": execution.metadata.id,
                "thread_id": self.thread_id,
                "model": model_name,
            },
        )
        async for event in graph.astream_events(
            {"messages": [{"role": "user", "content": _user_message(execution)}]},
            config={
                "configurable": {"thread_id": self.thread_id, "org": execution.metadata.org},
                "recursion_limit": agent.RECURSION_LIMIT,
            },
            version="v2",
        ):
            self.builder.process(event)
            self.reporter.maybe_send(self.builder.status)
        if self.builder.events == 0:
            raise RuntimeError("the agent produced no events")
        # The volume may have filled up (or gone read-only) under the agent's writes.
        self.stage = f"checking the workspace {workspace} after the agent ran"
        await asyncio.to_thread(self.deps.check_workspace, workspace)

    def _write_skills(self, resolved: ResolvedAgent) -> list[skills.WrittenSkill]:
        for entry in resolved.skills:
            if entry.artifact is None and entry.skill.status.artifact_storage_key:
                # As upstream: the skill still works from its SKILL.md alone.
                log.warning(
                    "skill artifact unavailable", extra={"skill": entry.skill.metadata.name}
                )
        artifacts = {
            s.skill.metadata.id: s.artifact for s in resolved.skills if s.artifact is not None
        }
        from agent_runner import skills

        return skills.write_skills(
            self.config.sandbox_root.resolve(), [s.skill for s in resolved.skills], artifacts
        )


async def execute(
    execution: AgentExecution,
    thread_id: str,
    config: Config,
    deps: ExecutionDeps,
) -> AgentExecutionStatus:
    execution_id = execution.metadata.id
    builder = StatusBuilder(execution.status)
    builder.start()
    async with deps.open_backend() as backend:
        reporter = ProgressReporter(
            backend, execution_id, config.status_update_seconds, deps.monotonic
        )
        run = _Run(
            execution, thread_id, config=config, deps=deps, builder=builder, reporter=reporter
        )
        try:
            await run(backend)
            builder.complete()
        except asyncio.CancelledError:
            builder.fail("the execution was cancelled (worker shutting down or timed out)")
            await reporter.final(builder.status)
            raise
        except Exception as exc:
            log.warning(
                "agent run failed",
                extra={"execution_id": execution_id, "stage": run.stage, "error": _one_line(exc)},
            )
            builder.fail(f"{run.stage} failed: {_one_line(exc)}")
        reported = await reporter.final(builder.status)
    log.info(
        "agent run finished",
        extra={
            "execution_id": execution_id,
            "phase": builder.status.phase,
            "messages": len(builder.status.messages),
            "tool_calls": len(builder.status.tool_calls),
            "progress_updates": reporter.sent - int(reported),
            "final_reported": reported,
        },
    )
    return builder.status
