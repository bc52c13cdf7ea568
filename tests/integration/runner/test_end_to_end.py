"""The agent at work: the Go workflow double drives the real runner against the fake Ollama.

The contract itself (names, encodings, reporting) is in test_stigmer_contract.py; here, what
the agent does with the workspace and with a misbehaving model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.runner.conftest import marker, run_execution, workspace_file
from tests.support.fake_ollama import FakeOllama, Step, final, tool
from tests.support.runner_process import RunnerProcess
from tests.support.stigmer_server import StigmerServer

pytestmark = pytest.mark.integration

Runner = tuple[RunnerProcess, dict[str, str]]


def _tool_results(request: dict[str, object]) -> list[str]:
    messages = request["messages"]
    assert isinstance(messages, list)
    return [str(m.get("content", "")) for m in messages if m.get("role") == "tool"]


def _ai_replies(messages: list[dict[str, object]]) -> list[str]:
    return [str(m.get("content", "")).strip() for m in messages if m.get("type") == "MESSAGE_AI"]


def test_write_then_read_a_file(ready_runner: Runner, fake_ollama: FakeOllama) -> None:
    _, env = ready_runner
    word = marker()
    fake_ollama.script(
        word,
        [
            tool("ls", path="/"),
            tool("write_file", path="/notes/result.md", content="# Result\n42\n"),
            tool("read_file", path="/notes/result.md"),
            final("All done: notes/result.md"),
        ],
    )
    result = run_execution(env, message=f"Write it, then check it. {word}")
    assert result.phase == "EXECUTION_COMPLETED", result.status
    assert workspace_file(env, "result.md").read_text() == "# Result\n42\n"

    # The model saw each tool's result, the file's content included, in its last request.
    requests = fake_ollama.requests_with(word)
    assert len(requests) == 4
    assert "42" in _tool_results(requests[-1])[-1]
    calls = [c["name"] for c in result.status.get("toolCalls", [])]
    assert calls == ["ls", "write_file", "read_file"], result.status.get("toolCalls")
    assert "All done: notes/result.md" in _ai_replies(result.messages)


@pytest.mark.parametrize(
    "step",
    [
        tool("write_file", path="../escape.txt", content="x"),
        tool("read_file", path="link/secret.txt"),
        tool("write_file", path="link/planted.txt", content="x"),
    ],
    ids=["dotdot", "symlink-read", "symlink-write"],
)
def test_file_tools_stay_in_the_workspace(
    ready_runner: Runner, fake_ollama: FakeOllama, tmp_path: Path, step: Step
) -> None:
    _, env = ready_runner
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    root = Path(env["SANDBOX_ROOT_DIR"])
    root.mkdir(parents=True, exist_ok=True)
    (root / "link").symlink_to(outside)
    word = marker()
    fake_ollama.script(word, [step, final("tried")])

    result = run_execution(env, message=f"Try it. {word}")
    # A refused tool call is the model's problem, not the execution's.
    assert result.phase == "EXECUTION_COMPLETED", result.status
    refusal = _tool_results(fake_ollama.requests_with(word)[-1])[-1]
    assert "outside" in refusal
    assert "secret" not in refusal.replace("secret.txt", "")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "secret"
    assert not (root.parent / "escape.txt").exists()


def test_absolute_paths_land_in_the_workspace(
    ready_runner: Runner, fake_ollama: FakeOllama
) -> None:
    _, env = ready_runner
    word = marker()
    target = f"/tmp/{word}.txt"
    fake_ollama.script(word, [tool("write_file", path=target, content="in"), final("ok")])
    result = run_execution(env, message=f"Write it. {word}")
    assert result.phase == "EXECUTION_COMPLETED", result.status
    assert not Path(target).exists()
    assert workspace_file(env, f"{word}.txt").read_text() == "in"


@pytest.mark.parametrize(
    "step",
    [
        Step(raw="this is not json\n"),
        Step(raw='{"model": "x", "message": 7, "done": true}\n'),
        Step(status=503),
    ],
    ids=["garbage", "wrong-shape", "503"],
)
def test_a_misbehaving_model_fails_the_execution(
    ready_runner: Runner, fake_ollama: FakeOllama, stigmer_server: StigmerServer, step: Step
) -> None:
    _, env = ready_runner
    word = marker()
    fake_ollama.script(word, [step])
    result = run_execution(env, message=f"Hello. {word}")
    assert result.phase == "EXECUTION_FAILED", result.status
    assert result.error.strip()
    assert fake_ollama.requests_with(word)
    assert stigmer_server.status_updates[-1]["error"] == result.error


def test_default_and_inline_scripts(ready_runner: Runner) -> None:
    """What the container smoke tests rely on: no in-process script registration needed."""
    _, env = ready_runner
    default = run_execution(env)  # the fixture asks for hello.txt; so does DEFAULT_SCRIPT
    assert default.phase == "EXECUTION_COMPLETED", default.status
    assert workspace_file(env, "hello.txt").read_text() == "hello from fake ollama\n"

    inline = json.dumps(
        [
            {
                "tool_calls": [
                    {"name": "write_file", "arguments": {"path": "x.txt", "content": "X"}}
                ]
            },
            {"content": "inline done"},
        ]
    )
    result = run_execution(env, message=f"go\nFAKE_OLLAMA_SCRIPT={inline}\n")
    assert result.phase == "EXECUTION_COMPLETED", result.status
    assert "inline done" in _ai_replies(result.messages)
    assert workspace_file(env, "x.txt").read_text() == "X"
