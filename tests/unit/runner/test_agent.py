"""The agent loop and LLM error classification, with a scripted model."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import ollama
import pytest
from agent_runner.agent import AgentOutcome, LLMError, classify_llm_error, run_agent
from agent_runner.sandbox import SandboxViolation, ThreadFiles
from langchain_core.messages import AIMessage, ToolMessage

from tests.unit.runner.scripted_model import ScriptedChatModel, call, scripted


def _run(
    model: ScriptedChatModel, base: Path, max_steps: int = 10
) -> tuple[AgentOutcome, list[int]]:
    steps: list[int] = []

    async def on_step(step: int) -> None:
        steps.append(step)

    outcome = asyncio.run(
        run_agent(
            model,
            ThreadFiles(base),
            "do it",
            system_prompt=None,
            max_steps=max_steps,
            on_step=on_step,
        )
    )
    return outcome, steps


def test_tool_loop_writes_files(tmp_path: Path) -> None:
    model = scripted(
        call("write_file", path="out/a.txt", content="A"),
        call("read_file", path="out/a.txt"),
        call("list_files"),
        AIMessage(content="finished"),
    )
    outcome, steps = _run(model, tmp_path)
    assert outcome.status == "completed"
    assert outcome.final_message == "finished"
    assert outcome.files_written == ["out/a.txt"]
    assert outcome.steps == 4
    assert outcome.tool_calls == 3
    assert steps == [1, 2, 3, 4]
    assert (tmp_path / "out" / "a.txt").read_text() == "A"
    assert model.bound_tools == ["write_file", "read_file", "list_files"]
    tool_results = [m.content for m in model.seen[-1] if isinstance(m, ToolMessage)]
    assert tool_results[1] == "A"
    assert tool_results[2] == "out/a.txt"


def test_tool_errors_go_back_to_the_model(tmp_path: Path) -> None:
    model = scripted(
        call("read_file", path="missing.txt"),
        call("no_such_tool"),
        AIMessage(content="gave up"),
    )
    outcome, _ = _run(model, tmp_path)
    assert outcome.status == "completed"
    errors = [m for m in model.seen[-1] if isinstance(m, ToolMessage)]
    assert "FileNotFoundError" in str(errors[0].content)
    assert "unknown tool" in str(errors[1].content)
    assert all(m.status == "error" for m in errors)


def test_sandbox_violation_ends_the_run(tmp_path: Path) -> None:
    model = scripted(call("write_file", path="../x", content="x"), AIMessage(content="no"))
    (tmp_path / "t").mkdir()
    with pytest.raises(SandboxViolation):
        _run(model, tmp_path / "t")
    assert not (tmp_path / "x").exists()


def test_max_steps(tmp_path: Path) -> None:
    model = scripted(call("list_files"))
    outcome, steps = _run(model, tmp_path, max_steps=3)
    assert outcome.status == "max_steps_reached"
    assert steps == [1, 2, 3]


def test_model_exception_is_classified(tmp_path: Path) -> None:
    model = scripted(httpx.ConnectError("refused"))
    with pytest.raises(LLMError) as info:
        _run(model, tmp_path)
    assert info.value.kind == "LLMUnavailable"
    assert info.value.retryable


@pytest.mark.parametrize(
    ("exc", "kind", "retryable"),
    [
        (httpx.ConnectError("refused"), "LLMUnavailable", True),
        (httpx.ReadTimeout("slow"), "LLMUnavailable", True),
        (ConnectionRefusedError(), "LLMUnavailable", True),
        (ollama.ResponseError("busy", 503), "LLMUnavailable", True),
        (ollama.ResponseError("slow down", 429), "LLMUnavailable", True),
        (ollama.ResponseError("model not found", 404), "LLMRequestRejected", False),
        (json.JSONDecodeError("bad", "x", 0), "LLMBadResponse", False),
        (ValueError("No data received from Ollama stream."), "LLMBadResponse", False),
        (KeyError("message"), "LLMBadResponse", False),
    ],
)
def test_classify(exc: Exception, kind: str, retryable: bool) -> None:
    error = classify_llm_error(exc)
    assert (error.kind, error.retryable) == (kind, retryable)


def test_classify_anthropic() -> None:
    import anthropic
    import httpx2  # anthropic 2.x is built on the httpx2 fork

    request = httpx2.Request("POST", "https://api.anthropic.com/v1/messages")
    overloaded = anthropic.InternalServerError(
        "overloaded", response=httpx2.Response(529, request=request), body=None
    )
    denied = anthropic.AuthenticationError(
        "bad key", response=httpx2.Response(401, request=request), body=None
    )
    assert classify_llm_error(anthropic.APIConnectionError(request=request)).retryable
    assert classify_llm_error(overloaded).kind == "LLMUnavailable"
    assert classify_llm_error(denied).kind == "LLMRequestRejected"
