"""Activities run in temporalio's ActivityEnvironment (in-process, no server)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from agent_runner import agent
from agent_runner.activities import RunnerActivities
from agent_runner.config import load_config
from agent_runner.models import (
    CleanupSandboxInput,
    EnsureThreadInput,
    ExecuteGraphtonInput,
)
from langchain_core.messages import AIMessage
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from tests.unit.runner.scripted_model import ScriptedChatModel, call, scripted


@pytest.fixture
def acts(tmp_path: Path) -> RunnerActivities:
    return RunnerActivities(load_config({"SANDBOX_ROOT_DIR": str(tmp_path)}).config)


def _run(fn: Any, arg: Any, heartbeats: list[Any] | None = None) -> Any:
    env = ActivityEnvironment()
    if heartbeats is not None:
        env.on_heartbeat = lambda *details: heartbeats.append(details)
    return asyncio.run(env.run(fn, arg))


def _use_model(monkeypatch: pytest.MonkeyPatch, model: ScriptedChatModel) -> list[Any]:
    built: list[Any] = []

    def build(settings: agent.ModelSettings) -> ScriptedChatModel:
        built.append(settings)
        return model

    monkeypatch.setattr(agent, "build_model", build)
    return built


def test_wire_names(acts: RunnerActivities) -> None:
    names = [fn.__temporal_activity_definition.name for fn in acts.all()]
    assert names == ["EnsureThread", "ExecuteGraphton", "CleanupSandbox"]


def test_ensure_and_cleanup(acts: RunnerActivities, tmp_path: Path) -> None:
    first = _run(acts.ensure_thread, EnsureThreadInput())
    assert first.created
    assert (tmp_path / first.thread_id).is_dir()
    again = _run(acts.ensure_thread, EnsureThreadInput(thread_id=first.thread_id))
    assert again.thread_id == first.thread_id
    assert not again.created
    assert _run(acts.cleanup_sandbox, CleanupSandboxInput(first.thread_id)).removed
    assert not (tmp_path / first.thread_id).exists()


@pytest.mark.parametrize("bad", ["../x", "a/b", ".."])
def test_bad_thread_ids_are_non_retryable(acts: RunnerActivities, bad: str) -> None:
    for fn, arg in (
        (acts.ensure_thread, EnsureThreadInput(bad)),
        (acts.cleanup_sandbox, CleanupSandboxInput(bad)),
        (acts.execute_graphton, ExecuteGraphtonInput(bad, "p")),
    ):
        with pytest.raises(ApplicationError) as info:
            _run(fn, arg)
        assert info.value.type == "SandboxViolation"
        assert info.value.non_retryable


def test_execute_unknown_thread(acts: RunnerActivities) -> None:
    with pytest.raises(ApplicationError) as info:
        _run(acts.execute_graphton, ExecuteGraphtonInput("nope", "p"))
    assert info.value.type == "ThreadNotFound"


def test_execute_runs_agent_and_heartbeats(
    acts: RunnerActivities, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = _use_model(
        monkeypatch,
        scripted(call("write_file", path="r.md", content="R"), AIMessage(content="ok")),
    )
    tid = _run(acts.ensure_thread, EnsureThreadInput("t1")).thread_id
    beats: list[Any] = []
    result = _run(acts.execute_graphton, ExecuteGraphtonInput(tid, "go", model="override"), beats)
    assert (result.status, result.final_message, result.files_written) == (
        "completed",
        "ok",
        ["r.md"],
    )
    assert (result.steps, result.tool_calls) == (2, 1)
    assert (tmp_path / "t1" / "r.md").read_text() == "R"
    assert built[0].model == "override"
    assert built[0].provider == "ollama"
    assert ({"step": 1},) in beats
    assert ({"step": 2},) in beats


@pytest.mark.parametrize(
    ("reply", "kind", "non_retryable"),
    [
        (httpx.ConnectError("refused"), "LLMUnavailable", False),
        (ValueError("garbage"), "LLMBadResponse", True),
        (call("write_file", path="/etc/x", content="x"), "SandboxViolation", True),
    ],
)
def test_execute_failures_are_typed(
    acts: RunnerActivities,
    monkeypatch: pytest.MonkeyPatch,
    reply: Any,
    kind: str,
    non_retryable: bool,
) -> None:
    _use_model(monkeypatch, scripted(reply, AIMessage(content="never")))
    tid = _run(acts.ensure_thread, EnsureThreadInput("t2")).thread_id
    with pytest.raises(ApplicationError) as info:
        _run(acts.execute_graphton, ExecuteGraphtonInput(tid, "go"))
    assert info.value.type == kind
    assert info.value.non_retryable is non_retryable
