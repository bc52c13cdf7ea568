"""The runner from source against upstream's contract, as the Go workflow and server see it.

The workflow is the Go double (``tests.support.stigmer_workflow``: Go's payload encodings
and strict decoding), the backend the gRPC double of stigmer-server, the model the fake
Ollama. A result the Go workflow could not decode fails the run before any assertion.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.integration.runner.conftest import (
    DEFAULT_MODEL,
    RunnerFactory,
    marker,
    run_cleanup,
    run_execution,
    start_runner,
    workspace_file,
)
from tests.support import stigmer_workflow as go_workflow
from tests.support.fake_ollama import FakeOllama, final, tool
from tests.support.fixture_chain import AGENT_ID, SESSION_ID
from tests.support.runner_process import RunnerProcess
from tests.support.stigmer_server import StigmerServer
from tests.support.temporal_server import free_port

pytestmark = pytest.mark.integration

# ai.stigmer.agentic.agentexecution.v1.ExecutionPhase numbers, as the server double records.
IN_PROGRESS, COMPLETED, FAILED = 2, 3, 4
RESOLVE_CHAIN = [
    "/ai.stigmer.agentic.session.v1.SessionQueryController/get",
    "/ai.stigmer.agentic.agentinstance.v1.AgentInstanceQueryController/get",
    "/ai.stigmer.agentic.agent.v1.AgentQueryController/get",
]
UPDATE_STATUS = "/ai.stigmer.agentic.agentexecution.v1.AgentExecutionCommandController/updateStatus"

Runner = tuple[RunnerProcess, dict[str, str]]


def test_ensure_thread_for_a_session(ready_runner: Runner) -> None:
    _, env = ready_runner
    result = run_execution(env, "execution_with_session")
    assert result.thread_id == f"thread-{SESSION_ID}"


def test_ensure_thread_without_a_session_is_ephemeral(ready_runner: Runner) -> None:
    _, env = ready_runner
    first = run_execution(env, "execution_without_session")
    second = run_execution(env, "execution_without_session")
    pattern = rf"ephemeral-{re.escape(AGENT_ID)}-[0-9a-f]{{8}}"
    assert re.fullmatch(pattern, first.thread_id), first.thread_id
    assert re.fullmatch(pattern, second.thread_id), second.thread_id
    assert first.thread_id != second.thread_id
    # As upstream: ExecuteGraphton needs a session, and says so in a returned status.
    assert first.phase == "EXECUTION_FAILED"
    assert "session" in first.error


def test_execute_graphton_end_to_end(
    ready_runner: Runner, fake_ollama: FakeOllama, stigmer_server: StigmerServer
) -> None:
    _, env = ready_runner
    word = marker()
    fake_ollama.script(
        word,
        [
            tool("write_file", path="/notes/result.md", content="# Result\n42\n"),
            final(f"All done: notes/result.md {word}"),
        ],
    )
    result = run_execution(env, "execution_with_session", message=f"Write the notes. {word}")

    assert result.phase == "EXECUTION_COMPLETED", result.status
    assert not result.error
    assert workspace_file(env, "result.md").read_text() == "# Result\n42\n"
    ai_replies = [m.get("content", "") for m in result.messages if m.get("type") == "MESSAGE_AI"]
    assert any(f"All done: notes/result.md {word}" in c for c in ai_replies), result.messages
    # The strict decode already ran inside the workflow; the form it returned decodes again.
    assert go_workflow.decode_message("AgentExecutionStatus", json.dumps(result.status))

    methods = [c.method for c in stigmer_server.calls]
    chain = [m for m in methods if m in RESOLVE_CHAIN]
    assert chain[:3] == RESOLVE_CHAIN, methods
    assert methods.index(RESOLVE_CHAIN[-1]) < methods.index(UPDATE_STATUS)

    updates = stigmer_server.status_updates
    assert len(updates) >= 2, updates
    assert {u["execution_id"] for u in updates} == {result.execution_id}
    assert updates[-1]["phase"] == COMPLETED
    assert all(u["phase"] == IN_PROGRESS for u in updates[:-1]), [u["phase"] for u in updates]

    # The execution's model went to the model server, with the agent's file tools offered.
    requests = fake_ollama.requests_with(word)
    assert requests
    assert {r["model"] for r in requests} == {"qwen2.5-coder:7b"}
    offered = {t["function"]["name"] for t in requests[0]["tools"]}
    assert {"write_file", "read_file", "ls", "execute"} <= offered


@pytest.mark.parametrize(
    ("model_override", "expected"),
    [("llama3.2:1b", "llama3.2:1b"), ("", DEFAULT_MODEL)],
    ids=["execution-config", "runner-default"],
)
def test_model_name_reaches_the_model(
    ready_runner: Runner, fake_ollama: FakeOllama, model_override: str, expected: str
) -> None:
    _, env = ready_runner
    word = marker()
    fake_ollama.script(word, [final(f"hello {word}")])
    result = run_execution(env, message=f"Say hello. {word}", model_name=model_override)
    assert result.phase == "EXECUTION_COMPLETED", result.status
    assert {r["model"] for r in fake_ollama.requests_with(word)} == {expected}


def test_model_down_returns_a_failed_status(
    runner_env: dict[str, str], make_runner: RunnerFactory, stigmer_server: StigmerServer
) -> None:
    env = {**runner_env, "OLLAMA_BASE_URL": f"http://127.0.0.1:{free_port()}"}
    start_runner(make_runner, env)
    result = run_execution(env)  # returns: the activity did not raise
    assert result.phase == "EXECUTION_FAILED", result.status
    assert result.error.strip()
    final_update = stigmer_server.status_updates[-1]
    assert final_update["execution_id"] == result.execution_id
    assert final_update["phase"] == FAILED
    assert final_update["error"] == result.error


def test_backend_down_returns_a_failed_status_naming_it(
    runner_env: dict[str, str], make_runner: RunnerFactory, stigmer_server: StigmerServer
) -> None:
    start_runner(make_runner, runner_env)
    stigmer_server.stop()
    result = run_execution(runner_env)
    assert result.phase == "EXECUTION_FAILED", result.status
    assert runner_env["STIGMER_BACKEND_ENDPOINT"] in result.error, result.error


def test_runtime_env_reaches_the_agents_shell(
    ready_runner: Runner, fake_ollama: FakeOllama
) -> None:
    _, env = ready_runner
    word = marker()
    fake_ollama.script(
        word,
        [
            tool("execute", command='printf "%s" "$DEPLOY_REGION" > region.txt'),
            final(f"done {word}"),
        ],
    )
    result = run_execution(env, "execution_with_runtime_env", message=f"Note the region. {word}")
    assert result.phase == "EXECUTION_COMPLETED", result.status
    assert workspace_file(env, "region.txt").read_text() == "eu-west-1"


def test_cleanup_sandbox_completes(ready_runner: Runner) -> None:
    _, env = ready_runner
    assert run_cleanup(env, "sbx-01kfx9e5f7g9h1j3k5m7n9p1q3") in (None, "binary/null")
