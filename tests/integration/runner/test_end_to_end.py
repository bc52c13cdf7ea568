"""The Stigmer test workflow drives the real runner against the fake Ollama."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError

from tests.support.fake_ollama import FakeOllama, Step, final, tool
from tests.support.runner_process import RunnerProcess
from tests.support.stigmer_workflow import StigmerRunInput, run_stigmer_workflow_sync

pytestmark = pytest.mark.integration


def _marker() -> str:
    return f"marker-{uuid.uuid4().hex}"


def _app_error(exc: WorkflowFailureError) -> ApplicationError:
    cause = exc.cause
    assert isinstance(cause, ActivityError), repr(cause)
    assert isinstance(cause.cause, ApplicationError), repr(cause.cause)
    return cause.cause


def test_three_activities_end_to_end(
    ready_runner: tuple[RunnerProcess, dict[str, str]], fake_ollama: FakeOllama
) -> None:
    _, env = ready_runner
    marker = _marker()
    fake_ollama.script(
        marker,
        [
            tool("list_files"),
            tool("write_file", path="notes/result.md", content="# Result\n42\n"),
            tool("read_file", path="notes/result.md"),
            final("All done: notes/result.md"),
        ],
    )
    address = env["TEMPORAL_SERVICE_ADDRESS"]
    result = run_stigmer_workflow_sync(
        address,
        StigmerRunInput(runner_task_queue=env["TASK_QUEUE"], prompt=f"Write it. {marker}"),
    )
    assert result.thread.created
    execution = result.execution
    assert execution is not None
    assert execution.status == "completed"
    assert execution.final_message == "All done: notes/result.md"
    assert execution.files_written == ["notes/result.md"]
    assert execution.steps == 4
    assert execution.tool_calls == 3
    thread_dir = Path(env["SANDBOX_ROOT_DIR"]) / result.thread.thread_id
    assert (thread_dir / "notes" / "result.md").read_text() == "# Result\n42\n"

    # The model really was offered the three file tools and saw the tool results.
    requests = [r for r in fake_ollama.requests if marker in str(r["messages"])]
    offered = {t["function"]["name"] for t in requests[0]["tools"]}
    assert offered == {"write_file", "read_file", "list_files"}
    assert "# Result" in str(requests[-1]["messages"])

    # Reusing the thread, then cleaning it up.
    again = run_stigmer_workflow_sync(
        address,
        StigmerRunInput(
            runner_task_queue=env["TASK_QUEUE"],
            thread_id=result.thread.thread_id,
            execute=False,
            cleanup=True,
        ),
    )
    assert again.thread.created is False
    assert again.cleanup is not None
    assert again.cleanup.removed
    assert not thread_dir.exists()


@pytest.mark.parametrize(
    "steps",
    [
        [tool("write_file", path="../escape.txt", content="x")],
        [tool("write_file", path="/tmp/escape-abs.txt", content="x")],
        [tool("read_file", path="link/secret.txt")],
        [tool("write_file", path="link/planted.txt", content="x")],
    ],
    ids=["dotdot", "absolute", "symlink-read", "symlink-write"],
)
def test_sandbox_escapes_refused(
    ready_runner: tuple[RunnerProcess, dict[str, str]],
    fake_ollama: FakeOllama,
    tmp_path: Path,
    steps: list[Step],
) -> None:
    _, env = ready_runner
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    thread_id = f"t-{uuid.uuid4().hex[:8]}"
    thread_dir = Path(env["SANDBOX_ROOT_DIR"]) / thread_id
    thread_dir.mkdir(parents=True)
    (thread_dir / "link").symlink_to(outside)
    marker = _marker()
    fake_ollama.script(marker, [*steps, final("escaped")])
    with pytest.raises(WorkflowFailureError) as info:
        run_stigmer_workflow_sync(
            env["TEMPORAL_SERVICE_ADDRESS"],
            StigmerRunInput(
                runner_task_queue=env["TASK_QUEUE"], thread_id=thread_id, prompt=marker
            ),
        )
    error = _app_error(info.value)
    assert error.type == "SandboxViolation"
    assert error.non_retryable
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert not (Path(env["SANDBOX_ROOT_DIR"]) / "escape.txt").exists()
    assert not Path("/tmp/escape-abs.txt").exists()


@pytest.mark.parametrize("thread_id", ["../up", "a/b", ".hidden", ".."])
def test_invalid_thread_id_refused(
    ready_runner: tuple[RunnerProcess, dict[str, str]], thread_id: str
) -> None:
    _, env = ready_runner
    with pytest.raises(WorkflowFailureError) as info:
        run_stigmer_workflow_sync(
            env["TEMPORAL_SERVICE_ADDRESS"],
            StigmerRunInput(
                runner_task_queue=env["TASK_QUEUE"], thread_id=thread_id, execute=False
            ),
        )
    assert _app_error(info.value).type == "SandboxViolation"


@pytest.mark.parametrize(
    ("step", "error_type", "retryable"),
    [
        (Step(raw="this is not json\n"), "LLMBadResponse", False),
        (Step(raw='{"model": "x", "message": 7, "done": true}\n'), "LLMBadResponse", False),
        (Step(status=503), "LLMUnavailable", True),
    ],
    ids=["garbage", "wrong-shape", "503"],
)
def test_llm_failures_are_typed(
    ready_runner: tuple[RunnerProcess, dict[str, str]],
    fake_ollama: FakeOllama,
    step: Step,
    error_type: str,
    retryable: bool,
) -> None:
    _, env = ready_runner
    marker = _marker()
    fake_ollama.script(marker, [step])
    with pytest.raises(WorkflowFailureError) as info:
        run_stigmer_workflow_sync(
            env["TEMPORAL_SERVICE_ADDRESS"],
            StigmerRunInput(runner_task_queue=env["TASK_QUEUE"], prompt=marker, max_attempts=2),
        )
    error = _app_error(info.value)
    assert error.type == error_type
    assert error.non_retryable is (not retryable)
    attempts = sum(1 for r in fake_ollama.requests if marker in str(r["messages"]))
    assert attempts == (2 if retryable else 1)


def test_llm_endpoint_down(
    runner_env: dict[str, str], make_runner: object, fake_ollama: FakeOllama
) -> None:
    from tests.integration.runner.conftest import wait_registered
    from tests.support.temporal_server import free_port

    env = {**runner_env, "OLLAMA_BASE_URL": f"http://127.0.0.1:{free_port()}"}
    make_runner(env)  # type: ignore[operator]
    wait_registered(env["TEMPORAL_SERVICE_ADDRESS"], env["TASK_QUEUE"])
    with pytest.raises(WorkflowFailureError) as info:
        run_stigmer_workflow_sync(
            env["TEMPORAL_SERVICE_ADDRESS"],
            StigmerRunInput(runner_task_queue=env["TASK_QUEUE"], prompt="hello"),
        )
    error = _app_error(info.value)
    assert error.type == "LLMUnavailable"
    assert not error.non_retryable


def test_default_and_inline_scripts(ready_runner: tuple[RunnerProcess, dict[str, str]]) -> None:
    """What container smoke tests rely on: no in-process registration needed."""
    _, env = ready_runner
    address, queue = env["TEMPORAL_SERVICE_ADDRESS"], env["TASK_QUEUE"]
    default = run_stigmer_workflow_sync(
        address, StigmerRunInput(runner_task_queue=queue, prompt="say hello")
    )
    assert default.execution is not None
    assert default.execution.files_written == ["hello.txt"]
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
    result = run_stigmer_workflow_sync(
        address,
        StigmerRunInput(runner_task_queue=queue, prompt=f"go\nFAKE_OLLAMA_SCRIPT={inline}\n"),
    )
    assert result.execution is not None
    assert result.execution.final_message == "inline done"
    thread_dir = Path(env["SANDBOX_ROOT_DIR"]) / result.thread.thread_id
    assert (thread_dir / "x.txt").read_text() == "X"
