"""The activities in temporalio's ActivityEnvironment, graphton driven by a scripted model.

The backend and the model are doubles passed in through ExecutionDeps; graphton itself is
real, so the tools, the workspace writes and the event stream are the ones the image runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import types
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from agent_runner import agent as real_agent
from agent_runner.activities import RunnerActivities
from agent_runner.config import load_config
from agent_runner.execution import ExecutionDeps
from agent_runner.wire.agentexecution_pb2 import (
    AgentExecution,
    AgentExecutionStatus,
    ExecutionPhase,
    MessageType,
    ToolCallStatus,
)
from langchain_core.messages import AIMessage
from temporalio.testing import ActivityEnvironment

from tests.unit.runner.scripted_model import ScriptedChatModel, call, scripted


class BackendDown(Exception):
    pass


@dataclass
class RecordingBackend:
    updates: list[AgentExecutionStatus] = field(default_factory=list)
    fail_updates: bool = False

    async def update_status(self, execution_id: str, status: AgentExecutionStatus) -> None:
        if self.fail_updates:
            raise BackendDown("Stigmer backend at 127.0.0.1:1 failed updateStatus: UNAVAILABLE")
        copy = AgentExecutionStatus()
        copy.CopyFrom(status)
        self.updates.append(copy)


@dataclass
class Resolved:
    instructions: str = "You write files when asked to."
    skills: tuple[Any, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


def _deps(
    backend: RecordingBackend, model: ScriptedChatModel, *, resolve_error: Exception | None = None
) -> tuple[ExecutionDeps, list[Any]]:
    settings_seen: list[Any] = []

    @contextlib.asynccontextmanager
    async def open_backend() -> AsyncIterator[RecordingBackend]:
        yield backend

    async def resolve(_backend: Any, _execution: AgentExecution) -> Resolved:
        if resolve_error is not None:
            raise resolve_error
        return Resolved(env={"GREETING": "hello"})

    def load_agent() -> types.ModuleType:
        module = types.ModuleType("scripted_agent")

        def build_model(settings: real_agent.ModelSettings) -> ScriptedChatModel:
            settings_seen.append(settings)
            return model

        module.__dict__.update(
            ModelSettings=real_agent.ModelSettings,
            build_model=build_model,
            build_agent=real_agent.build_agent,
            RECURSION_LIMIT=real_agent.RECURSION_LIMIT,
        )
        return module

    clock = iter(range(10_000))
    return ExecutionDeps(
        open_backend, resolve, load_agent, lambda: float(next(clock))
    ), settings_seen


def _execution(session_id: str = "ses_1", model_name: str = "") -> AgentExecution:
    execution = AgentExecution()
    execution.metadata.id = "aex_1"
    execution.metadata.org = "acme"
    execution.spec.session_id = session_id
    execution.spec.agent_id = "agt_1"
    execution.spec.message = "Write hello.txt"
    execution.spec.execution_config.model_name = model_name
    return execution


def _activities(tmp_path: Path, deps: ExecutionDeps) -> RunnerActivities:
    env = {"SANDBOX_ROOT_DIR": str(tmp_path), "AGENT_RUNNER_STATUS_UPDATE_SECONDS": "0"}
    return RunnerActivities(load_config(env).config, deps)


def _run(fn: Any, *args: Any, heartbeats: list[Any] | None = None) -> Any:
    env = ActivityEnvironment()
    if heartbeats is not None:
        env.on_heartbeat = lambda *details: heartbeats.append(details)
    return asyncio.run(env.run(fn, *args))


def test_wire_names(tmp_path: Path) -> None:
    acts = _activities(tmp_path, _deps(RecordingBackend(), scripted(AIMessage("x")))[0])
    names = [fn.__temporal_activity_definition.name for fn in acts.all()]
    assert names == ["EnsureThread", "ExecuteGraphton", "CleanupSandbox"]


def test_ensure_thread_names_threads_as_upstream(tmp_path: Path) -> None:
    acts = _activities(tmp_path, _deps(RecordingBackend(), scripted(AIMessage("x")))[0])
    assert _run(acts.ensure_thread, "ses_42", "agt_1") == "thread-ses_42"
    ephemeral = _run(acts.ensure_thread, "", "agt_1")
    assert re.fullmatch(r"ephemeral-agt_1-[0-9a-f]{8}", ephemeral)
    assert ephemeral != _run(acts.ensure_thread, "", "agt_1")
    assert _run(acts.cleanup_sandbox, "sbx_1") is None


def test_execute_graphton_runs_the_agent_and_reports(tmp_path: Path) -> None:
    backend = RecordingBackend()
    model = scripted(
        call("write_todos", todos=[{"content": "write the file", "status": "in_progress"}]),
        call("write_file", path="/hello.txt", content="hi"),
        call("read_file", path="/hello.txt"),
        AIMessage("All done."),
    )
    deps, settings = _deps(backend, model)
    heartbeats: list[Any] = []
    status = _run(
        _activities(tmp_path, deps).execute_graphton,
        _execution(model_name="llama3.2"),
        "thread-ses_1",
        heartbeats=heartbeats,
    )
    assert status.phase == ExecutionPhase.EXECUTION_COMPLETED
    assert status.error == ""
    assert (tmp_path / "hello.txt").read_text() == "hi"
    assert settings[0].model == "llama3.2"
    assert heartbeats
    tools = {c.name: c for c in status.tool_calls}
    assert set(tools) == {"write_file", "read_file"}  # write_todos is planning, not a tool
    assert "hi" in tools["read_file"].result
    assert all(c.status == ToolCallStatus.TOOL_CALL_COMPLETED for c in status.tool_calls)
    assert [t.content for t in status.todos.values()] == ["write the file"]
    assert status.messages[-1].type == MessageType.MESSAGE_AI
    assert status.messages[-1].content == "All done."
    assert status.started_at
    assert status.completed_at
    # Progress while running, then the final status.
    assert len(backend.updates) >= 2
    assert backend.updates[0].phase == ExecutionPhase.EXECUTION_IN_PROGRESS
    assert backend.updates[-1] == status
    # The organization reaches the model as upstream sends it.
    assert "Organization: acme" in str(model.seen[0][-1].content)


def test_model_from_the_environment_when_the_execution_names_none(tmp_path: Path) -> None:
    deps, settings = _deps(RecordingBackend(), scripted(AIMessage("ok")))
    _run(_activities(tmp_path, deps).execute_graphton, _execution(), "thread-ses_1")
    assert settings[0].model == load_config({}).config.llm_model


def test_model_failure_is_a_failed_status_not_an_activity_error(tmp_path: Path) -> None:
    backend = RecordingBackend()
    model = scripted(ConnectionError("connection refused by 127.0.0.1:11434"))
    status = _run(
        _activities(tmp_path, _deps(backend, model)[0]).execute_graphton,
        _execution(),
        "thread-ses_1",
    )
    assert status.phase == ExecutionPhase.EXECUTION_FAILED
    assert "connection refused" in status.error
    assert "running the agent" in status.error
    assert backend.updates[-1].phase == ExecutionPhase.EXECUTION_FAILED
    assert status.messages[-1].type == MessageType.MESSAGE_SYSTEM


def test_backend_failure_names_the_endpoint(tmp_path: Path) -> None:
    backend = RecordingBackend()
    error = BackendDown("Stigmer backend at localhost:7234 failed SessionQueryController.get")
    deps = _deps(backend, scripted(AIMessage("x")), resolve_error=error)[0]
    status = _run(_activities(tmp_path, deps).execute_graphton, _execution(), "thread-ses_1")
    assert status.phase == ExecutionPhase.EXECUTION_FAILED
    assert "localhost:7234" in status.error


def test_an_unreachable_backend_still_returns_the_failed_status(tmp_path: Path) -> None:
    backend = RecordingBackend(fail_updates=True)
    model = scripted(ConnectionError("model down"))
    status = _run(
        _activities(tmp_path, _deps(backend, model)[0]).execute_graphton,
        _execution(),
        "thread-ses_1",
    )
    assert status.phase == ExecutionPhase.EXECUTION_FAILED
    assert backend.updates == []


def test_an_execution_without_session_fails_as_upstream(tmp_path: Path) -> None:
    deps = _deps(RecordingBackend(), scripted(AIMessage("x")))[0]
    status = _run(_activities(tmp_path, deps).execute_graphton, _execution(""), "t")
    assert status.phase == ExecutionPhase.EXECUTION_FAILED
    assert "session_id" in status.error


@pytest.mark.parametrize("instructions", ["", "Be terse"])
def test_short_instructions_still_make_a_prompt(instructions: str) -> None:
    from agent_runner.execution import _system_prompt

    prompt = _system_prompt(instructions, [])
    assert len(prompt) >= 10
    assert instructions in prompt
